"""The transport to `lean --server` (leanfd/lean/jsonrpc.py): framing on its own, then typed errors,
cancellation and the end of the stream against the bundled Lean's real server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import pytest

from leanfd.lean.errors import LeanFDError, LeanProcessError, LeanRpcError
from leanfd.lean.jsonrpc import Connection, encode, read_message
from leanfd.lean.process import LeanProcess, new_marker

# Type class search down an infinite chain (as in test_server_backend.py): it runs until stopped.
LOOP = (
    "class Loops (n : N) : Prop where\n"
    "instance Loops.step (n : N) [Loops (N.succ n)] : Loops n := Loops.mk\n"
    "theorem Loops.use (n : N) [h : Loops n] : Loops n := h\n"
    "set_option synthInstance.maxHeartbeats 0 in\n"
    "set_option synthInstance.maxSize 100000000 in\n"
    "set_option maxHeartbeats 0 in\n"
    "theorem loops : Loops N.zero := Loops.use N.zero\n"
)


def stream(*chunks: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    for chunk in chunks:
        reader.feed_data(chunk)
    reader.feed_eof()
    return reader


async def read_all(reader: asyncio.StreamReader) -> list[dict]:
    messages = []
    while (msg := await read_message(reader)) is not None:
        messages.append(msg)
    return messages


MESSAGES = [
    {"jsonrpc": "2.0", "id": 1, "result": {"goal": "⊢ 𝔽 = 𝔽 😀"}},  # bytes, not characters, are counted
    {"jsonrpc": "2.0", "method": "$/progress", "params": {"token": "x", "value": {"kind": "end"}}},
    {"jsonrpc": "2.0", "id": 2, "error": {"code": -32601, "message": "no handler"}},
]


async def test_framing_of_joined_and_split_messages():
    data = b"".join(encode(m) for m in MESSAGES)
    assert b"Content-Length: %d\r\n\r\n" % len(encode(MESSAGES[0]).split(b"\r\n\r\n", 1)[1]) in data
    assert await read_all(stream(data)) == MESSAGES  # joined in one chunk
    assert await read_all(stream(*(data[i : i + 1] for i in range(len(data))))) == MESSAGES  # byte by byte
    for cut in range(1, len(data)):  # split anywhere: inside a header, between header and body, inside a character
        assert await read_all(stream(data[:cut], data[cut:])) == MESSAGES


async def test_framing_takes_other_headers_and_refuses_broken_frames():
    body = encode(MESSAGES[0]).split(b"\r\n\r\n", 1)[1]
    typed = b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\ncontent-length: %d\r\n\r\n" % len(body)
    assert await read_all(stream(typed + body)) == [MESSAGES[0]]
    with pytest.raises(LeanProcessError, match="without Content-Length"):
        await read_message(stream(b"Content-Type: x\r\n\r\n{}"))
    with pytest.raises(LeanProcessError, match="MB message"):
        await read_message(stream(encode(MESSAGES[0])), max_bytes=10)
    with pytest.raises(LeanProcessError, match="not an object"):
        await read_message(stream(b"Content-Length: 2\r\n\r\n[]"))
    with pytest.raises(asyncio.IncompleteReadError):  # the stream ends inside a body
        await read_message(stream(encode(MESSAGES[0])[:-3]))


@contextlib.asynccontextmanager
async def lean_server(toolchain, cwd: Path):
    """A real `lean --server` behind a `Connection`, initialized; killed and reaped at the end."""
    lean = await LeanProcess.spawn(toolchain, ["--server", "-Dserver.reportDelayMs=0"], marker=new_marker(),
                                   memory_mb=None, cwd=str(cwd), limit=2**24)
    notifications: list[str] = []
    rpc = Connection(lean.proc.stdout, lean.proc.stdin, lambda method, _: notifications.append(method),
                     running=lambda: lean.proc.returncode is None)
    serve = asyncio.create_task(rpc.serve())
    stderr = asyncio.create_task(lean.proc.stderr.read())
    try:
        deadline = time.monotonic() + 60
        await rpc.request("initialize", {"processId": os.getpid(), "rootUri": cwd.as_uri(), "capabilities": {}},
                          deadline)
        await rpc.notify("initialized", {}, deadline)
        yield lean, rpc, serve
    finally:
        lean.kill()
        await lean.reap()
        # Every pipe ends inside this event loop, not later in the garbage collector.
        lean.proc.stdin.close()
        await asyncio.wait_for(asyncio.gather(serve, stderr, return_exceptions=True), 10)


async def test_an_error_answer_is_a_typed_error_and_the_connection_goes_on(bundled, tmp_path):
    async with lean_server(bundled, tmp_path) as (_, rpc, _):
        with pytest.raises(LeanRpcError) as caught:
            await rpc.request("leanfd/noSuchMethod", {}, time.monotonic() + 30)
        err = caught.value
        assert err.code == -32601 and "leanfd/noSuchMethod" in err.message  # JSON-RPC's MethodNotFound
        assert isinstance(err, LeanProcessError) and isinstance(err, LeanFDError)
        with pytest.raises(LeanRpcError) as caught:  # a request about a document that is not open
            await rpc.request("$/lean/plainGoal", {"textDocument": {"uri": (tmp_path / "Nope.lean").as_uri()},
                                                  "position": {"line": 0, "character": 0}}, time.monotonic() + 30)
        assert caught.value.code == -32801  # ContentModified, as Lean 4.35 answers for a closed file
        assert rpc.alive and rpc.failure is None and rpc.cancelled == set()
        assert await rpc.request("shutdown", None, time.monotonic() + 30) is None


async def test_a_cancelled_request_is_withdrawn_and_the_end_of_the_stream_fails_the_rest(
        bundled, toy_header, tmp_path):
    uri = (tmp_path / "Loop.lean").as_uri()
    async with lean_server(bundled, tmp_path) as (lean, rpc, serve):
        await rpc.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "lean4", "version": 1, "text": toy_header + LOOP}}, time.monotonic() + 10)
        waiting = asyncio.create_task(rpc.request("textDocument/waitForDiagnostics", {"uri": uri, "version": 1},
                                                  time.monotonic() + 60))
        await asyncio.sleep(1.0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert len(rpc.cancelled) == 1 and not rpc._pending  # withdrawn with `$/cancelRequest`, nothing waits

        # A timed-out request is withdrawn the same way.
        with pytest.raises(TimeoutError):
            await rpc.request("textDocument/waitForDiagnostics", {"uri": uri, "version": 1}, time.monotonic() + 0.5)
        assert len(rpc.cancelled) == 2 and rpc.alive

        # The end of the stream: the owner fails the connection, and every pending request fails at once.
        pending = asyncio.create_task(rpc.request("textDocument/waitForDiagnostics", {"uri": uri, "version": 1},
                                                  time.monotonic() + 60))
        await asyncio.sleep(0.2)
        lean.kill()  # the process owner's kill: the server and its file worker
        detail = await asyncio.wait_for(serve, 10)
        assert detail == "lean --server closed its output"
        rpc.fail(detail)
        with pytest.raises(LeanProcessError, match="closed its output"):
            await asyncio.wait_for(pending, 1)
        assert not rpc.alive
        with pytest.raises(LeanProcessError, match="closed its output"):  # nothing more is sent
            await rpc.notify("exit", None, time.monotonic() + 1)

