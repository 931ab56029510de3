"""Language server latency: a cached suggestion (code action, inline completion) and an uncached one
(`leanfd.suggestTactics`: goal, model, Lean checks), as an editor sees them over stdio; and a code
action right after an edit (the new version analysed, nothing cached: what every keystroke costs).

The real server (`python -m leanfd lsp --lean bundled`), a loopback OpenAI-compatible server
(tests/llm_server.py) answering 3 fixed candidates (one right, one wrong, one refused by the policy),
and a prelude-only document whose theorem ends in `sorry`, optionally after `--decls` extra
declarations (a longer file before the theorem). Each uncached search follows an edit of the
document (a new version: the cache is dropped, as when a user types).

    python bench/lsp.py --searches 20 --cached 200      # figures go to bench/README.md by hand
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

from lsprotocol import types as t
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from llm_server import Answer, LLMServer  # noqa: E402

THEOREM = "theorem t (n : N) : Eq (N.add n N.zero) n := sorry\n"


def document(decls: int) -> str:
    lines = [(ROOT / "lean_project" / "toy" / "Prelude.lean").read_text().rstrip("\n")]
    for i in range(decls):
        lines.append(f"theorem pre{i} (n : N) : Eq (N.add n N.zero) n := Eq.refl n")
    return "\n".join(lines) + "\n" + THEOREM


def percentiles(xs: list[float]) -> tuple[float, float]:
    xs = sorted(xs)
    return statistics.median(xs), xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]


async def main(args: argparse.Namespace) -> None:
    text = document(args.decls)
    line = text.count("\n") - 1
    col = THEOREM.index("sorry")
    pos = t.Position(line=line, character=col)
    uri = (ROOT / "BenchLsp.lean").as_uri()
    with LLMServer(default=Answer(["Eq.refl n", "Eq.refl N.zero", "#exit"])) as llm:
        client = LanguageClient("bench", "0")
        client.feature("leanfd/status")(lambda params: None)
        await client.start_io(sys.executable, "-m", "leanfd", "lsp", "--lean", "bundled", "--samples", "3")
        await client.initialize_async(t.InitializeParams(
            capabilities=t.ClientCapabilities(),
            initialization_options={"leanfd": {"backend": "openai", "model": "bench", "baseUrl": llm.openai_url}}))
        client.initialized(t.InitializedParams())
        client.text_document_did_open(t.DidOpenTextDocumentParams(
            text_document=t.TextDocumentItem(uri=uri, language_id="lean4", version=1, text=text)))
        arguments = [{"uri": uri, "position": {"line": line, "character": col}}]

        uncached = []
        for k in range(args.searches + 1):  # the first one starts Lean: not counted
            client.text_document_did_change(t.DidChangeTextDocumentParams(
                text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=k + 2),
                content_changes=[t.TextDocumentContentChangeWholeDocument(text=text + f"-- edit {k}\n")]))
            t0 = time.perf_counter()
            found = await client.workspace_execute_command_async(
                t.ExecuteCommandParams(command="leanfd.suggestTactics", arguments=arguments))
            if k:
                uncached.append(time.perf_counter() - t0)
            assert [r["text"] for r in found] == ["Eq.refl n"], found

        action = t.CodeActionParams(text_document=t.TextDocumentIdentifier(uri=uri), range=t.Range(start=pos, end=pos),
                                    context=t.CodeActionContext(diagnostics=[]))
        inline = t.InlineCompletionParams(
            context=t.InlineCompletionContext(trigger_kind=t.InlineCompletionTriggerKind.Automatic),
            text_document=t.TextDocumentIdentifier(uri=uri), position=pos)
        cached_action, cached_inline = [], []
        for _ in range(args.cached):
            t0 = time.perf_counter()
            got = await client.text_document_code_action_async(action)
            cached_action.append(time.perf_counter() - t0)
            assert any(getattr(a, "edit", None) for a in got or []), got
            t0 = time.perf_counter()
            ghost = await client.text_document_inline_completion_async(inline)
            cached_inline.append(time.perf_counter() - t0)
            assert ghost is not None and ghost.items[0].insert_text == "Eq.refl n"
        fresh_action = []  # right after an edit: the new version is analysed, nothing is cached
        for k in range(args.cached):
            client.text_document_did_change(t.DidChangeTextDocumentParams(
                text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=args.searches + 3 + k),
                content_changes=[t.TextDocumentContentChangeWholeDocument(text=text + f"-- typing {k}\n")]))
            t0 = time.perf_counter()
            await client.text_document_code_action_async(action)
            fresh_action.append(time.perf_counter() - t0)
        requests = len(llm.requests)
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()

    print(f"document: {len(text)} characters, {text.count(chr(10))} lines; model requests: {requests}")
    for name, xs in (("uncached suggestTactics", uncached), ("cached codeAction", cached_action),
                     ("cached inlineCompletion", cached_inline), ("codeAction after an edit", fresh_action)):
        p50, p95 = percentiles(xs)
        print(f"{name:26s} n={len(xs):4d}  p50 {1000 * p50:8.1f} ms  p95 {1000 * p95:8.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--searches", type=int, default=20, help="uncached searches (each after an edit)")
    parser.add_argument("--cached", type=int, default=200, help="cached code action + inline completion requests")
    parser.add_argument("--decls", type=int, default=0, help="extra declarations before the theorem")
    asyncio.run(main(parser.parse_args()))
