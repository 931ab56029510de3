"""One module per CLI command, each with `run(args) -> exit code` and its options: `OPTIONS`, a typed
dataclass that `leanfd.cli` turns into arguments (`ALIASES` adds older names), or `add_arguments(parser)`
for a command that also reads a YAML file (`train`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from rich.console import Console

from leanfd.lean.records import BadLine, LeanFile, read_lines
from leanfd.lean.toolchain import Toolchain, resolve

T = TypeVar("T")

# The verifier's options under their older names in `prove` and `feedback`; kept for a release.
VERIFIER_ALIASES = {"verifier_jobs": ("--jobs",), "verifier_timeout": ("--timeout",),
                    "verifier_ray_address": ("--ray-address",)}


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


def importable(items: Iterable[T], toolchain: Toolchain, where: str) -> Iterator[T]:
    """`items`, each after Lean has shown it can import its header (once per header): a Lean that
    cannot (the bundled runtime and `import Mathlib`) stops the run with exit 3 before that item runs."""
    for item in items:
        if isinstance(item, BadLine):  # a malformed line: reported in its place, nothing to import
            yield item
            continue
        header = item.text if isinstance(item, LeanFile) else item.header  # a record or a Problem
        label = item.path if isinstance(item, LeanFile) else f"{where}: {item.name!r}"
        toolchain.require_imports(header, label)
        yield item


def usable_lean(lean: str | None, problems: Iterable[Any], where: str) -> Toolchain:
    """The Lean that `lean` (or the resolution order) names, once it has shown that it is a Lean and
    can import every problem's header: otherwise exit 3, before a model is loaded or a check is run."""
    toolchain = resolve(lean)
    toolchain.version()
    for _ in importable(problems, toolchain, where):
        pass
    return toolchain
