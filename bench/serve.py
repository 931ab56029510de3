"""`leanfd serve` under load, beside `leanfd check` on the same records (issue 25).

On loopback: `leanfd check` checks the records once (the baseline), then a `leanfd serve` started
here gets them from N concurrent clients x M requests (`POST /v1/check`, R records each), every
record once (the server's start and first check untimed; so the CLI's rate is also given net of a
2-record run's wall time: its start and Lean's warm-up); then a soak keeps the clients sending for
S seconds while the server's memory is sampled (its own process, and with every Lean process under
it). Reports checks/s of both and their ratio, p50/p99 request latency, lost, duplicated or
misplaced verdicts (each verdict is matched to its record by name and position), statuses that
differ from the CLI's, the server process's own CPU time per request (its Lean processes not
counted), and the memory over the soak.

    python bench/serve.py --records 180 --clients 4 --soak 150          # snapshot backend, 1 record a request
    python bench/serve.py --backend ray --ray-nodes 2 --jobs 1 --ray-local-backend server --records 60 --soak 150

The header is bench/verify.py's stand-in for `import Mathlib` (the toy prelude and `--decls` pairs of
declarations), the records its batch without timeouts (two thirds proved, a third type mismatches).
For `ray`, both commands run with Ray's localhost address kept on 127.0.0.1 (tests/ray_cluster.py),
`--jobs` is Lean processes per node, and the memory is the server's own process tree only (the
Lean processes run under the nodes' raylets). Figures go to bench/README.md by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from verify import batch, heavy_header  # noqa: E402

# `python -m leanfd ...`, with Ray's 127.0.0.1 kept as 127.0.0.1 in that process (see tests/ray_cluster.py).
LEANFD = [sys.executable, "-c", "import sys\ntry:\n import ray._private.services as s\n"
          " s.resolve_ip_for_localhost = lambda h: h\nexcept ImportError:\n pass\n"
          "from leanfd.cli import main\nsys.exit(main(sys.argv[1:]))"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(root: int) -> tuple[float, float]:
    """Resident memory, in MB, of `root` alone (the server: where a leak would stay) and of `root` and
    every process under it (with the Lean processes of the checks running at that moment)."""
    parents, rss = {}, {}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            fields = dict(line.split(":", 1) for line in (p / "status").read_text().splitlines() if ":" in line)
        except OSError:
            continue
        parents[int(p.name)] = int(fields.get("PPid", "0"))
        rss[int(p.name)] = int(fields.get("VmRSS", "0 kB").split()[0])
    total = 0
    for pid, kb in rss.items():
        q = pid
        while q and q != root:
            q = parents.get(q, 0)
        total += kb if q == root else 0
    return rss.get(root, 0) / 1024, total / 1024


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process `pid` itself has used, its children not counted."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def verifier_args(args: argparse.Namespace) -> list[str]:
    out = ["--verifier-backend", args.backend, "--verifier-jobs", str(args.jobs),
           "--verifier-timeout", str(args.timeout), "--lean", args.lean]
    if args.backend == "ray":
        out += ["--verifier-ray-address", args.ray_address, "--verifier-ray-local-backend", args.ray_local_backend]
    return out


def run_cli(args: argparse.Namespace, records: list[dict], tmp: Path) -> dict:
    """`leanfd check` on the records: wall time (process start included) and each verdict's status."""
    src, out = tmp / "records.jsonl", tmp / "verdicts.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    load = os.getloadavg()[0]
    t = time.monotonic()
    proc = subprocess.run([*LEANFD, "check", str(src), "--out", str(out), "--overwrite", *verifier_args(args)],
                          capture_output=True, text=True)
    wall = time.monotonic() - t
    if proc.returncode not in (0, 1):
        raise SystemExit(f"leanfd check exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    statuses = {d["name"]: d["status"] for d in map(json.loads, out.read_text().splitlines())}
    return {"wall_s": round(wall, 1), "checks_per_s": round(len(records) / wall, 3), "load_start": round(load, 1),
            "statuses": statuses}


def die_with_parent() -> None:
    """In the server's process: SIGTERM it when the benchmark dies, even by SIGKILL (Linux's
    PR_SET_PDEATHSIG), so that no server is left behind a benchmark stopped by `timeout`."""
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)


class Server:
    """A `leanfd serve` subprocess on 127.0.0.1, in a process group of its own, stopped by its pid."""

    def __init__(self, args: argparse.Namespace, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [*LEANFD, "serve", "--host", "127.0.0.1", "--port", str(self.port), *verifier_args(args),
               *args.serve_arg]
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=die_with_parent)
        self.logfile = log

    def wait_ready(self, timeout: float = 120.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"leanfd serve exited {self.proc.returncode}:\n{self.logfile.read_text()[-3000:]}")
            try:
                httpx.get(self.url + "/", timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise SystemExit(f"leanfd serve not answering on {self.url} within {timeout:g} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


def post(client, url: str, records: list[dict], headers: dict) -> tuple[float, list[dict]]:
    t = time.monotonic()
    r = client.post(url + "/v1/check", json={"records": records}, headers=headers)
    elapsed = time.monotonic() - t
    r.raise_for_status()
    return elapsed, r.json()["verdicts"]


def load_phase(server: Server, args: argparse.Namespace, records: list[dict]) -> dict:
    """N clients x M requests of R records, every record sent once; verdicts matched by name and place."""
    import httpx

    per = args.per_request
    requests = [records[i:i + per] for i in range(0, len(records), per)]
    shares = [requests[c::args.clients] for c in range(args.clients)]
    latencies: list[float] = []
    answered: dict[str, list[str]] = {}
    problems: list[str] = []
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}

    def client(share: list[list[dict]]) -> None:
        with httpx.Client(timeout=httpx.Timeout(3600, connect=10)) as c:
            for req in share:
                try:
                    elapsed, verdicts = post(c, server.url, req, headers)
                except httpx.HTTPError as e:
                    with lock:
                        problems.append(f"{type(e).__name__}: {e}")
                    continue
                with lock:
                    latencies.append(elapsed)
                    if [v["name"] for v in verdicts] != [r["name"] for r in req]:
                        problems.append(f"request of {[r['name'] for r in req]} got {[v['name'] for v in verdicts]}")
                    for v in verdicts:
                        answered.setdefault(v["name"], []).append(v["status"])

    load = os.getloadavg()[0]
    t = time.monotonic()
    threads = [threading.Thread(target=client, args=(s,)) for s in shares]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.monotonic() - t
    latencies.sort()
    names = [r["name"] for r in records]
    return {
        "requests": len(requests), "wall_s": round(wall, 1), "checks_per_s": round(len(records) / wall, 3),
        "p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "p99_s": round(latencies[int(0.99 * (len(latencies) - 1))], 3) if latencies else None,
        "lost": sum(n not in answered for n in names),
        "duplicated": sum(len(s) - 1 for s in answered.values() if len(s) > 1),
        "unknown": len(set(answered) - set(names)),
        "errors": problems[:5], "error_count": len(problems), "load_start": round(load, 1),
        "statuses": {n: s[0] for n, s in answered.items()},
    }


def soak(server: Server, args: argparse.Namespace, records: list[dict]) -> dict:
    """The clients keep sending the records for `--soak` seconds; the server tree's RSS every few seconds."""
    import httpx

    stop = threading.Event()
    counts = {"requests": 0, "checks": 0, "errors": 0, "misplaced": 0}
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    per = args.per_request

    def client(c_index: int) -> None:
        i = c_index * per
        with httpx.Client(timeout=httpx.Timeout(3600, connect=10)) as c:
            while not stop.is_set():
                req = [records[(i + k) % len(records)] for k in range(per)]
                i += per * args.clients
                try:
                    _, verdicts = post(c, server.url, req, headers)
                except httpx.HTTPError:
                    with lock:
                        counts["errors"] += 1
                    continue
                with lock:
                    counts["requests"] += 1
                    counts["checks"] += len(verdicts)
                    counts["misplaced"] += [v["name"] for v in verdicts] != [r["name"] for r in req]

    samples: list[tuple[float, float, float]] = []
    loads = [os.getloadavg()[0]]
    threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
    t0 = time.monotonic()
    for th in threads:
        th.start()
    while (now := time.monotonic() - t0) < args.soak:
        samples.append((now, *rss_mb(server.proc.pid)))
        time.sleep(args.sample_every)
    loads.append(os.getloadavg()[0])
    stop.set()
    for th in threads:
        th.join()
    wall = time.monotonic() - t0
    warm = [s for s in samples if s[0] >= 0.1 * args.soak] or samples  # after the first tenth: warmed up
    memory = {}
    for key, col in (("server", 1), ("with_lean", 2)):
        xs, ys = [s[0] for s in warm], [s[col] for s in warm]
        slope = statistics.linear_regression(xs, ys).slope * 60 if len(warm) > 1 else 0.0
        memory[f"rss_mb_{key}"] = {"first": round(ys[0]), "last": round(ys[-1]), "min": round(min(ys)),
                                   "max": round(max(ys)), "slope_per_min": round(slope, 1)}
    return {"seconds": round(wall), **counts, "checks_per_s": round(counts["checks"] / wall, 3), **memory,
            "samples": len(warm), "load_start_end": [round(x, 1) for x in loads]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=120)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--per-request", type=int, default=1, help="records in one request")
    ap.add_argument("--requests", type=int, default=None,
                    help="requests per client (default: --records spread over the clients)")
    ap.add_argument("--soak", type=float, default=150.0, help="seconds of the soak (0: none)")
    ap.add_argument("--sample-every", type=float, default=5.0)
    ap.add_argument("--backend", default="snapshot")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--decls", type=int, default=1000)
    ap.add_argument("--lean", default="bundled")
    ap.add_argument("--token", default=None)
    ap.add_argument("--serve-arg", action="append", default=[], help="one more argument for `leanfd serve`")
    ap.add_argument("--ray-address", default=None)
    ap.add_argument("--ray-nodes", type=int, default=0, help="ray: start this many loopback nodes (1 CPU each)")
    ap.add_argument("--ray-local-backend", default="cli", help="ray: the pool each node runs (cli or server)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout`, kill: the cleanup below still runs
    if args.requests is not None:
        args.records = args.requests * args.clients * args.per_request
    cluster = None
    tmp = Path(tempfile.mkdtemp(prefix="leanfd-bench-serve-"))
    try:
        if args.ray_nodes:
            sys.path.insert(0, str(ROOT / "tests"))
            from ray_cluster import LocalCluster

            cluster = LocalCluster(Path(tempfile.mkdtemp(prefix="leanfd-ray-", dir="/tmp")),
                                   nodes=args.ray_nodes).start()
            args.ray_address = cluster.address
        run(args, tmp)
    finally:
        if cluster is not None:
            cluster.stop()
            shutil.rmtree(cluster.root, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, tmp: Path) -> None:
    header = heavy_header(args.decls)
    records = [{"name": r.name, "header": r.header, "formal_statement": r.formal_statement, "proof": r.proof}
               for r in batch(header, args.records, slow_every=0)]
    print(json.dumps({"cpus": os.cpu_count(), "backend": args.backend, "jobs": args.jobs, "records": len(records),
                      "clients": args.clients, "per_request": args.per_request,
                      "header_lines": header.count("\n")}), flush=True)
    run_cli(args, records[:2], tmp)  # builds the header's snapshot (machine-wide cache) before anything is timed
    fixed = run_cli(args, records[:2], tmp)["wall_s"]  # what a run pays besides its checks: start, Lean's warm-up
    cli = run_cli(args, records, tmp)
    # The server's start and warm-up are not timed: compare with the CLI's rate net of its own.
    cli["checks_per_s_net"] = round((len(records) - 2) / max(0.1, cli["wall_s"] - fixed), 3)
    cli["fixed_s"] = fixed
    print(json.dumps({"cli": {k: v for k, v in cli.items() if k != "statuses"}}), flush=True)
    server = Server(args, tmp / "serve.log")
    try:
        server.wait_ready()
        import httpx

        headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
        with httpx.Client(timeout=600) as c:  # warm-up, untimed: the server's first check
            post(c, server.url, records[:1], headers)
        cpu = cpu_s(server.proc.pid)
        served = load_phase(server, args, records)
        served["server_cpu_ms_per_request"] = round(1000 * (cpu_s(server.proc.pid) - cpu) / served["requests"], 1)
        differ = sorted(n for n, s in served.pop("statuses").items() if cli["statuses"].get(n) != s)
        served["statuses_differing_from_cli"] = len(differ)
        served["throughput_vs_cli"] = round(served["checks_per_s"] / cli["checks_per_s"], 3)
        served["throughput_vs_cli_net"] = round(served["checks_per_s"] / cli["checks_per_s_net"], 3)
        print(json.dumps({"serve": served}), flush=True)
        if args.soak:
            print(json.dumps({"soak": soak(server, args, records)}), flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
