"""Compiler feedback: a verdict rendered as text a model can read. Deterministic, no LLM.

The attempt is shown with line numbers; each Lean message is placed under the line it points at,
the first error is marked, and the goals left at the failure follow. The whole is cut to a token
budget, keeping the first error and the lines around it. This is what a teacher sees as
compiler-only privileged feedback, and what a student sees between turns of a multi-turn attempt.
"""

from __future__ import annotations

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


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines() or [""])


def _fmt(m: Message, first: bool, opts: RenderOptions) -> str:
    text = m.text if len(m.text) <= opts.max_message_chars else m.text[: opts.max_message_chars] + " …"
    tag = ">>> FIRST ERROR" if first else m.severity
    return _indent(f"[{tag} at line {m.line}, column {m.column + 1}]\n{text}", "     | ")


def headline(verdict: Verdict) -> str:
    if verdict.status == "proved":
        return "Lean accepted the proof."
    if verdict.status == "timeout":
        return f"Lean did not finish checking within the time limit ({verdict.reason})."
    if verdict.status == "crashed":
        return f"Lean crashed while checking ({verdict.reason})."
    if verdict.status == "rejected":
        return f"The attempt was rejected: {verdict.reason}"
    errors = sum(m.severity == "error" for m in verdict.messages if m.region == "attempt")
    why = verdict.reason or "Lean reported errors"
    return f"The proof does not check: {why} ({errors} error{'s' if errors != 1 else ''})."


def render(attempt: str, verdict: Verdict, opts: RenderOptions = RenderOptions(),
           count: TokenCounter = approx_tokens) -> str:
    """Feedback text for `attempt` (the text the model wrote) and its verdict."""
    lines = attempt.split("\n")
    shown = [m for m in verdict.messages if m.region == "attempt"
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

    parts = [headline(verdict)]
    other = [m for m in verdict.messages if m.region in ("header", "reference", "checks") and m.severity == "error"]
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
