"""`policy.scan` time on large attempts: realistic Lean and pathological inputs.

Realistic: miniF2F statements and the few-shot proofs of the shared data, repeated to the size
(many short tokens). Pathological: one character or short piece repeated (`r`, `'`, `«`, `/-`,
...), deep nesting, and realistic text on one line. `scan` must stay linear: each figure is the
best of `--repeat` runs.

    python bench/scan.py                     # figures go to bench/README.md by hand
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from leanfd.lean.policy import scan

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MB = 1 << 20


def realistic(size: int) -> str:
    parts = []
    for name in ("minif2f.jsonl", "minif2f_valid_few_shot.jsonl"):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            parts.append(r["formal_statement"] + (r.get("proof") or " by\n  nlinarith [sq_nonneg (a - b)]\n"))
    text = "\n".join(parts)
    return (text * (size // len(text) + 1))[:size]


def inputs(size: int) -> dict[str, str]:
    real = realistic(size)
    return {
        "realistic Lean": real,
        "realistic, one line": real.replace("\n", " "),
        "`r` repeated": "r" * size,
        "`'` repeated": "'" * size,
        "`«` repeated": "«" * size,
        "`/-` repeated": "/-" * (size // 2),
        "`a.` repeated (one dotted name)": "a." * (size // 2),
        "`↑x` repeated": "↑x " * (size // 3),
        "`f '' s` repeated": "f '' s " * (size // 7),
        '`"s" ` repeated': '"s" ' * (size // 4),
        "`/- -/` nested, then closed": "/- " * (size // 6) + "-/ " * (size // 6),
        "`-- c` lines": "-- c\n" * (size // 5),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,10", help="sizes in MB, comma-separated")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print("| input | size (MB) | scan (s) | MB/s | violations |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for mb in (float(x) for x in args.sizes.split(",")):
        for label, text in inputs(int(mb * MB)).items():
            best, found = float("inf"), None
            for _ in range(args.repeat):
                start = time.perf_counter()
                found = scan(text)
                best = min(best, time.perf_counter() - start)
            print(f"| {label} | {mb:g} | {best:.2f} | {mb / best:.1f} | {len(found.violations)} |", flush=True)


if __name__ == "__main__":
    main()
