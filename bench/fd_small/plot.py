"""The figure of the small FD/GRPO experiment: methods overlaid, mean over seeds and their spread
(min to max): entropy vs step, pass@1 vs step and pass@k vs k at the end on train shapes and on near
held-out shapes, training reward, the FD teacher's advantage and response length vs step.

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


def _pass_at_k_panel(ax, results: dict, where: str, pick) -> None:
    """pass@k vs k at the end per method, and the warm start's (measured with the final budget) in grey."""
    from leanfd.prove.report import pass_at_k_axes

    ks_seen: set[int] = set()
    for method, runs in _by_method(results).items():
        finals = [pick(r) for r in runs]
        if not all(finals):
            continue
        ks = sorted(int(k) for k in finals[0])
        ks_seen |= set(ks)
        _band(ax, method, ks, [[f[str(k)] for k in ks] for f in finals], 100)
    warm = pick(results["runs"][0]["curve"][0])
    if warm and len(warm) > 1:
        ks = sorted(int(k) for k in warm)
        ks_seen |= set(ks)
        _band(ax, "warm start", ks, [[warm[str(k)] for k in ks]], 100)
    pass_at_k_axes(ax, ks_seen or {1})
    ax.set_title(f"pass@k on {where}, at the end")


def plot(results: dict, path: str | Path) -> Path:
    import matplotlib.pyplot as plt

    fig = figure(results)
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def figure(results: dict):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(21, 8.5), dpi=100)
    (ent, p1, pk, near), (near1, rew, adv, length) = axes
    for method, runs in _by_method(results).items():
        steps = [c["step"] for c in runs[0]["curve"]]
        _band(ent, method, steps, [[c["entropy"] for c in r["curve"]] for r in runs])
        _band(p1, method, steps, [[c["pass@1"] for c in r["curve"]] for r in runs], 100)
        if all("near pass@1" in c for r in runs for c in r["curve"]):
            _band(near1, method, steps, [[c["near pass@1"] for c in r["curve"]] for r in runs], 100)
        tsteps = [m["step"] for m in runs[0]["train"]]
        _band(rew, method, tsteps, [[m["reward"] for m in r["train"]] for r in runs])
        if all(m.get("response_length") is not None for r in runs for m in r["train"]):
            _band(length, method, tsteps, [[m["response_length"] for m in r["train"]] for r in runs])
        # the teacher's advantage is measured at some FD steps only
        measured = [[(m["step"], m["teacher_advantage"]) for m in r["train"] if m.get("teacher_advantage") is not None]
                    for r in runs]
        if measured and all(len(m) == len(measured[0]) and m for m in measured):
            _band(adv, method, [s for s, _ in measured[0]], [[v for _, v in m] for m in measured], 100)
    ent.set(title="policy entropy, evaluated prompts", xlabel="step", ylabel="nats per token")
    p1.set(title="pass@1 on train shapes", xlabel="step", ylabel="pass@1 (%)", ylim=(0, 100))
    near1.set(title="pass@1 on near held-out shapes", xlabel="step", ylabel="pass@1 (%)", ylim=(0, 100))
    _pass_at_k_panel(pk, results, "train shapes", lambda r: r.get("by_holdout", {}).get("train"))
    _pass_at_k_panel(near, results, "near held-out shapes", lambda r: r.get("by_holdout", {}).get("near"))
    rew.set(title="training reward (proved share)", xlabel="step", ylabel="reward")
    adv.axhline(0, color="black", linewidth=0.8)
    adv.set(title="FD teacher's advantage (teacher - student pass rate)", xlabel="step", ylabel="points")
    length.set(title="response length, training samples", xlabel="step", ylabel="tokens")
    for ax in axes.flat:
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    plot(json.loads(Path(sys.argv[1]).read_text()), sys.argv[2])
