"""What the HTTP backends share: one JSON POST with timeouts, retries, a concurrency cap, and a key
that never leaves the request headers.

- Retried: 408, 409, 429 and 5xx (the statuses the OpenAI and Anthropic SDKs retry), timeouts and
  connection errors. Waits grow exponentially with jitter (half to all of `backoff_base * 2**k`,
  capped at `backoff_max`) so many clients do not retry in step; a server's `Retry-After` (or
  OpenAI's `retry-after-ms`) is honoured when longer, up to `retry_after_max`.
- Not retried: other 4xx (the request itself is wrong: retrying cannot help) and a 2xx whose body
  is not JSON (a proxy's HTML page, a broken server): both raise at once with a message naming the
  status and the server's own error text.
- `max_concurrency` requests in flight at most, per backend and event loop; a request waiting out
  a back-off does not hold a slot.
- The API key lives in a `Secret` (its repr is a mask), goes only into request headers, and is
  redacted from every message built from a server's reply (some servers echo the key they reject).
  httpx's own log lines (INFO, DEBUG) carry no header values.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
import weakref
from dataclasses import dataclass
from typing import Any

import httpx

from leanfd.models.base import Backend
from leanfd.models.errors import ModelError, ModelHTTPError, ModelResponseError

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 409, 429})
MAX_QUOTED_CHARS = 500  # how much of a server's error body a message quotes


class Secret:
    """An API key that does not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        self._value = value or None

    def reveal(self) -> str | None:
        return self._value

    def __bool__(self) -> bool:
        return self._value is not None

    def redact(self, text: str) -> str:
        return text.replace(self._value, "***") if self._value else text

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret(None)"

    __str__ = __repr__


@dataclass(frozen=True)
class RetryPolicy:
    """Timeouts, retries and concurrency of an HTTP backend (all are keyword options of the backends)."""

    timeout: float = 120.0  # seconds per request: connect, and each wait for bytes of the answer
    max_retries: int = 4  # retries after the first attempt, so at most max_retries + 1 requests
    backoff_base: float = 0.5  # seconds before the first retry (before jitter)
    backoff_max: float = 30.0
    retry_after_max: float = 120.0  # the longest server-asked wait honoured
    max_concurrency: int = 16

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ModelError(f"timeout must be positive, got {self.timeout}")
        if self.max_retries < 0:
            raise ModelError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.max_concurrency < 1:
            raise ModelError(f"max_concurrency must be at least 1, got {self.max_concurrency}")
        if self.backoff_base < 0 or self.backoff_max < 0 or self.retry_after_max < 0:
            raise ModelError("backoff_base, backoff_max and retry_after_max must be >= 0")

    def backoff(self, retry: int) -> float:
        """Seconds before retry number `retry` (0-based): exponential, with jitter in [1/2, 1]."""
        cap = min(self.backoff_max, self.backoff_base * 2**retry)
        return cap * random.uniform(0.5, 1.0)


@dataclass
class _LoopState:
    client: httpx.AsyncClient
    slots: asyncio.Semaphore


class JSONPoster:
    """POSTs JSON and returns the decoded JSON answer, retrying per `RetryPolicy`.

    An httpx client and a semaphore belong to one event loop; this keeps one pair per loop (weakly,
    so a finished loop takes its pair with it).
    """

    def __init__(self, label: str, policy: RetryPolicy, secret: Secret) -> None:
        self.label = label  # "openai" / "anthropic": names the backend in messages
        self.policy = policy
        self.secret = secret
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            n = self.policy.max_concurrency
            client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.policy.timeout),
                limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
            )
            state = self._states[loop] = _LoopState(client, asyncio.Semaphore(n))
        return state

    async def aclose(self) -> None:
        state = self._states.pop(asyncio.get_running_loop(), None)
        if state is not None:
            await state.client.aclose()

    async def post(self, url: str, payload: dict[str, Any], headers: dict[str, str]) -> Any:
        state = self._state()
        p = self.policy
        shown_url = self.secret.redact(url)  # a key can hide in a URL too (?key=..., user:key@host)
        attempts = 0
        while True:
            attempts += 1
            status: int | None = None
            server_message = ""
            wait_asked: float | None = None
            try:
                async with state.slots:
                    response = await state.client.post(url, json=payload, headers=headers)
            except httpx.TimeoutException:
                failure = f"timed out after {p.timeout:g} s"
            except httpx.TransportError as exc:
                failure = f"connection failed ({type(exc).__name__}: {self.secret.redact(str(exc)) or 'no detail'})"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return self._decode(response, shown_url)
                server_message = self.secret.redact(_error_text(response))
                failure = f"HTTP {status}: {server_message}"
                if not (status in RETRY_STATUSES or status >= 500):
                    raise ModelHTTPError(
                        f"{self.label} request to {shown_url} failed with HTTP {status}: {server_message}",
                        url=shown_url, status=status, attempts=attempts, server_message=server_message,
                    )
                wait_asked = _retry_after(response.headers)
            retry = attempts - 1
            if retry >= p.max_retries:
                raise ModelHTTPError(
                    f"{self.label} request to {shown_url} failed after {attempts} attempt(s); last: {failure}",
                    url=shown_url, status=status, attempts=attempts, server_message=server_message,
                )
            delay = p.backoff(retry)
            if wait_asked is not None:
                delay = max(delay, min(wait_asked, p.retry_after_max))
            log.warning(
                "%s %s: %s; retry %d/%d in %.2f s", self.label, shown_url, failure, retry + 1, p.max_retries, delay
            )
            await asyncio.sleep(delay)

    def _decode(self, response: httpx.Response, url: str) -> Any:
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = self.secret.redact(response.text[:MAX_QUOTED_CHARS])
            raise ModelResponseError(
                f"{self.label} server at {url} answered HTTP {response.status_code} with a body that is not "
                f"JSON: {body!r}"
            ) from None


def _error_text(response: httpx.Response) -> str:
    """The server's own error message: OpenAI/Anthropic `{"error": {"message"}}`, vLLM's older
    `{"message"}`, FastAPI's `{"detail"}`, or the start of the raw body."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            kind = err.get("type") or err.get("code")
            return f"{err['message']}" + (f" ({kind})" if kind else "")
        for key in ("message", "detail", "error"):
            if isinstance(body.get(key), str) and body[key]:
                return body[key]
    text = response.text.strip()
    return text[:MAX_QUOTED_CHARS] if text else (response.reason_phrase or "no error text")


def _retry_after(headers: httpx.Headers) -> float | None:
    """Seconds a server asked to wait: `retry-after-ms` (OpenAI), or `Retry-After` as seconds or an HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def join_url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def normalize_base_url(base_url: str, default_path: str) -> str:
    """`http://host:port` (no path) gets `default_path` ("/v1"); a URL with a path is kept as given,
    since providers mount the API in different places (`.../openai/v1`, `.../api/v1`)."""
    url = httpx.URL(base_url)
    if url.scheme not in ("http", "https") or not url.host:
        raise ModelError(f"base_url must be an http(s) URL, got {base_url!r}")
    if url.path in ("", "/"):
        return base_url.rstrip("/") + default_path
    return base_url.rstrip("/")


class HTTPBackend(Backend):
    """The common part of the OpenAI-compatible and Anthropic backends."""

    def __init__(
        self,
        model: str,
        base_url: str,
        api_key: str | None,
        *,
        headers: dict[str, str] | None,
        extra_body: dict[str, Any] | None,
        **retry: Any,
    ) -> None:
        unknown = set(retry) - set(RetryPolicy.__dataclass_fields__)
        if unknown:
            raise ModelError(
                f"unknown option(s) for the {self.kind} backend: {sorted(unknown)}; "
                f"retry options are {sorted(RetryPolicy.__dataclass_fields__)}"
            )
        if not model:
            raise ModelError(f"the {self.kind} backend needs a model name")
        self.model_name = model
        self.base_url = base_url
        self._secret = Secret(api_key)
        self.policy = RetryPolicy(**retry)
        self.extra_headers = dict(headers or {})
        self.extra_body = dict(extra_body or {})
        self._poster = JSONPoster(self.kind, self.policy, self._secret)

    async def aclose(self) -> None:
        await self._poster.aclose()

    def __repr__(self) -> str:
        # Never the key: only whether one is set.
        return (
            f"{type(self).__name__}(model={self.model_name!r}, base_url={self.base_url!r}, "
            f"api_key={'set' if self._secret else 'unset'})"
        )


def require_key_for(host_suffix: str, base_url: str, secret_set: bool, env_var: str) -> None:
    """The vendor's own API always needs a key: say so at construction, not after the first 401."""
    if not secret_set and httpx.URL(base_url).host.endswith(host_suffix):
        raise ModelError(f"{base_url} needs an API key: set {env_var} (or pass api_key=...)")
