"""`leanfd lsp` end to end: the real server (`python -m leanfd lsp`) driven by pytest-lsp's client, the
bundled Lean checking candidates on prelude-only files, and a loopback OpenAI-compatible server
(tests/llm_server.py) giving fixed candidates. One tiny random `hf` model run as well."""

from __future__ import annotations

import asyncio
import sys
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from llm_server import Answer, LLMServer, ServerError, Slow
from lsprotocol import types as t
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcMethodNotFound
from pygls.protocol.json_rpc import JsonRPCRequestMessage
from pytest_lsp import ClientServerConfig, LanguageClient

pytestmark = pytest.mark.asyncio(loop_scope="module")

REPO = Path(__file__).resolve().parents[1]
PRELUDE = (REPO / "lean_project" / "toy" / "Prelude.lean").read_text()
THEOREM = "theorem t (n : N) : Eq (N.add n N.zero) n := sorry\n"
DOC = PRELUDE + THEOREM
SORRY_LINE = PRELUDE.count("\n")  # 0-based line of the theorem
SORRY_COL = THEOREM.index("sorry")
SERVER = [sys.executable, "-m", "leanfd", "lsp", "--lean", "bundled", "--samples", "3", "--timeout", "30"]
CAPABILITIES = t.ClientCapabilities(
    window=t.WindowClientCapabilities(work_done_progress=True),
    workspace=t.WorkspaceClientCapabilities(
        configuration=True, apply_edit=True,
        workspace_edit=t.WorkspaceEditClientCapabilities(document_changes=True)),
)


class Recorder:
    """What the server sent the client besides answers: statuses and applied edits."""

    def __init__(self) -> None:
        self.statuses: list[dict[str, Any]] = []
        self.edits: list[t.ApplyWorkspaceEditParams] = []


def attach(client: LanguageClient) -> Recorder:
    rec = Recorder()

    @client.feature("leanfd/status")
    def status(client: LanguageClient, params: Any) -> None:
        rec.statuses.append(params if isinstance(params, dict) else {"state": params.state, "message": params.message})

    @client.feature(t.WORKSPACE_APPLY_EDIT)
    def apply_edit(client: LanguageClient, params: t.ApplyWorkspaceEditParams) -> t.ApplyWorkspaceEditResult:
        rec.edits.append(params)
        return t.ApplyWorkspaceEditResult(applied=True)

    return rec


@pytest.fixture(scope="module")
def llm() -> Any:
    with LLMServer() as server:
        yield server


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient, llm: LLMServer):
    lsp_client.recorder = attach(lsp_client)  # type: ignore[attr-defined]
    options = {"leanfd": {"backend": "openai", "model": "tiny", "baseUrl": llm.openai_url, "maxFileChars": 20_000}}
    await lsp_client.initialize_session(
        t.InitializeParams(capabilities=CAPABILITIES, initialization_options=options))
    yield
    await lsp_client.shutdown_session()


_docs = iter(range(10_000))


def open_doc(client: LanguageClient, text: str) -> str:
    uri = (REPO / f"LspTest{next(_docs)}.lean").as_uri()
    client.text_document_did_open(t.DidOpenTextDocumentParams(
        text_document=t.TextDocumentItem(uri=uri, language_id="lean4", version=1, text=text)))
    return uri


def at(line: int, character: int) -> dict[str, int]:
    return {"line": line, "character": character}


async def execute(client: LanguageClient, command: str, uri: str, line: int, character: int, **extra: Any) -> Any:
    return await client.workspace_execute_command_async(
        t.ExecuteCommandParams(command=command, arguments=[{"uri": uri, "position": at(line, character), **extra}]))


async def code_actions(client: LanguageClient, uri: str, line: int, character: int) -> list[dict[str, Any]]:
    """The answer as JSON: lsprotocol's client-side converter reads every code action that has a
    `command` as a bare `Command` (its union hook only looks for the key), losing the action."""
    pos = at(line, character)
    got = await raw_request(client, t.TEXT_DOCUMENT_CODE_ACTION, {
        "textDocument": {"uri": uri}, "range": {"start": pos, "end": pos}, "context": {"diagnostics": []}})
    return list(got or [])


def commands(actions: list[dict[str, Any]]) -> list[str]:
    return [a["command"]["command"] for a in actions if "command" in a]


async def raw_request(client: LanguageClient, method: str, params: Any) -> Any:
    """A request sent as given: the client's own typed path would refuse to serialise malformed params."""
    msg_id = f"raw-{next(_docs)}"
    future: Future[Any] = Future()
    client.protocol._request_futures[msg_id] = future
    client.protocol._send_data(JsonRPCRequestMessage(id=msg_id, method=method, jsonrpc="2.0", params=params))
    return await asyncio.wait_for(asyncio.wrap_future(future), 10)


def apply(text: str, edit: dict[str, Any]) -> str:
    lines = text.split("\n")
    (sl, sc), (el, ec) = ((edit["range"][k]["line"], edit["range"][k]["character"]) for k in ("start", "end"))
    start = sum(len(x) + 1 for x in lines[:sl]) + sc
    end = sum(len(x) + 1 for x in lines[:el]) + ec
    return text[:start] + edit["newText"] + text[end:]


async def test_code_action_offers_only_verified_candidates(client: LanguageClient, llm: LLMServer):
    llm.push(Answer(["Eq.refl n", "Eq.refl N.zero", "#exit"]))
    uri = open_doc(client, DOC)
    before = await code_actions(client, uri, SORRY_LINE, SORRY_COL + 2)
    assert commands(before) == ["leanfd.suggestTactics"] and all("edit" not in a for a in before)
    assert before[0]["command"]["arguments"] == [{"uri": uri, "position": at(SORRY_LINE, SORRY_COL + 2)}]

    results = await execute(client, "leanfd.suggestTactics", uri, SORRY_LINE, SORRY_COL + 2)
    assert [r["text"] for r in results] == ["Eq.refl n"]
    assert results[0]["status"] == "closes" and results[0]["kind"] == "term"
    assert apply(DOC, results[0]["edit"]) == PRELUDE + "theorem t (n : N) : Eq (N.add n N.zero) n := Eq.refl n\n"
    prompt = llm.requests[-1].body["prompt"]
    assert prompt.startswith("Complete the following Lean 4 code:") and "⊢ Eq (n.add N.zero) n" in prompt
    assert prompt.endswith(THEOREM[:SORRY_COL])

    actions = await code_actions(client, uri, SORRY_LINE, SORRY_COL)
    verified = [a for a in actions if "edit" in a]
    assert len(verified) == 1 and verified[0]["isPreferred"] and "Eq.refl n" in verified[0]["title"]
    (change,) = verified[0]["edit"]["documentChanges"]
    assert change["textDocument"] == {"uri": uri, "version": 1}
    (edit,) = change["edits"]
    assert edit["newText"] == "Eq.refl n"
    assert edit["range"] == {"start": at(SORRY_LINE, SORRY_COL), "end": at(SORRY_LINE, SORRY_COL + 5)}
    assert commands(actions) == ["leanfd.suggestTactics"]

    # Progress went begin ... end; the status bar went busy then ready.
    reports = [r for rs in client.progress_reports.values() for r in rs]
    assert reports and reports[0].kind == "begin" and reports[-1].kind == "end"
    states = [s["state"] for s in client.recorder.statuses]
    assert "busy" in states and states[-1] == "ready"

    # Any change of the document drops what was verified for it.
    client.text_document_did_change(t.DidChangeTextDocumentParams(
        text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[t.TextDocumentContentChangeWholeDocument(text=DOC + "\n")]))
    after = await code_actions(client, uri, SORRY_LINE, SORRY_COL)
    assert commands(after) == ["leanfd.suggestTactics"] and all("edit" not in a for a in after)


async def test_apply_sends_workspace_apply_edit(client: LanguageClient, llm: LLMServer):
    llm.push(Answer(["Eq.refl N.zero", "Eq.refl n"]))
    uri = open_doc(client, DOC)
    client.recorder.edits.clear()
    results = await execute(client, "leanfd.suggestTactics", uri, SORRY_LINE, SORRY_COL, apply=True)
    assert [r["text"] for r in results] == ["Eq.refl n"]
    (sent,) = client.recorder.edits
    (change,) = sent.edit.document_changes
    assert change.text_document.uri == uri and change.edits[0].new_text == "Eq.refl n"


async def wait_for_model(llm: LLMServer, seen: int) -> None:
    """Until the model has been asked: the search is under way."""
    deadline = time.monotonic() + 20
    while len(llm.requests) == seen:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


async def test_an_edit_is_never_sent_for_a_stale_version(client: LanguageClient, llm: LLMServer):
    """A line typed above the theorem during the search: the edit, computed on the text searched,
    would land inside that line; the server refuses to send it and says why."""
    llm.push(Slow(2, Answer(["Eq.refl n"])))
    uri = open_doc(client, DOC)
    client.recorder.edits.clear()
    client.messages.clear()
    seen = len(llm.requests)
    pending = asyncio.ensure_future(execute(client, "leanfd.suggestTactics", uri, SORRY_LINE, SORRY_COL, apply=True))
    await wait_for_model(llm, seen)
    client.text_document_did_change(t.DidChangeTextDocumentParams(
        text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[t.TextDocumentContentChangePartial(
            range=t.Range(start=t.Position(line=SORRY_LINE, character=0), end=t.Position(line=SORRY_LINE, character=0)),
            text="-- edited\n")]))
    results = await asyncio.wait_for(pending, 30)
    assert [(r["text"], r["version"]) for r in results] == [("Eq.refl n", 1)]  # what version 1 would get
    assert client.recorder.edits == []
    assert any("the file changed while the server was working" in m.message for m in client.messages), client.messages
    # On the current version the same command applies its edit, naming that version.
    llm.push(Answer(["Eq.refl n"]))
    await execute(client, "leanfd.suggestTactics", uri, SORRY_LINE + 1, SORRY_COL, apply=True)
    (sent,) = client.recorder.edits
    (change,) = sent.edit.document_changes
    assert change.text_document.version == 2 and change.edits[0].range.start.line == SORRY_LINE + 1


async def test_the_progress_cancel_button_stops_the_search_and_sends_no_edit(client: LanguageClient, llm: LLMServer):
    llm.push(Slow(30, Answer(["Eq.refl n"])))
    uri = open_doc(client, DOC)
    client.recorder.edits.clear()
    known = set(client.progress_reports)
    seen = len(llm.requests)
    pending = asyncio.ensure_future(execute(client, "leanfd.suggestTactics", uri, SORRY_LINE, SORRY_COL, apply=True))
    await wait_for_model(llm, seen)
    (token,) = set(client.progress_reports) - known  # created by the server: the client sent no token
    (begin, *_) = client.progress_reports[token]
    assert begin.kind == "begin" and begin.cancellable
    t0 = time.monotonic()
    client.window_work_done_progress_cancel(t.WorkDoneProgressCancelParams(token=token))
    assert await asyncio.wait_for(pending, 10) == []  # an answer, not a RequestCancelled error
    assert time.monotonic() - t0 < 5
    assert client.progress_reports[token][-1].kind == "end"
    assert client.recorder.edits == []
    assert client.recorder.statuses[-1] == {"state": "ready", "message": "search cancelled"}
    llm.push(Answer(["Eq.refl n"]))
    assert [r["text"] for r in await execute(client, "leanfd.suggestTactics", uri, SORRY_LINE, SORRY_COL)] == [
        "Eq.refl n"]


async def test_prove_theorem_replaces_the_whole_proof(client: LanguageClient, llm: LLMServer):
    llm.push(Answer(["Eq.refl n\n```", " Eq.trans (Eq.refl _) (Eq.refl n)", "Eq.symm"]))
    uri = open_doc(client, DOC)
    results = await execute(client, "leanfd.proveTheorem", uri, SORRY_LINE, 9)  # cursor on the name
    assert {r["text"] for r in results} == {"Eq.refl n", "Eq.trans (Eq.refl _) (Eq.refl n)"}
    assert all(r["status"] == "closes" and r["kind"] == "proof" for r in results)
    assert apply(DOC, results[0]["edit"]).endswith(":= " + results[0]["text"] + "\n")
    assert llm.requests[-1].body["prompt"].endswith("theorem t (n : N) : Eq (N.add n N.zero) n :=")
    # The whole-proof results are offered at the sorry too.
    actions = await code_actions(client, uri, SORRY_LINE, SORRY_COL)
    assert sum("edit" in a for a in actions) == 2


async def test_inline_completion_gives_the_verified_term(client: LanguageClient, llm: LLMServer):
    llm.push(Answer(["Eq.refl N.zero", "Eq.refl n"]))
    uri = open_doc(client, DOC)
    got = await client.text_document_inline_completion_async(t.InlineCompletionParams(
        context=t.InlineCompletionContext(trigger_kind=t.InlineCompletionTriggerKind.Invoked),
        text_document=t.TextDocumentIdentifier(uri=uri), position=t.Position(line=SORRY_LINE, character=SORRY_COL)))
    assert got is not None
    (item,) = got.items
    assert item.insert_text == "Eq.refl n"
    assert (item.range.start.character, item.range.end.character) == (SORRY_COL, SORRY_COL + 5)
    # At the end of a line being typed, only the cache answers: no search per keystroke.
    typing = open_doc(client, PRELUDE + "theorem t (n : N) : Eq (N.add n N.zero) n := by\n  exact Eq.refl n\n")
    asked = len(llm.requests)
    got = await client.text_document_inline_completion_async(t.InlineCompletionParams(
        context=t.InlineCompletionContext(trigger_kind=t.InlineCompletionTriggerKind.Automatic),
        text_document=t.TextDocumentIdentifier(uri=typing), position=t.Position(line=SORRY_LINE + 1, character=17)))
    assert got is None and len(llm.requests) == asked


async def test_cancel_stops_the_search(client: LanguageClient, llm: LLMServer):
    """The VS Code extension's way: progress under its own token, its Cancel button a `$/cancelRequest`."""
    llm.push(Slow(30, Answer(["Eq.refl n"])))
    uri = open_doc(client, DOC)
    client.recorder.edits.clear()
    seen, known = len(llm.requests), set(client.progress_reports)
    client.progress_reports["vscode-token"] = []
    params = t.ExecuteCommandParams(command="leanfd.suggestTactics", work_done_token="vscode-token",
                                    arguments=[{"uri": uri, "position": at(SORRY_LINE, SORRY_COL), "apply": True}])
    pending = asyncio.ensure_future(
        client.protocol.send_request_async(t.WORKSPACE_EXECUTE_COMMAND, params, msg_id="cancel-me"))
    await wait_for_model(llm, seen)
    t0 = time.monotonic()
    client.protocol.notify(t.CANCEL_REQUEST, t.CancelParams(id="cancel-me"))
    with pytest.raises(JsonRpcException) as err:
        await asyncio.wait_for(pending, 10)
    assert err.value.code == -32800  # RequestCancelled
    deadline = time.monotonic() + 5
    kinds = client.progress_reports["vscode-token"]
    while not any(s["message"] == "search cancelled" for s in client.recorder.statuses) or kinds[-1].kind != "end":
        assert time.monotonic() < deadline, (client.recorder.statuses, kinds)
        await asyncio.sleep(0.05)
    assert time.monotonic() - t0 < 5
    assert kinds[0].kind == "begin"
    assert set(client.progress_reports) == known | {"vscode-token"}  # no progress of the server's own
    assert client.recorder.edits == []
    # The server is free again: the next search runs at once.
    llm.push(Answer(["Eq.refl n"]))
    results = await asyncio.wait_for(execute(client, "leanfd.suggestTactics", uri, SORRY_LINE, SORRY_COL), 20)
    assert [r["text"] for r in results] == ["Eq.refl n"]


async def test_malformed_requests_get_errors(client: LanguageClient):
    uri = open_doc(client, DOC)
    with pytest.raises(JsonRpcInvalidParams):
        await client.workspace_execute_command_async(t.ExecuteCommandParams(command="leanfd.suggestTactics"))
    with pytest.raises(JsonRpcInvalidParams):
        await client.workspace_execute_command_async(t.ExecuteCommandParams(
            command="leanfd.suggestTactics", arguments=[{"uri": uri, "position": {"line": -1}}]))
    with pytest.raises(JsonRpcInvalidParams):
        await execute(client, "leanfd.proveTheorem", "file:///not/open.lean", 0, 0)
    with pytest.raises(JsonRpcInvalidParams):
        await client.workspace_execute_command_async(t.ExecuteCommandParams(command="leanfd.noSuchCommand"))
    with pytest.raises(JsonRpcInvalidParams):  # params that are not a CodeActionParams
        await raw_request(client, t.TEXT_DOCUMENT_CODE_ACTION, {"textDocument": 5})
    with pytest.raises(JsonRpcMethodNotFound):
        await raw_request(client, "leanfd/noSuchMethod", {})
    # Still alive and answering.
    assert commands(await code_actions(client, uri, SORRY_LINE, SORRY_COL)) == ["leanfd.suggestTactics"]


async def test_parse_errors_and_cursors_outside_a_proof_get_empty_answers(client: LanguageClient, llm: LLMServer):
    unterminated = open_doc(client, PRELUDE + "/- no end\n" + THEOREM)
    assert await code_actions(client, unterminated, SORRY_LINE + 1, SORRY_COL) == []
    assert await execute(client, "leanfd.suggestTactics", unterminated, SORRY_LINE + 1, SORRY_COL) == []

    uri = open_doc(client, DOC)
    assert await code_actions(client, uri, SORRY_LINE, 9) == []  # on the statement
    assert await code_actions(client, uri, 3, 0) == []  # in the prelude, outside any proof
    assert await execute(client, "leanfd.suggestTactics", uri, SORRY_LINE, 9) == []

    broken = open_doc(client, PRELUDE + "theorem t (n : N) : Eq (N.add n N.zero) n := (sorry\n")
    asked = len(llm.requests)
    client.messages.clear()
    assert await execute(client, "leanfd.suggestTactics", broken, SORRY_LINE, SORRY_COL + 2) == []
    assert len(llm.requests) == asked  # Lean saw the parse error: the model was never asked
    assert any("parse" in m.message for m in client.messages)
    assert await code_actions(client, broken, SORRY_LINE, SORRY_COL + 2) == []

    huge = open_doc(client, DOC + "-- padding\n" * 2_000)
    assert await code_actions(client, huge, SORRY_LINE, SORRY_COL) == []
    assert any("maxFileChars" in m.message for m in client.messages)


async def test_a_failing_model_gives_a_message_not_a_dead_server(client: LanguageClient, llm: LLMServer):
    llm.push(ServerError(500), ServerError(500))  # the first try and its one retry
    uri = open_doc(client, DOC)
    client.messages.clear()
    assert await execute(client, "leanfd.suggestTactics", uri, SORRY_LINE, SORRY_COL) == []
    assert any(m.type == t.MessageType.Error for m in client.messages)
    assert client.recorder.statuses[-1]["state"] == "error"
    llm.push(Answer(["Eq.refl n"]))
    found = await execute(client, "leanfd.suggestTactics", uri, SORRY_LINE, SORRY_COL)
    assert [r["text"] for r in found] == ["Eq.refl n"]


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(server_command=SERVER))
async def hf_client(lsp_client: LanguageClient, tiny_model_dir: Path):
    lsp_client.recorder = attach(lsp_client)  # type: ignore[attr-defined]
    # Settings through workspace/configuration only (section "leanfd"), not initializationOptions.
    lsp_client.set_configuration({"backend": "hf", "model": str(tiny_model_dir), "samples": 2, "maxTokens": 12},
                                 section="leanfd")
    await lsp_client.initialize_session(t.InitializeParams(capabilities=CAPABILITIES))
    yield
    await lsp_client.shutdown_session()


async def test_tiny_hf_model_completes(hf_client: LanguageClient):
    uri = open_doc(hf_client, DOC)
    hf_client.messages.clear()
    results = await execute(hf_client, "leanfd.suggestTactics", uri, SORRY_LINE, SORRY_COL)
    assert isinstance(results, list)  # random weights: whatever they say, Lean decides
    assert all(r["status"] in ("closes", "progress") for r in results)
    assert not [m for m in hf_client.messages if m.type == t.MessageType.Error], hf_client.messages
    last = hf_client.recorder.statuses[-1]
    assert last["state"] == "ready" and "of 2 samples" in last["message"], last


async def test_settings_update_and_a_missing_lean(client: LanguageClient, llm: LLMServer):
    uri = open_doc(client, DOC)
    client.set_configuration({"lean": str(REPO / "no-such-lean")}, section="leanfd")
    client.workspace_did_change_configuration(t.DidChangeConfigurationParams(settings=None))
    client.messages.clear()
    assert await execute(client, "leanfd.suggestTactics", uri, SORRY_LINE, SORRY_COL) == []
    assert any(m.type == t.MessageType.Error and "no-such-lean" in m.message for m in client.messages), client.messages
    client.set_configuration({"lean": "bundled"}, section="leanfd")
    client.workspace_did_change_configuration(t.DidChangeConfigurationParams(settings=None))
    llm.push(Answer(["Eq.refl n"]))
    found = await execute(client, "leanfd.suggestTactics", uri, SORRY_LINE, SORRY_COL)
    assert [r["text"] for r in found] == ["Eq.refl n"]
