"""Prompts for the model, and the candidate each completion stands for. Pure.

Both prompts are `leanfd.data.prompts.completion_prompt` (DeepSeek-Prover's `Complete the following
Lean 4 code:` and an open ```lean4 block), so a prover trained with leanfd sees the shape it knows:
- next step (`suggestTactics`): the file before the declaration, the goal at the cursor as a comment,
  then the declaration up to the cursor; the model continues from the cursor;
- whole proof (`proveTheorem`): the same, up to and including the theorem's `:=`.
The model closes the block with ``` (the stop string); its text is then cut back to one candidate.
"""

from __future__ import annotations

from leanfd.data.benchmarks import Problem
from leanfd.data.prompts import completion_prompt
from leanfd.lsp.sites import LeanText, Site

CONTEXT_CHARS = 8_000  # of the file before the declaration; more costs tokens and rarely helps a next step
STOP = ("```",)


def goal_comment(goal: str) -> str:
    """The goal as a Lean block comment, placed before the declaration."""
    if not goal.strip():
        return ""
    return "/- goal at the cursor:\n" + goal.replace("-/", "- /").rstrip() + "\n-/\n"


def context(text: str, decl_start: int) -> str:
    """At most CONTEXT_CHARS of the text before the declaration, cut at a line start."""
    start = max(0, decl_start - CONTEXT_CHARS)
    if start > 0:
        nl = text.find("\n", start, decl_start)
        start = decl_start if nl < 0 else nl + 1
    return text[start:decl_start]


def prompt(text: str, site: Site, goal: str) -> str:
    """The completion prompt for `site`: everything before it (a proof site: up to `:=`), goal as a comment."""
    before = text[site.decl.start : site.start] + ("" if site.kind == "proof" else site.lead)
    problem = Problem(name=site.decl.name or "example", header=context(text, site.decl.start),
                      formal_statement=before, informal_prefix=goal_comment(goal))
    return completion_prompt(problem)


def unfence(completion: str) -> str:
    """The Lean text of a completion: after a `</think>`, inside a leading ``` block, or before a closing ```."""
    if "</think>" in completion:
        completion = completion.rsplit("</think>", 1)[1]
    stripped = completion.lstrip()
    if stripped.startswith("```"):
        body = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        return body.split("```", 1)[0]
    return completion.split("```", 1)[0]


def candidate(completion: str, site: Site) -> str | None:
    """The candidate a completion stands for at `site`, or None when it holds none.

    A next step is the first non-blank line (it continues the cursor's line, or starts a new one),
    with the lines below it that are indented deeper (its own block, such as the tactics of a `have
    ... := by`); a whole proof runs to the first line at column 0 (a new command). Continuation lines
    come back relative to the candidate's column (the site re-indents them).
    """
    text = unfence(completion)
    if site.kind == "proof":
        return _proof(text)
    lines = text.split("\n")
    k = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if k is None:
        return None
    base = len(site.indent) if k == 0 else _width(lines[k])
    out = [lines[k].strip()]
    for ln in lines[k + 1 :]:
        if not ln.strip() or _width(ln) <= base:
            break
        out.append(ln[base:].rstrip())
    return "\n".join(out)


def _proof(text: str) -> str | None:
    """A whole proof: the text up to the next command, or the proof part of a restated theorem."""
    restated = LeanText(text.strip("\n"))
    decl = restated.decl_at(0) if restated.boundaries and restated.boundaries[0] == 0 else None
    if decl is not None and decl.proof_start is not None:
        proof = restated.text[decl.proof_start : decl.end]
    else:
        lines = text.split("\n")
        end = next((i for i, ln in enumerate(lines) if i > 0 and ln.strip() and not ln[0].isspace()), len(lines))
        proof = "\n".join(lines[:end])
    proof = proof.strip()
    return proof or None


def _width(line: str) -> int:
    return len(line) - len(line.lstrip(" "))
