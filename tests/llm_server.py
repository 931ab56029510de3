"""A real loopback HTTP server speaking the OpenAI (completions, chat) and Anthropic Messages wire
formats, with a scriptable queue of behaviours and a log of every request. For any test that talks
to a model over HTTP (backends, feedback critics, the LSP, proving).

    with LLMServer() as server:
        server.push(RateLimited(retry_after=0.05), Answer(["rfl"]))
        backend = OpenAIBackend("m", base_url=server.openai_url)
        ...
        assert len(server.requests) == 2

Each request takes the next behaviour from the queue (or `server.default` when it is empty); the
wire format of the answer follows the path (`.../chat/completions`, `.../completions`,
`.../messages`). Or use the `llm_server` fixture: `from llm_server import llm_server` in a test
module makes it available there.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class LoggedRequest:
    method: str
    path: str
    headers: dict[str, str]  # keys lower-cased
    body: Any  # decoded JSON, or None when the body was not JSON
    raw: bytes
    received_at: float

    @property
    def wire(self) -> str:
        return _wire(self.path)


@dataclass
class Answer:
    """A normal answer. `texts` are the choices (cycled to the requested `n`; Anthropic takes the
    first), or a function of the request giving them. `delay` seconds pass before it is sent."""

    texts: Sequence[str] | Callable[[LoggedRequest], Sequence[str]] = ("ok",)
    finish_reason: str = "stop"
    delay: float = 0.0
    logprob: float = -0.5  # the log-probability given to every character-token, when asked for them


@dataclass
class RateLimited:
    """429 with a `Retry-After` header (seconds; None sends no header)."""

    retry_after: float | None = 0.05
    message: str = "Rate limit reached, slow down"


@dataclass
class ServerError:
    status: int = 500
    message: str = "internal server error"


@dataclass
class Slow:
    """Wait `seconds` (longer than the client's timeout, typically), then send `then`."""

    seconds: float
    then: Any = field(default_factory=Answer)


@dataclass
class Malformed:
    """200 with a body that is not JSON."""

    body: str = '{"choices": [ this is not json'
    content_type: str = "application/json"


@dataclass
class ClientError:
    """A 4xx with an error body in the request's wire format."""

    status: int = 400
    message: str = "invalid request: max_tokens is too large"
    type: str = "invalid_request_error"


@dataclass
class Custom:
    """Anything else: `fn(request) -> (status, headers, body bytes)`."""

    fn: Callable[[LoggedRequest], tuple[int, dict[str, str], bytes]]


Behaviour = Answer | RateLimited | ServerError | Slow | Malformed | ClientError | Custom


def _wire(path: str) -> str:
    path = path.split("?", 1)[0].rstrip("/")
    if path.endswith("/chat/completions"):
        return "openai-chat"
    if path.endswith("/completions"):
        return "openai-completions"
    if path.endswith("/messages"):
        return "anthropic"
    return "unknown"


class LLMServer:
    """The server; start/stop with `with` (or `start()` / `stop()`)."""

    def __init__(self, default: Behaviour | None = None) -> None:
        self.default: Behaviour = default or Answer()
        self.requests: list[LoggedRequest] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control --------------------------------------------------------------------------------

    def push(self, *behaviours: Behaviour) -> LLMServer:
        with self._lock:
            self._queue.extend(behaviours)
        return self

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.max_in_flight = 0

    @property
    def url(self) -> str:
        assert self._httpd is not None, "the server is not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def openai_url(self) -> str:
        return self.url + "/v1"

    def start(self) -> LLMServer:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="llm-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a Slow / delayed Answer
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving --------------------------------------------------------------------------------

    def _next(self, request: LoggedRequest) -> Behaviour:
        with self._lock:
            self.requests.append(request)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            return self._queue.popleft() if self._queue else self.default

    def _done(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _respond(self, request: LoggedRequest, b: Behaviour) -> tuple[int, dict[str, str], bytes] | None:
        """(status, headers, body) for behaviour `b`; None when the server is stopping."""
        wire = request.wire
        if isinstance(b, Slow):
            if self._stopping.wait(b.seconds):
                return None
            return self._respond(request, b.then)
        if isinstance(b, Custom):
            return b.fn(request)
        if isinstance(b, Malformed):
            return 200, {"Content-Type": b.content_type}, b.body.encode()
        if isinstance(b, RateLimited):
            headers = {} if b.retry_after is None else {"Retry-After": f"{b.retry_after:g}"}
            return 429, headers, _error_body(wire, b.message, "rate_limit_error")
        if isinstance(b, ServerError):
            return b.status, {}, _error_body(wire, b.message, "api_error")
        if isinstance(b, ClientError):
            return b.status, {}, _error_body(wire, b.message, b.type)
        if isinstance(b, Answer):
            if b.delay and self._stopping.wait(b.delay):
                return None
            texts = list(b.texts(request) if callable(b.texts) else b.texts)
            return 200, {}, json.dumps(_answer(request, texts, b)).encode()
        raise TypeError(f"unknown behaviour {b!r}")


class _Handler(BaseHTTPRequestHandler):
    owner: LLMServer
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers: the client's pool is exercised
    timeout = 10  # an idle kept-alive connection's thread ends after this

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read `requests`
        pass

    def do_GET(self) -> None:  # e.g. a health check or /v1/models
        self._send(200, {}, json.dumps({"object": "list", "data": [{"id": "tiny", "object": "model"}]}).encode())

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        request = LoggedRequest(
            method="POST",
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            raw=raw,
            received_at=time.monotonic(),
        )
        behaviour = self.owner._next(request)
        try:
            reply = self.owner._respond(request, behaviour)
            if reply is None:
                self.close_connection = True
                return
            self._send(*reply)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (its timeout): nothing to answer
        finally:
            self.owner._done()

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        headers = {"Content-Type": "application/json", **headers}
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


def _error_body(wire: str, message: str, kind: str) -> bytes:
    if wire == "anthropic":
        return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": None}}).encode()


def _answer(request: LoggedRequest, texts: list[str], b: Answer) -> dict[str, Any]:
    body = request.body if isinstance(request.body, dict) else {}
    model = body.get("model", "tiny")
    if not texts:
        texts = [""]
    if request.wire == "anthropic":
        reason = {"stop": "end_turn", "length": "max_tokens"}.get(b.finish_reason, b.finish_reason)
        return {
            "id": "msg_test",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": texts[0]}],
            "stop_reason": reason,
            "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": len(texts[0])},
        }
    n = int(body.get("n") or 1)
    choices = []
    for i in range(n):
        text = texts[i % len(texts)]
        chars = list(text)  # one "token" per character, so lengths are easy to check
        if request.wire == "openai-chat":
            choice: dict[str, Any] = {
                "index": i,
                "message": {"role": "assistant", "content": text},
                "finish_reason": b.finish_reason,
                "logprobs": None,
            }
            if body.get("logprobs"):
                choice["logprobs"] = {
                    "content": [
                        {"token": c, "logprob": b.logprob, "bytes": list(c.encode()), "top_logprobs": []}
                        for c in chars
                    ]
                }
        else:
            choice = {"index": i, "text": text, "finish_reason": b.finish_reason, "logprobs": None}
            if body.get("logprobs") is not None:
                choice["logprobs"] = {
                    "tokens": chars,
                    "token_logprobs": [b.logprob] * len(chars),
                    "top_logprobs": [{c: b.logprob} for c in chars],
                    "text_offset": list(range(len(chars))),
                }
        choices.append(choice)
    return {
        "id": "cmpl-test",
        "object": "chat.completion" if request.wire == "openai-chat" else "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


@pytest.fixture
def llm_server() -> Iterator[LLMServer]:
    """A started `LLMServer`, stopped after the test."""
    with LLMServer() as server:
        yield server
