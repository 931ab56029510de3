"""Output files that never destroy work.

Rules every command follows (docs/options.md, "Outputs are never lost"):
- inputs are validated before any output is opened, and an input that is also an output (the same
  path once resolved, or the same file under another name) is refused;
- an output that already holds something is refused unless `--resume` (keep it, add what is
  missing) or `--overwrite` (replace it) is given;
- a file output is written beside its final name (`.NAME.partial`) and renamed over NAME when the
  command ends, also when it is stopped (Ctrl-C, SIGTERM, SIGHUP), so what was done is kept; a run
  stopped with nothing written leaves the old NAME as it was. A SIGKILL leaves NAME untouched and
  the partial file beside it;
- an output is a regular file or a directory (a link to one is followed), never a FIFO, a device or
  a broken link, and one process writes it at a time: `claim` checks this, the parent folder and
  the free space before any work, and holds a lock beside the output (`.NAME.lock`, with the
  holder's pid) until the run ends;
- a write that fails (a full disk) names the user's option and path, leaves NAME as it was and
  removes the partial file.
`InOrder` writes lines in input order though they finish in any order; `Earlier` finds the lines
of an earlier output by key, for `--resume`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from leanfd.lean.errors import LeanFDError
from leanfd.lean.records import JsonlWriter, not_regular

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


def refuse_clobber(path: Path, option: str, resume: bool | None, overwrite: bool) -> None:
    """An existing, non-empty output needs `--resume` or `--overwrite`, never silent replacement.
    `resume` None: the command has no `--resume`, and the message offers only `--overwrite`."""
    if resume and overwrite:
        raise OutputError("--resume keeps the output and --overwrite replaces it: give one of them")
    if has_content(path) and not (resume or overwrite):
        kind = "directory" if path.is_dir() else "file"
        fix = ("add --overwrite to replace them, or give another " + option if resume is None else
               "add --resume to keep them and do only what is missing, or --overwrite to replace them")
        raise OutputError(f"{option} {path}: the {kind} already holds results; {fix}")


def partial_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


# Less free space than this where an output goes and a run is refused before it starts: no output of
# leanfd is useful in less, and the check costs one statvfs.
MIN_FREE = 1 << 20


def _size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n / 1024:.0f} KiB"


def cannot_write(option: str, shown: str | Path, e: OSError, kept: str = "") -> OutputError:
    """The message for a write that failed: the user's option and path, the system's reason, what is kept."""
    kept = kept or f"{shown} was left as it was and this run's results were not kept"
    return OutputError(f"{option} {shown}: cannot write it: {e.strerror or e}; {kept}: free space on its file "
                       f"system or give another {option}, then run again")


@contextlib.contextmanager
def written(option: str, shown: str | Path, kept: str = "") -> Iterator[None]:
    """Within it, a write refused by the file system (full, over quota, read-only, over RLIMIT_FSIZE)
    is an OutputError naming `option` and `shown` (for writers that are not `AtomicJsonl`); `kept`
    says what the failed run leaves (default: nothing)."""
    try:
        yield
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS):
            raise
        raise cannot_write(option, shown, e, kept) from None


def _kind(mode: int) -> str:
    return "a regular file" if stat.S_ISREG(mode) else not_regular(mode) or "not a regular file"


def output_target(path: str | Path, option: str, kind: Literal["file", "dir"]) -> Path:
    """Where the output `path` is written: itself, or what a link names. Raise OutputError, naming
    `option`, unless it is missing or a `kind` (a link to one too), and under a folder, not a file."""
    path = Path(path)
    what = "a regular file" if kind == "file" else "a directory"
    try:
        st = path.lstat()
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        st = None  # a folder on the way is a file: said below
    if st is not None and stat.S_ISLNK(st.st_mode):
        try:
            st = path.stat()
        except OSError as e:
            raise OutputError(f"{option} {path}: a broken symbolic link (to {os.readlink(path)}: {e.strerror}); "
                              f"remove it or give another {option}") from None
    if st is not None:
        ok = stat.S_ISREG(st.st_mode) if kind == "file" else stat.S_ISDIR(st.st_mode)
        if not ok:
            raise OutputError(f"{option} {path}: {_kind(st.st_mode)}, not {what}: give {what} or a new name "
                              f"as {option}")
        return Path(os.path.realpath(path))
    for up in path.absolute().parents:  # the nearest folder that exists must be one
        if up.exists():
            if not up.is_dir():
                shown = os.path.relpath(up) if not path.is_absolute() else up
                raise OutputError(f"{option} {path}: {shown} is {_kind(up.stat().st_mode)}, not a directory: "
                                  f"give another {option}")
            break
    return Path(os.path.realpath(path))


class Claim:
    """An output checked and locked before any work: see `claim`."""

    def __init__(self, path: str | Path, option: str, kind: Literal["file", "dir"] = "file", need: int = 0):
        self.shown, self.option = Path(path), option
        self.target = output_target(path, option, kind)
        parent = self.target.parent
        self._made: list[Path] = [p for p in (parent, *parent.parents) if not p.exists()]
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"{option} {path}: cannot make the folder {parent} ({e.strerror}); give another "
                              f"{option}") from None
        self._lock = parent / f".{self.target.name or 'root'}.lock"
        self._fd = -1
        try:
            self._fd = self._acquire()
            free = os.statvfs(parent)
        except BaseException as e:
            self.release()
            if not isinstance(e, OSError):
                raise
            raise OutputError(f"{option} {path}: cannot write in {parent} ({e.strerror}); give another "
                              f"{option}") from None
        need = max(need, MIN_FREE)
        if free.f_bavail * free.f_frsize < need:
            self.release()
            raise OutputError(f"{option} {path}: only {_size(free.f_bavail * free.f_frsize)} free on its file "
                              f"system, and this run needs at least {_size(need)}: free space or give another "
                              f"{option}")

    def _acquire(self) -> int:
        """flock on `.NAME.lock` (the stdlib's; `filelock` would not tell who holds it): released by the
        kernel when the process dies, however it dies; the file names the holder's pid."""
        while True:
            fd = os.open(self._lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = b""
                for _ in range(20):  # the holder writes its pid just after it takes the lock
                    if pid := os.pread(fd, 32, 0).strip():
                        break
                    time.sleep(0.05)
                os.close(fd)
                who = f"pid {pid.decode(errors='replace')}" if pid else "a pid not yet written"
                raise OutputError(f"{self.option} {self.shown} is being written by another leanfd process ({who}); "
                                  f"wait for it to end, or give another {self.option}") from None
            except BaseException:
                os.close(fd)
                raise
            try:  # the file may have been removed by the holder between our open and our lock: take the new one
                same = os.stat(self._lock, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                return fd
            os.close(fd)

    def _remove_made(self) -> None:
        for p in self._made:  # the folders made for the output, innermost first, if still empty
            try:
                p.rmdir()
            except OSError:
                break

    def release(self) -> None:
        if self._fd >= 0:
            self._lock.unlink(missing_ok=True)  # removed while held: a process that opened it before sees that
            os.close(self._fd)
            self._fd = -1
        self._remove_made()

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def claim(path: str | Path | None, option: str, kind: Literal["file", "dir"] = "file",
          need: int = 0) -> contextlib.AbstractContextManager:
    """Before any work: `path` (what the user gave as `option`) is missing or a `kind` (or a link to
    one), under a folder, writable, on a file system with `need` bytes (at least MIN_FREE) free, and
    no other process writes it; held until the `with` ends (a dead process's lock goes with it).
    None: nothing to claim."""
    return contextlib.nullcontext() if path is None else Claim(path, option, kind, need)


def atomic_write_text(path: str | Path, text: str, option: str | None = None) -> None:
    """Write `text` to `path` all at once: a reader sees the old file or the new one, never half.
    A write that fails leaves no partial file; with `option`, its message names it."""
    path = Path(path)
    tmp = partial_path(path)
    try:
        tmp.unlink(missing_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if option is None:
            raise
        raise cannot_write(option, path, e) from None


def atomic_write_with(path: str | Path, write: Any, option: str | None = None) -> None:
    """`write(temporary path)` then rename it over `path` (for writers that want a path, e.g. a plot);
    the temporary name ends as `path` does, since some writers read the suffix to choose the format
    (none: their default). With `option`, a write refused by the file system names it and `path`."""
    target = Path(os.path.realpath(path))  # a link to a file: written through
    tmp = target.with_name(f".partial-{target.name}")
    try:
        with written(option, path) if option else contextlib.nullcontext():
            tmp.unlink(missing_ok=True)
            write(tmp)
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


class AtomicJsonl:
    """JSON lines streamed to `.NAME.partial`, renamed over NAME by `close()`.

    Each line is whole on disk when `write` returns (see `JsonlWriter`). `close(ok)` renames when
    the command succeeded or something was written (an interrupted run keeps its work); otherwise
    the partial file is removed and NAME is left as it was. A write the file system refuses (a full
    disk) raises an OutputError naming `option` and NAME; from then on nothing is written and
    `close` removes the partial file: a file missing lines (a resumed run's old ones too) never
    replaces NAME. `path` is written through a link (`output_target`); messages name `shown`.
    """

    def __init__(self, path: str | Path, option: str = "--out", shown: str | Path | None = None):
        self.option, self.shown = option, shown if shown is not None else path
        self.path = Path(os.path.realpath(path))
        self.tmp = partial_path(self.path)
        self.failed = False
        self.lines = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.tmp.unlink(missing_ok=True)  # a killed run's, or a link planted there: never written through
            self._writer = JsonlWriter(self.tmp, "w")
        except OSError as e:
            raise cannot_write(option, self.shown, e) from None

    def write(self, obj: Any) -> None:
        if not self.failed:
            self._guarded(lambda: self._writer.write(obj))

    def write_raw(self, line: bytes) -> None:
        """A line kept verbatim from an earlier output (`--resume`); it ends with a newline."""
        if not self.failed:
            self._guarded(lambda: self._writer.write_bytes(line if line.endswith(b"\n") else line + b"\n"))

    def _guarded(self, write: Any) -> None:
        try:
            write()
        except OSError as e:
            self.failed = True
            raise cannot_write(self.option, self.shown, e) from None
        self.lines += 1

    def keeps(self, ok: bool) -> bool:
        """Whether `close(ok)` will put the lines written in NAME's place."""
        return not self.failed and (ok or self.lines > 0)

    def close(self, ok: bool = True) -> None:
        self._writer.close()
        if self.keeps(ok):
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)

    def discard(self) -> None:
        """Close, leaving NAME as it was."""
        self.failed = True
        self.close()

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
