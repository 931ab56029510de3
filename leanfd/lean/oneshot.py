"""The `cli` backend: one `lean --json --stdin` process per check.

Simple and isolated: nothing survives a check, so nothing can leak between checks. Each process is
owned as `process.py` says (its own group and marker, the one memory scheme: `-M`, an RLIMIT_DATA
backstop and a watched resident budget) and has a wall-clock deadline; it is killed on timeout, on
cancellation and when the backend closes. Output is read line by line and bounded, never held whole.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import time
from pathlib import Path

from leanfd.lean.errors import LeanProcessError
from leanfd.lean.process import KILL_TIMEOUT, LeanProcess, new_marker
from leanfd.lean.run import MAX_LINE_MB, LeanRun, Message, clip
from leanfd.lean.toolchain import Toolchain

log = logging.getLogger(__name__)

MAX_STDERR_CHARS = 20_000
MAX_LINE_BYTES = MAX_LINE_MB << 20  # a longer message is dropped, not parsed (and the run proves nothing)
_SEVERITY = {"error": "error", "warning": "warning", "information": "information"}


def declared(ilean: str) -> tuple[str, ...]:
    """Every constant a file declared, from the .ilean Lean wrote for it (format version 5, Lean 4.35):
    the keys of `decls` and every constant of the file's own module with a `definition` among the
    `references` (this is where auxiliaries such as a `where` clause's `foo.bar` appear). A private
    name `_private.<module>.0.X` is given as `X`, the name it has inside the file. Sorted, unique."""
    data = json.loads(ilean)
    module = data.get("module")
    names = set(data.get("decls", {}))
    for key, ref in data.get("references", {}).items():
        ident = json.loads(key)
        if "c" in ident and ident["c"].get("m") == module and ref.get("definition"):
            names.add(ident["c"]["n"])
    prefix = f"_private.{module}.0."
    return tuple(sorted({n.removeprefix(prefix) for n in names}))


def message_from_json(d: dict) -> Message:
    pos, end = d.get("pos") or {}, d.get("endPos") or {}
    return Message(
        severity=_SEVERITY.get(d.get("severity", ""), "information"),  # type: ignore[arg-type]
        line=int(pos.get("line", 0)),
        column=int(pos.get("column", 0)),
        end_line=end.get("line"),
        end_column=end.get("column"),
        text=str(d.get("data", "")),
    )


async def drain(stream: asyncio.StreamReader, keep: int) -> str:
    """Read a stream to its end, keeping only the first `keep` characters (a full pipe would block Lean)."""
    kept = bytearray()
    while chunk := await stream.read(65536):
        if len(kept) < keep:
            kept += chunk[: keep - len(kept)]
    return kept.decode(errors="replace")


async def read_line(stream: asyncio.StreamReader, result: LeanRun) -> bytes:
    """The next line, or b"" at the end. A line longer than the stream's limit (a message of many
    megabytes) is skipped to its end, never held whole, and the run is marked dropped (whatever it
    said, an error perhaps, is unknown)."""
    while True:
        try:
            return await stream.readuntil(b"\n")
        except asyncio.IncompleteReadError as e:  # the last line has no newline
            return e.partial
        except asyncio.LimitOverrunError as e:
            result.truncated = result.dropped = True
            await stream.readexactly(e.consumed)
            while True:  # discard the rest of that line
                try:
                    await stream.readuntil(b"\n")
                    break
                except asyncio.LimitOverrunError as more:
                    await stream.readexactly(more.consumed)
                except asyncio.IncompleteReadError:
                    return b""


class OneShotBackend:
    """`lean --json` per check; `jobs` checks at once."""

    name = "cli"

    def __init__(self, toolchain: Toolchain, jobs: int | None = None, memory_mb: int | None = 8192,
                 threads: int | None = None):
        self.toolchain = toolchain
        self.memory_mb = memory_mb
        self.threads = threads
        self._sem = asyncio.Semaphore(jobs or os.cpu_count() or 1)
        # Each running Lean and the task that talks to it; the task outlives a cancelled check until the
        # killed Lean has closed its pipes, so that no process or pipe is left open behind the event loop.
        self._running: dict[asyncio.Task[None], LeanProcess] = {}
        self._closed = False

    async def run(self, header: str, body: str, timeout: float, declarations: bool = False) -> LeanRun:
        """Elaborate `header + body`; with `declarations`, also have Lean write its .ilean (only written
        for a file without errors) and report what the file declared."""
        async with self._sem:
            if not declarations:
                return await self._run(header + body, timeout)
            with tempfile.TemporaryDirectory(prefix="leanfd-ilean-") as tmp:
                ilean = Path(tmp) / "out.ilean"
                result = await self._run(header + body, timeout, ("-i", str(ilean)))
                if result.outcome == "ok" and ilean.exists():
                    result.declarations = declared(ilean.read_text(encoding="utf-8"))
                return result

    async def _run(self, text: str, timeout: float, extra: tuple[str, ...] = ()) -> LeanRun:
        args = ["--json", "--stdin", *extra]
        if self.threads:
            args.append(f"-j{self.threads}")
        if self._closed:  # a check that waited for a slot while the run was being stopped
            raise LeanProcessError("the cli backend was closed")
        start = time.monotonic()
        lean = await LeanProcess.spawn(
            self.toolchain, args, marker=new_marker(), memory_mb=self.memory_mb,
            limit=MAX_LINE_BYTES,  # one JSON message per line; longer lines are skipped (read_line)
        )
        result = LeanRun(outcome="ok")
        talk = asyncio.ensure_future(self._communicate(lean.proc, text.encode(), result))
        self._running[talk] = lean
        talk.add_done_callback(self._running.pop)
        watch = asyncio.ensure_future(lean.watch_memory())
        try:
            await asyncio.wait_for(asyncio.shield(talk), timeout)
        except asyncio.TimeoutError:
            lean.kill()
            await asyncio.wait([talk], timeout=KILL_TIMEOUT)  # the killed Lean closes its output at once
            result.outcome, result.detail = "timeout", f"no answer within {timeout:g} s"
        finally:
            watch.cancel()
            lean.kill()  # also on cancellation; Lean may have started helpers
        if lean.over_budget is not None:
            result.outcome, result.detail = "crashed", lean.memory_detail()
        result.elapsed = time.monotonic() - start
        return result

    async def _communicate(self, proc: asyncio.subprocess.Process, data: bytes, result: LeanRun) -> None:
        assert proc.stdin and proc.stdout and proc.stderr
        try:
            proc.stdin.write(data)
            await proc.stdin.drain()
            proc.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            pass  # Lean died before reading its input: the exit code below says how
        stderr_task = asyncio.create_task(drain(proc.stderr, MAX_STDERR_CHARS))
        noise: list[str] = []
        while line := await read_line(proc.stdout, result):
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                if len(noise) < 20:
                    noise.append(line.decode(errors="replace").rstrip()[:2000])
                continue
            result.add(message_from_json(d))
        rc = await proc.wait()
        stderr = (await stderr_task).strip()
        # Lean exits 1 when the file has errors; anything else without messages is a crash.
        if rc not in (0, 1) or (rc == 1 and not any(m.severity == "error" for m in result.messages)):
            result.outcome = "crashed"
            why = f"exit code {rc}" if rc >= 0 else f"killed by signal {-rc}"
            tail = "\n".join(noise + [stderr]).strip()
            result.detail = f"Lean {why}" + (f": {clip(tail, 2000)}" if tail else "")

    async def aclose(self) -> None:
        """Kill every check's Lean still running and wait (bounded) until each is reaped
        and its pipes closed; their checks report `crashed`, and no new one starts."""
        self._closed = True
        for lean in self._running.values():
            lean.kill()
        if self._running:
            await asyncio.wait(list(self._running), timeout=KILL_TIMEOUT)
