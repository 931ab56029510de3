"""`leanfd lsp`: a pygls language server offering verified suggestions in `lean4` documents.

Protocol contract (the VS Code extension relies on it):
- `textDocument/codeAction` at a `sorry` or in a tactic block: the verified suggestions already found
  for this version of the document (never a search: editors ask on every cursor move), ranked, the
  goal-closing ones `isPreferred`, each with its edit; then one action whose command starts a search.
- `workspace/executeCommand` `leanfd.suggestTactics` (next step) and `leanfd.proveTheorem` (whole
  proof), arguments `[{"uri", "position": {"line", "character"}, "apply"?: bool}]`: searches with
  work-done progress, honours `$/cancelRequest` and the progress' cancel button, caches the results and
  returns them ranked as a list of `{"text", "status": "closes"|"progress", "kind", "goals", "count",
  "score", "edit": {"range", "newText"}, "uri", "version"}` (`version`: the one searched); with
  `"apply": true` the best one is also applied through `workspace/applyEdit`.
- every edit is computed for one version of the document and names it (`documentChanges` with a
  versioned identifier when the client supports them); none is sent once the document has moved on
  ("the file changed while the server was working"): Neovim, for one, applies unversioned edits.
- `textDocument/inlineCompletion`: the best verified next step as ghost text (cached, or a quick search
  of at most `inlineTimeout` seconds).
- notification `leanfd/status` `{"state": "busy"|"ready"|"error", "message"}` for a status bar.
- settings (see `settings.Settings`): CLI flags, then `initializationOptions` (under "leanfd" or
  top-level), then `workspace/configuration` section "leanfd" (pulled at start and on
  `workspace/didChangeConfiguration`); an empty list stands for an empty object (Lua's `{}`).
Failures (no model, Lean missing or crashing, a model server down, a parse error, a huge file) give an
empty answer and a `window/showMessage`, never a dead server; malformed requests get JSON-RPC errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from lsprotocol import types as t
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from leanfd.lean.errors import LeanFDError
from leanfd.lsp.cache import Documents, Results
from leanfd.lsp.settings import Settings, from_editor
from leanfd.lsp.sites import LeanText, Site, next_step_site, proof_site
from leanfd.lsp.suggest import Engine, NoGoal, Suggestion, rank
from leanfd.models.errors import ModelError

log = logging.getLogger(__name__)

SUGGEST = "leanfd.suggestTactics"
PROVE = "leanfd.proveTheorem"
STATUS = "leanfd/status"
LANGUAGES = ("lean4", "lean")
SETTLE_TIMEOUT = 5.0  # seconds a client may take to answer `workspace/configuration`
_ANSWERED = object()  # a request already answered with an error while it was being read
_COMMAND_PARAMS: contextvars.ContextVar[t.ExecuteCommandParams | None] = contextvars.ContextVar(
    "leanfd_command_params", default=None)


STALE = "the file changed while the server was working; ask again"


@dataclass(frozen=True)
class DocumentVersion:
    """One version of an open document, as a request found it.

    pygls updates its document object in place on every change, so a search that outlives a change
    must keep what it searched: an edit computed on this text names this version, never the newer one."""

    uri: str  # as the client spelled it
    version: int | None
    lt: LeanText

    @property
    def key(self) -> str:
        return unquote(self.uri)

    @property
    def cache_version(self) -> int:
        return self.version or 0


class LeanfdProtocol(LanguageServerProtocol):
    """pygls 2.1's protocol with three gaps filled:

    - a request whose params do not fit its method gets an `InvalidParams` answer (pygls only logs it
      and shows a message, leaving the client waiting forever);
    - `$/cancelRequest` reaches `workspace/executeCommand` handlers: pygls runs them behind a generator
      and cancels only the outer future, so the search would go on; the server's task is cancelled too;
    - a command handler can see its `ExecuteCommandParams` (pygls passes only the arguments), for the
      client's `workDoneToken`.
    """

    _server: LeanfdServer

    def structure_message(self, data: Any) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as e:
            if isinstance(data, dict) and "id" in data and "method" in data:
                self._send_response(data["id"], error=e.to_response_error())
                return _ANSWERED
            raise

    def handle_message(self, message: Any) -> None:
        if message is not _ANSWERED:
            super().handle_message(message)

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        super()._handle_cancel_notification(msg_id)
        task = self._server.command_tasks.get(msg_id)
        if task is not None:
            task.cancel()

    @lsp_method(t.WORKSPACE_EXECUTE_COMMAND)
    def lsp_workspace__execute_command(self, params: t.ExecuteCommandParams) -> Any:
        _COMMAND_PARAMS.set(params)
        return (yield from super().lsp_workspace__execute_command(params))


class LeanfdServer(LanguageServer):
    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__("leanfd", "0.1.0", protocol_cls=LeanfdProtocol,
                         text_document_sync_kind=t.TextDocumentSyncKind.Incremental)
        self.settings = settings or Settings()
        self.engine = Engine(self.settings)
        self.documents = Documents()
        self.results = Results()
        self.command_tasks: dict[Any, asyncio.Task[Any]] = {}
        self._too_large: set[str] = set()
        self._settled = asyncio.Event()  # no `workspace/configuration` answer is awaited
        self._settled.set()
        self._progress_cancelled: set[asyncio.Task[Any]] = set()
        self._quick: dict[str, asyncio.Future[list[Suggestion]]] = {}  # inline quick search per document

    # -- settings ---------------------------------------------------------------------------------

    def configure(self, values: Any, source: str) -> None:
        try:
            self.settings = self.settings.merge(from_editor(values))
        except LeanFDError as e:
            self.show(t.MessageType.Error, f"leanfd: bad settings in {source}: {e}")
            return
        self.engine.configure(self.settings)

    async def pull_configuration(self, pushed: Any = None) -> None:
        """Ask the client for section "leanfd" when it can answer, else use what it pushed."""
        if not _capability(self.client_capabilities, "workspace", "configuration"):
            if pushed is not None:
                self.configure(pushed, "workspace/didChangeConfiguration")
            return
        self._settled.clear()
        try:
            answer = await asyncio.wait_for(self.workspace_configuration_async(
                t.ConfigurationParams(items=[t.ConfigurationItem(section="leanfd")])), SETTLE_TIMEOUT)
        except Exception as e:  # noqa: BLE001 - a client failing this request keeps the current settings
            log.warning("workspace/configuration failed: %r", e)
            return
        finally:
            self._settled.set()
        if answer:
            self.configure(answer[0], "workspace/configuration")

    async def settled(self) -> None:
        """Wait for a pending `workspace/configuration` answer: a search right after start-up uses it."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), SETTLE_TIMEOUT)

    def announce(self) -> None:
        """The status bar's first word: which model suggestions will come from, or what is missing."""
        s = self.settings
        if s.model:
            self.status("ready", f"leanfd: {s.backend} model {s.model}")
        else:
            self.status("error", "leanfd: no model configured (settings leanfd.backend, leanfd.model, leanfd.baseUrl)")

    # -- documents --------------------------------------------------------------------------------

    def lean_document(self, uri: str) -> DocumentVersion | None:
        """The open Lean document as it is now; None when it is not open, not Lean, or too large."""
        key = unquote(uri)
        if key not in self.workspace.text_documents:
            return None
        doc = self.workspace.get_text_document(uri)
        if doc.language_id not in LANGUAGES and not key.endswith(".lean"):
            return None
        text = doc.source
        if len(text) > self.settings.max_file_chars:
            if key not in self._too_large:
                self._too_large.add(key)
                self.show(t.MessageType.Warning, f"leanfd: {key.rsplit('/', 1)[-1]} has {len(text)} characters, "
                          f"more than maxFileChars ({self.settings.max_file_chars}): no suggestions for it")
            return None
        self._too_large.discard(key)
        return DocumentVersion(doc.uri, doc.version, self.documents.get(key, doc.version or 0, text))

    def is_current(self, snap: DocumentVersion) -> bool:
        """Whether the document is still open at the version (and text) `snap` was taken from."""
        doc = self.workspace.text_documents.get(snap.key)
        return doc is not None and doc.version == snap.version and doc.source == snap.lt.text

    def forget(self, uri: str) -> None:
        self.documents.forget(unquote(uri))
        self.results.forget(unquote(uri))

    def offset(self, lt: LeanText, position: t.Position) -> int:
        return lt.index.offset(position.line, position.character, self._encoding)

    def range(self, lt: LeanText, start: int, end: int) -> t.Range:
        (l0, c0), (l1, c1) = lt.index.position(start, self._encoding), lt.index.position(end, self._encoding)
        return t.Range(start=t.Position(line=l0, character=c0), end=t.Position(line=l1, character=c1))

    @property
    def _encoding(self) -> str:
        return _value(self.workspace.position_encoding or "utf-16")

    # -- code actions and inline completion (cache only, or a bounded quick search) ---------------

    def code_actions(self, uri: str, position: t.Position, only: list[str] | None) -> list[t.CodeAction]:
        if only and not any(t.CodeActionKind.QuickFix.value.startswith(_value(k)) for k in only):
            return []
        snap = self.lean_document(uri)
        if snap is None:
            return []
        offset = self.offset(snap.lt, position)
        site = next_step_site(snap.lt, offset)
        if site is None:
            return []
        if self.results.broken(snap.key, snap.cache_version, site.key(snap.lt.text)):
            return []
        cached = list(self.cached(snap, site))
        whole = proof_site(snap.lt, offset)
        if whole is not None:
            cached += self.cached(snap, whole)
        actions = [self.action(snap, s) for s in rank(cached)]
        actions.append(t.CodeAction(
            title="leanfd: search for a verified next step", kind=t.CodeActionKind.QuickFix,
            command=t.Command(title="leanfd: search for a verified next step", command=SUGGEST, arguments=[
                {"uri": uri, "position": {"line": position.line, "character": position.character}}])))
        return actions

    def cached(self, snap: DocumentVersion, site: Site) -> list[Suggestion]:
        return self.results.get(snap.key, snap.cache_version, site.key(snap.lt.text), self.settings.model_key) or []

    def action(self, snap: DocumentVersion, s: Suggestion) -> t.CodeAction:
        first = s.text.strip().split("\n", 1)[0]
        label = first if len(first) <= 60 and "\n" not in s.text.strip() else first[:57] + "…"
        what = "closes the goal" if s.status == "closes" else f"progress, {len(s.goals)} goal(s) left"
        return t.CodeAction(title=f"leanfd: {label}  ({what})", kind=t.CodeActionKind.QuickFix,
                            is_preferred=s.status == "closes", edit=self.edit(snap, s))

    def edit(self, snap: DocumentVersion, s: Suggestion) -> t.WorkspaceEdit:
        """The suggestion as an edit of the version it was computed for."""
        text_edit = t.TextEdit(range=self.range(snap.lt, s.start, s.end), new_text=s.new_text)
        if _capability(self.client_capabilities, "workspace", "workspace_edit", "document_changes"):
            # Versioned: an editor whose buffer has moved on refuses the edit instead of misplacing it.
            ident = t.OptionalVersionedTextDocumentIdentifier(uri=snap.uri, version=snap.version)
            return t.WorkspaceEdit(document_changes=[t.TextDocumentEdit(text_document=ident, edits=[text_edit])])
        return t.WorkspaceEdit(changes={snap.uri: [text_edit]})

    async def inline(self, uri: str, position: t.Position) -> t.InlineCompletionList | None:
        snap = self.lean_document(uri)
        if snap is None:
            return None
        site = next_step_site(snap.lt, self.offset(snap.lt, position))
        if site is None or self.results.broken(snap.key, snap.cache_version, site.key(snap.lt.text)):
            return None
        best = self.cached(snap, site)
        # Editors ask again on every keystroke and cancel the previous request. A quick search is
        # started only where nobody is typing (a `sorry`, a blank line), one per document at a time,
        # and shielded: a cancelled request leaves it running into the cache, so the work done so far
        # is not thrown away (a cancelled check costs the pool a recovery, or a worker and its imports).
        typing = site.insert and site.lead.startswith("\n")
        key = snap.key
        if not best and self.settings.inline_timeout > 0 and not typing and key not in self._quick:
            quick = asyncio.ensure_future(self.search(snap, site, budget=self.settings.inline_timeout, quiet=True))
            self._quick[key] = quick
            quick.add_done_callback(lambda _: self._quick.pop(key, None))
            best = await asyncio.shield(quick)
        if not best or not self.is_current(snap):
            return None
        s = best[0]
        return t.InlineCompletionList(items=[t.InlineCompletionItem(insert_text=s.new_text,
                                                                    range=self.range(snap.lt, s.start, s.end))])

    # -- commands ---------------------------------------------------------------------------------

    async def run_command(self, mode: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        uri, position, apply = parse_arguments(args)
        task = asyncio.current_task()
        msg_id = self.protocol.msg_id
        if task is not None and msg_id is not None:
            self.command_tasks[msg_id] = task
        try:
            snap = self.lean_document(uri)
            if snap is None:
                if unquote(uri) not in self.workspace.text_documents:
                    raise JsonRpcInvalidParams(f"{uri} is not an open document")
                return []
            offset = self.offset(snap.lt, position)
            site = next_step_site(snap.lt, offset) if mode == "next" else proof_site(snap.lt, offset)
            if site is None:
                self.show(t.MessageType.Info, "leanfd: nothing to search here: " + _why_no_site(snap.lt, offset, mode))
                return []
            found = await self.search(snap, site, token=_work_done_token())
            if apply and found:
                await self.apply(snap, found[0])
            return [self.to_json(snap, s) for s in found]
        finally:
            if msg_id is not None:
                self.command_tasks.pop(msg_id, None)

    async def search(self, snap: DocumentVersion, site: Site, budget: float | None = None,
                     quiet: bool = False, token: t.ProgressToken | None = None) -> list[Suggestion]:
        """Run one search, report it (status, progress, messages), cache and return the merged results."""
        await self.settled()
        version, key, model_key = snap.cache_version, site.key(snap.lt.text), self.settings.model_key
        what = "a next step" if site.kind != "proof" else "a proof"
        self.status("busy", f"searching for {what}")
        async with self.work_progress(f"leanfd: searching for {what}", token, quiet) as report:
            try:
                outcome = await self.engine.search(snap.lt.text, site, report, budget)
            except asyncio.CancelledError:
                self.status("ready", "search cancelled")
                task = asyncio.current_task()
                if task is not None and task in self._progress_cancelled:
                    # Cancelled from the progress bar, not by `$/cancelRequest`: the request still
                    # awaits an answer, and pygls would never send one for a cancelled command task.
                    self._progress_cancelled.discard(task)
                    task.uncancel()
                    return []
                raise
            except NoGoal as e:
                if e.broken:
                    self.results.mark_broken(snap.key, version, key)
                self.status("ready", str(e))
                if not quiet:
                    self.show(t.MessageType.Warning, f"leanfd: {e}")
                return []
            except (LeanFDError, ModelError) as e:
                self.status("error", str(e))
                if not quiet:
                    self.show(t.MessageType.Error, f"leanfd: {e}")
                log.warning("search failed: %s", e)
                return []
            except Exception as e:  # noqa: BLE001 - a bug must cost one search, not the status bar or the server
                log.exception("search failed")
                self.status("error", f"internal error: {e!r}")
                if not quiet:
                    self.show(t.MessageType.Error, f"leanfd: internal error: {e!r} (details in the server's log)")
                return []
        merged = self.results.put(snap.key, version, key, outcome.goal, model_key, outcome.suggestions)
        closing = sum(s.status == "closes" for s in merged)
        self.status("ready", f"{len(merged)} verified suggestion(s), {closing} closing the goal "
                             f"({outcome.checked} checked of {outcome.sampled} samples)")
        return merged

    async def apply(self, snap: DocumentVersion, s: Suggestion) -> None:
        """Send the edit, unless the document changed since `snap`: offsets computed on an older text
        would land elsewhere (a client without versioned edits, or one that ignores them, applies them)."""
        if not _capability(self.client_capabilities, "workspace", "apply_edit"):
            self.show(t.MessageType.Warning, "leanfd: this editor does not accept workspace/applyEdit; "
                      "use the returned edit or the code action")
            return
        if not self.is_current(snap):
            self.show(t.MessageType.Warning, f"leanfd: {STALE}")
            return
        try:
            answer = await self.workspace_apply_edit_async(
                t.ApplyWorkspaceEditParams(edit=self.edit(snap, s), label="leanfd suggestion"))
        except Exception as e:  # noqa: BLE001 - the client refusing or failing is reported, not fatal
            self.show(t.MessageType.Warning, f"leanfd: could not apply the suggestion: {e}")
            return
        if answer is not None and not answer.applied:
            reason = f": {answer.failure_reason}" if answer.failure_reason else ""
            self.show(t.MessageType.Warning, f"leanfd: the editor did not apply the suggestion{reason}")

    def to_json(self, snap: DocumentVersion, s: Suggestion) -> dict[str, Any]:
        rng = self.range(snap.lt, s.start, s.end)
        return {
            "text": s.text, "status": s.status, "kind": s.kind, "goals": s.goals, "count": s.count,
            "score": s.score, "uri": snap.uri, "version": snap.version,
            "edit": {"range": {"start": {"line": rng.start.line, "character": rng.start.character},
                               "end": {"line": rng.end.line, "character": rng.end.character}},
                     "newText": s.new_text},
        }

    # -- reporting --------------------------------------------------------------------------------

    def status(self, state: str, message: str) -> None:
        self.protocol.notify(STATUS, {"state": state, "message": message})

    def show(self, kind: t.MessageType, message: str) -> None:
        self.window_show_message(t.ShowMessageParams(type=kind, message=message))

    @asynccontextmanager
    async def work_progress(self, title: str, token: t.ProgressToken | None, quiet: bool) -> AsyncIterator[Any]:
        """Work-done progress under the client's token, or one we create when the client supports it.

        Its cancel button cancels the search (the task running it)."""
        if token is None and not quiet and _capability(self.client_capabilities, "window", "work_done_progress"):
            token = f"leanfd-{uuid.uuid4().hex}"
            try:
                await self.work_done_progress.create_async(token)
            except Exception as e:  # noqa: BLE001 - no progress bar is no reason to fail the search
                log.debug("workDoneProgress/create failed: %r", e)
                token = None
        if token is None:
            yield lambda message, percentage: None
            return
        progress = self.work_done_progress
        progress.begin(token, t.WorkDoneProgressBegin(title=title, cancellable=True, percentage=0))
        task = asyncio.current_task()
        cancelled = progress.tokens.get(token)
        if cancelled is not None and task is not None:

            def on_cancel(f: Any) -> None:
                if f.cancelled() and not task.done():
                    self._progress_cancelled.add(task)
                    task.cancel()

            cancelled.add_done_callback(on_cancel)

        def report(message: str, percentage: int | None) -> None:
            progress.report(token, t.WorkDoneProgressReport(message=message, percentage=percentage))

        try:
            yield report
        finally:
            progress.end(token, t.WorkDoneProgressEnd(message="done"))
            progress.tokens.pop(token, None)


def parse_arguments(args: tuple[Any, ...]) -> tuple[str, t.Position, bool]:
    """`[{"uri", "position": {"line", "character"}, "apply"?}]` -> (uri, position, apply); else InvalidParams."""
    if len(args) != 1 or not isinstance(args[0], dict):
        raise JsonRpcInvalidParams('expected one argument {"uri": ..., "position": {"line": ..., "character": ...}}')
    arg = args[0]
    uri, pos, apply = arg.get("uri"), arg.get("position"), arg.get("apply", False)
    if not isinstance(uri, str) or not uri:
        raise JsonRpcInvalidParams('"uri" must be a non-empty string')
    if not isinstance(pos, dict) or not all(
        isinstance(pos.get(k), int) and not isinstance(pos.get(k), bool) and pos[k] >= 0 for k in ("line", "character")
    ):
        raise JsonRpcInvalidParams('"position" must be {"line": int >= 0, "character": int >= 0}')
    if not isinstance(apply, bool):
        raise JsonRpcInvalidParams('"apply" must be true or false')
    return uri, t.Position(line=pos["line"], character=pos["character"]), apply


def _why_no_site(lt: LeanText, offset: int, mode: str) -> str:
    if lt.unterminated is not None and lt.unterminated <= offset:
        line = lt.index.line_of(lt.unterminated) + 1
        return f"an unterminated comment or string literal starts on line {line}"
    if mode == "next":
        return "put the cursor on a `sorry` or in a tactic block of a proof"
    return "put the cursor in a theorem that has a `:=`"


def _work_done_token() -> t.ProgressToken | None:
    params = _COMMAND_PARAMS.get()
    return None if params is None else params.work_done_token


def _value(x: Any) -> str:
    """An lsprotocol string enum's value (`str()` of one gives its Python name)."""
    return str(getattr(x, "value", x))


def _capability(caps: Any, *path: str) -> bool:
    for name in path:
        caps = getattr(caps, name, None)
        if caps is None:
            return False
    return bool(caps)


def build(settings: Settings | None = None) -> LeanfdServer:
    """The server with one thin handler per LSP method."""
    ls = LeanfdServer(settings)

    @ls.feature(t.INITIALIZE)
    def initialize(ls: LeanfdServer, params: t.InitializeParams) -> None:
        ls.configure(params.initialization_options, "initializationOptions")

    @ls.feature(t.INITIALIZED)
    async def initialized(ls: LeanfdServer, params: t.InitializedParams) -> None:
        await ls.pull_configuration()
        ls.announce()

    @ls.feature(t.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: LeanfdServer, params: t.DidChangeConfigurationParams) -> None:
        await ls.pull_configuration(from_editor(params.settings))

    @ls.feature(t.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: LeanfdServer, params: t.DidOpenTextDocumentParams) -> None:
        ls.forget(params.text_document.uri)

    @ls.feature(t.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: LeanfdServer, params: t.DidChangeTextDocumentParams) -> None:
        ls.forget(params.text_document.uri)

    @ls.feature(t.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: LeanfdServer, params: t.DidCloseTextDocumentParams) -> None:
        ls.forget(params.text_document.uri)

    @ls.feature(t.TEXT_DOCUMENT_CODE_ACTION,
                t.CodeActionOptions(code_action_kinds=[t.CodeActionKind.QuickFix], resolve_provider=False))
    def code_action(ls: LeanfdServer, params: t.CodeActionParams) -> list[t.CodeAction]:
        return ls.code_actions(params.text_document.uri, params.range.start, params.context.only)

    @ls.feature(t.TEXT_DOCUMENT_INLINE_COMPLETION, t.InlineCompletionOptions())
    async def inline_completion(ls: LeanfdServer, params: t.InlineCompletionParams) -> t.InlineCompletionList | None:
        return await ls.inline(params.text_document.uri, params.position)

    @ls.command(SUGGEST)
    async def suggest_tactics(ls: LeanfdServer, *args: Any) -> list[dict[str, Any]]:
        return await ls.run_command("next", args)

    @ls.command(PROVE)
    async def prove_theorem(ls: LeanfdServer, *args: Any) -> list[dict[str, Any]]:
        return await ls.run_command("proof", args)

    @ls.feature(t.SHUTDOWN)
    async def shutdown(ls: LeanfdServer, params: None) -> None:
        await ls.engine.aclose()

    return ls
