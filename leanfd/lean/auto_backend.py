"""The `auto` backend, the default: each header goes to the backend measured fastest for headers like it.

A pooled `lean --server` keeps the header elaborated and re-elaborates only the changed end of the
document, but reports every command's snapshot of the whole file on each version, a cost that grows
with the header's length. A one-shot run from the header's saved state (`snapshot`) pays a process
start and the state's load instead, whatever the header's length. Measured with `bench/verify.py
--decls N` (Lean 4.35.0, 2 cores, `--jobs 2`, 40 checks, the snapshot's one build included; see
bench/README.md): on the toy prelude (44 lines) server did 1.35x the checks/s of snapshot, with 25
declaration pairs in the header (94 lines) 1.7x; with 100 pairs (244 lines) snapshot did 1.2x
server, with 300 pairs 1.3x, with 1,000 pairs (2,044 lines) 3.5x. Hence the threshold below.

A header of a few lines that imports a large library (`import Mathlib` and some `open`s) goes to the
server, which keeps the import in memory; with Mathlib this is not measured here (no Mathlib for the
bundled Lean): `--backend snapshot` or `server` overrides the choice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from leanfd.lean.run import LeanBackend, LeanRun

SNAPSHOT_MIN_LINES = 200  # between the 94-line header (server ahead) and the 244-line one (snapshot ahead)


def kind_for(header: str) -> str:
    """`snapshot` for a header of at least SNAPSHOT_MIN_LINES lines, else `server`."""
    return "snapshot" if header.count("\n") + 1 >= SNAPSHOT_MIN_LINES else "server"


class AutoBackend:
    """Routes each check by its header to a `server` or a `snapshot` backend, each made on first use."""

    name = "auto"

    def __init__(self, make: dict[str, Callable[[], LeanBackend]]) -> None:
        self._make = make
        self._backends: dict[str, LeanBackend] = {}

    def backend_for(self, header: str) -> tuple[str, LeanBackend]:
        """The backend chosen for `header` and its name."""
        kind = kind_for(header)
        if kind not in self._backends:
            self._backends[kind] = self._make[kind]()
        return kind, self._backends[kind]

    async def run(self, header: str, body: str, timeout: float) -> LeanRun:
        """The chosen backend's run, naming that backend (`LeanRun.backend`), so that a verdict says what ran."""
        kind, backend = self.backend_for(header)
        run = await backend.run(header, body, timeout)
        run.backend = kind
        return run

    async def aclose(self) -> None:
        await asyncio.gather(*(b.aclose() for b in self._backends.values()))
