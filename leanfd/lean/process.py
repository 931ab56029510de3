"""One owner for every Lean process leanfd starts: one-shot `lean`, `lean --server` and its `--worker`s.

Both backends spawn through `LeanProcess.spawn`, and get the same guarantees:
- **A group and a marker.** The process starts in a session of its own, with the owner token
  (`owner.py`) and a marker of its own (`LEANFD_POOL=<marker>`) in its environment. Lean's watchdog
  starts each `--worker` in yet another session, so the group does not hold it; the inherited
  marker does, even after the server died and the worker was reparented.
- **One memory scheme**, measured on Lean 4.35.0 (bundled runtime, 2 cores):
  - Lean gives every thread a 1 GiB stack (`LEAN_DEFAULT_THREAD_STACK_SIZE`, src/runtime/thread.cpp)
    and mimalloc reserves 1 GiB arenas; neither is touched, but both are private writable mappings.
    An idle `--server` has 5.2 GB VmData at 0.1 GB RSS, its `--worker` 8.4 to 11.5 GB (8 to 11
    threads) at 0.1 to 0.6 GB RSS; a one-shot `lean` needs more than 5 GB of address space to start.
  - So neither RLIMIT_AS (which also counts libraries and guard pages) nor RLIMIT_DATA can be the
    budget itself. RLIMIT_DATA, set to the budget plus that reservation (`data_limit_mb`), is a
    backstop against an allocation burst; Lean tolerates it with a predictable headroom.
  - Lean's own `-M` is passed on (the watchdog forwards it to its workers), but a runaway type class
    search went to 0.6 GB under `-M 300` without an error, so it is not relied on.
  - The budget itself is the resident memory of the marked processes, watched (`watch_memory`) while
    a check runs; over it, every marked process is killed.
- **Kill and reap.** `kill` sends SIGKILL to the group and to every marked process (twice: a worker
  spawned during the first sweep); `reap` waits, bounded, until none is left. A process that could
  not be started is a `LeanProcessError` naming the command.
- **Nothing outlives its owner.** Each process gets SIGKILL when the thread that started it dies
  (`PR_SET_PDEATHSIG`), so a leanfd killed outright leaves no Lean behind: a one-shot `lean` dies with
  it, a server too, and the server's file worker ends when its server's pipes close (measured:
  tests/test_process.py). A signal leanfd can catch goes through `kill` and `reap` as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import resource
import signal
import time
import uuid
from collections.abc import Callable, Sequence

from leanfd.lean.errors import LeanProcessError
from leanfd.lean.owner import owner_env, owner_token, pids_with_env
from leanfd.lean.toolchain import Toolchain

log = logging.getLogger(__name__)

MARKER_VAR = "LEANFD_POOL"  # inherited by a process and every process it starts (Lean's `--worker`s)
KILL_TIMEOUT = 5.0  # waiting for killed processes to be reaped
MEMORY_POLL = 0.5  # seconds between two looks at a process's resident memory


def data_limit_mb(memory_mb: int, cpus: int | None = None) -> int:
    """RLIMIT_DATA for a Lean process whose budget is `memory_mb`: the budget plus what Lean reserves untouched.

    One 1 GiB stack per thread (task threads scale with the cores, plus about ten dedicated ones for the
    watchdog, the reporter and blocked tasks) and a few 1 GiB mimalloc arenas, measured as above.
    """
    cpus = cpus or os.cpu_count() or 1
    return memory_mb + 1024 * (2 * cpus + 12)


_PR_SET_PDEATHSIG = 1  # prctl(2)
_libc = ctypes.CDLL(None, use_errno=True)


def _preexec(limit_mb: int | None) -> Callable[[], None]:
    """The `preexec_fn` run in the child before exec: RLIMIT_DATA (Lean's `--worker`s inherit it), and
    SIGKILL when the thread that started it dies, so that a leanfd killed outright (SIGKILL, a Ray node
    lost) leaves no Lean running to its own end."""
    limit = limit_mb * 2**20 if limit_mb else None

    def preexec() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return preexec


def new_marker() -> str:
    """A marker no other process has, under this process's owner token."""
    return f"{owner_token()}/{uuid.uuid4().hex[:12]}"


def marked_pids(marker: str, prefix: bool = False) -> list[int]:
    """Live processes whose environment has `LEANFD_POOL=<marker>` (or `<marker>/...` with `prefix`)."""
    return pids_with_env(MARKER_VAR, marker, prefix)


def rss_mb(pids: Sequence[int]) -> float:
    """Resident memory of `pids` together, in MB (a process gone meanwhile counts 0)."""
    total = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
    return total / 2**20


def kill_marked(marker: str, prefix: bool = False) -> None:
    """SIGKILL every marked process once."""
    for pid in marked_pids(marker, prefix):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


async def sweep(marker: str, timeout: float, prefix: bool = False) -> list[int]:
    """SIGKILL every marked process until none is left or `timeout` passes; what is still running.

    SIGKILL is delivered asynchronously: a killed process may run a few more milliseconds.
    """
    deadline = time.monotonic() + timeout
    while left := marked_pids(marker, prefix):
        if time.monotonic() > deadline:
            return left
        kill_marked(marker, prefix)
        await asyncio.sleep(0.02)
    return []


class LeanProcess:
    """One running Lean process and everything it started; see the module's docstring."""

    def __init__(self, proc: asyncio.subprocess.Process, marker: str, memory_mb: int | None) -> None:
        self.proc = proc
        self.marker = marker
        self.memory_mb = memory_mb
        self.over_budget: float | None = None  # resident MB when the watch killed it

    @classmethod
    async def spawn(cls, toolchain: Toolchain, args: Sequence[str], *, marker: str, memory_mb: int | None,
                    cwd: str | None = None, limit: int = 2**16) -> "LeanProcess":
        """Start `lean ARGS` with pipes on stdin, stdout and stderr, owned as the module's docstring says.

        `memory_mb` is the budget: Lean's `-M` is added, RLIMIT_DATA set, and `watch_memory` enforces it.
        `limit` is the stdout reader's line limit.
        """
        argv = toolchain.command(*args, *([f"-M{memory_mb}"] if memory_mb else []))
        env = {**os.environ, **toolchain.env, **owner_env(), MARKER_VAR: marker}
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, cwd=cwd or toolchain.cwd, env=env, start_new_session=True,
                preexec_fn=_preexec(data_limit_mb(memory_mb) if memory_mb else None), limit=limit,
            )
        except OSError as e:
            raise LeanProcessError(f"could not start `{' '.join(argv)}`: {e.strerror or e}") from e
        return cls(proc, marker, memory_mb)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pids(self) -> list[int]:
        """The process and every live process it started (found by the marker, not the group)."""
        return marked_pids(self.marker)

    def resident_mb(self) -> float:
        return rss_mb(self.pids())

    def kill(self) -> None:
        """SIGKILL the group and every marked process; twice, for a child spawned during the first sweep."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        for _ in range(2):
            kill_marked(self.marker)

    async def reap(self, timeout: float = KILL_TIMEOUT) -> list[int]:
        """Wait (bounded) until the process and every marked process are gone; the pids still running."""
        deadline = time.monotonic() + timeout
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            log.warning("Lean (pid %d) still running %.0f s after SIGKILL", self.proc.pid, timeout)
        return await sweep(self.marker, max(0.0, deadline - time.monotonic()))

    async def watch_memory(self, on_exceed: Callable[[float], None] | None = None) -> None:
        """Until cancelled: kill everything marked when its resident memory goes over the budget, and
        tell `on_exceed` (resident MB). A /proc scan of a few ms per look; no thread, as preexec_fn forks."""
        if not self.memory_mb:
            return
        while True:
            await asyncio.sleep(MEMORY_POLL)
            used = self.resident_mb()
            if used > self.memory_mb:
                log.warning("Lean (pid %d) uses %.0f MB > %d MB: killing it", self.proc.pid, used, self.memory_mb)
                self.over_budget = used
                if on_exceed is not None:
                    on_exceed(used)
                self.kill()
                return

    def memory_detail(self) -> str:
        """Why the watch killed the process (only meaningful once `over_budget` is set)."""
        return f"memory limit exceeded: {self.over_budget or 0:.0f} MB resident > {self.memory_mb} MB"
