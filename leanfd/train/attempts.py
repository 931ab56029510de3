"""What one training step's stages hand forward, frozen: sample + verify -> reward -> feedback -> loss.

    attempts = engine.collect(problems, seed)          # Attempt: a sampled proof and Lean's verdict
    rewards = reward.step_rewards(attempts, ...)        # a float per attempt (pure)
    feedback = TeacherFeedback(...)(attempts)           # FD only: the teacher's privileged text
    prompts = teacher_prompt_ids(attempts, feedback, encode)  # FD only: the teacher's prompt, as ids
    batch = StepBatch(attempts, rewards, feedback, prompts)   # what a loss reads

No stage writes into another's record: a later stage returns a new tuple aligned with `attempts`.
"""

from __future__ import annotations

from dataclasses import dataclass

from leanfd.data.benchmarks import Problem
from leanfd.lean.records import CheckRecord, Verdict
from leanfd.models.base import Prompt


@dataclass(frozen=True)
class Attempt:
    """One sampled proof, what was sent to Lean, and Lean's verdict."""

    problem: Problem
    group: int  # index of the problem in the step: GRPO normalises within a group
    turn: int  # 0: the first attempt; k: the k-th revision after compiler feedback
    prompt: Prompt
    prompt_ids: tuple[int, ...]
    completion_ids: tuple[int, ...]
    sampled_logprobs: tuple[float, ...]  # the sampler's, at the sampling temperature (before top-p)
    text: str
    finish_reason: str
    check: CheckRecord  # the problem with the attempt extracted from `text`
    verdict: Verdict
    root: int  # index, in the step's attempts, of the first attempt of this episode (itself at turn 0)
    # Lean's verdict rendered as text (feedback/compiler.py), once, by the verify stage: what a
    # revision turn shows the student and what the FD teacher's compiler feedback quotes
    compiler_feedback: str = ""

    @property
    def proved(self) -> bool:
        return self.verdict.proved


@dataclass(frozen=True)
class StepTimes:
    generate: float = 0.0
    verify: float = 0.0  # time spent waiting for Lean after generation finished
    generated_tokens: int = 0
    verified_early: int = 0  # attempts sent to Lean while their batch was still decoding


@dataclass(frozen=True)
class StepBatch:
    """Everything a loss reads about a step, aligned by index with `attempts`."""

    attempts: tuple[Attempt, ...]
    rewards: tuple[float, ...]
    feedback: tuple[str | None, ...]  # the FD teacher's privileged text; None: not distilled
    # the FD teacher's prompt (with its feedback) as ids, made by the feedback stage; None: not made
    teacher_prompt_ids: tuple[tuple[int, ...], ...] | None = None

    def __post_init__(self) -> None:
        if not len(self.attempts) == len(self.rewards) == len(self.feedback):
            raise ValueError("attempts, rewards and feedback must be aligned")
        if self.teacher_prompt_ids is not None and len(self.teacher_prompt_ids) != len(self.attempts):
            raise ValueError("attempts and teacher_prompt_ids must be aligned")
