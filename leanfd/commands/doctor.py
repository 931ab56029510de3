"""`leanfd doctor`: what leanfd finds on this machine, so a user knows what will run."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util

from rich.console import Console
from rich.table import Table

from leanfd.commands import lean_argument
from leanfd.lean.errors import LeanFDError
from leanfd.lean.oneshot import OneShotBackend
from leanfd.lean.toolchain import PINNED_VERSION, cache_dir, resolve

MATHLIB_PROBE = "import Mathlib\n#check Nat.Prime\n"
PRELUDE_PROBE = "prelude\ninductive T : Prop where\n  | intro : T\ntheorem t : T := T.intro\n"


def _probe(toolchain, text: str, backend: str = "cli") -> str:
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


def add_arguments(p) -> None:
    lean_argument(p)


def run(args: argparse.Namespace) -> int:
    console = Console()
    table = Table(title="leanfd doctor", show_header=False)
    table.add_column("what")
    table.add_column("found")
    ok = True
    try:
        tc = resolve(args.lean)
        version = tc.version()
        table.add_row("Lean", " ".join(tc.argv))
        table.add_row("source", tc.source + (" (prelude-only files: no Init library)" if tc.bundled else ""))
        pin_note = "" if PINNED_VERSION in version else f"  [yellow](project pins {PINNED_VERSION})"
        table.add_row("version", version + pin_note)
        table.add_row("elaborates a prelude file", _probe(tc, PRELUDE_PROBE))
        table.add_row("`import Mathlib` works", "no (bundled runtime)" if tc.bundled else _probe(tc, MATHLIB_PROBE))
        probe = MATHLIB_PROBE if not tc.bundled else PRELUDE_PROBE
        table.add_row("verifier backends", ", ".join(f"{b}: {_probe(tc, probe, b)}" for b in ("cli", "server")))
    except LeanFDError as e:
        ok = False
        table.add_row("Lean", f"[red]{e}")
    for mod, what in (("torch", "torch"), ("transformers", "transformers"), ("vllm", "vllm"),
                      ("pygls", "pygls (leanfd lsp)")):
        table.add_row(what, "installed" if importlib.util.find_spec(mod) else "not installed")
    if importlib.util.find_spec("torch"):
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        table.add_row("GPUs", ", ".join(torch.cuda.get_device_name(i) for i in range(gpus)) or "none")
    table.add_row("launcher cache", str(cache_dir()))
    console.print(table)
    return 0 if ok else 3
