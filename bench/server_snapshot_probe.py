"""Can a `lean --server`'s file worker start from a saved header (`--incr-load`)? (issue 12, item 2)

Saves the stand-in header of bench/verify.py with `lean --incr-save`, then opens header + one theorem
in a pooled server three ways and times the first check (the header's elaboration) and the next two:
  plain       `lean --server`
  server arg  `lean --incr-load=SNAP --server` (does the watchdog pass it on to its workers?)
  worker arg  `LEAN_WORKER_PATH` = a wrapper that execs `lean --incr-load=SNAP "$@"` (does a worker use it?)
and, for comparison, the one-shot `lean --json --incr-load=SNAP` of the same text. Prints one JSON line
each, with every worker's command line. Findings with Lean 4.35.0 are in leanfd/lean/server.py.

    python bench/server_snapshot_probe.py [--decls 1000] [--lean PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from verify import heavy_header  # noqa: E402

from leanfd.lean.process import marked_pids  # noqa: E402
from leanfd.lean.server import _Worker  # noqa: E402
from leanfd.lean.toolchain import Toolchain, resolve  # noqa: E402

BODIES = ["theorem probe : N := N.zero\n", "theorem probe : N := N.succ N.zero\n", "theorem probe : N := bogus\n"]


async def server_case(name: str, toolchain: Toolchain, header: str, workdir: Path) -> dict:
    worker = _Worker(0, f"probe-{os.getpid()}-{name.replace(' ', '-')}", workdir)
    await worker.start(toolchain, None)
    times, cmdlines = [], []
    try:
        for i, body in enumerate(BODIES):
            t0 = time.monotonic()
            await worker.check(header, body, time.monotonic() + 300)
            times.append(round(time.monotonic() - t0, 3))
            if i == 0:
                for pid in marked_pids(worker.marker):
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        cmdlines.append(f.read().replace(b"\0", b" ").decode().strip())
    finally:
        await worker.close()
    return {"case": name, "check_s": times, "processes": cmdlines}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--decls", type=int, default=1000, help="def+theorem pairs in the stand-in header")
    ap.add_argument("--lean", default=None)
    args = ap.parse_args()
    toolchain = resolve(args.lean)
    header = heavy_header(args.decls)
    with tempfile.TemporaryDirectory(prefix="leanfd-probe-") as tmp:
        work = Path(tmp)
        snap = work / "header.snap"
        (work / "header.lean").write_text(header)
        t0 = time.monotonic()
        subprocess.run(toolchain.command(f"--incr-save={snap}", str(work / "header.lean")), check=True,
                       capture_output=True, cwd=toolchain.cwd, env={**os.environ, **toolchain.env})
        print(json.dumps({"case": "incr-save", "s": round(time.monotonic() - t0, 2),
                          "mb": round(snap.stat().st_size / 2**20, 1)}), flush=True)
        t0 = time.monotonic()
        subprocess.run(toolchain.command("--json", "--stdin", f"--incr-load={snap}"), input=header + BODIES[0],
                       text=True, capture_output=True, cwd=toolchain.cwd, env={**os.environ, **toolchain.env})
        print(json.dumps({"case": "one-shot incr-load", "check_s": [round(time.monotonic() - t0, 3)]}), flush=True)

        print(json.dumps(asyncio.run(server_case("plain", toolchain, header, work))), flush=True)
        flagged = dataclasses.replace(toolchain, argv=(*toolchain.argv, f"--incr-load={snap}"))
        print(json.dumps(asyncio.run(server_case("server arg", flagged, header, work))), flush=True)
        wrapper = work / "lean-worker"
        wrapper.write_text("#!/bin/sh\nexec " + " ".join(toolchain.argv) + f" --incr-load={snap} \"$@\"\n")
        wrapper.chmod(0o755)
        via_env = dataclasses.replace(toolchain, env={**toolchain.env, "LEAN_WORKER_PATH": str(wrapper)})
        print(json.dumps(asyncio.run(server_case("worker arg", via_env, header, work))), flush=True)


if __name__ == "__main__":
    main()
