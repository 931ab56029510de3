"""The verifier: records in, verdicts out, over a `cli`, `server` or `ray` backend."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import AsyncIterator, Iterable, Literal, get_args

from leanfd.lean.aio import BackgroundLoop
from leanfd.lean.auto_backend import AutoBackend
from leanfd.lean.errors import ConfigError, RecordError
from leanfd.lean.judge import NOTHING_TO_CHECK, judge
from leanfd.lean.oneshot import OneShotBackend
from leanfd.lean.policy import FILE_ALLOWED, Policy, refusal, scan, strip_imports
from leanfd.lean.records import CheckRecord, LeanFile, Verdict
from leanfd.lean.run import LeanBackend, LeanRun
from leanfd.lean.snippet import Snippet, assemble, assemble_file, attempt_text, split_file
from leanfd.lean.toolchain import Toolchain, resolve
from leanfd.options import check_bounds, opt

log = logging.getLogger(__name__)

BackendName = Literal["auto", "cli", "server", "snapshot", "ray"]


@dataclass(frozen=True)
class VerifierConfig:
    """How attempts are checked. The fields carry their help text: `leanfd train` reuses this as its
    `verifier:` section, flags `--verifier-backend`, `--verifier-jobs`, ..."""

    backend: BackendName = opt("auto", "Lean backend: pooled `lean --server` processes that keep the header "
                                       "warm (server), one process per check (cli), one per check from the "
                                       "header's saved state (snapshot), the nodes of a Ray cluster (ray), or "
                                       "per header the one measured fastest: snapshot for headers of 200 lines "
                                       "or more, else server (auto)")
    jobs: int | None = opt(None, "Lean processes at once (default: CPU count; in training, CPU count / processes)",
                           min=1)
    timeout: float = opt(60.0, "wall-clock seconds per check", gt=0)
    memory_mb: int | None = opt(8192, "memory budget in MB per Lean process and the processes it starts: a "
                                      "watched resident-memory limit, also given to Lean as -M", min=1)
    max_checks: int = opt(200, "server: recycle a process after this many checks", min=1)
    # The policy scan (about 1 s per MB) and Lean's parse grow with it; a model's attempt is far below this.
    max_attempt_chars: int = opt(1_000_000, "longest proof, code or .lean file, in characters; a longer one is "
                                            "rejected unread", flag="max_attempt_chars", min=1)
    lean: str | None = opt(None, "path to `lean`, or 'bundled' (default: LEANFD_LEAN, `lake env lean`, `lean` on "
                                 "PATH, then the bundled runtime)", flag="lean", metavar="PATH")
    ray_address: str | None = opt(None, "backend ray (checks on the nodes of a Ray cluster): its head, "
                                        "HOST:PORT (or ray://HOST:PORT, auto); default RAY_ADDRESS; with "
                                        "neither, the ray backend refuses", metavar="HOST:PORT")
    ray_local_backend: Literal["cli", "server"] = opt("cli", "ray: the pool each node's actor runs (jobs: "
                                                              "Lean processes per node, default its Ray CPUs)")
    policy: Policy = opt(Policy(), "what candidates may use (YAML only)", cli=False)

    def __post_init__(self) -> None:
        if self.backend not in get_args(BackendName):
            raise ConfigError(f"backend must be one of {', '.join(get_args(BackendName))}, not {self.backend!r}")
        check_bounds(self)


def _retrieved(task: asyncio.Task) -> None:
    """Mark a task's outcome as seen, so that asyncio logs no "exception was never retrieved"."""
    if not task.cancelled():
        task.exception()


class Verifier:
    """Checks records soundly. Use as a context manager (sync or async) so Lean processes are closed.

    `check` is for simple callers; `check_many` streams (index, verdict) as checks finish.
    """

    def __init__(self, config: VerifierConfig | None = None, toolchain: Toolchain | None = None, **kw):
        self.config = config or VerifierConfig(**kw)
        self.toolchain = toolchain or resolve(self.config.lean)
        self._version: str | None = None
        self._backend: LeanBackend | None = None
        self._files: OneShotBackend | None = None
        self._loop: BackgroundLoop | None = None

    @property
    def lean_version(self) -> str:
        if self._version is None:
            self._version = self.toolchain.version()
        return self._version

    def _make_backend(self) -> LeanBackend:
        return BACKENDS[self.config.backend](self)

    @property
    def jobs(self) -> int:
        """Lean processes at once: the configured number, else the CPU count."""
        return self.config.jobs or os.cpu_count() or 1

    @property
    def backend(self) -> LeanBackend:
        if self._backend is None:
            self._backend = self._make_backend()
        return self._backend

    @property
    def files_backend(self) -> OneShotBackend:
        """Whole files go through one-shot `lean -i`, whatever the backend: Lean's server sends a
        document's .ilean data to its watchdog only, never to the client, and `documentSymbol` gives
        the names as written, not the declarations Lean made."""
        if isinstance(self.backend, OneShotBackend):
            return self.backend
        if self._files is None:
            c = self.config
            self._files = OneShotBackend(self.toolchain, jobs=self.jobs, memory_mb=c.memory_mb)
        return self._files

    async def acheck(self, record: CheckRecord | LeanFile | dict) -> Verdict:
        """Check one record (a dict as `check` reads it, too). Lean's 'no' is a verdict; only the
        machinery failing raises."""
        if isinstance(record, dict):
            record = CheckRecord.from_dict(record)
        if isinstance(record, LeanFile):
            return await self.acheck_file(record.name, record.text)
        attempt = attempt_text(record)
        policy = self.config.policy
        findings = []
        fields = {"header": record.header, "formal_statement": record.formal_statement,
                  record.mode: record.code if record.code is not None else record.proof or ""}
        if why := refusal(fields, record.mode, self.config.max_attempt_chars):
            return self._rejected(record.name, why)
        if record.code is not None:
            attempt, missing = strip_imports(attempt, record.header)
            findings = [f"line 1: `import {m}` is not in the header" for m in missing]
        scanned_text = record.proof if record.code is None else attempt
        result = await asyncio.to_thread(scan, scanned_text or "", policy)  # a big attempt stalls no other check
        findings += [str(v) for v in result.violations]
        if findings:
            return self._rejected(record.name, "policy: " + "; ".join(findings), result.sorry)
        try:
            snippet = assemble(record, attempt, policy.allowed_axioms)
        except RecordError as e:
            return self._rejected(record.name, f"bad record: {e}")
        return await self._run_and_judge(snippet, record.name, result.sorry)

    async def acheck_file(self, name: str, text: str) -> Verdict:
        """Check a whole `.lean` file as it is: it is its own reference, so it must elaborate without
        error or sorry, and every declaration Lean reports for it must be checked code (no `unsafe`,
        `partial`, `opaque`) using only allowed axioms its imports declared."""
        if why := refusal({"file": text}, "file", self.config.max_attempt_chars):
            return self._rejected(name, why)
        if text.startswith("\ufeff"):  # `lean` 4.35.0, run on such a file, reads the mark as text, not as a mark
            return self._rejected(name, "the file begins with a UTF-8 byte order mark (U+FEFF), which Lean reads "
                                        "as text: it sees no `prelude` or `import` header and cannot parse the "
                                        "mark; save the file without it")
        header, code = split_file(text)
        result = await asyncio.to_thread(scan, code, self.config.policy, allow=FILE_ALLOWED)
        if result.violations:
            shift = header.count("\n")  # report lines of the file, not of its body
            reason = "; ".join(str(dataclasses.replace(v, line=v.line + shift)) for v in result.violations)
            return self._rejected(name, "policy: " + reason, result.sorry)
        # Twice: first Lean says what the file declares (its .ilean, which Lean writes only for a file
        # without errors, so this run has no pins), then it answers for each declaration.
        first = assemble_file(header, code, [])
        run = await self.files_backend.run(first.header, first.body, self.config.timeout, declarations=True)
        verdict = self._judge(first, run, name, result.sorry, backend="cli")
        if verdict.reason != NOTHING_TO_CHECK:
            return verdict  # an error, a sorry, a timeout: decided without asking about declarations
        if run.declarations is None:
            return dataclasses.replace(verdict, status="crashed",
                                       reason="Lean wrote no .ilean for a file without errors")
        second = assemble_file(header, code, list(run.declarations), self.config.policy.allowed_axioms)
        again = await self.files_backend.run(second.header, second.body, self.config.timeout)
        return self._judge(second, again, name, result.sorry, backend="cli")

    def _rejected(self, name: str, reason: str, sorry: bool = False) -> Verdict:
        """Refused before Lean runs."""
        return Verdict(name=name, status="rejected", reason=reason, sorry=sorry,
                       lean_version=self.lean_version, backend=self.config.backend)

    async def _run_and_judge(self, snippet: Snippet, name: str, sorry_in_text: bool) -> Verdict:
        run = await self.backend.run(snippet.header, snippet.body, self.config.timeout)
        # `auto` names on its run the backend it chose, so that a verdict says what really ran.
        return self._judge(snippet, run, name, sorry_in_text, backend=run.backend)

    def _judge(self, snippet: Snippet, run: LeanRun, name: str, sorry_in_text: bool, backend: str = "") -> Verdict:
        return judge(snippet, run, name, self.config.policy, sorry_in_text=sorry_in_text,
                     lean_version=self.lean_version, backend=backend or self.config.backend)

    async def check_many(self, records: Iterable[CheckRecord | LeanFile | dict]) -> AsyncIterator[tuple[int, Verdict]]:
        """Yield (index, verdict) in completion order; a record may be a dict, as `check` takes.

        The input is read lazily with a bounded number of checks in flight, so a large file is
        never held whole and verdicts stream out as soon as they are known.
        """
        it = enumerate(records)
        pending: set[asyncio.Task] = set()

        async def one(i: int, r: CheckRecord | LeanFile | dict) -> tuple[int, Verdict]:
            return i, await self.acheck(r)

        try:
            while True:
                while len(pending) < self._window() and (nxt := next(it, None)) is not None:
                    pending.add(asyncio.ensure_future(one(*nxt)))
                if not pending:
                    return
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        finally:  # stopped early (an error, Ctrl-C): what a cancelled check raises later is nobody's to report
            for t in pending:
                t.cancel()
                t.add_done_callback(_retrieved)

    def _window(self) -> int:
        """Checks in flight: twice the Lean processes (a Ray cluster's all together, once it is joined)."""
        slots = getattr(self._backend, "slots", 0)
        return 2 * (slots or self.config.jobs or os.cpu_count() or 1)

    async def aclose(self) -> None:
        if self._files is not None:
            await self._files.aclose()
            self._files = None
        if self._backend is not None:
            await self._backend.aclose()
            self._backend = None

    async def __aenter__(self) -> "Verifier":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    # Synchronous face: one private event loop in a thread, so sync callers can reuse warm processes.
    def _sync_loop(self) -> BackgroundLoop:
        if self._loop is None:
            self._loop = BackgroundLoop("leanfd-verifier")
        return self._loop

    def _run_sync(self, coro):
        return self._sync_loop().run(coro)

    def submit(self, record: CheckRecord | LeanFile) -> concurrent.futures.Future[Verdict]:
        """Start checking `record` in the background; the caller keeps working (e.g. generating)."""
        return self._sync_loop().submit(self.acheck(record))

    def check(self, record: CheckRecord | LeanFile | dict) -> Verdict:
        return self._run_sync(self.acheck(record))

    def run_raw(self, header: str, body: str) -> LeanRun:
        """Elaborate `header + body` on this verifier's backend, with no policy and no judge.

        For diagnostics and for tests of the judge's second line of defence.
        """
        return self._run_sync(self.backend.run(header, body, self.config.timeout))

    def close(self) -> None:
        if self._loop is not None:
            self._run_sync(self.aclose())
            self._loop.stop()
            self._loop = None

    def __enter__(self) -> "Verifier":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _cli(v: Verifier) -> LeanBackend:
    return OneShotBackend(v.toolchain, jobs=v.jobs, memory_mb=v.config.memory_mb)


def _snapshot(v: Verifier) -> LeanBackend:
    from leanfd.lean.snapshot import SnapshotBackend

    return SnapshotBackend(v.toolchain, jobs=v.jobs, memory_mb=v.config.memory_mb)


def _server(v: Verifier) -> LeanBackend:
    from leanfd.lean.server import ServerBackend

    c = v.config
    return ServerBackend(v.toolchain, workers=v.jobs, timeout=c.timeout, memory_mb=c.memory_mb,
                         max_checks=c.max_checks)


def _ray(v: Verifier) -> LeanBackend:  # whole files stay local (files_backend): .ilean comes back from `lean -i` only
    from leanfd.lean.ray_backend import RayBackend

    c = v.config
    return RayBackend(v.toolchain, c.ray_address, c.ray_local_backend, jobs=c.jobs, memory_mb=c.memory_mb,
                      timeout=c.timeout, max_checks=c.max_checks, lean_version=v.lean_version)


def _auto(v: Verifier) -> LeanBackend:
    return AutoBackend({kind: functools.partial(BACKENDS[kind], v) for kind in ("server", "snapshot")})


# Every backend name -> its constructor: `VerifierConfig.backend` is one of these keys, with no fallback.
BACKENDS: dict[str, Callable[[Verifier], LeanBackend]] = {
    "auto": _auto, "cli": _cli, "server": _server, "snapshot": _snapshot, "ray": _ray,
}
assert set(BACKENDS) == set(get_args(BackendName)), "a backend name without a constructor, or one too many"
