"""Output files that never destroy work.

Rules every command follows (docs/options.md, "Outputs are never lost"):
- inputs are validated before any output is opened, and an input that is also an output (the same
  path once resolved, or the same file under another name) is refused;
- an output that already holds something is refused unless `--resume` (keep it, add what is
  missing) or `--overwrite` (replace it) is given;
- a file output is written beside its final name (`.NAME.partial`) and renamed over NAME when the
  command ends, also when it is stopped (Ctrl-C, SIGTERM, SIGHUP), so what was done is kept; a run
  stopped with nothing written leaves the old NAME as it was. A SIGKILL leaves NAME untouched and
  the partial file beside it.
`InOrder` writes lines in input order though they finish in any order; `Earlier` finds the lines
of an earlier output by key, for `--resume`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leanfd.lean.errors import LeanFDError
from leanfd.lean.records import JsonlWriter

log = logging.getLogger(__name__)


class OutputError(LeanFDError):
    """An output would destroy something: the message names it and the option that allows it."""


def _same(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def refuse_same(inputs: Iterable[tuple[str, str | os.PathLike | None]],
                outputs: Iterable[tuple[str, str | os.PathLike | None]]) -> None:
    """Raise when an input is also an output; each side is (what the user called it, path or None)."""
    outs = [(name, Path(p)) for name, p in outputs if p is not None]
    for in_name, raw in inputs:
        if raw is None:
            continue
        for out_name, out in outs:
            if _same(Path(raw), out):
                raise OutputError(f"{in_name} {raw} is also the output {out_name} {out}: writing it would "
                                  f"destroy the input; choose another {out_name}")


def has_content(path: Path) -> bool:
    """A non-empty file, or a directory holding anything."""
    if path.is_dir():
        return any(path.iterdir())
    return path.is_file() and path.stat().st_size > 0


def refuse_clobber(path: Path, option: str, resume: bool, overwrite: bool) -> None:
    """An existing, non-empty output needs `--resume` or `--overwrite`, never silent replacement."""
    if resume and overwrite:
        raise OutputError("--resume keeps the output and --overwrite replaces it: give one of them")
    if has_content(path) and not (resume or overwrite):
        kind = "directory" if path.is_dir() else "file"
        raise OutputError(f"{option} {path}: the {kind} already holds results; add --resume to keep them and "
                          f"do only what is missing, or --overwrite to replace them")


def partial_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write `text` to `path` all at once: a reader sees the old file or the new one, never half."""
    path = Path(path)
    tmp = partial_path(path)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def atomic_write_with(path: str | Path, write: Any) -> None:
    """`write(temporary path)` then rename it over `path` (for writers that want a path, e.g. a plot);
    the temporary name keeps the suffix, which some writers read to choose the format."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class AtomicJsonl:
    """JSON lines streamed to `.NAME.partial`, renamed over NAME by `close()`.

    Each line is whole on disk when `write` returns (see `JsonlWriter`). `close(ok)` renames when
    the command succeeded or something was written (an interrupted run keeps its work); otherwise
    the partial file is removed and NAME is left as it was.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = partial_path(self.path)
        self._writer = JsonlWriter(self.tmp, "w")
        self.lines = 0

    def write(self, obj: Any) -> None:
        self._writer.write(obj)
        self.lines += 1

    def write_raw(self, line: bytes) -> None:
        """A line kept verbatim from an earlier output (`--resume`); it ends with a newline."""
        self._writer.write_bytes(line if line.endswith(b"\n") else line + b"\n")
        self.lines += 1

    def close(self, ok: bool = True) -> None:
        self._writer.close()
        if ok or self.lines:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> AtomicJsonl:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(ok=exc_type is None)


@dataclass(frozen=True)
class Kept:
    """Where one line of an earlier output is, and its status."""

    offset: int
    length: int
    status: str


class Earlier:
    """The lines of an earlier output, indexed by their `key` field without holding them in memory
    (`--resume`); a line without one, or torn (a killed run's last), is left out."""

    def __init__(self, path: Path, key_field: str, statuses: tuple[str, ...]):
        self.path = path
        self.index: dict[str, Kept] = {}
        offset = 0
        with open(path, "rb") as fh:
            for raw in fh:
                try:
                    line = json.loads(raw)
                    key, status = line[key_field], line["status"]
                except (ValueError, KeyError, TypeError):  # a torn last line, or not a verdict of ours
                    key = status = None
                if isinstance(key, str) and status in statuses and raw.endswith(b"\n"):
                    self.index.setdefault(key, Kept(offset, len(raw), status))
                offset += len(raw)
        self._fh = open(path, "rb")
        self.used: set[str] = set()

    def take(self, key: str) -> tuple[bytes, str] | None:
        kept = self.index.get(key)
        if kept is None or key in self.used:
            return None
        self.used.add(key)
        return self._read(kept), kept.status

    def _read(self, kept: Kept) -> bytes:
        self._fh.seek(kept.offset)
        return self._fh.read(kept.length)

    def unused(self) -> Iterator[bytes]:
        """Lines not taken (records no longer in the input, or not reached yet), in their old order."""
        for key, kept in sorted(self.index.items(), key=lambda kv: kv[1].offset):
            if key not in self.used:
                self.used.add(key)
                yield self._read(kept)

    def close(self) -> None:
        self._fh.close()


class InOrder:
    """Writes lines in input order although checks finish in any order: a line waits until every
    line before it is written. `flush()` writes whatever waits, gaps and all (a stopped run)."""

    def __init__(self, out: AtomicJsonl):
        self.out = out
        self.next = 0
        self.waiting: dict[int, dict | bytes | None] = {}

    def put(self, pos: int, line: dict | bytes | None) -> None:
        """`line`: a verdict line, one kept verbatim, or None for an input with no line (malformed)."""
        self.waiting[pos] = line
        while self.next in self.waiting:
            self._write(self.waiting.pop(self.next))
            self.next += 1

    def flush(self) -> None:
        for pos in sorted(self.waiting):
            self._write(self.waiting.pop(pos))

    def _write(self, line: dict | bytes | None) -> None:
        if isinstance(line, bytes):
            self.out.write_raw(line)
        elif line is not None:
            self.out.write(line)
