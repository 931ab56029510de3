"""Which live processes leanfd started, found by an environment marker, so that none outlives it.

Every Lean process leanfd starts (one-shot `lean`, `lean --server` and the `--worker`s it spawns
in sessions of their own) inherits `LEANFD_OWNER=<token of this process>`. Backends kill what they
own when they close; `kill_owned` is the last resort at exit (after a signal), which also finds a
process whose pid was never learnt (a check cancelled while its process was being spawned).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid

OWNER_VAR = "LEANFD_OWNER"
_token: tuple[int, str] | None = None  # (pid, token): a forked child gets a token of its own


def owner_token() -> str:
    """This process's token: its pid and a random part, so a reused pid never matches."""
    global _token
    if _token is None or _token[0] != os.getpid():
        _token = (os.getpid(), f"{os.getpid()}-{uuid.uuid4().hex[:12]}")
    return _token[1]


def owner_env() -> dict[str, str]:
    """The environment entries to give every Lean process this process starts."""
    return {OWNER_VAR: owner_token()}


def _environ_has(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return needle in b"\0" + f.read()
    except OSError:  # gone, or another user's process
        return False


def pids_with_env(name: str, value: str, prefix: bool = False) -> list[int]:
    """Live processes whose environment has `name=value` (or `name=value/...` with `prefix`).

    Zombies have an empty environment, so only processes still running are listed.
    """
    needle = f"\0{name}={value}{'/' if prefix else chr(0)}".encode()
    return [int(e.name) for e in os.scandir("/proc") if e.name.isdigit() and _environ_has(int(e.name), needle)]


def owned_pids() -> list[int]:
    """Every live Lean process this process started (and the processes those started)."""
    return pids_with_env(OWNER_VAR, owner_token())


def kill_owned(timeout: float = 5.0) -> list[int]:
    """SIGKILL every owned process until none is left or `timeout` passes; what is still running."""
    deadline = time.monotonic() + timeout
    while left := owned_pids():
        if time.monotonic() > deadline:
            return left
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)
    return []
