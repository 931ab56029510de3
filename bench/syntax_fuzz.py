"""Differential fuzzing of `leanfd.lean.syntax` against the bundled Lean, at scale.

The same cases as `tests/test_syntax_fuzz.py` (tests/syntax_fuzz.py makes them), many more of them:
prints cases/s, the sentinels compared and agreed, the share the module refuses, and the first
disagreements with their text.

    python bench/syntax_fuzz.py --cases 100000 --jobs 2       # figures go to bench/README.md by hand
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from leanfd.lean.toolchain import resolve

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from syntax_fuzz import run  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100_000, help="cases in all")
    ap.add_argument("--per-file", type=int, default=300, help="cases in one Lean file")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2, help="Lean processes at once")
    ap.add_argument("--lean", default="bundled", help="which Lean (see `leanfd doctor`)")
    args = ap.parse_args()
    start = time.monotonic()
    r = run(resolve(args.lean), batches=max(1, args.cases // args.per_file), cases=args.per_file,
            seed=args.seed, jobs=args.jobs)
    took = time.monotonic() - start
    print(f"cases {r.cases} in {took:.1f} s ({r.cases / took:,.0f} cases/s); refused {r.refused} "
          f"({r.refused / r.cases:.1%}); sentinels {r.sentinels}: agreed {r.agreed}, of which swallowed "
          f"{r.swallowed}; disagreements {len(r.disagreements)}")
    for name, predicted, context in r.disagreements[:5]:
        print(f"--- {name}: the module says it {'runs' if predicted else 'is swallowed'}\n{context!r}")
    sys.exit(1 if r.disagreements else 0)


if __name__ == "__main__":
    main()
