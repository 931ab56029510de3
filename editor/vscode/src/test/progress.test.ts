import { strict as assert } from "node:assert";
import { test } from "node:test";
import { ProgressSteps } from "../progress";

test("absolute percentages become increments; never backwards, never past 100", () => {
  const steps = new ProgressSteps();
  assert.deepEqual(steps.step({ kind: "begin", percentage: 0 }), undefined);
  assert.deepEqual(steps.step({ kind: "report", message: "sampling", percentage: 20 }), { message: "sampling", increment: 20 });
  assert.deepEqual(steps.step({ kind: "report", message: "checking 2/8", percentage: 50 }), {
    message: "checking 2/8",
    increment: 30,
  });
  assert.deepEqual(steps.step({ kind: "report", percentage: 40 }), undefined);
  assert.deepEqual(steps.step({ kind: "report", percentage: 130 }), { increment: 50 });
  assert.deepEqual(steps.step({ kind: "report", message: "still checking" }), { message: "still checking" });
  assert.deepEqual(steps.step({ kind: "end", message: "done" }), undefined);
});
