"""Can the FD teacher read its privileged context? Its pass rate on the student's own failures
against the student's, on train shapes and near held-out shapes.

The measurement `lean_project/toy/warm_start.py` makes at its end (`warm_start.teacher_advantage`),
for any model: the student's samples from its prompt, verified by the bundled Lean; on each failed
one, FD's privileged text (the hint critic's hint, and Lean's verdict with `--feedback both`) placed
before the prompt as leanfd's trainer places it, and one sample of the same model from there.

    python bench/fd_small/teacher_gain.py lean_project/toy/warm_start [--names REGEX] [--samples 4] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "lean_project" / "toy"))
import warm_start  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--dataset", default=str(warm_start.DEFAULT_DATASET))
    ap.add_argument("--names", default=r"_0$", help="problems measured (regex on names; default: one per shape)")
    ap.add_argument("--samples", type=int, default=4, help="student samples per problem")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--feedback", default="llm", choices=("llm", "both"), help="as `leanfd train --feedback`")
    ap.add_argument("--out", help="also write the numbers to this JSON file")
    a = ap.parse_args()
    adv = warm_start.teacher_advantage(a.model, a.dataset, a.names, a.samples, a.seed, a.feedback)
    if a.out:
        Path(a.out).write_text(json.dumps(adv, indent=1) + "\n")
    print("\n".join(warm_start.advantage_lines(adv)))


if __name__ == "__main__":
    main()
