"""Rewards from verdicts: pure functions, no model and no Lean.

- 1 for a proof Lean accepted (`proved`: the reference theorem, same type, allowed axioms only);
- `format_reward` for an attempt Lean read whole and found no error in, yet not proved (status
  `failed`: a `sorry`): the shape is right, the proof is not;
- 0 otherwise: an error, a timeout, a crash, and every `rejected` verdict: a proof of a different
  statement, a forbidden axiom, a refusal by the policy. Paying the format reward for proving
  another statement would reward the policy for changing the problem.
An episode (an attempt and its revisions, `turns > 1`) earns its best attempt's reward.
"""

from __future__ import annotations

from leanfd.lean.records import Verdict
from leanfd.train.attempts import Attempt


def elaborated_without_error(verdict: Verdict) -> bool:
    """Lean read the whole attempt and reported no error in it or in its header, and the verdict is
    `failed` (a `sorry`, say): never `rejected`, which a proof of a different statement is."""
    if verdict.status != "failed" or verdict.truncated:
        return False  # rejected: no proof of this problem; timeout, crash: Lean's answer is missing or unread
    return not any(m.severity == "error" and m.region in ("header", "attempt") for m in verdict.messages)


def attempt_reward(verdict: Verdict, format_reward: float = 0.0) -> float:
    if verdict.proved:
        return 1.0
    return format_reward if elaborated_without_error(verdict) else 0.0


def step_rewards(attempts: tuple[Attempt, ...], format_reward: float = 0.0) -> tuple[float, ...]:
    return tuple(attempt_reward(a.verdict, format_reward) for a in attempts)


def episode_rewards(attempts: tuple[Attempt, ...], rewards: tuple[float, ...]) -> tuple[float, ...]:
    """The best reward of each attempt's episode, aligned with `attempts` (every turn of an episode
    shares it; with one turn, each attempt's own)."""
    best: dict[int, float] = {}
    for a, r in zip(attempts, rewards, strict=True):
        best[a.root] = max(best.get(a.root, r), r)
    return tuple(best[a.root] for a in attempts)
