"""`leanfd report`: pass@k of several runs side by side, and one plot of their curves."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from leanfd.options import opt
from leanfd.outputs import atomic_write_with, refuse_same
from leanfd.prove.report import load_summary, plot_curves, run_labels, table


@dataclass(frozen=True)
class ReportOptions:
    """`leanfd report`'s options."""

    runs: tuple[str, ...] = opt((), "output directories of `leanfd prove`", positional=True, metavar="DIR")
    plot: str = opt("pass_at_k.png", "where to write the comparison plot", metavar="FILE")
    json: bool = opt(False, "print the table as JSON instead", store_true=True)


OPTIONS = ReportOptions


def run(args: argparse.Namespace) -> int:
    import matplotlib  # noqa: F401  - the plot's library, before anything is printed: a missing extra stops first

    refuse_same([("DIR", Path(d) / "summary.json") for d in args.runs], [("--plot", args.plot)])
    summaries = {label: load_summary(d) for d, label in run_labels(args.runs).items()}
    if args.json:
        import json

        print(json.dumps({name: s["pass_at_k"] for name, s in summaries.items()}, indent=1))
    else:
        Console().print(table(summaries))
    curves = {name: s["pass_at_k"] for name, s in summaries.items() if s["pass_at_k"]}
    atomic_write_with(args.plot, lambda tmp: plot_curves(curves, tmp))
    Console(stderr=True).print(f"plot: {args.plot}")
    return 0
