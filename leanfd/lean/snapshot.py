"""The `snapshot` backend: one-shot `lean --json --incr-load=SNAP` per check, from a saved header.

Each distinct header is elaborated once per machine by `lean --incr-save=SNAP` and kept under
`cache_dir()/snapshots/`; every check is then a fresh one-shot process (nothing of an attempt ever
survives it, nothing of an attempt is ever in a snapshot) that starts from the header's state and
elaborates only the body. Processes are `cli`'s, owned as `process.py` says (group, marker, the one
memory scheme, kill and reap), with the same timeout and message parsing (`OneShotBackend._run`).

What the bundled Lean 4.35.0 does with the flags (measured on this machine, 2026-12-02):

- `--incr-save=FILE` writes the state after the whole file (its environment and every command's
  snapshot, messages included) to FILE and `FILE.deps` (a JSON list of the imported modules; `[]`
  for a `prelude` file). It writes them even when the file has errors. On the bench's stand-in
  header (toy prelude + 1000 def/theorem pairs, 2044 lines) that is 95 MB, 7-10 s once. It works
  with `--stdin` and `--json`; `--json` at save time changes nothing of what is loaded.
- `--incr-header-save=FILE` saves only the state after the module header (the `import`s; here the
  `prelude` keyword): 3 MB, and loading it saves nothing of the 1.5-2 s a header of declarations
  costs. It would be the right one for a header that is only `import Mathlib`; this backend saves
  the whole header file with `--incr-save`, which covers both.
- `--incr-load=FILE` works on any file, named or `--stdin`. Lean compares the new text with the
  saved one and re-elaborates from the first difference: header + a new theorem took 0.05-0.14 s
  (against 1.5-2.8 s without), with the new theorem's messages at their right lines; a file that
  differs inside the header (a changed comment on line 2, a changed proof on line 1001, the header's
  last line continued by the body) got exactly the messages of a plain run, at the plain run's cost
  from the difference on. The header's own messages are replayed from the snapshot (with the saved
  file's `fileName`, which nothing here reads).
- Options are *not* compared. A snapshot saved under `-DautoImplicit=false` and loaded without it
  (or the reverse) reuses the saved elaboration of the header, and the loaded run's `-D` is ignored
  for the body too: the body is elaborated under the saved options. So every option is part of the
  key, and is given at save time.
- Nothing is checksummed. A missing `FILE.deps` fails the run (`no such file or directory ...
  FILE.deps`, exit 1, no JSON); an empty FILE fails with `invalid header`; a truncated FILE (at 50 MB
  or at 100 bytes) segfaults (exit 139); a flipped bit was, at three of four offsets tried
  (including one inside the version string), loaded without complaint and the run answered as if
  nothing were wrong; the fourth segfaulted. A damaged snapshot can therefore answer wrongly and
  silently: this backend never loads one whose sha256 it has not checked against its sidecar.

The cache: key = sha256 of the Lean version, the toolchain's argv, the header text and the `-D`
options. Per key: `KEY.snap`, `KEY.snap.deps`, `KEY.json` (the sidecar: key, size and sha256 of both
files) and `KEY.lock` (a `fcntl.flock` lock: one builder per key across threads, tasks and
processes; the others wait, then use its result). Files are written under temporary names and
renamed into place, the sidecar last. A snapshot whose sidecar is missing, names another key, or
whose files' size or sha256 differ from it, is rebuilt. Hashing 100 MB costs a fraction of a second,
so it is done once per process per file (remembered by inode, size and mtime) and not on every
check. Bounded by `LEANFD_SNAPSHOT_CACHE_MB` (default 4096) with least-recently-used eviction (use
touches the sidecar's mtime).

Failures: a check that crashes with the snapshot re-hashes it; a changed file is rebuilt and the
check retried once; otherwise the check runs plain (a crashing attempt crashes both ways), and if
the plain run did not crash the snapshot is distrusted and rebuilt for the next check. A build that
fails (timeout, crash, no file written) falls back to a plain run, logged, and the backend does not
try that header again (every later check of it runs plain).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from leanfd.lean.oneshot import OneShotBackend
from leanfd.lean.run import LeanRun
from leanfd.lean.toolchain import Toolchain, cache_dir

log = logging.getLogger(__name__)

CACHE_MB_VAR = "LEANFD_SNAPSHOT_CACHE_MB"
DEFAULT_CACHE_MB = 4096
LOCK_POLL = 0.05  # seconds between tries of a key's lock (non-blocking, so a waiting check can be cancelled)
SIDECAR_FORMAT = 1


def snapshot_key(lean_version: str, argv: tuple[str, ...], header: str, options: Mapping[str, str]) -> str:
    """Everything that decides what a saved header holds: Lean, the text, the options (Lean does not
    compare options on load, so a snapshot saved under other options would be reused silently)."""
    blob = json.dumps({"lean": lean_version, "argv": list(argv), "header": header,
                       "options": sorted(options.items())}, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Entry:
    """The files of one key."""

    root: Path
    key: str

    @property
    def snap(self) -> Path:
        return self.root / f"{self.key}.snap"

    @property
    def deps(self) -> Path:
        return self.root / f"{self.key}.snap.deps"  # Lean's name for it, beside the snapshot

    @property
    def sidecar(self) -> Path:
        return self.root / f"{self.key}.json"

    @property
    def lock(self) -> Path:
        return self.root / f"{self.key}.lock"


class SnapshotCache:
    """Saved headers on disk: verified before use, written atomically, bounded, least recently used out."""

    def __init__(self, root: Path | None = None, max_bytes: int | None = None):
        self.root = Path(root) if root is not None else cache_dir() / "snapshots"
        if max_bytes is None:
            max_bytes = int(os.environ.get(CACHE_MB_VAR) or DEFAULT_CACHE_MB) << 20
        self.max_bytes = max_bytes
        self._hashed: dict[Path, tuple[tuple[int, int, int], str]] = {}  # path -> (inode, size, mtime), sha256
        self._hashed_lock = threading.Lock()

    def entry(self, key: str) -> Entry:
        return Entry(self.root, key)

    def _sha(self, path: Path, force: bool = False) -> str | None:
        """The file's sha256, remembered while its inode, size and mtime stay; None if it is gone."""
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        ident = (st.st_ino, st.st_size, st.st_mtime_ns)
        with self._hashed_lock:
            known = self._hashed.get(path)
        if known and known[0] == ident and not force:
            return known[1]
        try:
            sha = file_sha256(path)
        except FileNotFoundError:
            return None
        with self._hashed_lock:
            self._hashed[path] = (ident, sha)
        return sha

    def valid(self, e: Entry, force: bool = False) -> bool:
        """Whether the key's files are there and are what its sidecar says (`force`: hash them again)."""
        try:
            side = json.loads(e.sidecar.read_text())
        except (OSError, ValueError):
            return False
        if not isinstance(side, dict) or side.get("format") != SIDECAR_FORMAT or side.get("key") != e.key:
            return False
        for path, name in ((e.snap, "snap"), (e.deps, "deps")):
            try:
                if path.stat().st_size != side.get(f"{name}_size"):
                    return False
            except FileNotFoundError:
                return False
            if self._sha(path, force) != side.get(f"{name}_sha256"):
                return False
        return True

    def touch(self, e: Entry) -> None:
        with contextlib.suppress(OSError):
            os.utime(e.sidecar)

    def invalidate(self, e: Entry) -> None:
        """Forget a key (its sidecar first, so no reader trusts the rest meanwhile)."""
        for path in (e.sidecar, e.snap, e.deps):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def publish(self, e: Entry, tmp_snap: Path, **meta) -> None:
        """Move a freshly written snapshot (and Lean's `.deps` beside it) into place, sidecar last."""
        tmp_deps = Path(f"{tmp_snap}.deps")
        side = {"format": SIDECAR_FORMAT, "key": e.key,
                "snap_size": tmp_snap.stat().st_size, "snap_sha256": file_sha256(tmp_snap),
                "deps_size": tmp_deps.stat().st_size, "deps_sha256": file_sha256(tmp_deps), **meta}
        with contextlib.suppress(FileNotFoundError):
            e.sidecar.unlink()
        os.replace(tmp_deps, e.deps)
        os.replace(tmp_snap, e.snap)
        fd, tmp_side = tempfile.mkstemp(dir=self.root, prefix=f".{e.key[:16]}-", suffix=".json")
        os.fchmod(fd, 0o644)  # readable by every user of the machine's cache, as the snapshot is
        with os.fdopen(fd, "w") as f:
            json.dump(side, f)
        os.replace(tmp_side, e.sidecar)

    def clear_leftovers(self, e: Entry) -> None:
        """Remove what a builder of this key that died left (call holding the key's lock: only its
        holder builds, so every such file is an orphan)."""
        for p in self.root.glob(f".build-{e.key[:16]}-*"):
            shutil.rmtree(p, ignore_errors=True)
        for p in self.root.glob(f".{e.key[:16]}-*.json"):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.root.iterdir() if p.is_file())

    def evict(self, keep: str | None = None) -> list[str]:
        """Remove least recently used keys until the cache fits its bound; a key being built (its lock
        held) and `keep` stay. The keys removed."""
        entries, total = [], 0
        for side in self.root.glob("*.json"):
            if len(side.stem) != 64 or side.name.startswith("."):  # a sidecar being written
                continue
            e = self.entry(side.stem)
            try:
                used = side.stat().st_mtime_ns
                size = sum(p.stat().st_size for p in (e.snap, e.deps, side) if p.exists())
            except FileNotFoundError:
                continue
            entries.append((used, size, e))
            total += size
        removed = []
        for _, size, e in sorted(entries, key=lambda t: t[0]):
            if total <= self.max_bytes:
                break
            if e.key == keep:
                continue
            with key_lock(e, blocking=False) as got:
                if not got:
                    continue
                self.invalidate(e)
            total -= size
            removed.append(e.key)
            log.info("snapshot cache over %d MB: evicted %s", self.max_bytes >> 20, e.key[:16])
        return removed


@contextlib.contextmanager
def key_lock(e: Entry, blocking: bool = True):
    """A key's file lock (yields whether it was taken; with `blocking`, always True)."""
    fd = os.open(e.lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        yield _try_flock(fd, blocking)
    finally:
        os.close(fd)  # releases the lock


def _try_flock(fd: int, blocking: bool) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        return True
    except OSError as err:
        if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise
        return False


async def acquire(e: Entry) -> int:
    """Take a key's file lock without blocking the event loop (and so that waiting can be cancelled)."""
    fd = os.open(e.lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while not _try_flock(fd, blocking=False):
            await asyncio.sleep(LOCK_POLL)
        return fd
    except BaseException:
        os.close(fd)
        raise


class SnapshotBackend(OneShotBackend):
    """`lean --json --incr-load=SNAP` per check, `jobs` at once; one saved header per distinct header."""

    name = "snapshot"

    def __init__(self, toolchain: Toolchain, jobs: int | None = None, memory_mb: int | None = 8192,
                 threads: int | None = None, options: Mapping[str, str] | None = None,
                 cache: SnapshotCache | None = None, build_timeout: float = 600.0):
        super().__init__(toolchain, jobs=jobs, memory_mb=memory_mb, threads=threads)
        self.options = dict(options or {})
        self.cache = cache or SnapshotCache()
        self.build_timeout = build_timeout
        self.builds = 0  # snapshots this backend built (tests count them)
        self.fallbacks = 0  # checks that ran plain because the snapshot path failed
        self._version: str | None = None
        self._key_locks: dict[str, asyncio.Lock] = {}
        self._unbuildable: set[str] = set()  # keys whose build failed: their checks run plain, without retrying

    def _flags(self) -> tuple[str, ...]:
        return tuple(f"-D{k}={v}" for k, v in sorted(self.options.items()))

    async def _key(self, header: str) -> str:
        if self._version is None:
            self._version = await asyncio.to_thread(self.toolchain.version)  # no Lean there: LeanNotFound
        return snapshot_key(self._version, self.toolchain.argv, header, self.options)

    async def run(self, header: str, body: str, timeout: float, declarations: bool = False) -> LeanRun:
        """Elaborate `header + body` from the header's snapshot. With `declarations` (whole files, whose
        header is only their imports) the check runs plain, as `cli`."""
        if declarations:
            return await super().run(header, body, timeout, declarations=True)
        start = time.monotonic()
        async with self._sem:
            result = await self._checked(header, body, timeout)
        result.elapsed = time.monotonic() - start  # what the caller waited, a build included
        return result

    async def _checked(self, header: str, body: str, timeout: float) -> LeanRun:
        e = self.cache.entry(await self._key(header))
        for attempt in range(2):
            if not await self._ready(e, header):
                self.fallbacks += 1
                return await self._plain(header + body, timeout)
            result = await self._run(header + body, timeout, (*self._flags(), f"--incr-load={e.snap}"))
            if result.outcome != "crashed":
                self.cache.touch(e)
                return result
            if attempt == 0 and not await asyncio.to_thread(self.cache.valid, e, True):
                log.warning("snapshot %s changed on disk (%s): rebuilding", e.key[:16], result.detail[:200])
                continue
            break
        log.warning("check crashed with snapshot %s (%s): running it plain", e.key[:16], result.detail[:200])
        self.fallbacks += 1
        plain = await self._plain(header + body, timeout)
        if plain.outcome != "crashed":  # the snapshot, not the attempt, broke Lean: never load it again
            log.warning("the plain run did not crash: discarding snapshot %s", e.key[:16])
            async with self._key_lock(e.key):
                fd = await acquire(e)
                try:
                    self.cache.invalidate(e)
                finally:
                    os.close(fd)
        return plain

    async def _plain(self, text: str, timeout: float) -> LeanRun:
        return await self._run(text, timeout, self._flags())

    def _key_lock(self, key: str) -> asyncio.Lock:
        return self._key_locks.setdefault(key, asyncio.Lock())

    async def _ready(self, e: Entry, header: str) -> bool:
        """Make sure the key's snapshot is on disk and verified: build it if needed, one builder per key
        (tasks of this backend queue on an asyncio lock, other backends and processes on the file lock)."""
        if await asyncio.to_thread(self.cache.valid, e):
            return True
        if e.key in self._unbuildable:
            return False
        async with self._key_lock(e.key):
            e.root.mkdir(parents=True, exist_ok=True)
            fd = await acquire(e)
            try:
                if await asyncio.to_thread(self.cache.valid, e):  # another builder finished meanwhile
                    return True
                if e.key in self._unbuildable:  # failed while this check waited
                    return False
                if not await self._build(e, header):
                    self._unbuildable.add(e.key)
                    return False
                return True
            finally:
                os.close(fd)

    async def _build(self, e: Entry, header: str) -> bool:
        """`lean --incr-save` on the header alone (holding the key's lock); whether a snapshot was published."""
        self.cache.invalidate(e)
        self.cache.clear_leftovers(e)
        tmp = Path(tempfile.mkdtemp(dir=e.root, prefix=f".build-{e.key[:16]}-"))
        try:
            snap = tmp / "header.snap"
            run = await self._run(header, self.build_timeout, (*self._flags(), f"--incr-save={snap}"))
            if run.outcome != "ok" or not snap.is_file() or not Path(f"{snap}.deps").is_file():
                log.warning("building snapshot %s failed (%s %s): checks of this header run plain",
                            e.key[:16], run.outcome, run.detail[:200])
                return False
            await asyncio.to_thread(self.cache.publish, e, snap, lean=self._version,
                                    options=self.options, header_chars=len(header), build_s=round(run.elapsed, 3))
            self.builds += 1
            log.info("built snapshot %s in %.1f s", e.key[:16], run.elapsed)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        await asyncio.to_thread(self.cache.evict, e.key)
        return True
