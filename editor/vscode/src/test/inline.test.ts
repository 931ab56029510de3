import { strict as assert } from "node:assert";
import { test } from "node:test";
import { protocolInlineTriggerKind } from "../inline";

test("VS Code's Invoke (0) and Automatic (1) become LSP's Invoked (1) and Automatic (2)", () => {
  assert.equal(protocolInlineTriggerKind(0), 1);
  assert.equal(protocolInlineTriggerKind(1), 2);
});
