"""The one interface every generation backend implements, and its typed inputs and outputs.

A prompt is a `str` (plain completion) or a list of `{"role", "content"}` messages (chat). A call
takes a batch of prompts and one `SamplingConfig`, and returns, for each prompt in order, a list of
`n` `Completion`s. `seeds`, one per prompt, makes each prompt's samples depend on its own seed
only, not on the rest of the batch (hf, vllm, and servers that honour `seed`): a batch cut
differently (a resumed run) draws the same samples. Backends are sync-first (`hf`, `vllm`: the
work is on the accelerator) or async-first (`openai`, `anthropic`: the work is waiting on a
network); each offers both entry points.
"""

from __future__ import annotations

import abc
import asyncio
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypedDict, TypeVar

from leanfd.lean.aio import BackgroundLoop
from leanfd.models.errors import ModelError

Role = Literal["system", "user", "assistant"]
ROLES: tuple[str, ...] = ("system", "user", "assistant")


class ChatMessage(TypedDict):
    role: Role
    content: str


Prompt = str | list[ChatMessage]

T = TypeVar("T")


@dataclass(frozen=True)
class SamplingConfig:
    """How to sample; the same meaning on every backend (where a server lacks a knob, it says so)."""

    n: int = field(default=1, metadata={"help": "samples per prompt"})
    temperature: float = field(default=1.0, metadata={"help": "softmax temperature; 0 means greedy"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling mass, in (0, 1]; 1 disables it"})
    max_tokens: int = field(default=512, metadata={"help": "most new tokens per sample"})
    seed: int | None = field(
        default=None,
        metadata={"help": "makes sampling reproducible for the same prompts and config (hf, vllm, and "
                          "servers that honour `seed`; the Anthropic API has no seed)"},
    )
    stop: tuple[str, ...] = field(
        default=(),
        metadata={"help": "strings that end a sample; the text excludes them"},
    )

    def __post_init__(self) -> None:
        if isinstance(self.stop, str):  # a lone string is one stop string, not its characters
            object.__setattr__(self, "stop", (self.stop,))
        else:
            object.__setattr__(self, "stop", tuple(self.stop))
        if self.n < 1:
            raise ModelError(f"SamplingConfig.n must be at least 1, got {self.n}")
        if self.temperature < 0:
            raise ModelError(f"SamplingConfig.temperature must be >= 0 (0 is greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ModelError(f"SamplingConfig.top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise ModelError(f"SamplingConfig.max_tokens must be at least 1, got {self.max_tokens}")
        if any(not isinstance(s, str) or not s for s in self.stop):
            raise ModelError(f"SamplingConfig.stop must hold non-empty strings, got {self.stop!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass
class Completion:
    """One sample.

    `token_ids` and `logprobs` have one entry per generated token when the backend knows them (hf and
    vllm always; HTTP servers only when asked and able: otherwise None). For hf and vllm they include
    the end-of-sequence token or the token that completed a stop string, since those were sampled;
    `text` never includes either. `finish_reason` is "stop" (end of sequence or a stop string),
    "length" (max_tokens reached), or a server's own reason passed through (e.g. "content_filter").
    """

    text: str
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    finish_reason: str = "stop"


def copy_completion(c: Completion) -> Completion:
    """An independent copy (lists too), so that one of n equal greedy samples can be edited alone."""
    return Completion(
        text=c.text,
        token_ids=None if c.token_ids is None else list(c.token_ids),
        logprobs=None if c.logprobs is None else list(c.logprobs),
        finish_reason=c.finish_reason,
    )


def check_prompts(prompts: Sequence[Prompt]) -> list[Prompt]:
    """Validate a batch of prompts; a malformed one fails here, naming its index, not in the server."""
    if isinstance(prompts, str) or (
        isinstance(prompts, Sequence) and prompts and isinstance(prompts[0], dict)
    ):
        raise ModelError("pass a list of prompts: wrap a single prompt (a str or a list of messages) in a list")
    out: list[Prompt] = []
    for i, p in enumerate(prompts):
        if isinstance(p, str):
            out.append(p)
            continue
        if not isinstance(p, (list, tuple)) or not p:
            raise ModelError(f"prompt {i} must be a str or a non-empty list of {{'role', 'content'}} messages")
        for j, m in enumerate(p):
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                raise ModelError(
                    f"prompt {i}, message {j}: expected {{'role': one of {ROLES}, 'content': str}}, got {m!r:.200}"
                )
        out.append([{"role": m["role"], "content": m["content"]} for m in p])
    return out


def encode_with_tokenizer(tokenizer: Any, prompt: Prompt, model_name: str) -> list[int]:
    """The token ids a local model is fed for `prompt`: a chat prompt goes through the tokenizer's
    chat template (with the assistant turn opened); a plain string is tokenized as is."""
    if isinstance(prompt, str):
        return list(tokenizer(prompt).input_ids)
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError(
            f"{model_name}: the tokenizer has no chat template, so chat messages cannot be rendered; "
            "pass the prompt as a plain string"
        )
    text = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
    # The template already writes any BOS it wants; adding special tokens again would double it.
    return list(tokenizer(text, add_special_tokens=False).input_ids)


def check_seeds(seeds: Sequence[int] | None, prompts: Sequence[Prompt]) -> list[int] | None:
    if seeds is None:
        return None
    if len(seeds) != len(prompts) or not all(isinstance(x, int) and x >= 0 for x in seeds):
        raise ModelError(f"seeds must be one non-negative int per prompt ({len(prompts)}), got {list(seeds)!r:.200}")
    return list(seeds)


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut `text` before the earliest occurrence of any stop string; say whether one occurred."""
    positions = [i for i in (text.find(s) for s in stop) if i >= 0]
    if not positions:
        return text, False
    return text[: min(positions)], True


async def gather_or_cancel(coros: Sequence[Coroutine[Any, Any, T]]) -> list[T]:
    """Run coroutines concurrently; on the first failure cancel the rest (no orphan requests keep
    running against a server after the batch has failed) and raise that failure."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


# Servers' names for "ended on its own" and "hit the token limit", mapped to ours.
_FINISH_REASONS = {
    "stop": "stop", "eos": "stop", "eos_token": "stop", "stop_sequence": "stop", "end_turn": "stop",
    "length": "length", "max_tokens": "length",
}


def normalize_finish_reason(reason: object) -> str:
    if not reason:
        return "stop"
    return _FINISH_REASONS.get(str(reason), str(reason))


_RUNNER_LOCK = threading.Lock()


# (prompt index, sample index, the finished sample without log-probs): what `on_sample` is called with
SampleCallback = Callable[[int, int, Completion], None]


class Backend(abc.ABC):
    """A generation backend. Subclasses implement `generate` or `agenerate`; the other comes free.

    `model_name` names the model (hub id, path, or the server's model name) for logs and reports.
    `streams_samples` says whether `generate` calls `on_sample` as each sample ends, before it returns
    (the hf backend does); elsewhere `on_sample` is accepted and never called: every sample comes back
    from `generate` all the same, so a caller passes it to any backend.
    """

    kind: ClassVar[str]
    model_name: str
    streams_samples: ClassVar[bool] = False

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingConfig | None = None, *,
                 on_sample: SampleCallback | None = None,
                 seeds: Sequence[int] | None = None) -> list[list[Completion]]:
        """Sample `sampling.n` completions for each prompt; blocks. One list per prompt, in order.
        `seeds[i]` (replacing `sampling.seed`) seeds prompt i's samples alone. `on_sample`: see the class."""
        return self._sync_runner().run(self.agenerate(prompts, sampling, seeds=seeds))

    async def agenerate(
        self, prompts: Sequence[Prompt], sampling: SamplingConfig | None = None, *,
        seeds: Sequence[int] | None = None,
    ) -> list[list[Completion]]:
        """The async form of `generate`; sync backends run in a worker thread so the loop stays free."""
        return await asyncio.to_thread(self.generate, prompts, sampling, seeds=seeds)

    def close(self) -> None:
        """Release what the sync entry point holds (HTTP connections, the private loop thread).
        Async callers release their loop's connections with `aclose()` on that loop."""
        runner = self.__dict__.pop("_runner", None)
        if runner is not None:
            runner.run(self.aclose())
            runner.stop()

    async def aclose(self) -> None:
        """Release what the backend holds on the running event loop."""

    def _sync_runner(self) -> BackgroundLoop:
        with _RUNNER_LOCK:  # two threads calling `generate` first must not start two loops
            runner = self.__dict__.get("_runner")
            if runner is None:
                # sync callers can drive async code from anywhere, including from inside a running
                # loop (a notebook, an LSP handler), and reuse one HTTP client
                runner = self.__dict__["_runner"] = BackgroundLoop("leanfd-models-loop")
            return runner

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Backend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model_name!r})"
