"""Admission control: a bounded queue of checks, and the lanes in which they run.

A request is admitted whole or not at all: its checks take places in a queue of fixed capacity
(`--queue`), or it is refused with 429 and a `Retry-After`, so the server never holds an unbounded
backlog. A streamed request takes only a window of places and reuses them as its checks finish.
Admitted checks then wait for a lane, one per Lean process the verifier runs, so a request's
timeout counts the time its check runs, not the time it waited behind others.

Everything here runs on the server's one event loop: no locks.
"""

from __future__ import annotations

import asyncio
import collections
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from leanfd.serve.limits import Refusal


class Admission:
    """Places in the queue: `take(n)` all or nothing, `give(n)` back."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.held = 0

    def take(self, n: int, retry_after: int) -> None:
        """Take `n` places, or refuse (429) when fewer are free, saying when to try again."""
        if n > self.capacity:  # `ServeConfig` keeps batches within the queue; this is its guard
            raise Refusal(413, f"{n} checks in one request are over the queue's {self.capacity} (--queue)")
        if self.held + n > self.capacity:
            raise Refusal(429, f"the queue is full ({self.held} of {self.capacity} checks admitted, this request "
                               f"needs {n}); try again in {retry_after} s", {"Retry-After": str(retry_after)})
        self.held += n

    def give(self, n: int) -> None:
        self.held -= n
        assert self.held >= 0, "gave back more places than were taken"


def retry_after(waiting: int, lanes: int, mean_seconds: float) -> int:
    """Seconds until the queue has likely room again: the checks ahead, over the lanes, at their mean time."""
    return max(1, min(60, math.ceil(waiting / max(lanes, 1) * max(mean_seconds, 0.1))))


class Lanes:
    """At most `capacity()` checks run at once (read at each entry: a Ray cluster's grows once joined);
    the others wait in arrival order. A waiter cancelled after it was woken passes its turn on."""

    def __init__(self, capacity: Callable[[], int]) -> None:
        self._capacity = capacity
        self.busy = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def capacity(self) -> int:
        return max(1, self._capacity())

    @property
    def waiting(self) -> int:
        return sum(not w.done() for w in self._waiters)

    @asynccontextmanager
    async def lane(self) -> AsyncIterator[None]:
        await self._acquire()
        try:
            yield
        finally:
            self.busy -= 1
            self._wake()

    async def _acquire(self) -> None:
        while self.busy >= self.capacity or self._waiters:
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():  # woken, then cancelled: the turn goes to the next
                    self._wake()
                raise
            finally:
                if fut in self._waiters:
                    self._waiters.remove(fut)
            if self.busy < self.capacity:
                break
        self.busy += 1

    def _wake(self) -> None:
        """Wake the first waiter, if a lane is free."""
        for fut in self._waiters:
            if self.busy >= self.capacity:
                return
            if not fut.done():
                fut.set_result(None)
                return
