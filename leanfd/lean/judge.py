"""Turn Lean's messages about an assembled file into a verdict. Pure: no process, no Lean.

`proved` requires all of: no error anywhere, no `sorry`, the reference's and the candidate's
elaborated types (under `pp.all`) identical, every axiom in the allowlist, and every verifier
command's output present at its own line (a missing output means something swallowed it).
"""

from __future__ import annotations

import dataclasses
import re

from leanfd.lean.policy import Policy
from leanfd.lean.records import Verdict
from leanfd.lean.run import LeanRun, Message
from leanfd.lean.snippet import Snippet

_AXIOMS = re.compile(r"depends on axioms: \[(?P<list>[^\]]*)\]", re.S)
_NO_AXIOMS = "does not depend on any axioms"
_SORRY_WARNING = re.compile(r"declaration uses [`']sorry[`']")  # Lean 4.35 quotes with backticks


def goals_of(messages: list[Message]) -> list[str]:
    """Goals Lean printed in `unsolved goals` errors, one string per goal block."""
    goals = []
    for m in messages:
        if m.severity == "error" and m.text.startswith("unsolved goals"):
            goals.extend(g.strip() for g in m.text[len("unsolved goals") :].split("\n\n") if g.strip())
    return goals


def parse_axioms(text: str) -> list[str] | None:
    if _NO_AXIOMS in text:
        return []
    m = _AXIOMS.search(text)
    if not m:
        return None
    return [a.strip() for a in m.group("list").replace("\n", " ").split(",") if a.strip()]


def _signature_type(output: str, name: str) -> str | None:
    """`NAME.{u} : T` (as `#check @NAME` prints a constant) -> `.{u} : T`, with the name cut off.

    Lean prefixes the name with `@` when the constant has implicit arguments."""
    output = output.removeprefix("@")
    for prefix in (name, name.removeprefix("_root_.")):
        if output.startswith(prefix) and output[len(prefix) : len(prefix) + 2] in (" :", ".{"):
            return output[len(prefix) :]
    return None


def _shown(sig: str | None, raw: str) -> str:
    return sig.removeprefix(" : ") if sig is not None else raw


def _at(messages: list[Message], line: int, severity: str) -> Message | None:
    return next((m for m in messages if m.line == line and m.severity == severity), None)


def judge(
    snippet: Snippet,
    run: LeanRun,
    name: str,
    policy: Policy = Policy(),
    sorry_in_text: bool = False,
    lean_version: str = "",
    backend: str = "",
) -> Verdict:
    """The verdict for one run of an assembled snippet."""
    located = [_relocate(snippet, m) for m in run.messages]
    # The verifier's own commands print information; only their errors belong to the attempt.
    attempt_msgs = [m for m in located if m.region in ("header", "attempt") or m.severity == "error"]
    v = Verdict(
        name=name,
        status="failed",
        messages=attempt_msgs,
        elapsed=run.elapsed,
        lean_version=lean_version,
        backend=backend,
        truncated=run.truncated,
    )
    errors = [m for m in located if m.severity == "error"]
    v.first_error = next((m for m in errors if m.region == "attempt"), errors[0] if errors else None)
    v.goals = goals_of(errors)
    raw = run.messages
    per_target = [_at(raw, line, "information") for line in snippet.axioms_lines]
    parsed = [parse_axioms(m.text) if m else None for m in per_target]
    v.axioms = None if any(p is None for p in parsed) else sorted({a for p in parsed for a in p or []})
    v.sorry = (
        sorry_in_text
        or any(_SORRY_WARNING.search(m.text) for m in located if m.region == "attempt")
        or "sorryAx" in (v.axioms or [])
    )
    if run.outcome != "ok":
        v.status = run.outcome
        v.reason = run.detail or f"Lean {run.outcome}"
        return v
    if any(m.region == "header" for m in errors):
        v.reason = "the header does not elaborate"
        return v
    if any(m.region == "reference" for m in errors):
        v.reason = "the reference statement does not elaborate"
        return v
    if errors and all(m.region == "checks" for m in errors):
        v.reason = "no theorem named " + ", ".join(f"`{t}`" for t in snippet.targets) + " at the root"
        return v
    if errors:
        v.reason = "Lean reported errors"
        return v
    if v.sorry:
        v.reason = "the proof uses sorry"
        return v
    return _checks(v, snippet, raw, policy)


def _checks(v: Verdict, snippet: Snippet, raw: list[Message], policy: Policy) -> Verdict:
    """The error-free case: everything now rests on the verifier's own commands."""
    end_out = _at(raw, snippet.end_line, "information")
    missing = ["axioms"] if v.axioms is None else []
    if not snippet.targets:
        missing.append("a theorem to check")
    if end_out is None or end_out.text.strip() != snippet.end_marker:
        missing.append("end marker")
    if snippet.statement is not None:
        assert snippet.ref_check_line is not None and snippet.type_check_line is not None
        ref_out = _at(raw, snippet.ref_check_line, "information")
        cand_out = _at(raw, snippet.type_check_line, "information")
        if ref_out is None or cand_out is None:
            missing.append("types")
        else:
            ref_type = _signature_type(ref_out.text, snippet.ref_name)
            cand_type = _signature_type(cand_out.text, snippet.statement.name)
            if ref_type is None or cand_type is None or ref_type != cand_type:
                v.status = "rejected"
                v.reason = (
                    f"`{snippet.statement.name}` does not have the reference statement's type:\n"
                    f"  reference: {_shown(ref_type, ref_out.text)}\n  candidate: {_shown(cand_type, cand_out.text)}"
                )
                return v
    if missing:
        v.status = "rejected"
        v.reason = "the verifier's checks produced no output (" + ", ".join(missing) + "): the attempt hid them"
        return v
    assert v.axioms is not None
    bad = [a for a in v.axioms if a not in policy.allowed_axioms]
    if bad:
        v.status = "rejected"
        v.reason = "uses axioms outside the allowlist: " + ", ".join(bad)
        return v
    v.status = "proved"
    v.reason = ""
    return v


def _relocate(snippet: Snippet, m: Message) -> Message:
    """Tag a message with its region; attempt lines become relative to the attempt's first line."""
    region = snippet.region(m.line)
    if region == "attempt":
        # A record's attempt counts from its own first line; a whole file keeps the file's lines.
        shift = snippet.attempt_start - 1 if snippet.statement is not None else 0
    elif region == "reference":
        shift = snippet.ref_start - 1
    elif region == "checks":
        shift = snippet.attempt_start + snippet.attempt_lines - 1
    else:
        shift = 0
    end_line = m.end_line - shift if m.end_line is not None else None
    return dataclasses.replace(m, line=m.line - shift, end_line=end_line, region=region)
