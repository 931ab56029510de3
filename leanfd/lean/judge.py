"""Turn Lean's messages about an assembled file into a verdict. Pure: no process, no Lean.

`proved` requires all of: no error anywhere, no `sorry`, and for every target, answers from Lean at
the verifier's own lines that say
- its type: the reference's, up to definitional equality, as the kernel decides it: the kernel check
  (`leanfd.lean.snippet.kernel_check`) is accepted without error (records only);
- what it is: a theorem or a safe definition (`#print`; never an axiom, `opaque`, `partial` or `unsafe`);
- its axioms (for a record, the kernel check's, which include the target's): each allowlisted and
  pinned, i.e. declared by the header and not redefined since;
and the end marker. A missing or unreadable answer means something hid it: `rejected`. Printed types
decide nothing; Lean's own message at the kernel check explains a rejection.
"""

from __future__ import annotations

import dataclasses

from leanfd.lean import messages
from leanfd.lean.policy import Policy
from leanfd.lean.records import Verdict
from leanfd.lean.run import MAX_LINE_MB, MAX_MESSAGES, LeanRun, Message, clip
from leanfd.lean.snippet import Snippet, Target

NOTHING_TO_CHECK = "there is no declaration to check"


def _at(raw: list[Message], line: int) -> str | None:
    """The text of the one information message at `line`; None when there is none or several."""
    found = [m.text for m in raw if m.line == line and m.severity == "information"]
    return found[0] if len(found) == 1 else None


def allowed_axioms(snippet: Snippet, raw: list[Message], policy: Policy) -> set[str]:
    """The allowlisted axioms that the header declared (printed as axioms after it) and the attempt left
    as they were (printed alike after it)."""
    allowed = set()
    for pin in snippet.pins:
        first, last = _at(raw, pin.first_line), _at(raw, pin.last_line)
        kind = messages.kind(first) if first is not None else None
        if pin.name in policy.allowed_axioms and kind is not None and kind.is_axiom and first == last:
            allowed.add(pin.name)
    return allowed


def _kind(raw: list[Message], target: Target) -> messages.DeclKind | None:
    text = _at(raw, target.kind_line)
    return messages.kind(text) if text is not None else None


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
    raw = run.messages
    # A pinned axiom the header lacks is an error at its pins: expected, and only means "not allowed";
    # so is an `example` of a whole file, which the environment never holds.
    error_lines = {m.line for m in raw if m.severity == "error"}
    absent = snippet.absent_targets(error_lines)
    expected = {line for t in absent for line in (t.kind_line, t.axioms_line)}
    located = [_relocate(snippet, m) for m in raw
               if not (m.severity == "error" and (snippet.is_pin_line(m.line) or m.line in expected))]
    targets = [t for t in snippet.targets if t not in absent]
    # The verifier's own commands print information; only their errors belong to the attempt.
    attempt_msgs = [dataclasses.replace(m, text=clip(m.text)) for m in located
                    if m.region in ("header", "attempt") or m.severity == "error"]
    v = Verdict(name=name, status="failed", messages=attempt_msgs, elapsed=run.elapsed,
                lean_version=lean_version, backend=backend, truncated=run.truncated)
    errors = [m for m in attempt_msgs if m.severity == "error"]
    v.first_error = next((m for m in errors if m.region == "attempt"), errors[0] if errors else None)
    v.goals = messages.goals_of(errors)
    # An axiom a whole file declares lists itself; it counts where a declaration uses it.
    kinds = {target: _kind(raw, target) for target in targets}
    answers = [messages.axioms(t) if (t := _at(raw, target.axioms_line)) is not None else None
               for target, kind in kinds.items() if kind is None or not kind.is_axiom]
    if snippet.check_line in error_lines:
        answers = [None]  # a failed kernel check is kept as an axiom (Lean's error recovery): its list says nothing
    v.axioms = None if any(a is None for a in answers) else sorted({a for p in answers for a in p or []})
    v.sorry = (
        sorry_in_text
        or any(messages.is_sorry_warning(m) for m in located if m.region == "attempt")
        or "sorryAx" in (v.axioms or [])
    )
    if run.outcome != "ok":
        v.status = run.outcome
        v.reason = run.detail or f"Lean {run.outcome}"
        return v
    if run.dropped:  # an unread message may have been an error: nothing is proved on a partial reading
        v.status = "rejected"
        v.reason = (f"Lean printed more than the verifier reads (over {MAX_MESSAGES} messages, or one over "
                    f"{MAX_LINE_MB} MB), so some message went unread")
        return v
    if any(m.region == "header" for m in errors):
        v.reason = "the header does not elaborate"
        return v
    if any(m.region in ("pins", "reference") for m in errors):
        v.reason = "the reference statement does not elaborate"
        return v
    if errors and all(m.region == "checks" for m in errors):
        v.reason, mismatch = _checks_failed(snippet, raw)
        if mismatch:  # the attempt elaborated, but is no proof of the reference
            v.status = "rejected"
        return v
    if errors:
        v.reason = "Lean reported errors"
        return v
    if v.sorry:
        v.reason = "the proof uses sorry"
        return v
    return _checks(v, snippet, kinds, bool(absent), run, policy)


def _reject(v: Verdict, reason: str) -> Verdict:
    v.status, v.reason = "rejected", reason
    return v


def _checks(v: Verdict, snippet: Snippet, kinds: dict[Target, messages.DeclKind | None], examples: bool,
            run: LeanRun, policy: Policy) -> Verdict:
    """The error-free case: everything now rests on Lean's answers to the verifier's own commands."""
    raw = run.messages
    hidden = " (Lean's output was truncated)" if run.truncated else ": the attempt hid them"
    if _at(raw, snippet.end_line) != snippet.end_marker:
        return _reject(v, f"the verifier's checks produced no output (end marker){hidden}")
    if not kinds:
        return _reject(v, NOTHING_TO_CHECK)
    allowed = allowed_axioms(snippet, raw, policy)
    theorems = 0
    for target, kind in kinds.items():
        if kind is None:
            return _reject(v, f"the verifier's checks produced no output (what `{target.name}` is){hidden}")
        if snippet.statement is None and kind.is_axiom:
            continue  # a whole file may declare axioms; the allowlist refuses them wherever they are used
        if (snippet.statement is not None and not kind.checked) or kind.unchecked_code:
            return _reject(v, f"`{target.name}` is {_article(kind)}, whose value the kernel does not check: "
                              "it proves nothing")
        theorems += kind.keyword == "theorem"
        used = messages.axioms(t) if (t := _at(raw, target.axioms_line)) is not None else None
        if used is None:
            return _reject(v, f"the verifier's checks produced no output (axioms of `{target.name}`){hidden}")
        bad = [a for a in used if a not in allowed]
        if bad:
            return _reject(v, f"`{target.name}` uses axioms outside the allowlist or not declared by the header: "
                              + ", ".join(bad))
    if snippet.statement is None and not theorems:
        return _reject(v, "the file declares no theorem")
    if examples and any(k is not None and k.is_axiom for k in kinds.values()):
        # An `example` is never in the environment, so Lean cannot be asked which axioms it uses.
        return _reject(v, "the file declares axioms and has an `example`, whose axioms Lean cannot be asked for")
    v.status = "proved"
    v.reason = ""
    return v


def _checks_failed(snippet: Snippet, raw: list[Message]) -> tuple[str, bool]:
    """Why the verifier's own commands failed when the attempt itself elaborated without error, and
    whether it is the kernel check that failed (a candidate of another type)."""
    if snippet.statement is None:
        return "the file's checks failed", False
    target = snippet.targets[0]
    at = {m.line: m.text for m in reversed(raw) if m.severity == "error"}  # the first error of each line
    if target.kind_line in at:
        return f"no theorem named `{target.name}` at the root", False
    if snippet.check_line in at:
        return (f"`{target.name}` is not accepted as a proof of the reference statement's type (the kernel "
                f"check `{_check_head(snippet)}` failed):\n{clip(at[snippet.check_line], 4000)}"), True
    return "the verifier's checks failed", False


def _check_head(snippet: Snippet) -> str:
    """The kernel check as a reader wants it: without its pinned options and nonces."""
    assert snippet.statement is not None
    return f"theorem _ : <the reference statement> := @{snippet.statement.name}"


def _article(kind: messages.DeclKind) -> str:
    word = str(kind)
    return ("an " if word[0] in "aeiou" else "a ") + word


def _relocate(snippet: Snippet, m: Message) -> Message:
    """Tag a message with its region and give it a line the user can find: a record's attempt counts
    from its own first line, a whole file's lines are the file's, the checks count from their first."""
    region = snippet.region(m.line)
    pins = snippet.ref_start - snippet.pins_start
    if region == "attempt":
        shift = snippet.attempt_start - 1 if snippet.statement is not None else pins
    elif region in ("pins", "reference"):
        shift = snippet.pins_start - 1
    elif region == "checks":
        shift = snippet.attempt_start + snippet.attempt_lines - 1
    else:
        shift = 0
    end_line = m.end_line - shift if m.end_line is not None else None
    return dataclasses.replace(m, line=m.line - shift, end_line=end_line, region=region)
