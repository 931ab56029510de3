"""The pooled `server` backend: persistent `lean --server` processes that keep the header elaborated.

Each pool worker is one `lean --server` (LSP over stdio) with at most one open document. When the
next check has the same header, the worker sends the new full text as a new version of the document;
Lean's incremental elaboration reuses the command snapshots of the unchanged prefix, so only the body
is elaborated again. A different header closes the document and opens a fresh one.

A worker is three layers, as leanclient splits them:
- the process (`process.py`: group, marker, the one memory scheme, kill and reap);
- the transport (`jsonrpc.py`: framing, requests and notifications, futures, `$/cancelRequest`,
  `LeanRpcError` for Lean's error answers, every pending request failed at once when the stream ends);
- the document state (`documents.py`: versions, the open document, diagnostics gathered per version
  until `textDocument/waitForDiagnostics` answers, so a result is never stale).
`_Worker` below ties the three together; `ServerBackend` pools workers. Positions are converted by
`positions.py`, the Lean side's one codec.

A worker that timed out, crashed, broke the protocol or went over its memory budget is destroyed
(its process group and every process carrying its environment marker are killed), never reused.

A request that times out or is cancelled is withdrawn with `$/cancelRequest` before anything else is
sent. Measured with Lean 4.35.0: a withdrawn `textDocument/waitForDiagnostics` is not answered and
its elaboration goes on (5 s watched); Lean answers it only when the file worker ends (ContentModified,
-32801). What stops the elaboration is the next version of the document: so after a timeout the
worker also sends the header alone as a new version (`_recover`), and is destroyed if Lean does not
settle within RECOVER_TIMEOUT.

Lean 4.35 cannot start a server's file worker from a saved header (`--incr-load`), measured on the
stand-in header of bench/verify.py: the watchdog does not pass `--incr-*` on to its workers, and a
worker given `--incr-load` anyway (through `LEAN_WORKER_PATH`, which the watchdog honours) accepts
the flag and still elaborates the header in full (2.5 s, as without it; the one-shot `lean --json
--incr-load` of the same text: 0.06 s). So a restarted worker pays for the header again;
`bench/server_snapshot_probe.py` repeats the measurement for another Lean.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from leanfd.lean.documents import Document, to_messages
from leanfd.lean.errors import LeanProcessError
from leanfd.lean.jsonrpc import MAX_MESSAGE_BYTES, Connection
from leanfd.lean.process import (
    KILL_TIMEOUT,
    LeanProcess,
    marked_pids,
    sweep,
)
from leanfd.lean.run import LeanRun
from leanfd.lean.toolchain import Toolchain

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0  # spawn + `initialize`; the header itself is elaborated inside a check's deadline
CLOSE_TIMEOUT = 5.0  # `shutdown` + `exit` before the process group is killed
RECOVER_TIMEOUT = 3.0  # after a timeout: how long Lean may take to drop the stuck version
STDERR_TAIL = 4_000  # characters of a server's stderr kept for crash reports


class _Worker:
    """One `lean --server`: its process (`LeanProcess`), its `Connection` and its one `Document`;
    destroyed, never reused, after a failure."""

    def __init__(self, wid: int, marker: str, doc_dir: Path) -> None:
        self.wid = wid
        self.marker = marker  # unique to this worker; inherited by its `--worker` children
        self._doc_dir = doc_dir
        self.lean: LeanProcess | None = None
        self.proc: asyncio.subprocess.Process | None = None
        self.rpc: Connection | None = None
        self.doc: Document | None = None
        self.checks = 0
        self._failure: str | None = None  # a failure before the connection exists (killed while spawning)
        self._stderr = ""
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def failure(self) -> str | None:
        """Why the worker is unusable; set once."""
        return self.rpc.failure if self.rpc is not None else self._failure

    @property
    def alive(self) -> bool:
        return self.rpc is not None and self.rpc.alive

    @property
    def header(self) -> str | None:
        """Header of the open document, None when none is open."""
        return self.doc.header if self.doc is not None else None

    @property
    def cancelled(self) -> set[int]:
        """Request ids withdrawn with `$/cancelRequest` and not answered yet."""
        return self.rpc.cancelled if self.rpc is not None else set()

    @property
    def cancel_answers(self) -> list[int | str]:
        """How Lean answered withdrawn requests: an error code, or "result"."""
        return self.rpc.cancel_answers if self.rpc is not None else []

    async def start(self, toolchain: Toolchain, memory_mb: int | None) -> None:
        """Spawn the server (owned as `process.py` says) and do the LSP handshake."""
        # Lean 4.35 waits `server.reportDelayMs` (200 ms) before reporting an edit, against editor flicker;
        # a pool never types. Only settable on the command line; the watchdog forwards it to `--worker`s.
        cwd = toolchain.cwd or str(self._doc_dir)
        self.lean = await LeanProcess.spawn(toolchain, ["--server", "-Dserver.reportDelayMs=0"],
                                            marker=self.marker, memory_mb=memory_mb, cwd=cwd, limit=2**24)
        proc = self.proc = self.lean.proc
        assert proc.stdout is not None and proc.stdin is not None
        self.rpc = Connection(proc.stdout, proc.stdin, self._notification, running=lambda: proc.returncode is None,
                              max_message_bytes=MAX_MESSAGE_BYTES)  # read here: tests lower it for a new worker
        if self._failure is not None:
            self.rpc.fail(self._failure)
        self.doc = Document(self.rpc, self._doc_dir, f"LeanfdCheck{self.wid}")
        self._tasks = [asyncio.create_task(self._serve()), asyncio.create_task(self._drain_stderr())]
        deadline = time.monotonic() + START_TIMEOUT
        params = {
            "processId": os.getpid(),
            "rootUri": Path(cwd).resolve().as_uri(),
            "capabilities": {
                "textDocument": {"publishDiagnostics": {"versionSupport": True}},
                # Lean >= 4.32 then publishes only the new diagnostics (`isIncremental`), which
                # `Document.publish` appends per version, instead of the whole list again each time:
                # linear, not quadratic, in the number of messages. Older Leans republish everything.
                "lean": {"incrementalDiagnosticSupport": True},
            },
            "initializationOptions": {"hasWidgets": False},
        }
        try:
            await self.rpc.request("initialize", params, deadline)
            await self.rpc.notify("initialized", {}, deadline)
        except (TimeoutError, LeanProcessError) as e:
            self.kill(f"start failed: {e!r}")
            await self.reap()
            raise LeanProcessError(f"lean --server did not initialize within {START_TIMEOUT:.0f} s: {e}") from e
        log.debug("worker %d started (pid %d)", self.wid, proc.pid)

    async def check(self, header: str, body: str, deadline: float) -> list[dict[str, Any]]:
        """Elaborate `header + body` and return exactly the diagnostics published for that version."""
        assert self.doc is not None, "check before start"
        diagnostics = await self.doc.check(header, body, deadline)
        self.checks += 1
        return diagnostics

    async def query(self, queries: Sequence[tuple[str, dict[str, Any]]], deadline: float) -> list[Any]:
        """LSP requests about the open document (see `Document.query`)."""
        assert self.doc is not None, "query before start"
        return await self.doc.query(queries, deadline)

    def fail(self, detail: str) -> None:
        """Mark the worker unusable and fail every pending request at once."""
        if self.rpc is not None:
            self.rpc.fail(detail)
        elif self._failure is None:
            self._failure = detail

    def kill(self, detail: str = "killed") -> None:
        """SIGKILL the server and every process carrying this worker's marker."""
        self.fail(detail)
        if self.lean is not None:
            self.lean.kill()

    async def reap(self) -> None:
        """Wait (bounded) until the server and every marked process are gone; stop the reader tasks."""
        if self.lean is not None and (left := await self.lean.reap()):
            log.warning("worker %d: processes %s still running after SIGKILL", self.wid, left)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """Clean `shutdown`/`exit`, then kill whatever is left (a `--worker` that did not follow)."""
        if self.alive and self.rpc is not None and self.proc is not None:
            deadline = time.monotonic() + CLOSE_TIMEOUT
            try:
                await self.rpc.request("shutdown", None, deadline)
                await self.rpc.notify("exit", None, deadline)
                await asyncio.wait_for(self.proc.wait(), max(0.0, deadline - time.monotonic()))
            except (TimeoutError, LeanProcessError) as e:
                log.warning("worker %d did not shut down cleanly: %r", self.wid, e)
        self.kill("closed")
        await self.reap()

    def _notification(self, method: str, params: Any) -> None:
        if method == "textDocument/publishDiagnostics" and self.doc is not None:
            self.doc.publish(params)

    async def _serve(self) -> None:
        """Run the connection; when Lean's output ends or breaks, fail the worker with the reason, its
        exit code and the tail of its stderr."""
        assert self.rpc is not None
        detail = await self.rpc.serve()
        if self.failure is None and self.proc is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 1.0)
            rc = self.proc.returncode
            if rc is not None:
                why = f", {signal.Signals(-rc).name}" if rc < 0 and -rc in signal.valid_signals() else ""
                detail += f" (exit code {rc}{why})"
            tail = self._stderr.strip()
            if tail:
                detail += f"; stderr: {tail[-1000:]}"
        self.fail(detail)

    async def _drain_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(65536):
            self._stderr = (self._stderr + chunk.decode(errors="replace"))[-STDERR_TAIL:]


class ServerBackend:
    """A pool of `lean --server` processes that keep each header elaborated; implements `Backend`.

    Nothing starts until the first `run`. Checks from many tasks are spread over at most `workers`
    servers; a check prefers an idle worker whose open document has the same header, else starts a
    new worker while there is room, else reuses the least recently used one. Waiting for a free
    worker has no deadline of its own: every holder's check, start and reaping have one.
    """

    def __init__(
        self,
        toolchain: Toolchain,
        workers: int | None = None,
        timeout: float = 60.0,
        memory_mb: int | None = 8192,
        max_checks: int = 200,
    ) -> None:
        """`timeout`: default per-check deadline in seconds (used when `run` gets None);
        `memory_mb`: resident-memory budget of one worker's processes, None for no cap;
        `max_checks`: checks after which a worker is recycled (Lean's environment only grows)."""
        self.toolchain = toolchain
        self.workers = workers or os.cpu_count() or 1
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.max_checks = max_checks
        if self.workers < 1 or max_checks < 1 or timeout <= 0 or (memory_mb is not None and memory_mb < 1):
            raise ValueError("workers, max_checks, timeout and memory_mb must be positive")
        self.marker = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"  # prefix of every worker's marker
        self._slots = asyncio.Semaphore(self.workers)
        self._idle: list[_Worker] = []  # least recently used first
        self._live: set[_Worker] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._wids = itertools.count()
        self._doc_dir = Path(toolchain.cwd or tempfile.gettempdir())
        self._closed = False

    async def __aenter__(self) -> "ServerBackend":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def pids(self) -> list[int]:
        """Every live process of this pool: servers and their `--worker` children."""
        return marked_pids(self.marker, prefix=True)

    async def run(self, header: str, body: str, timeout: float | None = None) -> LeanRun:
        """Elaborate `header + body` on a pooled server; Lean's messages, or `timeout`/`crashed`."""
        run, _ = await self.run_queries(header, body, (), timeout)
        return run

    async def run_queries(
        self, header: str, body: str, queries: Sequence[tuple[str, dict[str, Any]]], timeout: float | None = None
    ) -> tuple[LeanRun, list[Any]]:
        """`run`, then `queries` (method, params) about the elaborated document on the same worker, within
        the same deadline: one answer each (see `_Worker.query`), none when the run did not end `ok`.

        For the language server, which reads goals with `$/lean/plainGoal` and `$/lean/plainTermGoal`.
        """
        timeout = self.timeout if timeout is None else timeout
        async with self._slots:
            worker = await self._take(header)
            t0 = time.monotonic()
            watch = asyncio.create_task(self._watch_memory(worker))
            try:
                diagnostics = await worker.check(header, body, t0 + timeout)
                answers = await worker.query(queries, t0 + timeout) if queries else []
            except TimeoutError:
                elapsed = time.monotonic() - t0
                if await self._recover(worker, header):
                    self._give_back(worker)
                else:
                    await self._destroy(worker, f"no result within {timeout:g} s")
                return LeanRun("timeout", elapsed=elapsed, detail=f"no result within {timeout:g} s"), []
            except LeanProcessError as e:
                await self._destroy(worker, str(e))
                log.log(logging.DEBUG if self._closed else logging.WARNING, "worker %d crashed: %s", worker.wid, e)
                return LeanRun("crashed", elapsed=time.monotonic() - t0, detail=str(e)), []
            except BaseException:
                # Cancelled (an editor moved on): the caller returns at once; in the background the
                # worker gets the chance to drop the cancelled version and stay warm, as after a timeout.
                # Cancelled by `aclose` (the run is being stopped): nothing new starts, `aclose` reaps it.
                if self._closed:
                    worker.kill("the backend was closed")
                else:
                    self._spawn(self._recover_or_destroy(worker, header, "check cancelled"))
                raise
            finally:
                watch.cancel()
            elapsed = time.monotonic() - t0
            self._give_back(worker)
        run = to_messages(diagnostics, header + body)
        run.elapsed = elapsed
        return run, answers

    async def aclose(self) -> None:
        """Stop every server (cleanly when idle, killed when busy) and wait until none is left."""
        self._closed = True
        idle, self._idle = self._idle, []
        busy = self._live - set(idle)
        for worker in busy:
            worker.kill("the backend was closed")  # their `run` reports `crashed`
        # Reaped here too, not only by their `run`, which may be cancelled along with this close (a
        # signal): a process nobody waits for would leave its pipes open past the event loop.
        await asyncio.gather(*(w.close() for w in idle), *(w.reap() for w in busy), return_exceptions=True)
        self._live.difference_update(idle)
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        # Busy workers are reaped by their own `run`; make sure nothing of the pool outlives this call.
        if left := await sweep(self.marker, KILL_TIMEOUT, prefix=True):
            log.warning("processes %s of the pool still running after SIGKILL", left)

    async def _take(self, header: str) -> _Worker:
        """An idle worker with this header, else a new one while there is room, else the LRU idle one."""
        if self._closed:
            raise LeanProcessError("the ServerBackend is closed")
        for i, worker in enumerate(self._idle):
            if worker.header == header:
                return self._idle.pop(i)
        if len(self._live) < self.workers or not self._idle:
            wid = next(self._wids)
            worker = _Worker(wid, f"{self.marker}/{wid}", self._doc_dir)
            self._live.add(worker)
            try:
                await worker.start(self.toolchain, self.memory_mb)
            except BaseException:  # a failed or cancelled start must not leave the process behind
                await asyncio.shield(self._destroy(worker, "start failed or cancelled"))
                raise
            if self._closed:
                await self._destroy(worker, "the backend was closed")
                raise LeanProcessError("the ServerBackend is closed")
            return worker
        return self._idle.pop(0)

    async def _recover(self, worker: _Worker, header: str) -> bool:
        """After a timeout, try to keep the worker and its warm header instead of killing it.

        A new version of the document (the header alone) makes Lean cancel the elaboration of the
        stuck one; if Lean then answers within RECOVER_TIMEOUT, the worker is healthy. Restarting
        would cost a new process plus the header again (seconds with Mathlib), on every timeout.
        """
        try:
            await worker.check(header, "", time.monotonic() + RECOVER_TIMEOUT)
        except (TimeoutError, LeanProcessError) as e:
            log.debug("worker %d did not recover after a timeout (%r): replacing it", worker.wid, e)
            return False
        return worker.alive

    async def _recover_or_destroy(self, worker: _Worker, header: str, detail: str) -> None:
        if not self._closed and await self._recover(worker, header):
            self._give_back(worker)
        else:
            await self._destroy(worker, detail)

    def _spawn(self, coro: Any) -> None:
        """Run `coro` in the background; `aclose` waits for it."""
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _give_back(self, worker: _Worker) -> None:
        if len(self._live) > self.workers:  # a worker recovered while its replacement started
            self._retire(worker, kill=False)
        elif self._closed or not worker.alive:
            self._retire(worker, kill=True)
        elif worker.checks >= self.max_checks:
            log.debug("recycling worker %d after %d checks", worker.wid, worker.checks)
            self._retire(worker, kill=False)
        else:
            self._idle.append(worker)

    def _retire(self, worker: _Worker, kill: bool) -> None:
        """Close a worker in the background; `aclose` waits for it."""
        self._live.discard(worker)
        if kill:
            worker.kill("retired")
        self._spawn(worker.close())

    async def _destroy(self, worker: _Worker, detail: str) -> None:
        self._live.discard(worker)
        worker.kill(detail)
        await worker.reap()

    @staticmethod
    async def _watch_memory(worker: _Worker) -> None:
        """Fail the worker's check when its processes go over the budget (`LeanProcess.watch_memory` kills them)."""
        if worker.lean is not None:
            await worker.lean.watch_memory(lambda used: worker.fail(worker.lean.memory_detail()))
