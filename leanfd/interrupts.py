"""SIGTERM and SIGHUP stop a leanfd command the way Ctrl-C does, so that all three clean up.

Ctrl-C raises KeyboardInterrupt (inside `asyncio.run` it first cancels the main task, which then
raises it): `with` blocks and `finally` clauses close the verifier, which kills its Lean processes.
By default SIGTERM (`kill`, `timeout`, a scheduler) and SIGHUP (the terminal went away) end Python
at once instead, and every Lean process, each in a session of its own, keeps running. While
`Interrupts` is active they are handed to whatever handles SIGINT at that moment, and
`exit_code` is 128 + the signal's number, what a shell reports for a process that signal ended.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

FORWARDED = (signal.SIGTERM, signal.SIGHUP)
STOPPING = (signal.SIGINT, *FORWARDED)
_active: "Interrupts | None" = None


class Interrupts:
    """Install the forwarding (main thread only, where Python runs signal handlers) for a `with` block."""

    def __init__(self) -> None:
        self.signum: int = signal.SIGINT  # a KeyboardInterrupt without a forwarded signal is Ctrl-C
        self._stopped = False  # a signal was recorded (forwarded ones, and SIGINT inside `recording_sigint`)
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> "Interrupts":
        global _active
        if threading.current_thread() is threading.main_thread():
            for sig in FORWARDED:
                self._saved[sig] = signal.signal(sig, self._forward)
            _active = self
        return self

    def __exit__(self, *exc: object) -> None:
        global _active
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        self._saved.clear()
        if _active is self:
            _active = None

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        self._record(signum)
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):  # Python's (raises KeyboardInterrupt) or asyncio.run's (cancels the main task)
            handler(signal.SIGINT, frame)
        else:  # SIGINT ignored (a background job of a script) or left to the OS: stop all the same
            raise KeyboardInterrupt

    def _record(self, signum: int) -> None:
        if not self._stopped:  # the first signal is the one the exit code reports
            self.signum, self._stopped = signum, True

    def _record_sigint(self, signum: int, frame: FrameType | None) -> None:
        self._record(signum)
        raise KeyboardInterrupt


@contextlib.contextmanager
def recording_sigint() -> Iterator[None]:
    """Within the block SIGINT is recorded too, and raises KeyboardInterrupt at once (so `asyncio.run`
    installs no handler of its own): for a library that swallows KeyboardInterrupt (pygls) and
    returns as if it had ended normally; `stopped()` then tells."""
    if _active is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = signal.signal(signal.SIGINT, _active._record_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, saved)


def stopped() -> bool:
    """Whether a signal was recorded: SIGTERM or SIGHUP, or SIGINT inside `recording_sigint`."""
    return _active is not None and _active._stopped


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """None of the three signals interrupts the block (the last cleanup before exiting)."""
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOPPING}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
