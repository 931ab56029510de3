import { strict as assert } from "node:assert";
import { test } from "node:test";
import { parseStatus, statusView } from "../status";

test("busy spins, ready checks, error shows the message as tooltip", () => {
  assert.deepEqual(statusView("busy", "checking 3 candidates"), { text: "$(sync~spin) leanfd", tooltip: "checking 3 candidates" });
  assert.equal(statusView("ready").text, "$(check) leanfd");
  assert.deepEqual(statusView("error", "lean not found"), { text: "$(error) leanfd", tooltip: "lean not found" });
  assert.equal(statusView("ready", "").tooltip, "leanfd: ready");
});

test("parseStatus takes the documented shape only", () => {
  assert.deepEqual(parseStatus({ state: "busy", message: "x" }), { state: "busy", message: "x" });
  assert.deepEqual(parseStatus({ state: "ready" }), { state: "ready", message: "" });
  assert.equal(parseStatus({ state: "sleepy", message: "x" }), undefined);
  assert.equal(parseStatus(null), undefined);
  assert.equal(parseStatus("ready"), undefined);
});
