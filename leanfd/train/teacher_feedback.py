"""The FD teacher's privileged context: feedback on each attempt, and the prompt that carries it.

A stage of its own, run only at FD steps: it reads frozen attempts and returns one text (or None:
not distilled) per attempt, aligned with them. LLM critiques are requested concurrently on one
background event loop kept for the whole run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from leanfd.feedback.critic import FeedbackConfig, LLMCritic, teacher_feedback
from leanfd.lean.aio import BackgroundLoop
from leanfd.lean.snippet import attempt_text
from leanfd.models.base import Prompt
from leanfd.train.attempts import Attempt

FEEDBACK_INTRO = "Privileged feedback on an earlier attempt at this theorem (use it, do not mention it):"


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


def teacher_prompt_ids(attempts: tuple[Attempt, ...], feedback: tuple[str | None, ...],
                       encode: Callable[[Prompt], list[int]]) -> tuple[tuple[int, ...], ...]:
    """The teacher's prompt of each attempt as ids, aligned with `attempts`: made here, once, so the
    loss stage only runs the teacher. An attempt without feedback gets an empty block (it is never
    distilled; it may still be run, masked, by a process with no distilled attempt)."""
    return tuple(tuple(encode(teacher_prompt(a.prompt, fb or ""))) for a, fb in zip(attempts, feedback))


class TeacherFeedback:
    """attempts -> the privileged text for each (compiler messages, an LLM critique, a sibling proof)."""

    def __init__(self, config: FeedbackConfig, critic: LLMCritic | None = None):
        self.config = config
        self.critic = critic
        self._loop = BackgroundLoop("leanfd-feedback") if critic is not None else None

    def __call__(self, attempts: tuple[Attempt, ...]) -> tuple[str | None, ...]:
        proved_by_group: dict[int, str] = {}
        for a in attempts:
            if a.proved:
                proved_by_group.setdefault(a.group, attempt_text(a.check))

        async def one(a: Attempt) -> str | None:
            text, _ = await teacher_feedback(a.check.formal_statement, attempt_text(a.check), a.verdict,
                                             self.config, self.critic, proved_by_group.get(a.group),
                                             compiler=a.compiler_feedback or None)
            return text

        async def all_() -> list[str | None]:
            return list(await asyncio.gather(*(one(a) for a in attempts)))

        texts = self._loop.run(all_()) if self._loop is not None else asyncio.run(all_())
        return tuple(texts)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.stop()
