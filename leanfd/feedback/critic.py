"""Privileged feedback: a critic model writes a hint about a failed attempt; the teacher reads it.

Any generation backend can be the critic (an OpenAI-compatible server, the Anthropic API, a local
model). Answers are cached on disk. A critic that fails or answers nothing never stops a run: the
feedback falls back to the compiler's and says why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from leanfd.data.prompts import fill_template
from leanfd.feedback.cache import FeedbackCache, cache_key
from leanfd.feedback.compiler import RenderOptions, render
from leanfd.lean.errors import ConfigError
from leanfd.lean.records import Verdict
from leanfd.models.base import Backend, SamplingConfig

log = logging.getLogger(__name__)

Source = Literal["compiler", "llm", "fallback"]


@dataclass(frozen=True)
class Feedback:
    text: str
    source: Source
    model: str | None = None
    error: str | None = None  # why the critic's answer was not used
    cached: bool = False


def load_template(path: str | Path | None = None, name: str = "critic.txt") -> str:
    """A prompt template: the packaged one by name, or the user's file."""
    if path is not None:
        return Path(path).read_text(encoding="utf-8")
    return resources.files("leanfd.feedback").joinpath("templates", name).read_text(encoding="utf-8")


class LLMCritic:
    """Writes feedback on attempts with a model backend, through an optional on-disk cache."""

    def __init__(self, backend: Backend, template: str | Path | None = None, cache: FeedbackCache | None = None,
                 sampling: SamplingConfig | None = None, render_options: RenderOptions = RenderOptions()):
        self.backend = backend
        self.template = load_template(template)
        self.cache = cache
        self.sampling = sampling or SamplingConfig(n=1, temperature=0.0, max_tokens=400)
        self.render_options = render_options

    @property
    def model(self) -> str:
        return getattr(self.backend, "model_name", type(self.backend).__name__)

    async def afeedback(self, statement: str, attempt: str, verdict: Verdict, compiler: str | None = None) -> Feedback:
        """The critic's hint on `attempt`. `compiler`: Lean's compiler feedback on it, when the caller
        rendered it already (the FD teacher's stage renders it once, for both uses)."""
        if compiler is None:
            compiler = render(attempt, verdict, self.render_options)
        messages = [f"{m.severity}:{m.line}:{m.text}" for m in verdict.messages]
        key = cache_key(self.model, self.template, attempt, messages)
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            return Feedback(hit, "llm", self.model, cached=True)
        # One pass: a `{attempt}` inside the user's attempt (or Lean's braces) is text, never expanded again.
        prompt = fill_template(self.template, {"statement": statement.strip(), "attempt": attempt.strip(),
                                                 "compiler_feedback": compiler})
        try:
            out = await self.backend.agenerate([[{"role": "user", "content": prompt}]], self.sampling)
            text = out[0][0].text.strip() if out and out[0] else ""
        except Exception as e:  # noqa: BLE001 - a critic's failure must never end a training run
            log.warning("critic %s failed (%s); using compiler feedback", self.model, type(e).__name__)
            return Feedback(compiler, "fallback", self.model, error=f"{type(e).__name__}: {e}")
        if not text:
            return Feedback(compiler, "fallback", self.model, error="the critic answered with an empty text")
        if self.cache is not None:
            self.cache.put(key, text)
        return Feedback(text, "llm", self.model)


@dataclass(frozen=True)
class FeedbackConfig:
    """What the FD teacher sees in its context besides the theorem."""

    content: Literal["llm", "compiler", "both"] = "llm"  # llm falls back to compiler when no critic is set
    which: Literal["failed", "all"] = "failed"  # attempts that get feedback
    sibling: bool = False  # add a successful attempt from the same group, when there is one
    max_tokens: int = 1024  # budget for the compiler part

    def __post_init__(self) -> None:
        if self.content not in ("llm", "compiler", "both"):
            raise ConfigError(f"feedback content must be llm, compiler or both, not {self.content!r}")
        if self.which not in ("failed", "all"):
            raise ConfigError(f"feedback 'which' must be failed or all, not {self.which!r}")


async def teacher_feedback(
    statement: str, attempt: str, verdict: Verdict, config: FeedbackConfig,
    critic: LLMCritic | None = None, sibling: str | None = None, compiler: str | None = None,
) -> tuple[str | None, Feedback | None]:
    """The privileged text for the teacher's context, or None when this attempt gets none.
    `compiler`: the verdict already rendered (training renders it once, in the verify stage);
    None renders it here at `config.max_tokens`."""
    if config.which == "failed" and verdict.proved:
        return None, None
    parts: list[str] = []
    fb: Feedback | None = None
    if compiler is None:
        compiler = render(attempt, verdict, RenderOptions(max_tokens=config.max_tokens))
    if config.content in ("llm", "both") and critic is not None:
        fb = await critic.afeedback(statement, attempt, verdict, compiler)
        if fb.source == "llm":
            parts.append("Feedback on a previous attempt:\n" + fb.text)
    if config.content in ("compiler", "both") or fb is None or fb.source != "llm":
        parts.append("Lean's verdict on a previous attempt:\n" + compiler)
        fb = fb or Feedback(compiler, "compiler")
    if config.sibling and sibling:
        parts.append("A proof of this theorem that Lean accepted:\n```lean4\n" + sibling.strip() + "\n```")
    return "\n\n".join(parts), fb
