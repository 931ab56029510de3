"""One module per CLI command, each with `add_arguments(parser)` and `run(args) -> exit code`."""

from __future__ import annotations

import argparse


def lean_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lean", help="path to `lean`, or 'bundled'; default: LEANFD_LEAN, `lake env lean`, "
                   "`lean` on PATH, then the bundled runtime")
