"""Any OpenAI-compatible HTTP endpoint: OpenAI itself, `vllm serve`, SGLang, llama.cpp, TGI, ...

A plain-string prompt goes to `{base_url}/completions`, a chat prompt to `{base_url}/chat/completions`
(`base_url` ends in `/v1`, as in the OpenAI SDK; a bare `http://host:port` gets `/v1`). One request
per prompt asks for all `n` samples; servers that return fewer choices than asked (some ignore `n`)
are asked again for the rest, with `seed + k` so seeded repeats do not duplicate samples.

Log-probabilities are requested only with `logprobs=True` (some models reject the parameter) and
parsed whenever a server returns them. Token ids come back only from servers that put them in the
token strings (vLLM's `return_tokens_as_token_ids`, passed through `extra_body`).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from typing import Any

from leanfd.models._http import HTTPBackend, join_url, normalize_base_url, require_key_for
from leanfd.models.base import (
    Completion,
    Prompt,
    SamplingConfig,
    check_prompts,
    check_seeds,
    cut_at_stop,
    gather_or_cancel,
    normalize_finish_reason,
)
from leanfd.models.errors import ModelResponseError

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_TOKEN_ID = re.compile(r"token_id:(\d+)")


class OpenAIBackend(HTTPBackend):
    """An OpenAI-compatible server.

    `base_url` defaults to `$OPENAI_BASE_URL`, else OpenAI's. `api_key` defaults to
    `$OPENAI_API_KEY` and is sent as `Authorization: Bearer ...` when set (local servers need none).
    `extra_body` is merged into every request (server-specific parameters); `headers` are added to
    every request. Retry options: see `RetryPolicy` (timeout, max_retries, backoff_base, backoff_max,
    retry_after_max, max_concurrency).
    """

    kind = "openai"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        logprobs: bool = False,
        extra_body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        **retry: Any,
    ) -> None:
        base = normalize_base_url(base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL, "/v1")
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        super().__init__(model, base, key, headers=headers, extra_body=extra_body, **retry)
        require_key_for("api.openai.com", base, bool(self._secret), "OPENAI_API_KEY")
        self.request_logprobs = logprobs

    def _headers(self) -> dict[str, str]:
        headers = dict(self.extra_headers)
        key = self._secret.reveal()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    async def agenerate(
        self, prompts: Sequence[Prompt], sampling: SamplingConfig | None = None, *,
        seeds: Sequence[int] | None = None,
    ) -> list[list[Completion]]:
        sampling = sampling or SamplingConfig()
        prompts = check_prompts(prompts)
        own = check_seeds(seeds, prompts) or [sampling.seed] * len(prompts)
        return await gather_or_cancel([self._samples(p, sampling, seed) for p, seed in zip(prompts, own)])

    async def _samples(self, prompt: Prompt, s: SamplingConfig, first_seed: int | None) -> list[Completion]:
        chat = not isinstance(prompt, str)
        url = join_url(self.base_url, "chat/completions" if chat else "completions")
        got: list[Completion] = []
        while len(got) < s.n:
            want = s.n - len(got)
            seed = None if first_seed is None else first_seed + len(got)
            body = await self._poster.post(url, self._payload(prompt, s, want, seed), self._headers())
            choices = _choices(body, url)
            if not choices:
                raise ModelResponseError(f"openai server at {url} returned no choices")
            got.extend(_completion(c, chat, s.stop, url) for c in choices[:want])
        return got

    def _payload(self, prompt: Prompt, s: SamplingConfig, n: int, seed: int | None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model_name,
            "n": n,
            "temperature": s.temperature,
            "max_tokens": s.max_tokens,
        }
        if isinstance(prompt, str):
            payload["prompt"] = prompt
            if self.request_logprobs:
                payload["logprobs"] = 1  # the legacy API's count of alternatives; the chosen token comes too
        else:
            payload["messages"] = prompt
            if self.request_logprobs:
                payload["logprobs"] = True
        if s.top_p < 1.0:  # left out at its default: some models reject top_p with temperature
            payload["top_p"] = s.top_p
        if seed is not None:
            payload["seed"] = seed
        if s.stop:
            payload["stop"] = list(s.stop)
        payload.update(self.extra_body)
        return payload


def _choices(body: Any, url: str) -> list[dict[str, Any]]:
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
        raise ModelResponseError(f"openai server at {url} answered without a 'choices' list: {str(body)[:300]!r}")
    return sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c.get("index"), int) else 0)


def _completion(choice: dict[str, Any], chat: bool, stop: Sequence[str], url: str) -> Completion:
    if chat:
        message = choice.get("message")
        if not isinstance(message, dict):
            raise ModelResponseError(f"openai server at {url} answered a choice without 'message': {choice!r:.300}")
        text = message.get("content") or ""  # None for a refusal or a tool call
    else:
        text = choice.get("text")
        if not isinstance(text, str):
            raise ModelResponseError(f"openai server at {url} answered a choice without 'text': {choice!r:.300}")
    # Servers cut at stop strings already; cutting again costs nothing and guarantees it.
    text, _ = cut_at_stop(text, stop)
    tokens, logprobs = _logprobs(choice.get("logprobs"), chat)
    token_ids = None
    if tokens:
        matches = [_TOKEN_ID.fullmatch(t) for t in tokens]
        if all(matches):
            token_ids = [int(m.group(1)) for m in matches if m]
    return Completion(
        text=text,
        token_ids=token_ids,
        logprobs=logprobs,
        finish_reason=normalize_finish_reason(choice.get("finish_reason")),
    )


def _logprobs(lp: Any, chat: bool) -> tuple[list[str] | None, list[float] | None]:
    """(tokens, log-probs) from either wire shape, or (None, None) when absent or unreadable."""
    if not isinstance(lp, dict):
        return None, None
    try:
        if chat:
            content = lp.get("content")
            if not isinstance(content, list):
                return None, None
            return [str(e.get("token", "")) for e in content], [float(e["logprob"]) for e in content]
        values = lp.get("token_logprobs")
        if not isinstance(values, list):
            return None, None
        tokens = lp.get("tokens")
        return (
            [str(t) for t in tokens] if isinstance(tokens, list) else None,
            [float(v) if v is not None else float("nan") for v in values],
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        log.debug("unreadable logprobs in a choice; leaving them out")
        return None, None
