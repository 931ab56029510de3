"""A real Ray cluster of a few nodes on 127.0.0.1, owned by the test that starts it.

Each node is a `ray start --block` process this helper starts in a session of its own; every process
Ray then starts for that node (GCS, raylet, workers, and the Lean processes the workers start)
inherits `LEANFD_TEST_RAY=<cluster token>/<node>`, so the helper finds exactly the processes it owns
by their environment and never touches another Ray on the machine (no `ray stop`). Each node gets
its own temp dir and its own ports, picked free on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from leanfd.lean.owner import pids_with_env

MARK = "LEANFD_TEST_RAY"
# Ray maps 127.0.0.1 to the machine's outward address on Linux (`resolve_ip_for_localhost`); the
# nodes here and the test's driver (`loopback_only`) turn that off so that every address stays on loopback.
RAY = [sys.executable, "-c", "import sys, ray._private.services as s; s.resolve_ip_for_localhost = lambda h: h; "
       "from ray.scripts.scripts import main; sys.argv[0] = 'ray'; main()"]
# A node that stops answering is declared dead after about a second, not Ray's default of ~30 s
# (period x threshold), so a node-loss test stays short.
FAST_HEALTH = {"RAY_health_check_period_ms": "500", "RAY_health_check_timeout_ms": "500",
               "RAY_health_check_failure_threshold": "2", "RAY_health_check_initial_delay_ms": "0"}


def loopback_only() -> None:
    """In this process (a driver), keep 127.0.0.1 as 127.0.0.1 (see RAY)."""
    import ray._private.services as services

    services.resolve_ip_for_localhost = lambda host: host


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_range(width: int) -> int:
    """The first of `width` consecutive ports that are free now (worker ports)."""
    for _ in range(200):
        base = free_port()
        if base + width > 65535:
            continue
        try:
            socks = []
            for p in range(base, base + width):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {width} consecutive free ports")


class LocalCluster:
    """`nodes` Ray nodes (the first is the head), `cpus` CPUs each, under `root`."""

    def __init__(self, root: Path, nodes: int = 2, cpus: int = 1):
        self.root, self.nodes, self.cpus = root, nodes, cpus
        self.token = uuid.uuid4().hex[:12]
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._procs: list[subprocess.Popen] = []

    def start(self, timeout: float = 90.0) -> "LocalCluster":
        for i in range(self.nodes):
            self._start_node_retrying(i, timeout)
        return self

    def _start_node_retrying(self, i: int, timeout: float, tries: int = 3) -> None:
        """Start node `i`; again with other ports when its `ray start` fails (on a shared machine a port
        picked free can be taken before Ray binds it)."""
        for attempt in range(tries):
            if i == 0 and attempt:
                self.port = free_port()
                self.address = f"127.0.0.1:{self.port}"
            self._start_node(i)
            try:
                self._wait_for(i + 1, timeout)
                return
            except RuntimeError:
                for pid in self.pids(i):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                if attempt == tries - 1:
                    raise

    def _start_node(self, i: int) -> None:
        temp = self.root / f"n{i}"
        temp.mkdir(parents=True, exist_ok=True)
        workers = free_range(40)
        args = [*RAY, "start", "--block", "--node-ip-address", "127.0.0.1", "--num-cpus", str(self.cpus),
                "--temp-dir", str(temp), "--disable-usage-stats", "--object-store-memory", str(100 << 20),
                "--dashboard-port", str(free_port()),
                "--node-manager-port", str(free_port()), "--object-manager-port", str(free_port()),
                "--min-worker-port", str(workers), "--max-worker-port", str(workers + 39),
                "--runtime-env-agent-port", str(free_port()), "--metrics-export-port", str(free_port()),
                "--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port())]
        if i == 0:
            args += ["--head", "--port", str(self.port), "--include-dashboard=false",
                     "--ray-client-server-port", str(free_port())]
        else:
            args += ["--address", self.address]
        env = {**os.environ, **FAST_HEALTH, MARK: f"{self.token}/{i}", "RAY_USAGE_STATS_ENABLED": "0"}
        env.pop("RAY_ADDRESS", None)
        log = open(self.root / f"n{i}.log", "wb")
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        if i < len(self._procs):
            self._procs[i] = proc
        else:
            self._procs.append(proc)
        log.close()

    def _wait_for(self, alive: int, timeout: float) -> None:
        """Until the first `alive` nodes have started (`ray start` says so once its raylet has joined)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (rc := self._procs[alive - 1].poll()) is not None:  # a killed node's `ray start` exits too
                tail = (self.root / f"n{alive - 1}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"`ray start` of node {alive - 1} exited {rc}:\n{tail}")
            if all(b"Ray runtime started" in (self.root / f"n{i}.log").read_bytes() for i in range(alive)):
                return
            time.sleep(0.3)
        raise TimeoutError(f"{alive} Ray nodes not up within {timeout:g} s; see {self.root}/n*.log")

    def pids(self, node: int | None = None) -> list[int]:
        """Live processes of this cluster (of one node)."""
        if node is None:
            return pids_with_env(MARK, self.token, prefix=True)
        return pids_with_env(MARK, f"{self.token}/{node}")

    def raylet_pid(self, node: int) -> int | None:
        for pid in self.pids(node):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if cmd.endswith(b"/raylet"):
                return pid
        return None

    def kill_node(self, node: int) -> int:
        """SIGKILL the node's raylet (as a lost machine would stop answering); its pid."""
        pid = self.raylet_pid(node)
        assert pid is not None, f"node {node} has no raylet"
        os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self, timeout: float = 10.0) -> list[int]:
        """SIGTERM our `ray start` processes, then SIGKILL whatever of ours is left; what survived."""
        for p in self._procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while (left := self.pids()) and time.monotonic() < deadline:
            time.sleep(0.2)
        for p in self._procs:
            try:
                p.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        return left

    def add_node(self, timeout: float = 90.0) -> int:
        """One more worker node (after `kill_node`, say); its index."""
        self._start_node_retrying(len(self._procs), timeout)
        return len(self._procs) - 1


@pytest.fixture(scope="session")
def ray_cluster():
    """A 2-node cluster (head + worker, 1 CPU each) for the session; nothing of it is left after."""
    pytest.importorskip("ray")
    loopback_only()
    # Ray's unix sockets live under the temp dir and a socket path has at most 107 bytes: keep it short.
    root = Path(tempfile.mkdtemp(prefix="leanfd-ray-", dir="/tmp"))
    cluster = LocalCluster(root)
    try:
        yield cluster.start()
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        left = cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
        assert not left, f"Ray processes left running: {left}"
