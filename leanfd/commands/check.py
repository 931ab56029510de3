"""`leanfd check`: verify JSONL records or .lean files, stream verdicts, summarise."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from leanfd.commands import importable, report_bad
from leanfd.config import section
from leanfd.lean.errors import LeanFDError
from leanfd.lean.policy import DEFAULT_AXIOMS, Policy
from leanfd.lean.records import (
    STATUSES,
    BadLine,
    CheckRecord,
    JsonlWriter,
    LeanFile,
    Verdict,
    decode_utf8,
    read_jsonl,
)
from leanfd.lean.verifier import Verifier, VerifierConfig
from leanfd.options import opt

Item = CheckRecord | LeanFile


def iter_inputs(paths: list[str], bad: list[BadLine]) -> Iterator[Item]:
    """Records and files from every path, lazily; malformed lines go to `bad` and are skipped."""
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise LeanFDError(f"{raw}: no such file or directory")
        if path.is_dir():
            for f in sorted(path.rglob("*.lean")):
                yield from lean_file(f, str(f.relative_to(path).with_suffix("")), bad)
        elif path.suffix == ".lean":
            yield from lean_file(path, path.stem, bad)
        elif path.suffix in (".jsonl", ".json"):
            for _, rec in read_jsonl(path):
                if isinstance(rec, BadLine):
                    bad.append(rec)
                else:
                    yield rec
        else:
            raise LeanFDError(f"{raw}: expected a .jsonl file, a .lean file or a directory")


def lean_file(path: Path, name: str, bad: list[BadLine]) -> Iterator[LeanFile]:
    """The file as a LeanFile, or a BadLine (line 0: the whole file) when it is not UTF-8."""
    try:
        yield LeanFile(name=name, text=decode_utf8(path.read_bytes()), path=str(path))
    except ValueError as e:
        bad.append(BadLine(str(path), 0, str(e)))


def output_line(verdict: Verdict, item: Item) -> dict[str, Any]:
    """`name` and `status` first, then the verdict, then the input's own fields."""
    out = {"name": verdict.name, "status": verdict.status}
    out.update(verdict.to_dict())
    for k, v in item.to_dict().items():
        out.setdefault(k, v)
    return out


async def check_all(verifier: Verifier, items: Iterator[Item], out: JsonlWriter | None, console: Console,
                    bad: list[BadLine]) -> Counter:
    counts: Counter = Counter()
    seen: list[Item] = []

    def remember() -> Iterator[Item]:
        for it in items:
            seen.append(it)
            yield it

    columns = (TextColumn("[bold]checking"), BarColumn(), MofNCompleteColumn(),
               TextColumn("proved {task.fields[proved]}"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("check", total=None, proved=0)
        async for i, verdict in verifier.check_many(remember()):
            counts[verdict.status] += 1
            if out is not None:
                out.write(output_line(verdict, seen[i]))  # at once and whole: an interrupted run keeps it
            progress.update(task, advance=1, proved=counts["proved"], total=len(seen))
            seen[i] = None  # type: ignore[call-overload]  # release the record once written
        for b in bad:
            report_bad(console, b)
    return counts


def summary(counts: Counter, bad: int) -> Table:
    table = Table(title="leanfd check")
    table.add_column("status")
    table.add_column("count", justify="right")
    for status in STATUSES:
        table.add_row(status, str(counts.get(status, 0)))
    if bad:
        table.add_row("malformed", str(bad))
    table.add_row("[bold]total", str(sum(counts.values()) + bad))
    return table


@dataclass(frozen=True)
class CheckOptions:
    """`leanfd check`'s options; the verifier's are `VerifierConfig`'s, as in every command."""

    paths: tuple[str, ...] = opt((), "a .jsonl of records {name, header, formal_statement, proof|code}, a .lean "
                                     "file, or a directory of .lean files", positional=True, metavar="PATH", path="any")
    out: str | None = opt(None, "write one JSON line per record: name, status, the verdict, the input fields",
                          metavar="FILE")
    allow_axiom: tuple[str, ...] = opt((), "allowed axiom (repeatable); default: propext, Classical.choice, "
                                           "Quot.sound", repeat=True, metavar="NAME")
    verifier: VerifierConfig = section(VerifierConfig, "Lean", prefix="verifier_")


OPTIONS = CheckOptions
# The short names `check` had before every command named the verifier's options alike; kept for a release.
ALIASES = {"verifier_backend": ("--backend",), "verifier_jobs": ("--jobs",), "verifier_timeout": ("--timeout",),
           "verifier_memory_mb": ("--memory",), "verifier_ray_address": ("--ray-address",)}


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    opts: CheckOptions = args.options
    policy = Policy(allowed_axioms=opts.allow_axiom or DEFAULT_AXIOMS)
    config = dataclasses.replace(opts.verifier, policy=policy)
    bad: list[BadLine] = []
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    out = JsonlWriter(args.out) if args.out else None
    try:
        verifier = Verifier(config)
        console.print(f"Lean: {verifier.lean_version} ({verifier.toolchain.source}), backend {config.backend}")
        items = importable(iter_inputs(list(opts.paths), bad), verifier.toolchain, " ".join(opts.paths))

        async def go() -> Counter:
            async with verifier:
                return await check_all(verifier, items, out, console, bad)

        counts = asyncio.run(go())
    finally:
        if out is not None:
            out.close()
    Console().print(summary(counts, len(bad)))
    total = sum(counts.values())
    return 0 if total > 0 and counts["proved"] == total and not bad else 1
