"""The format reward (train/reward.py) on the verdict a different statement gets: `rejected`, so no
format reward, though Lean elaborated it without an error."""

from __future__ import annotations

import pytest

from leanfd.data.benchmarks import Problem
from leanfd.lean.records import Verdict
from leanfd.train.reward import attempt_reward, elaborated_without_error


@pytest.fixture(scope="module")
def problem(toy_header) -> Problem:
    return Problem(name="toy_true", header=toy_header, formal_statement="theorem toy_true : True :=", split="test")


def test_a_proof_of_a_different_statement_earns_no_format_reward(problem, cli_verifier):
    code = "theorem toy_true : Eq Bool.true Bool.true := Eq.refl _"  # the reference's name, another type
    other = cli_verifier.check(problem.to_check_record({"code": code}))
    assert other.status == "rejected", other.reason
    assert not any(m.severity == "error" and m.region == "attempt" for m in other.messages)  # it elaborates
    assert not elaborated_without_error(other)
    assert attempt_reward(other, 0.25) == 0.0


@pytest.mark.parametrize("status", ["rejected", "timeout", "crashed"])
def test_only_a_failed_verdict_without_errors_earns_the_format_reward(status):
    assert attempt_reward(Verdict(name="t", status=status), 0.25) == 0.0
    assert attempt_reward(Verdict(name="t", status="failed", sorry=True), 0.25) == 0.25
    assert attempt_reward(Verdict(name="t", status="failed", truncated=True), 0.25) == 0.0
    assert attempt_reward(Verdict(name="t", status="proved"), 0.25) == 1.0
