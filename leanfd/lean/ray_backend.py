"""The `ray` backend: checks spread over the nodes of an existing Ray cluster.

One actor per live node (that has CPUs), each owning a local pool on its node (the `cli` backend by
default, or `server`) with as many Lean processes as the node has Ray CPUs (or `jobs` per node).
The driver sends `run(header, body, timeout)` and gets the `LeanRun` back; the judge stays in the
driver, so a verdict means the same on every backend.

Routing: a header's hash picks its preferred actor, so each node keeps its own headers warm (the
`server` pool re-elaborates only the body); when that actor is full, the least loaded one takes the
run. A run whose actor is lost (its node or process died, or it stopped answering) is sent again to
a live actor; each `run` returns exactly once. A lost node's actor is replaced in the background by
one on every live node that has none.

The cluster must exist: `address` is HOST:PORT of its head (`ray start --head`), `ray://HOST:10001`
(Ray Client, for a driver off the cluster) or `auto`; with none, `RAY_ADDRESS` is used, and with
neither the backend refuses rather than start a one-node Ray of its own. Every node needs leanfd
and the same Lean at the same path (the driver's toolchain is used as is; each actor checks
`lean --version` against the driver's).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from leanfd.lean.errors import LeanFDError, LeanProcessError
from leanfd.lean.run import LeanRun
from leanfd.lean.toolchain import Toolchain

log = logging.getLogger(__name__)

LocalBackend = Literal["cli", "server"]
RAY_MISSING = "the ray backend needs Ray: pip install 'leanfd[ray]'"
PROBE_TIMEOUT = 5.0  # seconds to open a TCP connection to the head before asking Ray to join it
READY_TIMEOUT = 120.0  # an actor starting on a node: a Python process, leanfd imported, `lean --version`
GRACE = 60.0  # past a run's own timeout, an actor that has not answered is taken for lost
ATTEMPTS = 4  # sends of one run before its loss is the machinery failing


class RayUnavailable(LeanFDError):
    """Ray is not installed, no address was given, or the cluster does not answer."""


def preferred(header: str, n: int) -> int:
    """The actor (of `n`) that keeps `header` warm: a stable hash, the same in every driver."""
    return int.from_bytes(hashlib.sha256(header.encode()).digest()[:8], "big") % n


def pick_actor(header: str, loads: list[tuple[int, int]]) -> int:
    """Which actor takes a run: the header's preferred one while it has a free slot, else the one with
    the most free slots (in-flight runs against slots, `loads[i] = (in_flight, slots)`)."""
    first = preferred(header, len(loads))
    busy, slots = loads[first]
    if busy < slots:
        return first
    return min(range(len(loads)), key=lambda i: (loads[i][0] / loads[i][1], i != first))


def split_address(address: str) -> tuple[str, int] | None:
    """HOST:PORT of a GCS address, or None for the forms Ray resolves itself (`auto`, `ray://`)."""
    if address == "auto" or "://" in address:
        return None
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise RayUnavailable(f"Ray address {address!r}: expected HOST:PORT, ray://HOST:PORT or auto")
    return host.strip("[]"), int(port)


class NodeWorker:
    """The actor's body: a local backend on one node. Plain here; made a Ray actor by `_actor_class`."""

    def __init__(self, toolchain: Toolchain, local: LocalBackend, jobs: int, memory_mb: int | None,
                 timeout: float, max_checks: int):
        import ray

        self.node_id = ray.get_runtime_context().get_node_id()
        self.toolchain = toolchain
        self._make = (local, jobs, memory_mb, timeout, max_checks)
        self._backend: Any = None

    def _local(self) -> Any:
        if self._backend is None:  # inside the actor's event loop
            local, jobs, memory_mb, timeout, max_checks = self._make
            if local == "cli":
                from leanfd.lean.oneshot import OneShotBackend

                self._backend = OneShotBackend(self.toolchain, jobs=jobs, memory_mb=memory_mb)
            else:
                from leanfd.lean.server import ServerBackend

                self._backend = ServerBackend(self.toolchain, workers=jobs, timeout=timeout, memory_mb=memory_mb,
                                              max_checks=max_checks)
        return self._backend

    async def ready(self) -> tuple[str, str]:
        """(node id, Lean's version on this node)."""
        return self.node_id, await asyncio.to_thread(self.toolchain.version)

    async def run(self, header: str, body: str, timeout: float) -> tuple[str, LeanRun]:
        return self.node_id, await self._local().run(header, body, timeout)

    async def aclose(self) -> None:
        if self._backend is not None:
            await self._backend.aclose()
            self._backend = None


_ACTOR: Any = None


def _actor_class(ray: Any) -> Any:
    global _ACTOR
    if _ACTOR is None:
        # num_cpus=0: the actor only waits on Lean; its pool is sized from the node's CPUs instead.
        _ACTOR = ray.remote(num_cpus=0, max_restarts=0, max_task_retries=0)(NodeWorker)
    return _ACTOR


def import_ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise RayUnavailable(RAY_MISSING) from e
    return ray


# One Ray connection per process, shared by every RayBackend in it: ray.init is process-wide.
_connection = {"users": 0, "ours": False}


def connect(address: str | None) -> Any:
    """Join the cluster at `address` (or RAY_ADDRESS); the `ray` module. Refuses, in words, when
    there is no address or nothing answers there."""
    ray = import_ray()
    if not ray.is_initialized():
        address = address or os.environ.get("RAY_ADDRESS")
        if not address:
            raise RayUnavailable("the ray backend checks on an existing Ray cluster: give its address "
                                 "(--ray-address HOST:PORT, or RAY_ADDRESS); start one with `ray start --head`")
        if (hp := split_address(address)) is not None:
            try:
                socket.create_connection(hp, timeout=PROBE_TIMEOUT).close()
            except OSError as e:
                raise RayUnavailable(f"no Ray cluster answers at {address}: {e}") from e
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        except Exception as e:  # Ray raises ConnectionError, RuntimeError, ValueError here
            raise RayUnavailable(f"could not join the Ray cluster at {address}: {e}") from e
        _connection["ours"] = True
    _connection["users"] += 1
    return ray


def disconnect(ray: Any) -> None:
    _connection["users"] -= 1
    if _connection["users"] <= 0 and _connection["ours"]:
        ray.shutdown()
        _connection.update(users=0, ours=False)


@dataclass(eq=False)
class _Actor:
    handle: Any
    node_id: str
    slots: int
    in_flight: int = 0
    lost: bool = False


@dataclass
class _Pool:
    actors: list[_Actor] = field(default_factory=list)
    starting: set[str] = field(default_factory=set)  # node ids whose actor is being started


class RayBackend:
    """Runs on the actors of a Ray cluster; `answered` counts runs per node id that answered them."""

    name = "ray"

    def __init__(self, toolchain: Toolchain, address: str | None = None, local: LocalBackend = "cli",
                 jobs: int | None = None, memory_mb: int | None = 8192, timeout: float = 60.0,
                 max_checks: int = 200, lean_version: str | None = None):
        self.toolchain, self.address, self.local = toolchain, address, local
        self.jobs, self.memory_mb, self.timeout, self.max_checks = jobs, memory_mb, timeout, max_checks
        self.lean_version = lean_version
        self.answered: Counter[str] = Counter()
        self.resent = 0  # runs sent again after their actor was lost
        self._ray: Any = None
        self._pool = _Pool()
        self._start_lock = asyncio.Lock()
        self._filling: asyncio.Task | None = None
        self._closed = False

    @property
    def slots(self) -> int:
        return sum(a.slots for a in self._pool.actors)

    async def _ensure(self) -> None:
        async with self._start_lock:
            if self._closed:
                raise LeanProcessError("the ray backend was closed")
            if self._ray is None:
                self._ray = await asyncio.to_thread(connect, self.address)
                if self.lean_version is None:
                    self.lean_version = await asyncio.to_thread(self.toolchain.version)
            if not self._pool.actors and self._filling is not None:
                await asyncio.wait([self._filling], timeout=READY_TIMEOUT)  # the replacement under way
            if not self._pool.actors:
                await self._fill()
            if not self._pool.actors:
                raise LeanProcessError("no live Ray node could start a Lean actor")

    async def _fill(self) -> None:
        """Start an actor on every live node with CPUs that has none, and wait for them to be ready."""
        ray = self._ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        nodes = await asyncio.to_thread(ray.nodes)
        have = {a.node_id for a in self._pool.actors} | self._pool.starting
        new = []
        for n in nodes:
            cpus = int(n.get("Resources", {}).get("CPU", 0))
            if not n.get("Alive") or cpus < 1 or n["NodeID"] in have:
                continue
            slots = self.jobs or cpus
            handle = _actor_class(ray).options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False),
            ).remote(self.toolchain, self.local, slots, self.memory_mb, self.timeout, self.max_checks)
            self._pool.starting.add(n["NodeID"])
            new.append((n["NodeID"], slots, handle))
        try:
            results = await asyncio.gather(*(asyncio.wait_for(h.ready.remote(), READY_TIMEOUT) for _, _, h in new),
                                           return_exceptions=True)
        except asyncio.CancelledError:  # the backend is closing: no actor of ours is left behind
            for node_id, _, handle in new:
                self._pool.starting.discard(node_id)
                self._kill(handle)
            raise
        for (node_id, slots, handle), got in zip(new, results):
            self._pool.starting.discard(node_id)
            if isinstance(got, BaseException):
                log.warning("no Lean actor on Ray node %s: %s", node_id[:8], got)
                self._kill(handle)
                continue
            if self.lean_version and got[1] != self.lean_version:
                self._kill(handle)
                raise LeanFDError(f"Ray node {node_id[:8]} runs {got[1]!r}, the driver {self.lean_version!r}: "
                                  "every node needs the same Lean")
            if self._closed:
                self._kill(handle)
                continue
            self._pool.actors.append(_Actor(handle, node_id, slots))
        self._pool.actors.sort(key=lambda a: a.node_id)  # the same header -> node map in every driver

    def _kill(self, handle: Any) -> None:
        try:
            self._ray.kill(handle, no_restart=True)
        except Exception as e:  # already gone
            log.debug("ray.kill: %s", e)

    def _lose(self, actor: _Actor, why: BaseException | str) -> None:
        """Take `actor` out of the pool and start replacing it (in the background: a dying node may
        still be listed alive for a while, and the run that saw the loss goes on at once)."""
        if actor.lost:
            return
        actor.lost = True
        log.warning("Ray actor on node %s lost: %s", actor.node_id[:8], why)
        if actor in self._pool.actors:
            self._pool.actors.remove(actor)
        self._kill(actor.handle)
        if not self._closed and (self._filling is None or self._filling.done()):
            self._filling = asyncio.ensure_future(self._fill())

    async def run(self, header: str, body: str, timeout: float) -> LeanRun:
        for _ in range(ATTEMPTS):
            await self._ensure()
            ray = self._ray
            pool = self._pool.actors
            actor = pool[pick_actor(header, [(a.in_flight, a.slots) for a in pool])]
            actor.in_flight += 1
            ref = actor.handle.run.remote(header, body, timeout)
            try:
                node_id, result = await asyncio.wait_for(asyncio.shield(asyncio.ensure_future(ref)), timeout + GRACE)
            except asyncio.CancelledError:
                try:
                    ray.cancel(ref)  # the actor's backend kills that Lean
                except Exception as e:  # the actor is gone already
                    log.debug("ray.cancel: %s", e)
                raise
            except asyncio.TimeoutError:
                self._lose(actor, f"no answer within {timeout + GRACE:g} s")
            except ray.exceptions.RayTaskError as e:  # the local backend raised: the machinery failing there
                raise e.as_instanceof_cause() from None
            except (ray.exceptions.RayActorError, ray.exceptions.NodeDiedError, ray.exceptions.WorkerCrashedError,
                    ray.exceptions.ObjectLostError) as e:
                self._lose(actor, e)
            else:
                self.answered[node_id] += 1
                return result
            finally:
                actor.in_flight -= 1
            self.resent += 1
        raise LeanProcessError(f"the Ray actors were lost {ATTEMPTS} times while checking one attempt")

    async def aclose(self) -> None:
        """Close every actor's pool (its Lean processes), then the actors; leave the cluster."""
        self._closed = True
        if self._filling is not None and not self._filling.done():
            self._filling.cancel()  # a replacement still starting (or waiting for a dying node)
            await asyncio.wait([self._filling])
        if self._ray is None:
            return
        actors, self._pool.actors = self._pool.actors, []
        if actors:
            await asyncio.wait([asyncio.ensure_future(a.handle.aclose.remote()) for a in actors], timeout=10)
        for a in actors:
            self._kill(a.handle)
        ray, self._ray = self._ray, None
        await asyncio.to_thread(disconnect, ray)
