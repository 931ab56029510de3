"""One module per CLI command, each with `add_arguments(parser)` and `run(args) -> exit code`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TypeVar

from rich.console import Console

from leanfd.lean.records import BadLine, read_lines
from leanfd.lean.verifier import VerifierConfig

T = TypeVar("T")


def lean_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lean", help="path to `lean`, or 'bundled'; default: LEANFD_LEAN, `lake env lean`, "
                   "`lean` on PATH, then the bundled runtime")


def max_attempt_chars_argument(p: argparse.ArgumentParser) -> None:
    default = VerifierConfig.__dataclass_fields__["max_attempt_chars"].default
    p.add_argument("--max-attempt-chars", type=int, default=default, metavar="N",
                   help=f"reject unread a proof, code or .lean file longer than N characters (default: {default:,})")


def ray_address_argument(p: argparse.ArgumentParser) -> None:
    field = VerifierConfig.__dataclass_fields__["ray_address"]
    p.add_argument("--ray-address", default=field.default, metavar="ADDR", help=field.metadata["help"])


def report_bad(console: Console, bad: BadLine) -> None:
    console.print(f"[yellow]skipped[/] {bad.path}:{bad.line}: {bad.error}")


def read_good_lines(path: str, parse: Callable[[Any], T], console: Console) -> list[T]:
    """The lines of a JSONL file that `parse` accepts; the others are reported with their number."""
    good = []
    for _, item in read_lines(path, parse):
        if isinstance(item, BadLine):
            report_bad(console, item)
        else:
            good.append(item)
    return good
