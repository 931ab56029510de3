"""`leanfd report`: pass@k of several runs side by side, and one plot of their curves."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from leanfd.lean.errors import ConfigError, InputError
from leanfd.options import opt
from leanfd.outputs import atomic_write_with, claim, refuse_same
from leanfd.prove.report import (
    group_runs,
    load_summary,
    mean_summary,
    plot_curves,
    plot_title,
    run_dataset,
    run_labels,
    table,
)


@dataclass(frozen=True)
class ReportOptions:
    """`leanfd report`'s options."""

    runs: tuple[str, ...] = opt((), "output directories of `leanfd prove` (for a `leanfd train` run, prove its "
                                    "final/ model first: `leanfd prove --model RUN/final --out EVAL ...`)",
                                positional=True, metavar="DIR")
    plot: str = opt("pass_at_k.png", "where to write the comparison plot", metavar="FILE")
    json: bool = opt(False, "print the table as JSON instead", store_true=True)
    group: str | None = opt(None, "runs whose names this regex maps to one name (its first group, else the match) "
                                  "are one curve: their mean, with a band from min to max (e.g. seeds of one method: "
                                  "'(.*)-s[0-9]+$')", metavar="REGEX", regex=True)


OPTIONS = ReportOptions


def run(args: argparse.Namespace) -> int:
    import matplotlib  # noqa: F401  - the plot's library, before anything is printed: a missing extra stops first

    refuse_same([("DIR", Path(d) / "summary.json") for d in args.runs], [("--plot", args.plot)])
    with claim(args.plot, "--plot"):  # a regular file (or none yet), written by this process only
        refuse_format(args.plot)
        return _report(args)


def refuse_format(plot: str) -> None:
    """The suffix names the format: one matplotlib cannot write, or none (matplotlib would add one and
    write another file than --plot), is said before the table."""
    from matplotlib.backend_bases import FigureCanvasBase

    suffix = Path(plot).suffix.lstrip(".").lower()
    formats = FigureCanvasBase.get_supported_filetypes()
    if suffix not in formats:
        what = f"matplotlib cannot write .{suffix} files" if suffix else "no suffix to name the format"
        raise ConfigError(f"--plot {plot}: {what}; give a name ending in "
                          f"{', '.join('.' + f for f in sorted(formats))}")


def refuse_train_run(run_dir: str) -> None:
    """A `leanfd train` output directory holds a model, not pass@k: say how to get its pass@k."""
    d = Path(run_dir)
    if not (d / "summary.json").exists() and ((d / "metrics.jsonl").is_file() or (d / "final").is_dir()):
        raise InputError(f"{run_dir} is a `leanfd train` run, which holds a model, not pass@k: prove its final model "
                         f"first (`leanfd prove --dataset DATA --model {d / 'final'} --out {d}-eval`) and report "
                         f"{d}-eval")


def _report(args: argparse.Namespace) -> int:
    for d in args.runs:
        refuse_train_run(d)
    labels = run_labels(args.runs)
    summaries = {label: load_summary(d) for d, label in labels.items()}
    datasets = {label: run_dataset(d) for d, label in labels.items()}
    groups = group_runs(list(summaries), args.group)
    if args.group:
        summaries = {name: mean_summary([summaries[r] for r in runs]) for name, runs in groups.items()}
        datasets = {name: datasets[runs[0]] for name, runs in groups.items()}
    if args.json:
        import json

        print(json.dumps({name: s["pass_at_k"] for name, s in summaries.items()} if not args.group else
                         {name: {"runs": groups[name], "pass_at_k": s["pass_at_k"], "min": s["min"], "max": s["max"]}
                          for name, s in summaries.items()}, indent=1))
    else:
        Console().print(table(summaries))
    curves = {name: s["pass_at_k"] for name, s in summaries.items() if s["pass_at_k"]}
    bands = {name: (s["min"], s["max"]) for name, s in summaries.items() if s.get("runs", 1) > 1}
    title = plot_title({name: (datasets[name], summaries[name]) for name in curves})
    atomic_write_with(args.plot, lambda tmp: plot_curves(curves, tmp, title=title, bands=bands), "--plot")
    Console(stderr=True).print(f"plot: {args.plot}")
    return 0
