"""Rollouts: sample G proofs per problem with the live policy, verify them, attach feedback.

Each attempt goes to the verifier pool as soon as it exists: with the hf backend, the moment its
row of the batch ends, while longer rows still decode; with `gen_chunks > 1`, also chunk by chunk,
so Lean checks chunk k while the policy samples chunk k+1 (DESIGN.md: rollouts, not losses,
decide the speed of a step). Every sample of a step is drawn with the same weights: on-policy.

With `turns > 1`, a failed attempt is revised: the next turn's prompt holds the previous attempt
and Lean's compiler feedback. That history is prompt, never target, so the tool output is masked
out of the loss by construction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Future
from dataclasses import dataclass

from leanfd.data.benchmarks import Problem
from leanfd.data.prompts import PromptBuilder, extract_proof
from leanfd.feedback.compiler import RenderOptions, render
from leanfd.feedback.critic import FeedbackConfig, LLMCritic, teacher_feedback
from leanfd.lean.aio import BackgroundLoop
from leanfd.lean.records import CheckRecord, Verdict
from leanfd.lean.snippet import attempt_text
from leanfd.lean.verifier import Verifier
from leanfd.models.base import Backend, Completion, Prompt, SamplingConfig

log = logging.getLogger(__name__)

FEEDBACK_INTRO = "Privileged feedback on an earlier attempt at this theorem (use it, do not mention it):"
REVISION = "\n```\n\nLean's verdict on the attempt above:\n{feedback}\n\nA corrected proof:\n\n```lean4\n{statement}"
REVISION_CHAT = "Lean's verdict on your attempt:\n{feedback}\n\nWrite a corrected complete proof in a ```lean4 block."


@dataclass
class Rollout:
    problem: Problem
    group: int  # index of the problem in the step: GRPO normalises within a group
    turn: int
    prompt: Prompt
    prompt_ids: list[int]
    completion_ids: list[int]
    old_logprobs: list[float]  # the sampler's log-probs of completion_ids (temperature 1)
    text: str
    finish_reason: str
    verdict: Verdict | None = None
    reward: float = 0.0
    feedback: str | None = None  # privileged text for the FD teacher; None: not distilled
    feedback_source: str | None = None
    check: CheckRecord | None = None  # what was verified: the problem with the extracted attempt
    parent: "Rollout | None" = None  # the failed attempt this one revises (turns > 1)

    @property
    def proved(self) -> bool:
        return self.verdict is not None and self.verdict.proved

    @property
    def root(self) -> "Rollout":
        r = self
        while r.parent is not None:
            r = r.parent
        return r


def teacher_prompt(prompt: Prompt, feedback: str) -> Prompt:
    """The student's prompt with the privileged feedback placed before the problem (completion
    style) or appended to the last user message (chat style), so the attempt follows unchanged."""
    block = f"{FEEDBACK_INTRO}\n{feedback}\n\n"
    if isinstance(prompt, str):
        return block + prompt
    msgs = [dict(m) for m in prompt]
    last_user = max(i for i, m in enumerate(msgs) if m["role"] == "user")
    msgs[last_user]["content"] = msgs[last_user]["content"] + "\n\n" + block.rstrip()
    return msgs  # type: ignore[return-value]


@dataclass
class StepTimes:
    generate: float = 0.0
    verify: float = 0.0  # time spent waiting for Lean after generation finished
    feedback: float = 0.0
    generated_tokens: int = 0
    verified_early: int = 0  # attempts sent to Lean while their batch was still decoding


class RolloutEngine:
    """Turns a list of problems into verified rollouts with feedback."""

    def __init__(self, policy: Backend, verifier: Verifier, builder: PromptBuilder, sampling: SamplingConfig,
                 feedback: FeedbackConfig, critic: LLMCritic | None = None, gen_chunks: int = 1, turns: int = 1,
                 format_reward: float = 0.0, need_feedback: bool = True):
        self.policy = policy
        self.verifier = verifier
        self.builder = builder
        self.sampling = sampling
        self.feedback_config = feedback
        self.critic = critic
        self.gen_chunks = gen_chunks
        self.turns = turns
        self.format_reward = format_reward
        self.need_feedback = need_feedback
        self._loop = BackgroundLoop("leanfd-feedback") if critic is not None else None

    def collect(self, problems: list[Problem], seed: int) -> tuple[list[Rollout], StepTimes]:
        times = StepTimes()
        prompts = [self.builder.build(p) for p in problems]
        rollouts = self._sample([(i, p, prompts[i]) for i, p in enumerate(problems)], seed, turn=0, times=times)
        all_rollouts = list(rollouts)
        for turn in range(1, self.turns):
            failed = [r for r in rollouts if not r.proved]
            if not failed:
                break
            items = [(r.group, r.problem, self._revision_prompt(r)) for r in failed]
            rollouts = self._sample(items, seed + 7919 * turn, turn=turn, times=times, n=1, parents=failed)
            all_rollouts += rollouts
        for r in all_rollouts:
            r.reward = 1.0 if r.proved else (self.format_reward if r.finish_reason == "stop" else 0.0)
        if self.need_feedback:
            t = time.monotonic()
            self._attach_feedback(all_rollouts)
            times.feedback = time.monotonic() - t
        return all_rollouts, times

    def _revision_prompt(self, r: Rollout) -> Prompt:
        assert r.verdict is not None
        assert r.check is not None
        fb = render(attempt_text(r.check), r.verdict, RenderOptions(max_tokens=512))
        if isinstance(r.prompt, str):  # the model continues the statement again, as in turn 0
            return r.prompt + r.text + REVISION.format(feedback=fb, statement=r.problem.formal_statement)
        return [*r.prompt, {"role": "assistant", "content": r.text},
                {"role": "user", "content": REVISION_CHAT.format(feedback=fb)}]

    def _sample(self, items: list[tuple[int, Problem, Prompt]], seed: int, turn: int, times: StepTimes,
                n: int | None = None, parents: list[Rollout] | None = None) -> list[Rollout]:
        n = n or self.sampling.n
        sampling = SamplingConfig(n=n, temperature=self.sampling.temperature, top_p=self.sampling.top_p,
                                  max_tokens=self.sampling.max_tokens, seed=seed, stop=self.sampling.stop)
        size = max(1, -(-len(items) // self.gen_chunks))
        rollouts: list[Rollout] = []
        futures = []
        for c in range(0, len(items), size):
            chunk = items[c : c + size]
            chunk_parents = (parents or [None] * len(items))[c : c + size]
            early: dict[tuple[int, int], tuple[str, CheckRecord, Future[Verdict]]] = {}

            def on_sample(i: int, j: int, done: Completion, chunk: list = chunk) -> None:
                problem = chunk[i][1]
                check = problem.to_check_record(extract_proof(done.text, problem))
                early[(i, j)] = (done.text, check, self.verifier.submit(check))  # Lean starts now

            streaming = {"on_sample": on_sample} if getattr(self.policy, "streams_samples", False) else {}
            t = time.monotonic()
            outs: list[list[Completion]] = self.policy.generate([p for _, _, p in chunk], sampling, **streaming)
            times.generate += time.monotonic() - t
            for i, ((group, problem, prompt), parent, samples) in enumerate(zip(chunk, chunk_parents, outs)):
                prompt_ids = self.policy.encode_prompt(prompt)
                for j, s in enumerate(samples):
                    r = Rollout(problem=problem, group=group, turn=turn, prompt=prompt, prompt_ids=prompt_ids,
                                completion_ids=list(s.token_ids or []), old_logprobs=list(s.logprobs or []),
                                text=s.text, finish_reason=s.finish_reason, parent=parent)
                    times.generated_tokens += len(r.completion_ids)
                    sent = early.get((i, j))
                    if sent is not None and sent[0] == s.text:  # the text Lean is checking is the final one
                        r.check, future = sent[1], sent[2]
                        times.verified_early += 1
                    else:
                        if sent is not None:  # reported text differs from the returned one: check the latter
                            sent[2].cancel()
                        r.check = problem.to_check_record(extract_proof(s.text, problem))
                        future = self.verifier.submit(r.check)
                    rollouts.append(r)
                    futures.append(future)
        t = time.monotonic()
        for r, fut in zip(rollouts, futures):
            r.verdict = fut.result()
        times.verify += time.monotonic() - t
        return rollouts

    def _attach_feedback(self, rollouts: list[Rollout]) -> None:
        proved_by_group: dict[int, str] = {}
        for r in rollouts:
            if r.proved:
                proved_by_group.setdefault(r.group, attempt_text(r.check))

        async def one(r: Rollout) -> None:
            rec = r.check
            assert r.verdict is not None and rec is not None
            text, fb = await teacher_feedback(rec.formal_statement, attempt_text(rec), r.verdict,
                                              self.feedback_config, self.critic, proved_by_group.get(r.group))
            r.feedback, r.feedback_source = text, fb.source if fb else None

        async def all_() -> None:
            await asyncio.gather(*(one(r) for r in rollouts))

        if self._loop is not None:
            self._loop.run(all_())
        else:
            asyncio.run(all_())

    def close(self) -> None:
        if self._loop is not None:
            self._loop.stop()

