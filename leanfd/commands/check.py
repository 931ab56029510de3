"""`leanfd check`: verify JSONL records or .lean files, stream verdicts, summarise."""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from pathlib import Path
from typing import Any, Iterator, get_args

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

from leanfd.commands import lean_argument, max_attempt_chars_argument, ray_address_argument, report_bad
from leanfd.lean.errors import LeanFDError
from leanfd.lean.policy import DEFAULT_AXIOMS, Policy
from leanfd.lean.records import (
    STATUSES,
    BadLine,
    CheckRecord,
    LeanFile,
    Verdict,
    decode_utf8,
    read_jsonl,
)
from leanfd.lean.verifier import BackendName, Verifier, VerifierConfig
from leanfd.manifest import Manifest, check_resumable, sha256_json, verifier_settings
from leanfd.manifest import write as manifest_write
from leanfd.outputs import AtomicJsonl, Earlier, InOrder, has_content, refuse_clobber, refuse_same

Item = CheckRecord | LeanFile
KEY = "record_key"  # the output field naming the input record a verdict belongs to (`--resume`)


def validate_inputs(paths: list[str]) -> None:
    """Every PATH exists and is of a kind `check` reads: said before any output is opened."""
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise LeanFDError(f"{raw}: no such file or directory")
        if not path.is_dir() and path.suffix not in (".lean", ".jsonl", ".json"):
            raise LeanFDError(f"{raw}: expected a .jsonl file, a .lean file or a directory")


def count_inputs(paths: list[str]) -> int:
    """How many items `iter_inputs` will yield (records and malformed lines), counted without parsing
    or keeping them, so the progress bar's total is right from the start."""
    n = 0
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            n += sum(1 for _ in path.rglob("*.lean"))
        elif path.suffix == ".lean":
            n += 1
        else:
            with open(path, "rb") as fh:
                n += sum(1 for line in fh if line.strip())
    return n


def iter_inputs(paths: list[str]) -> Iterator[Item | BadLine]:
    """Records and files from every path, lazily and in order; a malformed line is a BadLine in its place."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for f in sorted(path.rglob("*.lean")):
                yield lean_file(f, str(f.relative_to(path).with_suffix("")))
        elif path.suffix == ".lean":
            yield lean_file(path, path.stem)
        else:
            for _, rec in read_jsonl(path):
                yield rec


def lean_file(path: Path, name: str) -> LeanFile | BadLine:
    """The file as a LeanFile, or a BadLine (line 0: the whole file) when it is not UTF-8."""
    try:
        return LeanFile(name=name, text=decode_utf8(path.read_bytes()), path=str(path))
    except ValueError as e:
        return BadLine(str(path), 0, str(e))


class RecordKeys:
    """A stable identity per input record: a hash of its content (a .lean file: its name and text),
    `#n` added for the n-th repeat of the same content, so two identical lines stay two records."""

    def __init__(self) -> None:
        self._seen: Counter = Counter()

    def __call__(self, item: Item) -> str:
        content = {"name": item.name, "text": item.text} if isinstance(item, LeanFile) else item.to_dict()
        digest = sha256_json(content)[:20]
        self._seen[digest] += 1
        n = self._seen[digest]
        return digest if n == 1 else f"{digest}#{n}"


def output_line(verdict: Verdict, item: Item, key: str) -> dict[str, Any]:
    """`name` and `status` first, then the verdict, the record key, then the input's own fields."""
    out = {"name": verdict.name, "status": verdict.status}
    out.update(verdict.to_dict())
    out[KEY] = key
    for k, v in item.to_dict().items():
        out.setdefault(k, v)
    return out


async def check_all(verifier: Verifier, items: Iterator[Item | BadLine], out: InOrder | None,
                    earlier: Earlier | None, console: Console, total: int, bad: list[BadLine]) -> Counter:
    """Check every item not already in `earlier`; lines go to `out` in input order."""
    counts: Counter = Counter()
    keys = RecordKeys()
    waiting: list[tuple[int, Item, str] | None] = []  # the i-th item sent to the verifier: position, item, key

    columns = (TextColumn("[bold]checking"), BarColumn(), MofNCompleteColumn(),
               TextColumn("proved {task.fields[proved]}"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("check", total=total, proved=0)

        def todo() -> Iterator[Item]:
            for pos, item in enumerate(items):
                if isinstance(item, BadLine):
                    bad.append(item)
                    report_bad(console, item)
                    if out is not None:
                        out.put(pos, None)
                    progress.advance(task)
                    continue
                key = keys(item)
                kept = earlier.take(key) if earlier is not None else None
                if kept is not None:
                    counts[kept[1]] += 1
                    out.put(pos, kept[0])  # type: ignore[union-attr]  # `earlier` comes with `out`
                    progress.update(task, advance=1, proved=counts["proved"])
                    continue
                waiting.append((pos, item, key))
                yield item

        async for i, verdict in verifier.check_many(todo()):
            pos, item, key = waiting[i]  # type: ignore[misc]
            waiting[i] = None  # release the record once its line is out
            counts[verdict.status] += 1
            if out is not None:
                out.put(pos, output_line(verdict, item, key))
            progress.update(task, advance=1, proved=counts["proved"])
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


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="a .jsonl of records {name, header, formal_statement, proof|code}, "
                        "a .lean file, or a directory of .lean files")
    p.add_argument("--backend", choices=get_args(BackendName), default="server",
                   help="cli: one `lean --json` per check; server: pooled `lean --server` keeping the header warm; "
                        "snapshot: one process per check from the header's saved state; "
                        "ray: over the nodes of a Ray cluster (--ray-address)")
    ray_address_argument(p)
    p.add_argument("--jobs", type=int, default=None, help="Lean processes at once (default: CPU count)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per check (wall clock)")
    p.add_argument("--memory", type=int, default=8192, help="memory cap per Lean process in MB")
    p.add_argument("--allow-axiom", action="append", default=None, metavar="NAME",
                   help="allowed axiom (repeatable); default: propext, Classical.choice, Quot.sound")
    p.add_argument("--out", help="write one JSON line per record, in input order: name, status, the verdict, "
                                 "record_key, the input fields")
    p.add_argument("--resume", action="store_true", help="keep the verdicts already in --out, check only the rest")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    max_attempt_chars_argument(p)
    lean_argument(p)


def settings(config: VerifierConfig, lean_version: str) -> dict[str, Any]:
    return {"verifier": verifier_settings(config, lean_version)}


def manifest_path(out: Path) -> Path:
    """Beside `--out`: NAME.run.json records the settings its verdicts were made with."""
    return out.with_name(out.name + ".run.json")


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    validate_inputs(args.paths)
    out_path = Path(args.out) if args.out else None
    if out_path is None and (args.resume or args.overwrite):
        raise LeanFDError("--resume and --overwrite apply to --out: give --out FILE.jsonl")
    if out_path is not None:
        refuse_same([("PATH", p) for p in args.paths], [("--out", out_path), ("--out", manifest_path(out_path))])
        refuse_clobber(out_path, "--out", args.resume, args.overwrite)
    policy = Policy(allowed_axioms=tuple(args.allow_axiom) if args.allow_axiom else DEFAULT_AXIOMS)
    config = VerifierConfig(backend=args.backend, jobs=args.jobs, timeout=args.timeout,
                            memory_mb=args.memory, lean=args.lean, policy=policy,
                            max_attempt_chars=args.max_attempt_chars, ray_address=args.ray_address)
    verifier = Verifier(config)
    console.print(f"Lean: {verifier.lean_version} ({verifier.toolchain.source}), backend {config.backend}")
    total = count_inputs(args.paths)
    bad: list[BadLine] = []
    if out_path is None:
        counts = asyncio.run(_check(verifier, args.paths, None, None, console, total, bad))
    else:
        manifest = Manifest(inputs={"paths": [str(Path(p).resolve()) for p in args.paths]},
                            settings=settings(config, verifier.lean_version))
        resuming = args.resume and has_content(out_path)
        if resuming:
            check_resumable(manifest_path(out_path), manifest, f"--out {out_path}", "--out")
        earlier = Earlier(out_path, KEY, STATUSES) if resuming else None
        if earlier is not None:
            console.print(f"resuming: {len(earlier.index)} verdicts kept from {out_path}")
        out = AtomicJsonl(out_path)
        ordered = InOrder(out)
        ok = False
        try:
            counts = asyncio.run(_check(verifier, args.paths, ordered, earlier, console, total, bad))
            ok = True
        finally:
            ordered.flush()
            if earlier is not None:
                for line in earlier.unused():  # a stopped run keeps what it was resumed from
                    out.write_raw(line)
                earlier.close()
            if ok or out.lines:  # the settings go with the verdicts they made, never ahead of them
                manifest_write(manifest_path(out_path), manifest)
            out.close(ok)
            if not ok and out.lines:
                console.print(f"{out_path}: {out.lines} verdicts kept; add --resume to check the rest")
    Console().print(summary(counts, len(bad)))
    total_done = sum(counts.values())
    return 0 if total_done > 0 and counts["proved"] == total_done and not bad else 1


async def _check(verifier: Verifier, paths: list[str], out: InOrder | None, earlier: Earlier | None,
                 console: Console, total: int, bad: list[BadLine]) -> Counter:
    async with verifier:
        return await check_all(verifier, iter_inputs(paths), out, earlier, console, total, bad)
