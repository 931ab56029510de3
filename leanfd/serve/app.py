"""The HTTP app: thin routes over `Service`, which owns the one shared `Verifier` and everything a
check passes through (admission, lanes, timeouts, the drain, metrics); `server.serve` runs it.

Starlette (the ASGI toolkit under FastAPI) and uvicorn: both well kept and widely deployed, and
Starlette leaves each route to read its body under the size limit and check its JSON itself, so
every refusal has one shape (`{"detail": message}`, a 4xx status) that this module decides, never a
framework's validation dump or a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from leanfd.lean.errors import LeanFDError
from leanfd.lean.owner import owned_pids
from leanfd.lean.records import CheckRecord, LeanFile, Verdict
from leanfd.lean.verifier import Verifier
from leanfd.serve import kimina, native
from leanfd.serve.admission import Admission, Lanes, retry_after
from leanfd.serve.config import ServeConfig
from leanfd.serve.limits import Refusal, authorize, parse_json, read_body
from leanfd.serve.metrics import CONTENT_TYPE, Gauges, Metrics

log = logging.getLogger(__name__)

Item = CheckRecord | LeanFile
NDJSON = "application/x-ndjson"


def _retrieved(task: asyncio.Future) -> None:
    """Mark a task's outcome as seen, so that asyncio logs no "exception was never retrieved"."""
    if not task.cancelled():
        task.exception()


async def disconnected(receive: Receive) -> None:
    """Return once the client has gone: after the body, the only message left is `http.disconnect`."""
    while (await receive())["type"] != "http.disconnect":
        pass


class Service:
    """The shared verifier, and what every check passes through on its way to it."""

    def __init__(self, verifier: Verifier, config: ServeConfig, token: str | None = None) -> None:
        self.verifier, self.config, self.token = verifier, config, token
        self.admission = Admission(config.queue)
        self.lanes = Lanes(self._lane_count)
        self.metrics = Metrics()
        self.lean_version = ""
        self.ready = False
        self.unready = "starting: Lean has not answered yet"
        self.draining = False  # no new work (SIGTERM)
        self.stopped = False  # the drain's deadline passed: the checks still running were ended
        self.depth = 0  # checks admitted and not answered yet
        self._runs: set[asyncio.Task] = set()
        self._deadline: asyncio.Task | None = None

    def _lane_count(self) -> int:
        """One lane per Lean process: the verifier's jobs, or a joined Ray cluster's slots."""
        return getattr(self.verifier.backend, "slots", 0) or self.verifier.jobs

    # -- life ---------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Ready once Lean has answered (`lean --version`, in a thread: it starts a process)."""
        try:
            self.lean_version = await asyncio.to_thread(lambda: self.verifier.lean_version)
        except LeanFDError as e:
            self.unready = f"Lean is not usable: {e}"
            log.error("%s", self.unready)
            return
        self.ready, self.unready = True, ""

    def drain(self) -> None:
        """Stop taking work; requests in flight have `drain_seconds`, then their checks are ended."""
        if self.draining:
            return
        self.draining, self.unready = True, "stopping: the server takes no new work"
        log.warning("stopping: no new work; requests in flight have %g s", self.config.drain_seconds)
        self._deadline = asyncio.ensure_future(self._end_after(self.config.drain_seconds))

    async def _end_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.stopped = True
        for run in list(self._runs):
            run.cancel()

    async def close(self) -> None:
        """Every check ended and every Lean process of the verifier with it."""
        self.ready, self.stopped = False, True
        if self._deadline is not None:
            self._deadline.cancel()
        for run in list(self._runs):
            run.cancel()
        await self.verifier.aclose()

    # -- one check ----------------------------------------------------------------------------------
    async def check(self, item: Item, timeout: float | None) -> Verdict:
        """One admitted check; always a verdict. `timeout` (when shorter than the verifier's) counts
        from when the check has a lane; Lean's 'no' is a verdict, and so is the machinery failing."""
        start = time.monotonic()
        self.depth += 1
        try:
            verdict = await self._check(item, timeout)
        finally:
            self.depth -= 1
        self.metrics.answered(verdict.status, time.monotonic() - start)
        return verdict

    async def _check(self, item: Item, timeout: float | None) -> Verdict:
        async with self.lanes.lane():
            if self.stopped:
                return self._verdict(item, "crashed", "not checked: the server was stopping")
            limit = timeout if timeout is not None and timeout < self.verifier.config.timeout else None
            run = asyncio.ensure_future(self.verifier.acheck(item))
            self._runs.add(run)
            try:
                done, _ = await asyncio.wait({run}, timeout=limit)
                if not done:
                    run.cancel()
                    await asyncio.wait({run})  # until its Lean process is ended, so the lane is free
                    if not self.stopped:
                        return self._verdict(item, "timeout", f"timed out: over the request's timeout of "
                                                              f"{limit:g} s", elapsed=limit or 0.0)
            except asyncio.CancelledError:  # the client went away: withdraw the check
                run.cancel()
                run.add_done_callback(_retrieved)
                raise
            finally:
                self._runs.discard(run)
        if run.cancelled():
            return self._verdict(item, "crashed", f"ended: the server stopped before the check finished "
                                                  f"(--drain-seconds {self.config.drain_seconds:g})")
        if (e := run.exception()) is not None:
            if not isinstance(e, LeanFDError):
                log.error("check of %r failed", item.name, exc_info=e)
            why = str(e) if isinstance(e, LeanFDError) else f"internal error: {type(e).__name__}: {e}"
            return self._verdict(item, "crashed", why)
        return run.result()

    def _verdict(self, item: Item, status: Any, reason: str, elapsed: float = 0.0) -> Verdict:
        return Verdict(name=item.name, status=status, reason=reason, elapsed=elapsed,
                       lean_version=self.lean_version, backend=self.verifier.config.backend)

    # -- requests -----------------------------------------------------------------------------------
    def admit(self, n: int) -> None:
        """Take `n` places in the queue or refuse: 503 while starting or stopping, 429 when full."""
        if self.draining:
            raise Refusal(503, self.unready, {"Connection": "close"})
        if not self.ready:
            raise Refusal(503, self.unready, {"Retry-After": "1"})
        wait = retry_after(self.depth, self.lanes.capacity, self.metrics.latency.mean)
        self.admission.take(n, wait)

    def limit_batch(self, n: int, stream: bool = False) -> None:
        limit, flag = (self.config.max_stream_batch, "--max-stream-batch") if stream else \
            (self.config.max_batch, "--max-batch")
        if n > limit:
            more = "; send it to /v1/check/stream or in smaller batches" if not stream else ""
            raise Refusal(413, f"{n} records or snippets in one request are over the limit of {limit} ({flag}){more}")

    async def body(self, request: Request) -> Any:
        authorize(request.headers, self.token)
        raw = await read_body(request.headers, request.stream(), self.config.max_body_bytes)
        return parse_json(raw)

    async def batch(self, receive: Receive, items: Sequence[Item], timeout: float | None) -> list[Verdict] | None:
        """Every item's verdict in input order, or None when the client went away first (its checks
        are withdrawn: cancelled, their Lean processes ended)."""
        self.limit_batch(len(items))
        self.admit(len(items))
        tasks = []
        for item in items:
            task = asyncio.ensure_future(self.check(item, timeout))
            task.add_done_callback(lambda _: self.admission.give(1))  # each place is free once its check is
            tasks.append(task)
        every = asyncio.gather(*tasks)
        gone = asyncio.ensure_future(disconnected(receive))
        try:
            await asyncio.wait({every, gone}, return_when=asyncio.FIRST_COMPLETED)
            if every.done():
                return every.result()
            self.metrics.withdrawn += sum(not t.done() for t in tasks)
            return None
        finally:
            gone.cancel()
            for task in tasks:
                task.cancel()
            every.add_done_callback(_retrieved)

    def stream(self, items: Sequence[Item], timeout: float | None) -> Response:
        """NDJSON verdicts as they finish; the request holds a window of places (twice the lanes)."""
        self.limit_batch(len(items), stream=True)
        window = min(len(items), 2 * self.lanes.capacity, self.config.queue)
        self.admit(window)
        return _Released(self._lines(items, timeout, window), lambda: self.admission.give(window))

    async def _lines(self, items: Sequence[Item], timeout: float | None, window: int) -> AsyncIterator[bytes]:
        pending: dict[asyncio.Task, int] = {}
        nxt = 0
        try:
            while nxt < len(items) or pending:
                while len(pending) < window and nxt < len(items):
                    if self.draining:  # no new work: what has not started is answered now
                        for i in range(nxt, len(items)):
                            v = self._verdict(items[i], "crashed", "not checked: the server was stopping")
                            self.metrics.answered(v.status, 0.0)
                            yield native.stream_line(i, v)
                        nxt = len(items)
                        break
                    pending[asyncio.ensure_future(self.check(items[nxt], timeout))] = nxt
                    nxt += 1
                if not pending:
                    break
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    yield native.stream_line(pending.pop(task), task.result())
        finally:  # the client went away (or the server stopped the response): withdraw what is left
            self.metrics.withdrawn += len(pending)
            for task in pending:
                task.cancel()
                task.add_done_callback(_retrieved)

    async def gauges(self) -> Gauges:
        lean = len(await asyncio.to_thread(owned_pids))
        return Gauges(queue_depth=self.depth, running=self.lanes.busy, lanes=self.lanes.capacity,
                      queue_capacity=self.admission.capacity, queue_held=self.admission.held,
                      lean_processes=lean, ready=self.ready, draining=self.draining)


class _Released(StreamingResponse):
    """A streamed response that calls `release` once it is over, however it ends (even when the
    client left before its first line, so its generator never ran)."""

    def __init__(self, lines: AsyncIterator[bytes], release: Callable[[], None]) -> None:
        super().__init__(lines, media_type=NDJSON)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()
            await self.body_iterator.aclose()  # type: ignore[attr-defined]


# -- routes: each a few lines over `Service` --------------------------------------------------------
Handler = Callable[[Service, Request], Awaitable[Response]]


def guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """The route with its refusals answered as `{"detail": message}` and counted."""

    async def route(request: Request) -> Response:
        service: Service = request.app.state.service
        try:
            return await handler(service, request)
        except Refusal as r:
            service.metrics.refused[r.status] += 1
            return JSONResponse({"detail": r.message}, r.status, headers=r.headers)

    return route


def client_gone() -> Response:
    return Response(status_code=499)  # nobody reads it: the status nginx logs for a client that left


def kimina_route(parse: Callable[[Any], kimina.Snippets], answer: Callable[[str, Verdict], dict]) -> Handler:
    """A Kimina endpoint: its snippets checked as whole files, answered in its shape (`/api/check`'s
    `ReplResponse` or `/verify`'s `BackwardResponse`)."""

    async def route(service: Service, request: Request) -> Response:
        req = parse(await service.body(request))
        files = [LeanFile(i, code) for i, code in zip(req.ids, req.codes)]
        verdicts = await service.batch(request.receive, files, req.timeout)
        if verdicts is None:
            return client_gone()
        return JSONResponse({"results": [answer(i, v) for i, v in zip(req.ids, verdicts)]})

    return route


async def v1_check(service: Service, request: Request) -> Response:
    records, timeout = native.parse_records(await service.body(request))
    verdicts = await service.batch(request.receive, records, timeout)
    if verdicts is None:
        return client_gone()
    return JSONResponse({"verdicts": [native.verdict_json(v) for v in verdicts]})


async def v1_stream(service: Service, request: Request) -> Response:
    records, timeout = native.parse_records(await service.body(request))
    return service.stream(records, timeout)


async def kimina_health(service: Service, request: Request) -> Response:
    authorize(request.headers, service.token)  # as Kimina's own /health
    return JSONResponse({"status": "ok"})


async def health(service: Service, request: Request) -> Response:
    """Liveness (200 whenever the server answers); `ready` once Lean has answered, until it stops."""
    return JSONResponse(_health(service))


async def ready(service: Service, request: Request) -> Response:
    """Readiness: 200 once Lean has answered, 503 while starting or stopping."""
    return JSONResponse(_health(service), 200 if service.ready and not service.draining else 503)


def _health(service: Service) -> dict[str, Any]:
    return {"live": True, "ready": service.ready and not service.draining, "draining": service.draining,
            "detail": service.unready, "lean_version": service.lean_version,
            "backend": service.verifier.config.backend}


async def metrics(service: Service, request: Request) -> Response:
    authorize(request.headers, service.token)
    return Response(service.metrics.render(await service.gauges()), media_type=CONTENT_TYPE)


async def _http_error(request: Request, exc: Exception) -> Response:
    """404, 405 and the like as `{"detail": ...}`, as every other refusal."""
    assert isinstance(exc, HTTPException)
    return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)


def build_app(service: Service) -> Starlette:
    """The app over `service`; its lifespan makes the service ready and closes it (and its Lean
    processes) when the server stops."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        starting = asyncio.ensure_future(service.start())
        try:
            yield
        finally:
            starting.cancel()
            await service.close()

    post, get = ["POST"], ["GET"]
    routes = [
        Route("/api/check", guarded(kimina_route(kimina.parse_check, kimina.repl_response)), methods=post),
        Route("/api/check/", guarded(kimina_route(kimina.parse_check, kimina.repl_response)), methods=post),
        Route("/verify", guarded(kimina_route(kimina.parse_verify, kimina.backward_response)), methods=post),
        Route("/one_pass_verify_batch", guarded(kimina_route(kimina.parse_verify, kimina.backward_response)),
              methods=post),
        Route("/health", guarded(kimina_health), methods=get),
        Route("/v1/check", guarded(v1_check), methods=post),
        Route("/v1/check/stream", guarded(v1_stream), methods=post),
        Route("/v1/health", guarded(health), methods=get),
        Route("/v1/health/ready", guarded(ready), methods=get),
        Route("/metrics", guarded(metrics), methods=get),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error})
    app.state.service = service
    return app
