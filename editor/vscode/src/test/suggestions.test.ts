import { strict as assert } from "node:assert";
import { test } from "node:test";
import { asWorkspaceEdit, commandArgument, parseSuggestions, pickLabel, Suggestion } from "../suggestions";

const URI = "file:///w/T.lean";
const range = { start: { line: 3, character: 42 }, end: { line: 3, character: 47 } };

function suggestion(over: Partial<Suggestion>): Suggestion {
  return { text: "rfl", closesGoal: true, goals: [], count: 1, version: undefined, edit: undefined, ...over };
}

test("the command argument is the documented shape", () => {
  assert.deepEqual(commandArgument(URI, 3, 44), { uri: URI, position: { line: 3, character: 44 }, apply: false });
});

test("the server's shape: ranked entries with a TextEdit for their uri", () => {
  const result = [
    {
      text: "Eq.refl n", status: "closes", kind: "term", goals: [], count: 2, score: -0.5,
      edit: { range, newText: "Eq.refl n" }, uri: URI, version: 4,
    },
    { text: "intro h", status: "progress", kind: "tactic", goals: ["h : a\n⊢ b"], count: 1, score: -1, edit: { range, newText: "intro h\n  sorry" } },
  ];
  const s = parseSuggestions(result, "file:///other.lean");
  assert.equal(s.length, 2);
  assert.deepEqual(s[0], {
    text: "Eq.refl n",
    closesGoal: true,
    goals: [],
    count: 2,
    version: 4,
    edit: { changes: { [URI]: [{ range, newText: "Eq.refl n" }] } },
  });
  assert.equal(s[1]?.closesGoal, false);
  assert.deepEqual(s[1]?.goals, ["h : a\n⊢ b"]);
  assert.deepEqual(s[1]?.edit, { changes: { "file:///other.lean": [{ range, newText: "intro h\n  sorry" }] } });
});

test("other accepted shapes: `suggestions` object, closes_goal, WorkspaceEdit, TextEdit lists; junk skipped", () => {
  const documentChanges = [{ textDocument: { uri: URI, version: 2 }, edits: [{ range, newText: "rfl" }] }];
  const s = parseSuggestions(
    { suggestions: [{ text: "rfl", closes_goal: true, edit: { documentChanges } }, { title: "no text" }, 7, { text: "x", edit: [{ range, newText: "x" }] }] },
    URI,
  );
  assert.equal(s.length, 2);
  assert.equal(s[0]?.closesGoal, true);
  assert.deepEqual(s[0]?.edit, { documentChanges });
  assert.equal(s[1]?.closesGoal, false);
  assert.deepEqual(s[1]?.edit, { changes: { [URI]: [{ range, newText: "x" }] } });
  assert.deepEqual(parseSuggestions(null, URI), []);
});

test("asWorkspaceEdit: shapes it cannot read give undefined", () => {
  assert.equal(asWorkspaceEdit([{ newText: "a" }], URI), undefined);
  assert.equal(asWorkspaceEdit({ range: { start: {} }, newText: "a" }, URI), undefined);
  assert.equal(asWorkspaceEdit("a", URI), undefined);
  assert.equal(asWorkspaceEdit(undefined, URI), undefined);
});

test("pickLabel: closing ones say so; others count the goals left and show the first", () => {
  assert.deepEqual(pickLabel(suggestion({ text: "Eq.refl n" })), { label: "$(pass-filled) Eq.refl n", description: "closes the goal" });
  assert.deepEqual(pickLabel(suggestion({ text: "intro h", closesGoal: false, goals: ["h : a\n⊢ b"], count: 3 })), {
    label: "$(arrow-right) intro h",
    description: "1 goal left · 3 samples",
    detail: "h : a ⊢ b",
  });
  const multi = pickLabel(suggestion({ text: "by\n  exact h\n" }));
  assert.equal(multi.label, "$(pass-filled) by …");
  assert.equal(multi.detail, "by ⏎   exact h");
});
