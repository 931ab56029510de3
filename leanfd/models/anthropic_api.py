"""The Anthropic Messages API (`POST {base_url}/v1/messages`).

The API has no `n`: n samples are n concurrent requests (under the backend's concurrency cap). It
has no seed either: `SamplingConfig.seed` is ignored. It returns no log-probabilities, so
`Completion.token_ids` and `.logprobs` are None. System prompts: the `system` messages of a chat
prompt, joined, else the backend's `system` option; the API takes them as a top-level field.
`top_p` is sent only when below 1, since recent models reject temperature and top_p together.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from leanfd.models._http import HTTPBackend, normalize_base_url, require_key_for
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
from leanfd.models.errors import ModelError, ModelResponseError

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"  # the Messages API's only version so far


class AnthropicBackend(HTTPBackend):
    """Claude through the Messages API.

    `base_url` defaults to `$ANTHROPIC_BASE_URL`, else Anthropic's (with or without a trailing `/v1`).
    `api_key` defaults to `$ANTHROPIC_API_KEY`, sent as `x-api-key`. `system` is the default system
    prompt. `extra_body` and `headers` are added to every request; retry options as in `RetryPolicy`.
    """

    kind = "anthropic"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        system: str | None = None,
        extra_body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        **retry: Any,
    ) -> None:
        base = normalize_base_url(base_url or os.environ.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL, "")
        key = api_key if api_key is not None else os.environ.get("ANTHROPIC_API_KEY")
        super().__init__(model, base, key, headers=headers, extra_body=extra_body, **retry)
        require_key_for("api.anthropic.com", base, bool(self._secret), "ANTHROPIC_API_KEY")
        self.system = system
        self.url = base + ("/messages" if base.endswith("/v1") else "/v1/messages")

    def _headers(self) -> dict[str, str]:
        headers = {**self.extra_headers, "anthropic-version": API_VERSION}
        key = self._secret.reveal()
        if key:
            headers["x-api-key"] = key
        return headers

    async def agenerate(
        self, prompts: Sequence[Prompt], sampling: SamplingConfig | None = None, *,
        seeds: Sequence[int] | None = None,
    ) -> list[list[Completion]]:
        s = sampling or SamplingConfig()
        prompts = check_prompts(prompts)
        if s.seed is not None or check_seeds(seeds, prompts):
            log.debug("the Anthropic API has no seed; sampling is not reproducible")
        payloads = [self._payload(p, s) for p in prompts]
        flat = await gather_or_cancel([self._one(payload, s) for payload in payloads for _ in range(s.n)])
        return [flat[i * s.n : (i + 1) * s.n] for i in range(len(prompts))]

    def _payload(self, prompt: Prompt, s: SamplingConfig) -> dict[str, Any]:
        if isinstance(prompt, str):
            messages: list[dict[str, str]] = [{"role": "user", "content": prompt}]
            system = self.system
        else:
            messages = [m for m in prompt if m["role"] != "system"]
            system = "\n\n".join(m["content"] for m in prompt if m["role"] == "system") or self.system
            if not messages:
                raise ModelError("an Anthropic prompt needs at least one user message besides the system prompt")
        payload: dict[str, Any] = {
            "model": self.model_name,
            "max_tokens": s.max_tokens,
            "messages": messages,
            "temperature": s.temperature,
        }
        if system:
            payload["system"] = system
        if s.top_p < 1.0:
            payload["top_p"] = s.top_p
        if s.stop:
            payload["stop_sequences"] = list(s.stop)
        payload.update(self.extra_body)
        return payload

    async def _one(self, payload: dict[str, Any], s: SamplingConfig) -> Completion:
        body = await self._poster.post(self.url, payload, self._headers())
        content = body.get("content") if isinstance(body, dict) else None
        if not isinstance(content, list):
            raise ModelResponseError(
                f"anthropic server at {self.url} answered without a 'content' list: {str(body)[:300]!r}"
            )
        text = "".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
        text, _ = cut_at_stop(text, s.stop)
        return Completion(text=text, finish_reason=normalize_finish_reason(body.get("stop_reason")))
