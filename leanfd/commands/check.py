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
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from leanfd.commands import report_bad
from leanfd.config import section
from leanfd.lean.errors import ConfigError, InputError, LeanNotFound
from leanfd.lean.policy import DEFAULT_AXIOMS, Policy
from leanfd.lean.records import (
    STATUSES,
    BadLine,
    CheckRecord,
    LeanFile,
    Unreadable,
    Verdict,
    lean_entries,
    not_regular,
    read_jsonl,
    read_lean_file,
)
from leanfd.lean.toolchain import Toolchain
from leanfd.lean.verifier import Verifier, VerifierConfig
from leanfd.manifest import Manifest, check_resumable, sha256_json, verifier_settings
from leanfd.manifest import write as manifest_write
from leanfd.options import opt
from leanfd.outputs import AtomicJsonl, Earlier, InOrder, claim, has_content, refuse_clobber, refuse_same

Item = CheckRecord | LeanFile
KEY = "record_key"  # the output field naming the input record a verdict belongs to (`--resume`)
# `crashed` is the machinery failing (a Lean killed, a protocol broken), not Lean's answer: checked again.
KEPT_ON_RESUME = tuple(s for s in STATUSES if s != "crashed")


# Lines shown per file and reason when records are skipped (a benchmark without proofs: one reason, every
# line), and not-proved records named when there is no --out to hold their verdicts.
SHOWN = 3
NAMED = 50


class Skipped(BadLine):
    """An entry named `*.lean` in a directory that is not a regular file leanfd can read (a directory,
    a broken link, a FIFO, a device, no permission), or a folder that cannot be listed: reported,
    counted, never opened."""


def validate_inputs(paths: list[str]) -> None:
    """Every PATH exists and is of a kind `check` reads: said before any output is opened."""
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise InputError(f"{raw}: no such file or directory")
        if path.is_dir():
            continue
        if path.suffix not in (".lean", ".jsonl", ".json"):
            raise InputError(f"{raw}: expected a .jsonl file, a .lean file or a directory")
        if kind := not_regular(path.stat().st_mode):  # a FIFO is never opened: reading it would wait for a writer
            raise InputError(f"{raw}: {kind}, not a regular file or a directory")
    for raw in paths:  # an input with nothing to check is a mistake to say, not a table of zeros
        path = Path(raw)
        if path.is_dir() and not lean_entries(path):
            raise InputError(f"{raw}: no .lean files in this directory (nor below it)")
        if path.is_file() and path.suffix != ".lean" and not _has_a_line(path):
            raise InputError(f"{raw}: empty: no records (one JSON object per line)")


def _has_a_line(path: Path) -> bool:
    with open(path, "rb") as fh:
        return any(line.strip() for line in fh)


def count_inputs(paths: list[str]) -> int:
    """How many items `iter_inputs` will yield (records and malformed lines), counted without parsing
    or keeping them, so the progress bar's total is right from the start."""
    n = 0
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            n += len(lean_entries(path))
        elif path.suffix == ".lean":
            n += 1
        else:
            with open(path, "rb") as fh:
                n += sum(1 for line in fh if line.strip())
    return n


def iter_inputs(paths: list[str], toolchain: Toolchain | None = None) -> Iterator[Item | BadLine]:
    """Records and files from every path, lazily and in order; a malformed line is a BadLine in its place.
    With `toolchain`, each JSONL record is yielded after `require_header` (its file and line named)."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for f, why in lean_entries(path):
                yield Skipped(str(f), 0, why) if why else lean_file(f, str(f.relative_to(path).with_suffix("")))
        elif path.suffix == ".lean":
            yield lean_file(path, path.stem)
        else:
            for line, rec in read_jsonl(path):
                if toolchain is not None and isinstance(rec, CheckRecord):
                    require_header(toolchain, rec, f"{raw}:{line}")
                yield rec


def lean_file(path: Path, name: str) -> LeanFile | BadLine:
    """The file as a LeanFile; Skipped when it is not a regular file it can read (never opened then);
    a BadLine (line 0: the whole file) when it is not UTF-8."""
    try:
        return LeanFile(name=name, text=read_lean_file(path), path=str(path))
    except Unreadable as e:
        return Skipped(str(path), 0, str(e))
    except ValueError as e:
        return BadLine(str(path), 0, str(e))


def require_header(toolchain: Toolchain, record: CheckRecord, where: str) -> None:
    """Lean must show it can import the record's header (once per header): a Lean that cannot stops
    the run with exit 3 before the record runs, since a dataset's records share their header. A record
    without a header that this Lean needs (the bundled runtime has not even `Init`) is the record's
    fault: an InputError naming its line and field. A .lean file is not asked: Lean's answer on its
    own header is that file's verdict (see `run` for a run in which Lean can import no file's header)."""
    if not record.header.strip() and toolchain.import_error(record.header) is not None:
        raise InputError(f"{where}: record {record.name!r} has no `header` field (or an empty one), and this Lean "
                         "cannot check a statement without one (the bundled runtime has no library, not even `Init`): "
                         "give each record the header its statement needs, e.g. \"header\": \"prelude\\n...\"")
    toolchain.require_imports(record.header, f"{where}: {record.name!r}")


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
                    earlier: Earlier | None, console: Console, total: int, bad: list[BadLine],
                    header_failed: list[tuple[str, str]]) -> Counter:
    """Check every item not already in `earlier`; lines go to `out` in input order. Malformed and
    skipped items go to `bad`; each .lean file whose own header Lean cannot elaborate is reported and
    goes to `header_failed` (its path, Lean's error)."""
    counts: Counter = Counter()
    keys = RecordKeys()
    reasons: Counter = Counter()  # (file, why) -> lines skipped for it: the first few are shown, then a count
    named = 0  # not-proved records named so far (without --out, nothing else names them)
    waiting: list[tuple[int, Item, str] | None] = []  # the i-th item sent to the verifier: position, item, key

    columns = (TextColumn("[bold]checking"), BarColumn(), MofNCompleteColumn(),
               TextColumn("proved {task.fields[proved]}"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("check", total=total, proved=0)

        def todo() -> Iterator[Item]:
            for pos, item in enumerate(items):
                if isinstance(item, BadLine):
                    bad.append(item)
                    reasons[(item.path, item.error)] += 1
                    if reasons[(item.path, item.error)] > SHOWN:
                        pass
                    elif isinstance(item, Skipped):
                        console.print(f"[yellow]skipped[/] {escape(item.path)}: {escape(item.error)}")
                    else:
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
            if isinstance(item, LeanFile) and (error := verdict.header_error) is not None:
                header_failed.append((item.path, error.text))
                report_header(console, item.path, verdict.status, error.text, verifier.toolchain.bundled)
            if out is not None:
                out.put(pos, output_line(verdict, item, key))
            elif not verdict.proved and not (isinstance(item, LeanFile) and verdict.header_error is not None):
                named += 1
                if named <= NAMED:
                    where = item.path if isinstance(item, LeanFile) else repr(item.name)
                    first = verdict.first_error.text.splitlines()[0] if verdict.first_error else verdict.reason
                    console.print(f"[yellow]{verdict.status}[/] {escape(where)}: {escape(first)}")
                elif named == NAMED + 1:
                    console.print("... more records not proved: give --out FILE.jsonl to keep every verdict")
            progress.update(task, advance=1, proved=counts["proved"])
    for (path, why), n in reasons.items():
        if n > SHOWN:
            console.print(f"[yellow]skipped[/] {escape(path)}: {n - SHOWN} more lines for the same reason "
                          f"({escape(why)})")
    return counts


def report_header(console: Console, path: str, status: str, error: str, bundled: bool) -> None:
    """One line for a .lean file whose own header Lean cannot elaborate: its verdict carries Lean's messages."""
    first = error.splitlines()[0] if error else "an error"
    note = " (the bundled Lean runtime takes only `prelude` as a header: it has no library)" if bundled else ""
    console.print(f"[yellow]{status}[/] {escape(path)}: Lean cannot elaborate its header{note}: {escape(first)}")


def summary(counts: Counter, bad: list[BadLine]) -> Table:
    table = Table(title="leanfd check")
    table.add_column("status")
    table.add_column("count", justify="right")
    for status in STATUSES:
        table.add_row(status, str(counts.get(status, 0)))
    skipped = sum(isinstance(b, Skipped) for b in bad)
    if len(bad) > skipped:
        table.add_row("malformed", str(len(bad) - skipped))
    if skipped:
        table.add_row("skipped", str(skipped))
    table.add_row("[bold]total", str(sum(counts.values()) + len(bad)))
    return table


@dataclass(frozen=True)
class CheckOptions:
    """`leanfd check`'s options; the verifier's are `VerifierConfig`'s, as in every command."""

    paths: tuple[str, ...] = opt((), "a .jsonl of records {name, header, formal_statement, proof|code}, a .lean "
                                     "file, or a directory of .lean files", positional=True, metavar="PATH", path="any")
    out: str | None = opt(None, "write one JSON line per record, in input order: name, status, the verdict, "
                                "record_key, the input fields", metavar="FILE")
    resume: bool = opt(False, "keep the verdicts already in --out, check only the rest (and the crashed ones "
                              "again)", store_true=True)
    overwrite: bool = opt(False, "replace a non-empty --out", store_true=True)
    allow_axiom: tuple[str, ...] = opt((), "allowed axiom (repeatable); default: propext, Classical.choice, "
                                           "Quot.sound", repeat=True, metavar="NAME")
    verifier: VerifierConfig = section(VerifierConfig, "Lean", prefix="verifier_")


OPTIONS = CheckOptions
# The short names `check` had before every command named the verifier's options alike; kept for a release.
ALIASES = {"verifier_backend": ("--backend",), "verifier_jobs": ("--jobs",), "verifier_timeout": ("--timeout",),
           "verifier_memory_mb": ("--memory",), "verifier_ray_address": ("--ray-address",)}


def settings(config: VerifierConfig, lean_version: str) -> dict[str, Any]:
    return {"verifier": verifier_settings(config, lean_version)}


def manifest_path(out: Path) -> Path:
    """Beside `--out`: NAME.run.json records the settings its verdicts were made with."""
    return out.with_name(out.name + ".run.json")


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    opts: CheckOptions = args.options
    paths = list(opts.paths)
    validate_inputs(paths)
    out_path = Path(opts.out) if opts.out else None
    if out_path is None and (opts.resume or opts.overwrite):
        raise ConfigError("--resume and --overwrite apply to --out: give --out FILE.jsonl")
    if out_path is not None:
        refuse_same([("PATH", p) for p in paths], [("--out", out_path), ("--out", manifest_path(out_path))])
    # --out: a regular file (or none yet), this process its only writer until the run ends, room for the verdicts
    with claim(out_path, "--out", need=output_bytes(paths, out_path, opts.resume)):
        if out_path is not None:
            refuse_clobber(out_path, "--out", opts.resume, opts.overwrite)
        return _run(opts, paths, out_path, console)


def output_bytes(paths: list[str], out: Path | None, resume: bool) -> int:
    """Bytes the output needs at least: each verdict line holds its record's fields (a .lean file's text),
    and a resumed output is rewritten beside the old one."""
    need = sum(Path(p).stat().st_size for p in paths if Path(p).is_file())
    return need + (out.stat().st_size if resume and out is not None and out.is_file() else 0)


def _run(opts: CheckOptions, paths: list[str], out_path: Path | None, console: Console) -> int:
    policy = Policy(allowed_axioms=opts.allow_axiom or DEFAULT_AXIOMS)
    config = dataclasses.replace(opts.verifier, policy=policy)
    verifier = Verifier(config)
    console.print(f"Lean: {verifier.lean_version} ({verifier.toolchain.source}), backend {config.backend}")
    total = count_inputs(paths)
    bad: list[BadLine] = []
    header_failed: list[tuple[str, str]] = []
    if out_path is None:
        counts = asyncio.run(_check(verifier, paths, None, None, console, total, bad, header_failed))
    else:
        manifest = Manifest(inputs={"paths": [str(Path(p).resolve()) for p in paths]},
                            settings=settings(config, verifier.lean_version))
        resuming = opts.resume and has_content(out_path)
        if resuming:
            check_resumable(manifest_path(out_path), manifest, f"--out {out_path}", "--out")
        earlier = Earlier(out_path, KEY, KEPT_ON_RESUME) if resuming else None
        if earlier is not None:
            console.print(f"resuming: {len(earlier.index)} verdicts kept from {out_path}")
        out = AtomicJsonl(out_path)
        ordered = InOrder(out)
        ok = False
        try:
            counts = asyncio.run(_check(verifier, paths, ordered, earlier, console, total, bad, header_failed))
            ok = True
        finally:
            ordered.flush()
            if earlier is not None:
                for line in earlier.unused():  # a stopped run keeps what it was resumed from
                    out.write_raw(line)
                earlier.close()
            try:
                if out.keeps(ok):  # the settings go with the verdicts they made, never ahead of them
                    manifest_write(manifest_path(out_path), manifest, "--out")
            except BaseException:
                out.discard()  # verdicts without their settings could never be resumed
                raise
            out.close(ok)
            if not ok and out.keeps(ok):
                console.print(f"{out_path}: {out.lines} verdicts kept; add --resume to check the rest")
    Console().print(summary(counts, bad))
    total_done = sum(counts.values())
    if header_failed and len(header_failed) == total_done:
        # Each file has its verdict; but Lean elaborated no header at all (the bundled runtime and
        # `import Mathlib`): that is a Lean unusable for these files, as for a record's header.
        path, error = header_failed[0]
        more = len(header_failed) - 1
        where = f"{path} (and {more} other .lean file{'s' * (more > 1)})" if more else path
        raise LeanNotFound(verifier.toolchain.cannot_import(where, error))
    return 0 if total_done > 0 and counts["proved"] == total_done and not bad else 1


async def _check(verifier: Verifier, paths: list[str], out: InOrder | None, earlier: Earlier | None,
                 console: Console, total: int, bad: list[BadLine], header_failed: list[tuple[str, str]]) -> Counter:
    items = iter_inputs(paths, verifier.toolchain)
    async with verifier:
        return await check_all(verifier, items, out, earlier, console, total, bad, header_failed)
