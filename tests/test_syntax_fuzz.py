"""`leanfd.lean.syntax` against the bundled Lean: where Lean runs a sentinel command, the module reads
code; where a comment or a string swallows it, the module says so too (see tests/syntax_fuzz.py)."""

from __future__ import annotations

import time

from syntax_fuzz import run


def test_module_and_lean_agree_on_every_sentinel(bundled):
    start = time.monotonic()
    r = run(bundled, batches=8, cases=300, seed=20261201, jobs=2)
    took = time.monotonic() - start
    assert r.disagreements == [], r.disagreements[:3]
    assert r.sentinels > 2 * r.cases / 3  # most cases are kept and compared ...
    assert 0.2 * r.sentinels < r.swallowed < 0.5 * r.sentinels  # ... both ways: swallowed and run
    # The refused cases (the module raises) are random text that reads two ways or is unterminated
    # even after closers; the policy rejects them. They must stay a minority.
    assert r.refused < 0.35 * r.cases, (r.refused, r.cases)
    assert took < 30, took
