"""Statements shaped like ProofNet's and miniF2F's (anonymous instance binders, `extends`, numerals,
coercions, sets) over a header richer than the toy prelude: honest proofs and rewrites must be `proved`,
neighbouring statements, weaker ones and cheats must not. The cases are data (tests/mathlike/cases.py).

Every case is a real attempt through the bundled Lean on every backend; all records of a backend are
submitted at once and checked in parallel, then each test reads its verdict.
"""

from __future__ import annotations

import pytest
from mathlike.cases import CASES, HEADER, Case

from leanfd.lean.records import CheckRecord, Verdict
from leanfd.lean.verifier import Verifier


def record(case: Case) -> CheckRecord:
    if case.mode == "proof":
        return CheckRecord(case.id, HEADER, case.statement, proof=case.attempt)
    return CheckRecord(case.id, HEADER, case.statement, code=case.attempt)


# `auto` picks `snapshot` for this header (over auto_backend.SNAPSHOT_MIN_LINES lines).
@pytest.fixture(scope="module", params=["cli", "server", "snapshot", "auto"])
def verdicts(request, bundled) -> dict[str, Verdict]:
    """Every case's verdict on this backend, checked in parallel."""
    with Verifier(backend=request.param, toolchain=bundled, timeout=60, jobs=2) as v:
        futures = {c.id: v.submit(record(c)) for c in CASES}
        return {cid: f.result() for cid, f in futures.items()}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_mathlike(verdicts, case):
    v = verdicts[case.id]
    expected = "proved" if case.proved else "not proved"
    assert (v.status == "proved") == case.proved, (
        f"{case.kind} ({case.why}): expected {expected}, got {v.status} ({v.reason[:400]!r})\n"
        f"--- reference\n{case.statement}\n--- attempt\n{case.attempt}"
    )
