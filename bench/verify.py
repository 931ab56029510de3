"""Verification throughput: `cli`, `server`, `snapshot` (and `ray`) on the same batch, in one run.

The header stands in for `import Mathlib` (seconds per process): the toy prelude followed by
thousands of small declarations. The batch mixes passing, failing and timing-out checks.
Reports checks/s, p50/p95 latency and the peak resident memory of all Lean processes together;
for `snapshot`, how many header snapshots it built (0 when the machine's cache already had it).

    python bench/verify.py --checks 200 --jobs 2           # figures go to bench/README.md by hand
    python bench/verify.py --backends cli,ray --ray-address HEAD:6379   # on an existing Ray cluster
    python bench/verify.py --backends cli,ray --ray-nodes 2             # on a loopback cluster started here

For `ray`, `--jobs` is Lean processes per node, and the peak RSS is not measured (its Lean processes
run under the nodes' raylets, not under this process).

`plain-cli`, `plain-server`, `plain-snapshot`: plain Lean on the same attempts through the same process
machinery, with none of the verifier's commands (no reference, no kernel check, no pins, no `#print`):
header + statement + proof, as a verifier that only asks "does it compile?" would send it. What the
verifier adds is the difference.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import threading
import time
from pathlib import Path

from leanfd.lean.records import CheckRecord
from leanfd.lean.snippet import attempt_text
from leanfd.lean.toolchain import resolve
from leanfd.lean.verifier import Verifier

ROOT = Path(__file__).resolve().parents[1]
SLOW = (
    "set_option maxHeartbeats 0 in set_option maxRecDepth 100000000 in\n"
    "theorem bench_slow : Eq (N.add bench_big N.zero) (N.add N.zero bench_big) := Eq.refl _"
)


def heavy_header(decls: int) -> str:
    lines = [(ROOT / "lean_project" / "toy" / "Prelude.lean").read_text().rstrip("\n")]
    for i in range(decls):
        lines.append(f"noncomputable def c{i} : N := N.add (N.succ N.zero) N.zero")
        lines.append(f"theorem c{i}_eq : Eq c{i} (N.succ N.zero) := Eq.refl _")
    lines.append("noncomputable def bench_two : N := N.succ (N.succ N.zero)")
    big = "bench_two"
    for k in range(5):  # 2^32 in unary: deciding an equation about it runs until killed
        lines.append(f"noncomputable def bench_p{k} : N := N.mul {big} {big}")
        big = f"bench_p{k}"
    lines.append(f"noncomputable def bench_big : N := {big}")
    return "\n".join(lines) + "\n"


def batch(header: str, n: int, slow_every: int) -> list[CheckRecord]:
    recs = []
    for i in range(n):
        k = i % 50
        if slow_every and i % slow_every == slow_every - 1:
            recs.append(CheckRecord(f"slow{i}", header, "theorem bench_slow : True :=", code=SLOW))
            continue
        stmt = f"theorem b{i} (n : N) : Eq (N.add n c{k}) (N.succ n) :="
        proof = " Eq.refl _" if i % 3 else " Eq.refl n"  # a third fail with a type mismatch
        recs.append(CheckRecord(f"b{i}", header, stmt, proof=proof))
    return recs


class PeakRSS:
    """Samples the summed RSS of this process' descendants (Lean servers and their workers)."""

    def __init__(self, every: float = 0.05):
        self.every, self.peak, self._stop = every, 0, threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            parents: dict[int, int] = {}
            rss: dict[int, int] = {}
            for p in Path("/proc").iterdir():
                if not p.name.isdigit():
                    continue
                try:
                    status = (p / "status").read_text()
                except OSError:
                    continue
                fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
                parents[int(p.name)] = int(fields.get("PPid", "0"))
                rss[int(p.name)] = int(fields.get("VmRSS", "0 kB").split()[0])
            total = 0
            for pid in rss:
                q = pid
                while q and q != me:
                    q = parents.get(q, 0)
                if q == me:
                    total += rss[pid]
            self.peak = max(self.peak, total)
            self._stop.wait(self.every)

    def __enter__(self) -> "PeakRSS":
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()


async def plain(v: Verifier, records: list[CheckRecord], timeout: float, latencies: list[float],
                statuses: dict[str, int]) -> None:
    """Each attempt alone after its header, on the verifier's backend, two at a time per Lean slot."""
    sem = asyncio.Semaphore(2 * (v.config.jobs or 1))

    async def one(r: CheckRecord) -> None:
        async with sem:
            run = await v.backend.run(r.header, attempt_text(r), timeout)
        latencies.append(run.elapsed)
        ok = run.outcome == "ok" and not any(m.severity == "error" for m in run.messages)
        key = "compiles" if ok else ("error" if run.outcome == "ok" else run.outcome)
        statuses[key] = statuses.get(key, 0) + 1

    await asyncio.gather(*(one(r) for r in records))


async def measure(backend: str, records: list[CheckRecord], jobs: int, timeout: float, toolchain,
                  ray_address: str | None = None) -> dict:
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    bare = backend.removeprefix("plain-")
    with PeakRSS() as mem:
        async with Verifier(backend=bare, jobs=jobs, timeout=timeout, toolchain=toolchain,
                            ray_address=ray_address) as v:
            _ = v.lean_version
            start = time.monotonic()
            if bare != backend:
                await plain(v, records, timeout, latencies, statuses)
            else:
                async for _, verdict in v.check_many(records):
                    latencies.append(verdict.elapsed)
                    statuses[verdict.status] = statuses.get(verdict.status, 0) + 1
            wall = time.monotonic() - start
            builds = getattr(v.backend, "builds", None)
    latencies.sort()
    return {
        "backend": backend,
        "checks": len(records),
        "wall_s": round(wall, 2),
        "checks_per_s": round(len(records) / wall, 3),
        "p50_s": round(statistics.median(latencies), 3),
        "p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
        "peak_rss_mb": None if bare == "ray" else round(mem.peak / 1024, 1),
        "statuses": statuses,
        **({"snapshot_builds": builds} if builds is not None else {}),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checks", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--decls", type=int, default=1000, help="def+theorem pairs in the header")
    ap.add_argument("--slow-every", type=int, default=50, help="every Nth check runs until the timeout")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--backends", default="cli,server,snapshot")
    ap.add_argument("--lean", default=None)
    ap.add_argument("--ray-address", default=None, help="ray: the cluster's head, HOST:PORT")
    ap.add_argument("--ray-nodes", type=int, default=0,
                    help="ray: start this many loopback nodes here (tests/ray_cluster.py), 1 CPU each")
    args = ap.parse_args()
    cluster = None
    if args.ray_nodes:
        import sys
        import tempfile

        sys.path.insert(0, str(ROOT / "tests"))
        from ray_cluster import LocalCluster, loopback_only

        loopback_only()
        cluster = LocalCluster(Path(tempfile.mkdtemp(prefix="leanfd-ray-", dir="/tmp")), nodes=args.ray_nodes).start()
        args.ray_address = cluster.address
    try:
        run(args)
    finally:
        if cluster is not None:
            cluster.stop()
            shutil.rmtree(cluster.root, ignore_errors=True)


def run(args: argparse.Namespace) -> None:
    toolchain = resolve(args.lean)
    header = heavy_header(args.decls)
    records = batch(header, args.checks, args.slow_every)

    async def header_cost() -> float:
        from leanfd.lean.oneshot import OneShotBackend

        run = await OneShotBackend(toolchain, jobs=1).run(header, "", timeout=600)
        return run.elapsed

    print(json.dumps({"lean": toolchain.version(), "cpus": os.cpu_count(), "header_lines": header.count("\n"),
                      "header_alone_s": round(asyncio.run(header_cost()), 2)}), flush=True)
    results = []
    for b in args.backends.split(","):  # each line as soon as its backend is done
        results.append(asyncio.run(measure(b, records, args.jobs, args.timeout, toolchain, args.ray_address)))
        print(json.dumps(results[-1]), flush=True)
    if len(results) > 1:
        base = results[0]
        ratios = {r["backend"]: round(r["checks_per_s"] / base["checks_per_s"], 2) for r in results[1:]}
        print(json.dumps({f"speedup_vs_{base['backend']}": ratios}))


if __name__ == "__main__":
    main()
