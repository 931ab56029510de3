"""`leanfd report`: pass@k of several runs side by side, and one plot of their curves."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from leanfd.outputs import atomic_write_with, refuse_same
from leanfd.prove.report import load_summary, plot_curves, run_labels, table


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", metavar="DIR", help="output directories of `leanfd prove`")
    p.add_argument("--plot", default="pass_at_k.png", help="where to write the comparison plot")
    p.add_argument("--json", action="store_true", help="print the table as JSON instead")


def run(args: argparse.Namespace) -> int:
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
