"""`leanfd report`: pass@k of several runs side by side, and one plot of their curves."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from leanfd.lean.errors import ConfigError
from leanfd.options import opt
from leanfd.outputs import atomic_write_with, claim, refuse_same
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


def _report(args: argparse.Namespace) -> int:
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
    atomic_write_with(args.plot, lambda tmp: plot_curves(curves, tmp, bands=bands), "--plot")
    Console(stderr=True).print(f"plot: {args.plot}")
    return 0
