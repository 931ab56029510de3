"""Document state on `lean --server`: the one open document, its versions, and its diagnostics.

A `Document` sends a check as a new version of the open document when the header is the same
(`textDocument/didChange`: Lean's incremental elaboration reuses the snapshots of the unchanged
prefix), else closes it and opens a fresh one under a new URI. It gathers the
`textDocument/publishDiagnostics` of exactly that version, and `textDocument/waitForDiagnostics` (a
Lean extension) answers once all of them have been published, so a result is never stale.
`to_messages` turns the diagnostics into `Message`s, positions through `positions.py`.
The transport is `jsonrpc.Connection`; the process behind it is not this module's business.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from leanfd.lean.errors import LeanRpcError
from leanfd.lean.jsonrpc import Connection
from leanfd.lean.positions import utf16_to_index
from leanfd.lean.run import MAX_MESSAGES, LeanRun, Message, Severity

# LSP severities (1 error, 2 warning, 3 information, 4 hint) as `Message.severity`.
SEVERITIES: dict[int, Severity] = {1: "error", 2: "warning", 3: "information", 4: "information"}


def to_messages(diagnostics: list[dict[str, Any]], text: str) -> LeanRun:
    """LSP diagnostics of `text` as the `Message`s of an `ok` run (1-based lines), bounded as
    `LeanRun.add` bounds them.

    `fullRange` is the range `lean --json` reports (`range` may be cut to the first line).
    Order: the server reports an asynchronously elaborated theorem's messages when it finishes, so a
    later command's messages can come first, and differently from run to run. A stable sort on the end
    of each range restores command order while keeping Lean's order inside a command (its precise error
    before the `internal exception` spanning the whole declaration, which ends at the same place): the
    order `lean --json` gives, on which the judge's "first error" depends. The earliest survive the cap.
    """
    lines = text.split("\n")

    def position(pos: dict[str, int]) -> tuple[int, int]:
        line = pos["line"]
        column = utf16_to_index(lines[line], pos["character"]) if line < len(lines) else pos["character"]
        return line + 1, column

    def end(d: dict[str, Any]) -> tuple[int, int]:
        pos = (d.get("fullRange") or d["range"])["end"]
        return pos["line"], pos["character"]

    kept = LeanRun("ok")
    for d in sorted(diagnostics, key=end)[: MAX_MESSAGES + 1]:
        rng = d.get("fullRange") or d["range"]
        line, column = position(rng["start"])
        end_line, end_column = position(rng["end"])
        severity = SEVERITIES.get(d.get("severity", 1), "error")
        kept.add(Message(severity, line, column, end_line, end_column, str(d.get("message", ""))))
    return kept


class Document:
    """The at most one open document of a server, named `<name>_<n>.lean` in `doc_dir`."""

    def __init__(self, rpc: Connection, doc_dir: Path, name: str) -> None:
        self._rpc = rpc
        self._doc_dir = doc_dir
        self._name = name
        self.header: str | None = None  # header of the open document, None when none is open
        self.uri: str | None = None
        self.version = 0
        self._docs = itertools.count(1)
        self._diagnostics: dict[int, list[dict[str, Any]]] = {}  # version of the open document -> latest list

    async def check(self, header: str, body: str, deadline: float) -> list[dict[str, Any]]:
        """Elaborate `header + body` and return exactly the diagnostics published for that version."""
        text = header + body
        # The version is set and the store emptied before sending: the reader may publish at once.
        self._diagnostics.clear()
        if self.uri is not None and self.header == header:
            self.version += 1
            await self._rpc.notify("textDocument/didChange", {
                "textDocument": {"uri": self.uri, "version": self.version},
                "contentChanges": [{"text": text}],
            }, deadline)
        else:
            if self.uri is not None:
                await self._rpc.notify("textDocument/didClose", {"textDocument": {"uri": self.uri}}, deadline)
            # A fresh URI per document: a late `publishDiagnostics` of the closed one can never be mistaken.
            self.uri = (self._doc_dir / f"{self._name}_{next(self._docs)}.lean").as_uri()
            self.header, self.version = header, 1
            await self._rpc.notify("textDocument/didOpen", {
                "textDocument": {"uri": self.uri, "languageId": "lean4", "version": 1, "text": text},
            }, deadline)
        version = self.version
        await self._rpc.request("textDocument/waitForDiagnostics", {"uri": self.uri, "version": version}, deadline)
        return self._diagnostics.pop(version, [])

    async def query(self, queries: Sequence[tuple[str, dict[str, Any]]], deadline: float) -> list[Any]:
        """LSP requests about the open document (`$/lean/plainGoal`, ...), its `textDocument` added.

        None for a request Lean answered with an error: the server stays usable (only a dead one raises).
        """
        answers = []
        for method, params in queries:
            try:
                answers.append(await self._rpc.request(method, {**params, "textDocument": {"uri": self.uri}}, deadline))
            except LeanRpcError:
                if not self._rpc.alive:
                    raise
                answers.append(None)
        return answers

    def publish(self, params: dict[str, Any] | None) -> None:
        """Take a `textDocument/publishDiagnostics`: kept only for the open document's current version.

        With `isIncremental` (Lean >= 4.32, when the client says `incrementalDiagnosticSupport`) Lean sends
        only the new diagnostics, appended here; otherwise each publication replaces the list.
        """
        params = params or {}
        if params.get("uri") != self.uri or params.get("version") != self.version:
            return
        diagnostics = list(params.get("diagnostics") or [])
        if params.get("isIncremental"):
            diagnostics = self._diagnostics.get(self.version, []) + diagnostics
        self._diagnostics[self.version] = diagnostics
