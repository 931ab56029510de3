"""Whether a run of the experiment reproduces the committed one (docs/fd_small.json), within seed spread.

For each method and each headline number (entropy and pass@1 on train shapes at the last step,
pass@k on train shapes at the end for the smallest and largest k), the new mean over seeds is
compared with the committed seeds' range, widened by `tolerance` (absolute) because a new
machine's float arithmetic can move a sampled token. Runs with other settings (steps, seeds, k,
problems, methods, extra train options) are not comparable and are said to be so.

    python bench/fd_small/compare.py runs/fd_small/results.json [docs/fd_small.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMMITTED = HERE.parents[1] / "docs" / "fd_small.json"
SETTINGS = ("steps", "eval_every", "seeds", "k", "k_step", "names", "methods", "train_args", "warm_start_args")


def headline(run: dict) -> dict[str, float]:
    last = run["curve"][-1]
    ks = sorted(int(k) for k in run["pass_at_k"])
    return {"entropy": last["entropy"], "pass@1 (last step)": last["pass@1"],
            f"pass@{ks[0]} (end)": run["pass_at_k"][str(ks[0])], f"pass@{ks[-1]} (end)": run["pass_at_k"][str(ks[-1])]}


def compare(new: dict, committed: dict, tolerance: float = 0.02) -> tuple[bool, list[str]]:
    """(all within, one line per number)."""
    differ = [s for s in SETTINGS if new["settings"].get(s) != committed["settings"].get(s)]
    if differ:
        return False, [f"not comparable: settings differ ({', '.join(differ)})"]
    ok, lines = True, []
    methods = dict.fromkeys(r["method"] for r in committed["runs"])
    for method in methods:
        old = [headline(r) for r in committed["runs"] if r["method"] == method]
        got = [headline(r) for r in new["runs"] if r["method"] == method]
        for name in old[0]:
            lo, hi = min(h[name] for h in old), max(h[name] for h in old)
            mean = sum(h[name] for h in got) / max(1, len(got))
            inside = bool(got) and lo - tolerance <= mean <= hi + tolerance
            ok &= inside
            mark = 'ok ' if inside else 'OFF'
            lines.append(f"{mark} {method:8s} {name:20s} {mean:7.3f}  committed {lo:.3f}-{hi:.3f}")
    return ok, lines


def main() -> int:
    new = json.loads(Path(sys.argv[1]).read_text())
    committed = json.loads(Path(sys.argv[2] if len(sys.argv) > 2 else COMMITTED).read_text())
    ok, lines = compare(new, committed)
    print("\n".join(lines))
    print("reproduces the committed run within seed spread" if ok else "does NOT reproduce the committed run")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
