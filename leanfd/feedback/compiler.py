"""Compiler feedback: a verdict rendered as text a model can read. Deterministic, no LLM.

The attempt is shown with line numbers; each Lean message is placed under the line it points at,
the first error is marked, and the goals left at the failure follow. The whole is cut to a token
budget, keeping the first error and the lines around it. This is what a teacher sees as
compiler-only privileged feedback, and what a student sees between turns of a multi-turn attempt.

Positions are the verdict's: lines count from 1 (the attempt's first line is line 1) and columns
from 0, as Lean reports them, so the text and the verdict JSON name the same place.

A message that only follows from an error already shown is left out of the text (the verdict keeps
every one): Lean's `internal exception #N` spanning a declaration that holds an error (Lean 4.35 with
a `prelude` header reports one for every theorem whose proof holds an error or `sorry`; a plain
`lean FILE` does too, and `set_option Elab.async false` makes it go away: Lean's, not the
verifier's), and the verifier's own checks when the attempt itself failed (the kernel check of a
theorem that was never added says `unknown constant`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from leanfd.lean.records import Verdict
from leanfd.lean.run import Message

TokenCounter = Callable[[str], int]


def approx_tokens(text: str) -> int:
    """About four characters a token for Lean and English: good enough for a budget."""
    return (len(text) + 3) // 4


@dataclass(frozen=True)
class RenderOptions:
    max_tokens: int = 1024  # budget for the whole feedback text
    context_lines: int = 3  # attempt lines kept around each message when cutting
    include_warnings: bool = True
    max_message_chars: int = 1200  # each message is cut to this many characters


INTERNAL_EXCEPTION = re.compile(r"internal exception #\d+")


def _encloses(outer: Message, inner: Message) -> bool:
    end = (outer.end_line or outer.line, outer.end_column if outer.end_column is not None else outer.column)
    inner_end = (inner.end_line or inner.line, inner.end_column if inner.end_column is not None else inner.column)
    return (outer.line, outer.column) <= (inner.line, inner.column) and inner_end <= end


def consequences(messages: list[Message]) -> list[Message]:
    """Lean's `internal exception #N` errors that span another error of the same region: what Lean
    reports after that error, not a second problem. One with no error inside it is not among them."""
    return [m for m in messages if m.severity == "error" and INTERNAL_EXCEPTION.fullmatch(m.text.strip())
            and any(o is not m and o.severity == "error" and o.region == m.region and _encloses(m, o)
                    and not INTERNAL_EXCEPTION.fullmatch(o.text.strip()) for o in messages)]


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines() or [""])


def _fmt(m: Message, first: bool, opts: RenderOptions) -> str:
    text = m.text if len(m.text) <= opts.max_message_chars else m.text[: opts.max_message_chars] + " …"
    tag = ">>> FIRST ERROR" if first else m.severity
    return _indent(f"[{tag} at line {m.line}, column {m.column}]\n{text}", "     | ")


def headline(verdict: Verdict, shown: list[Message] | None = None) -> str:
    if verdict.status == "proved":
        return "Lean accepted the proof."
    if verdict.status == "timeout":
        return f"Lean did not finish checking within the time limit ({verdict.reason})."
    if verdict.status == "crashed":
        return f"Lean crashed while checking ({verdict.reason})."
    if verdict.status == "rejected":
        return f"The attempt was rejected: {verdict.reason}"
    if shown is None:
        shown = _shown(verdict.messages)
    errors = sum(m.severity == "error" and m.region == "attempt" for m in shown)
    why = verdict.reason or "Lean reported errors"
    return f"The proof does not check: {why} ({errors} error{'s' if errors != 1 else ''})."


def _shown(messages: list[Message]) -> list[Message]:
    """The messages worth showing: all but the consequences of another one shown."""
    dropped = consequences(messages)
    return [m for m in messages if not any(m is d for d in dropped)]


def render(attempt: str, verdict: Verdict, opts: RenderOptions = RenderOptions(),
           count: TokenCounter = approx_tokens) -> str:
    """Feedback text for `attempt` (the text the model wrote) and its verdict."""
    lines = attempt.split("\n")
    worth = _shown(verdict.messages)
    shown = [m for m in worth if m.region == "attempt"
             and (m.severity == "error" or (opts.include_warnings and m.severity == "warning"))]
    first = verdict.first_error if verdict.first_error in shown else next(
        (m for m in shown if m.severity == "error"), None)
    by_line: dict[int, list[Message]] = {}
    for m in shown:
        by_line.setdefault(min(max(m.line, 1), len(lines)), []).append(m)

    def body(keep: set[int] | None) -> str:
        out, skipped = [], False
        for i, line in enumerate(lines, start=1):
            if keep is not None and i not in keep:
                if not skipped:
                    out.append("  ...")
                skipped = True
                continue
            skipped = False
            out.append(f"{i:>3} | {line}")
            for m in by_line.get(i, []):
                out.append(_fmt(m, m == first, opts))
        return "\n".join(out)

    parts = [headline(verdict, worth)]
    attempt_failed = any(m.severity == "error" and m.region == "attempt" for m in worth)
    # The verifier's checks run after the attempt: when it failed, their errors follow from it. An error
    # the headline already quotes (a rejection's reason) is not repeated.
    other = [m for m in worth if m.severity == "error" and m.text not in parts[0]
             and (m.region in ("header", "reference") or (m.region == "checks" and not attempt_failed))]
    for m in other[:3]:
        parts.append(f"[{m.region} error] {m.text[: opts.max_message_chars]}")
    goal_text = ""
    if verdict.goals:
        goal_text = "Goals left at the failure:\n" + "\n\n".join(verdict.goals)
    listing = body(None)
    text = "\n\n".join(p for p in [*parts, listing, goal_text] if p)
    if count(text) <= opts.max_tokens:
        return text
    # Over budget: keep only the lines around messages, the first error's first.
    anchors = sorted(by_line, key=lambda ln: (first is None or ln != first.line, ln))
    keep: set[int] = set()
    for ln in anchors:
        trial = keep | set(range(ln - opts.context_lines, ln + opts.context_lines + 1))
        candidate = "\n\n".join(p for p in [*parts, body(trial), goal_text] if p)
        if keep and count(candidate) > opts.max_tokens:
            break
        keep = trial
    text = "\n\n".join(p for p in [*parts, body(keep or {1}), goal_text] if p)
    if count(text) > opts.max_tokens:  # still too long (huge messages or goals): hard cut
        limit = opts.max_tokens * 4
        text = text[:limit] + "\n… [feedback truncated]"
    return text
