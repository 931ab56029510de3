"""`leanfd report`: pass@k of several runs side by side, and one plot of their curves."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from leanfd.options import opt
from leanfd.outputs import atomic_write_with, refuse_same
from leanfd.prove.report import group_runs, load_summary, mean_summary, plot_curves, run_labels, table


@dataclass(frozen=True)
class ReportOptions:
    """`leanfd report`'s options."""

    runs: tuple[str, ...] = opt((), "output directories of `leanfd prove`", positional=True, metavar="DIR")
    plot: str = opt("pass_at_k.png", "where to write the comparison plot", metavar="FILE")
    json: bool = opt(False, "print the table as JSON instead", store_true=True)
    group: str | None = opt(None, "runs whose names this regex maps to one name (its first group, else the match) "
                                  "are one curve: their mean, with a band from min to max (e.g. seeds of one method: "
                                  "'(.*)-s[0-9]+$')", metavar="REGEX", regex=True)


OPTIONS = ReportOptions


def run(args: argparse.Namespace) -> int:
    import matplotlib  # noqa: F401  - the plot's library, before anything is printed: a missing extra stops first

    refuse_same([("DIR", Path(d) / "summary.json") for d in args.runs], [("--plot", args.plot)])
    summaries = {label: load_summary(d) for d, label in run_labels(args.runs).items()}
    groups = group_runs(list(summaries), args.group)
    if args.group:
        summaries = {name: mean_summary([summaries[r] for r in runs]) for name, runs in groups.items()}
    if args.json:
        import json

        print(json.dumps({name: s["pass_at_k"] for name, s in summaries.items()} if not args.group else
                         {name: {"runs": groups[name], "pass_at_k": s["pass_at_k"], "min": s["min"], "max": s["max"]}
                          for name, s in summaries.items()}, indent=1))
    else:
        Console().print(table(summaries))
    curves = {name: s["pass_at_k"] for name, s in summaries.items() if s["pass_at_k"]}
    bands = {name: (s["min"], s["max"]) for name, s in summaries.items() if s.get("runs", 1) > 1}
    atomic_write_with(args.plot, lambda tmp: plot_curves(curves, tmp, bands=bands))
    Console(stderr=True).print(f"plot: {args.plot}")
    return 0
