"""Reports: pass@k tables of several runs side by side, and their curves in one plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.table import Table

from leanfd.lean.errors import InputError


def run_labels(run_dirs: list[str]) -> dict[str, str]:
    """A label per run directory: the shortest tail of its path that no other run shares
    (`runs/a/p1`, `runs/b/p1` -> `a/p1`, `b/p1`), so two runs with one folder name stay two rows.
    The same directory given twice is one run."""
    parts = {d: Path(d).resolve().parts for d in dict.fromkeys(run_dirs)}
    unique: dict[tuple[str, ...], str] = {}
    for d, p in parts.items():
        unique.setdefault(p, d)
    labels = {}
    for p, d in unique.items():
        for n in range(1, len(p) + 1):
            tail = p[-n:]
            if all(q == p or q[-n:] != tail for q in unique):
                break
        labels[d] = "/".join(tail) or d
    return labels


def load_summary(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / "summary.json"
    if not path.is_file():
        raise InputError(f"{run_dir}: no summary.json (is it the --out directory of `leanfd prove`?)")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:  # not JSON, or not UTF-8
        raise InputError(f"{path}: not a summary `leanfd prove` wrote ({e})") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("pass_at_k"), dict) \
            or not {"problems", "solved"} <= set(summary):
        raise InputError(f"{path}: not a summary `leanfd prove` wrote (expected an object with problems, solved "
                         "and pass_at_k)")
    if why := summary_error(summary):
        raise InputError(f"{path}: not a summary `leanfd prove` wrote: {why}")
    return summary


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def summary_error(summary: dict[str, Any]) -> str | None:
    """What is wrong with the fields a report reads, naming the field; None when they are right."""
    for key in ("problems", "solved"):
        if not _count(summary[key]):
            return f"field `{key}` must be a count (an integer, 0 or more), got {summary[key]!r:.60}"
    if "runs" in summary and not (_count(summary["runs"]) and summary["runs"] >= 1):
        return f"field `runs` must be a count of runs, got {summary['runs']!r:.60}"
    for k, v in summary["pass_at_k"].items():
        if not (k.isascii() and k.isdigit() and int(k) >= 1):
            return f"field `pass_at_k` has the key {k!r:.60}: each key is a k, an integer of 1 or more"
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            return f"field `pass_at_k.{k}` must be a fraction from 0 to 1, got {v!r:.60}"
    return None


def group_runs(labels: list[str], pattern: str | None) -> dict[str, list[str]]:
    """Run labels by group: `pattern`'s first group (else its whole match) names a run's group; a run
    it does not match is a group of its own. No pattern: every run alone."""
    import re

    groups: dict[str, list[str]] = {}
    rx = re.compile(pattern) if pattern else None
    for label in labels:
        m = rx.search(label) if rx else None
        name = (m.group(1) if m.re.groups else m.group(0)) if m else label
        groups.setdefault(name or label, []).append(label)
    return groups


def mean_summary(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs of one method (seeds) as one row: mean pass@k at the k every run has, with min and max."""
    ks = set.intersection(*(set(s["pass_at_k"]) for s in summaries))
    ks_sorted = sorted(ks, key=int)
    solved = sorted(s["solved"] for s in summaries)
    return {
        "runs": len(summaries), "problems": summaries[0]["problems"],
        "solved": str(solved[0]) if solved[0] == solved[-1] else f"{solved[0]}-{solved[-1]}",
        "pass_at_k": {k: sum(s["pass_at_k"][k] for s in summaries) / len(summaries) for k in ks_sorted},
        "min": {k: min(s["pass_at_k"][k] for s in summaries) for k in ks_sorted},
        "max": {k: max(s["pass_at_k"][k] for s in summaries) for k in ks_sorted},
    }


def table(summaries: dict[str, dict[str, Any]]) -> Table:
    ks = sorted({int(k) for s in summaries.values() for k in s["pass_at_k"]})
    t = Table(title="pass@k")
    t.add_column("run")
    t.add_column("problems", justify="right")
    t.add_column("solved", justify="right")
    for k in ks:
        t.add_column(f"pass@{k}", justify="right")
    for name, s in summaries.items():
        cells = [f"{100 * s['pass_at_k'][str(k)]:.1f}%" if str(k) in s["pass_at_k"] else "" for k in ks]
        runs = f" (n={s['runs']})" if s.get("runs", 1) > 1 else ""
        t.add_row(name + runs, str(s["problems"]), str(s["solved"]), *cells)
    return t


def run_dataset(run_dir: str | Path) -> str | None:
    """The dataset a prove run sampled, as its run.json names it (a file's name, a hub id); None when unknown."""
    try:
        source = json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))["inputs"]["dataset"]["source"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(source, str) or not source:
        return None
    return Path(source).name if Path(source).exists() else source


def plot_title(runs: dict[str, tuple[str | None, dict[str, Any]]]) -> str:
    """`pass@k on family.jsonl (n = 44 problems, k = 1-8)`: the dataset, its problem count and the k plotted;
    runs on different datasets are listed one after another. `runs`: name -> (dataset, summary)."""
    ks = sorted({int(k) for _, s in runs.values() for k in s["pass_at_k"]})
    where = list(dict.fromkeys(f"{d or 'an unnamed dataset'} (n = {s['problems']} problems" for d, s in runs.values()))
    k = f"k = {ks[0]}" if len(ks) == 1 else f"k = {ks[0]}-{ks[-1]}" if ks else "no k"
    return "pass@k on " + "; ".join(f"{w}, {k})" for w in where)


def y_range(values: list[float]) -> tuple[float, float]:
    """pass@k's axis in percent, from the data: every point inside with a margin of 15% of their spread
    (at least half a point), within 0-100, and at least 4 points tall, so curves at 2.3% and 4.5% are two
    curves, not two lines on the x-axis."""
    if not values:
        return 0.0, 100.0
    lo, hi = min(values), max(values)
    margin = max(0.15 * (hi - lo), 0.5)
    lo, hi = max(0.0, lo - margin), min(100.0, hi + margin)
    if hi - lo < 4:  # centred on the data, moved inside 0-100
        lo = min(max(0.0, (lo + hi) / 2 - 2), 96.0)
        hi = lo + 4
    return lo, hi


def pass_at_k_figure(curves: dict[str, dict[str, float]], title: str = "pass@k",
                     bands: dict[str, tuple[dict[str, float], dict[str, float]]] | None = None):
    """The figure of `plot_curves`, returned (matplotlib's Figure) so that a caller or a test reads its axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    drawn: list[float] = []
    for name, values in curves.items():
        ks = sorted(int(k) for k in values)
        ys = [100 * values[str(k)] for k in ks]
        (line,) = ax.plot(ks, ys, marker="o", label=name)
        drawn += ys
        if bands and name in bands:
            lo, hi = ([100 * b[str(k)] for k in ks] for b in bands[name])
            ax.fill_between(ks, lo, hi, color=line.get_color(), alpha=0.2)
            drawn += lo + hi
    pass_at_k_axes(ax, {int(k) for values in curves.values() for k in values})
    ax.set_ylim(*y_range(drawn))
    ax.set_title(title, fontsize="medium")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_curves(curves: dict[str, dict[str, float]], path: str | Path, title: str = "pass@k",
                bands: dict[str, tuple[dict[str, float], dict[str, float]]] | None = None) -> Path:
    """One line per run or group: pass@k against k (log2 axis), the comparison FD vs GRPO vs FD->GRPO;
    a group's line is its mean, with a band from `bands[name]` (min, max). The y-axis spans the data
    (`y_range`), so close curves stay apart."""
    import matplotlib.pyplot as plt

    fig = pass_at_k_figure(curves, title, bands)
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def pass_at_k_axes(ax, ks: set[int]) -> None:
    """Readable pass@k axes: k on a log2 axis ticked at the measured k only (integers), pass@k from 0 to
    100% (`pass_at_k_figure` then fits it to its data)."""
    from matplotlib.ticker import FixedLocator, NullLocator

    ticks = sorted(ks)
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([str(k) for k in ticks])
    if len(ticks) == 1:  # one k: a little room either side instead of a degenerate range
        ax.set_xlim(ticks[0] / 1.5, ticks[0] * 1.5)
    ax.set_ylim(0, 100)
    ax.set_xlabel("k (samples per problem)")
    ax.set_ylabel("pass@k (%)")
