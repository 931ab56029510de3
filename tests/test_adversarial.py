"""Adversarial cases: an RL policy's attempts to get `proved` without proving the reference, and the
honest proofs the verifier must keep accepting. The cases are data (tests/adversarial_cases.py).

Every case is a real attempt through the bundled Lean on every backend. All records of a backend
are submitted at once and checked in parallel; each test then reads its verdict.
"""

from __future__ import annotations

import pytest
from adversarial_cases import CHEATS, DOCUMENTED_REJECTS, FILE_CHEATS, FILE_GENUINE, GENUINE, NONCE, Case

from leanfd.lean.judge import judge
from leanfd.lean.records import CheckRecord, LeanFile, Verdict
from leanfd.lean.snippet import assemble, attempt_text
from leanfd.lean.verifier import Verifier

ALL = [*CHEATS, *FILE_CHEATS, *GENUINE, *FILE_GENUINE, *DOCUMENTED_REJECTS]
assert len({c.id for c in ALL}) == len(ALL), "case ids must be unique"


def record(case: Case, toy_header: str) -> CheckRecord | LeanFile:
    if case.mode == "file":
        text = toy_header + case.attempt
        if case.first_line:
            text = case.first_line + text.removeprefix("prelude")
        return LeanFile(case.id, text)
    header = toy_header + case.header
    if case.mode == "proof":
        return CheckRecord(case.id, header, case.statement, proof=case.attempt)
    return CheckRecord(case.id, header, case.statement, code=case.attempt)


@pytest.fixture(scope="module", params=["cli", "server", "snapshot"])
def verifier(request, bundled):
    with Verifier(backend=request.param, toolchain=bundled, timeout=60, jobs=2) as v:
        yield v


@pytest.fixture(scope="module")
def verdicts(verifier, toy_header) -> dict[str, Verdict]:
    """Every case's verdict on this backend, checked in parallel."""
    futures = {c.id: verifier.submit(record(c, toy_header)) for c in ALL if c.mode != "nonce"}
    out = {cid: f.result() for cid, f in futures.items()}
    for c in ALL:
        if c.mode == "nonce":  # the attempt knows the nonce: assemble it ourselves, policy bypassed
            r = record(c, toy_header)
            sn = assemble(r, attempt_text(r), nonce=NONCE)
            out[c.id] = judge(sn, verifier.run_raw(sn.header, sn.body), c.id)
    return out


def describe(case: Case, v: Verdict) -> str:
    return f"{case.why}: got {v.status} ({v.reason[:300]!r})"


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CHEATS + FILE_CHEATS])
def test_cheat_is_not_proved(verdicts, case):
    v = verdicts[case.id]
    status = v.status
    assert status != "proved", describe(case, v)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in GENUINE + FILE_GENUINE])
def test_honest_proof_is_proved(verdicts, case):
    v = verdicts[case.id]
    status = v.status
    assert status == "proved", describe(case, v)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in DOCUMENTED_REJECTS])
def test_documented_reject(verdicts, case):
    """Honest or not, a sound verifier may refuse these by design (see each case's comment)."""
    v = verdicts[case.id]
    status = v.status
    assert status != "proved", describe(case, v)
