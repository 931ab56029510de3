"""The figure of the small FD/GRPO experiment: methods overlaid, mean over seeds and their spread
(min to max): held-out entropy vs step, pass@1 vs step, pass@k vs k at the end, training reward vs step.

    python bench/fd_small/plot.py runs/fd_small/results.json docs/fd_small.png
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

COLORS = {"fd": "tab:blue", "grpo": "tab:orange", "fd+grpo": "tab:green", "warm start": "tab:gray"}


def _band(ax, method: str, xs: list, ys_by_seed: list[list[float]], scale: float = 1.0) -> None:
    import numpy as np

    ys = np.array(ys_by_seed, dtype=float) * scale  # (seeds, points)
    color = COLORS.get(method)
    ax.plot(xs, ys.mean(0), marker="o", color=color, label=f"{method} (n={len(ys)})")
    ax.fill_between(xs, ys.min(0), ys.max(0), color=color, alpha=0.2)


def _by_method(results: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for r in results["runs"]:
        out[r["method"]].append(r)
    return out


def plot(results: dict, path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from leanfd.prove.report import pass_at_k_axes

    split = results.get("settings", {}).get("eval_split", "test")
    where = "held-out shapes" if split == "test" else "train shapes"
    fig, axes = plt.subplots(1, 4, figsize=(18, 4), dpi=110)
    ent, p1, pk, rew = axes
    for method, runs in _by_method(results).items():
        steps = [c["step"] for c in runs[0]["curve"]]
        _band(ent, method, steps, [[c["entropy"] for c in r["curve"]] for r in runs])
        _band(p1, method, steps, [[c["pass@1"] for c in r["curve"]] for r in runs], 100)
        ks = sorted(int(k) for k in runs[0]["pass_at_k"])
        _band(pk, method, ks, [[r["pass_at_k"][str(k)] for k in ks] for r in runs], 100)
        tsteps = [m["step"] for m in runs[0]["train"]]
        _band(rew, method, tsteps, [[m["reward"] for m in r["train"]] for r in runs])
    ent.set(title="policy entropy, held-out prompts", xlabel="step", ylabel="nats per token")
    p1.set(title=f"pass@1 on {where}", xlabel="step", ylabel="pass@1 (%)", ylim=(0, 100))
    warm = [r["curve"][0].get("pass_at_k", {}) for r in results["runs"] if r["method"] == runs[0]["method"]]
    if warm and all(len(w) > 1 for w in warm):  # the warm start's own pass@k (measured with the final budget)
        ks = sorted(int(k) for k in warm[0])
        _band(pk, "warm start", ks, [[w[str(k)] for k in ks] for w in warm], 100)
    pass_at_k_axes(pk, {int(k) for r in results["runs"] for k in r["pass_at_k"]})
    pk.set_title(f"pass@k on {where}, at the end")
    rew.set(title="training reward (proved share)", xlabel="step", ylabel="reward")
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


if __name__ == "__main__":
    plot(json.loads(Path(sys.argv[1]).read_text()), sys.argv[2])
