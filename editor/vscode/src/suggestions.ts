/**
 * The result of the server's `leanfd.suggestTactics` / `leanfd.proveTheorem` commands (contract in
 * leanfd/lsp/server.py): a ranked list of `{"text", "status": "closes"|"progress", "kind", "goals",
 * "count", "score", "edit": {"range", "newText"}, "uri", "version"}`. Read defensively: `edit` may
 * also be a `TextEdit[]` or a whole `WorkspaceEdit`, and `closes_goal: true` stands for
 * `status: "closes"`.
 *
 * Pure: no `vscode` import (protocol types only), so it is unit-tested under plain Node.
 */
import type { TextEdit, WorkspaceEdit } from "vscode-languageclient";

export interface Suggestion {
  text: string;
  closesGoal: boolean;
  /** Goals Lean reports left after it (for a suggestion that does not close the goal). */
  goals: string[];
  /** How many samples gave it. */
  count: number;
  /** The document version the server computed it for, when it said. */
  version: number | undefined;
  /** What applying it does, as a protocol `WorkspaceEdit`; absent when the server sent none. */
  edit: WorkspaceEdit | undefined;
}

/** The arguments of both commands: the document and cursor; the client applies the pick itself. */
export interface CommandArgument {
  uri: string;
  position: { line: number; character: number };
  apply: false;
}

export function commandArgument(uri: string, line: number, character: number): CommandArgument {
  return { uri, position: { line, character }, apply: false };
}

/**
 * The suggestions in `result` (a list, or an object holding one under `suggestions`), in the
 * server's order; entries without text are skipped. `uri` is the document the request was about:
 * a bare edit applies to the entry's own `uri`, else to it.
 */
export function parseSuggestions(result: unknown, uri: string): Suggestion[] {
  const list = Array.isArray(result)
    ? result
    : isRecord(result) && Array.isArray(result.suggestions)
      ? result.suggestions
      : [];
  const out: Suggestion[] = [];
  for (const item of list as unknown[]) {
    if (!isRecord(item) || typeof item.text !== "string") {
      continue;
    }
    const target = typeof item.uri === "string" && item.uri !== "" ? item.uri : uri;
    out.push({
      text: item.text,
      closesGoal: item.status === "closes" || item.closes_goal === true,
      goals: Array.isArray(item.goals) ? item.goals.filter((g): g is string => typeof g === "string") : [],
      count: typeof item.count === "number" && item.count >= 1 ? item.count : 1,
      version: typeof item.version === "number" ? item.version : undefined,
      edit: asWorkspaceEdit(item.edit, target),
    });
  }
  return out;
}

/** A protocol `WorkspaceEdit` from either accepted shape; undefined for anything else. */
export function asWorkspaceEdit(edit: unknown, uri: string): WorkspaceEdit | undefined {
  if (Array.isArray(edit)) {
    return edit.every(isTextEdit) ? { changes: { [uri]: edit } } : undefined;
  }
  if (isTextEdit(edit)) {
    return { changes: { [uri]: [edit] } };
  }
  if (isRecord(edit) && (isRecord(edit.changes) || Array.isArray(edit.documentChanges))) {
    return edit;
  }
  return undefined;
}

/**
 * The QuickPick row for a suggestion: its text (first line), whether it closes the goal (else how
 * many goals remain), how many samples agreed; the detail line shows the full text when it spans
 * lines, else the first goal left.
 */
export function pickLabel(s: Suggestion): { label: string; description: string; detail?: string } {
  const text = s.text.trim();
  const lines = text.split("\n");
  const first = lines[0] ?? "";
  const label = (s.closesGoal ? "$(pass-filled) " : "$(arrow-right) ") + (lines.length > 1 ? `${first} …` : first);
  const left = s.goals.length === 1 ? "1 goal left" : `${s.goals.length} goals left`;
  const description = (s.closesGoal ? "closes the goal" : left) + (s.count > 1 ? ` · ${s.count} samples` : "");
  const goal = s.goals[0]?.replace(/\s+/g, " ");
  const detail = lines.length > 1 ? lines.join(" ⏎ ") : !s.closesGoal && goal !== undefined ? goal : undefined;
  return detail === undefined ? { label, description } : { label, description, detail };
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function isPosition(x: unknown): boolean {
  return isRecord(x) && typeof x.line === "number" && typeof x.character === "number";
}

function isTextEdit(x: unknown): x is TextEdit {
  return isRecord(x) && typeof x.newText === "string" && isRecord(x.range) && isPosition(x.range.start) && isPosition(x.range.end);
}
