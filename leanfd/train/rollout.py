"""Sample and verify: G proofs per problem with the live policy, each checked by Lean.

Each attempt goes to the verifier pool as soon as it exists: with the hf backend, the moment its
row of the batch ends, while longer rows still decode; with `gen_chunks > 1`, also chunk by chunk,
so Lean checks chunk k while the policy samples chunk k+1 (rollouts, not losses, decide the speed
of a step: on the lent H200, sampling was 8.5 of an 11.1 s GRPO step, bench/README.md). Every
sample of a step is drawn with the same weights: on-policy.

With `turns > 1`, a failed attempt is revised: the next turn's prompt holds the previous attempt
and Lean's compiler feedback. That history is prompt, never target, so the tool output is masked
out of the loss by construction.

This stage returns frozen `Attempt`s; rewards (`reward.py`) and the teacher's feedback
(`teacher_feedback.py`) are later stages.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future

from leanfd.data.benchmarks import Problem
from leanfd.data.prompts import PromptBuilder, answer_record
from leanfd.feedback.compiler import RenderOptions, render
from leanfd.lean.records import CheckRecord, Verdict
from leanfd.lean.snippet import attempt_text
from leanfd.lean.verifier import Verifier
from leanfd.models.base import Backend, Completion, Prompt, SamplingConfig
from leanfd.train.attempts import Attempt, StepTimes

log = logging.getLogger(__name__)

REVISION = "\n```\n\nLean's verdict on the attempt above:\n{feedback}\n\nA corrected proof:\n\n```lean4\n{statement}"
REVISION_CHAT = "Lean's verdict on your attempt:\n{feedback}\n\nWrite a corrected complete proof in a ```lean4 block."


class RolloutEngine:
    """Turns a list of problems into verified attempts."""

    def __init__(self, policy: Backend, verifier: Verifier, builder: PromptBuilder, sampling: SamplingConfig,
                 gen_chunks: int = 1, turns: int = 1, feedback: RenderOptions = RenderOptions()):
        self.policy = policy
        self.verifier = verifier
        self.builder = builder
        self.sampling = sampling
        self.gen_chunks = gen_chunks
        self.turns = turns
        self.feedback = feedback  # how each verdict is rendered, once, for the revision and the teacher

    def collect(self, problems: list[Problem], seed: int) -> tuple[tuple[Attempt, ...], StepTimes]:
        times = _Times()
        prompts = [self.builder.build(p) for p in problems]
        items = [(i, p, prompts[i]) for i, p in enumerate(problems)]
        attempts: list[Attempt] = []
        latest = self._sample(items, seed, turn=0, times=times, first_index=0)
        attempts += latest
        for turn in range(1, self.turns):
            failed = [a for a in latest if not a.proved]
            if not failed:
                break
            items = [(a.group, a.problem, self._revision_prompt(a)) for a in failed]
            latest = self._sample(items, seed + 7919 * turn, turn=turn, times=times, n=1,
                                  first_index=len(attempts), roots=[a.root for a in failed])
            attempts += latest
        return tuple(attempts), times.frozen()

    def _revision_prompt(self, a: Attempt) -> Prompt:
        fb = a.compiler_feedback
        if isinstance(a.prompt, str):  # the model continues the statement again, as in turn 0
            return a.prompt + a.text + REVISION.format(feedback=fb, statement=a.problem.formal_statement)
        return [*a.prompt, {"role": "assistant", "content": a.text},
                {"role": "user", "content": REVISION_CHAT.format(feedback=fb)}]

    def _sample(self, items: list[tuple[int, Problem, Prompt]], seed: int, turn: int, times: "_Times",
                first_index: int, n: int | None = None, roots: list[int] | None = None) -> list[Attempt]:
        n = n or self.sampling.n
        sampling = SamplingConfig(n=n, temperature=self.sampling.temperature, top_p=self.sampling.top_p,
                                  max_tokens=self.sampling.max_tokens, seed=seed, stop=self.sampling.stop)
        size = max(1, -(-len(items) // self.gen_chunks))
        pending: list[tuple[dict, CheckRecord, Future[Verdict]]] = []
        for c in range(0, len(items), size):
            chunk = items[c : c + size]
            early: dict[tuple[int, int], tuple[str, CheckRecord, Future[Verdict]]] = {}

            def on_sample(i: int, j: int, done: Completion, chunk: list = chunk) -> None:
                problem = chunk[i][1]
                check = answer_record(done.text, problem)
                early[(i, j)] = (done.text, check, self.verifier.submit(check))  # Lean starts now

            t = time.monotonic()  # a backend that cannot stream (`streams_samples`) never calls on_sample
            outs: list[list[Completion]] = self.policy.generate([p for _, _, p in chunk], sampling,
                                                                on_sample=on_sample)
            times.generate += time.monotonic() - t
            for i, ((group, problem, prompt), samples) in enumerate(zip(chunk, outs)):
                prompt_ids = tuple(self.policy.encode_prompt(prompt))
                for j, s in enumerate(samples):
                    index = first_index + len(pending)
                    fields = dict(problem=problem, group=group, turn=turn, prompt=prompt, prompt_ids=prompt_ids,
                                  completion_ids=tuple(s.token_ids or ()), sampled_logprobs=tuple(s.logprobs or ()),
                                  text=s.text, finish_reason=s.finish_reason,
                                  root=index if roots is None else roots[c + i])
                    times.generated_tokens += len(fields["completion_ids"])
                    sent = early.get((i, j))
                    if sent is not None and sent[0] == s.text:  # the text Lean is checking is the final one
                        check, future = sent[1], sent[2]
                        times.verified_early += 1
                    else:
                        if sent is not None:  # reported text differs from the returned one: check the latter
                            sent[2].cancel()
                        check = answer_record(s.text, problem)
                        future = self.verifier.submit(check)
                    pending.append((fields, check, future))
        t = time.monotonic()
        attempts = []
        for fields, check, future in pending:
            verdict = future.result()
            attempts.append(Attempt(**fields, check=check, verdict=verdict,
                                    compiler_feedback=render(attempt_text(check), verdict, self.feedback)))
        times.verify += time.monotonic() - t
        return attempts


class _Times:
    """The engine's running totals for a step, frozen into `StepTimes` at the end."""

    def __init__(self) -> None:
        self.generate = self.verify = 0.0
        self.generated_tokens = self.verified_early = 0

    def frozen(self) -> StepTimes:
        return StepTimes(self.generate, self.verify, self.generated_tokens, self.verified_early)
