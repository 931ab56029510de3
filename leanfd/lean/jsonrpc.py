"""The transport to `lean --server`: JSON-RPC 2.0 over its pipes, framed as LSP's base protocol.

One `Connection` per server: it frames messages (`Content-Length` headers), numbers requests and
keeps a future per pending one, withdraws a request that timed out or was cancelled with
`$/cancelRequest`, acknowledges the server's own requests, and hands notifications to its owner.
An error answer is a `LeanRpcError` carrying Lean's code and message; when the stream ends or breaks,
every pending request fails at once with one `LeanProcessError`, and nothing more can be sent.
It knows nothing of documents (`documents.py`) or processes (`process.py`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

from leanfd.lean.errors import LeanProcessError, LeanRpcError

MAX_MESSAGE_BYTES = 64 << 20  # one LSP message from Lean; larger ones end the connection (checks: crashed)


def encode(message: dict[str, Any]) -> bytes:
    """One JSON-RPC message with its `Content-Length` header (the LSP base protocol)."""
    body = json.dumps(message, ensure_ascii=False).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


async def read_message(reader: asyncio.StreamReader, max_bytes: int = MAX_MESSAGE_BYTES) -> dict[str, Any] | None:
    """The next message on `reader`, None at the end of the stream; `LeanProcessError` when it is not one."""
    length = None
    while True:
        line = await reader.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("ascii").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if length is None:
        raise LeanProcessError("LSP message without Content-Length")
    if length > max_bytes:  # never held whole
        raise LeanProcessError(f"Lean sent a {length / 2**20:.0f} MB message (over {max_bytes >> 20} MB)")
    msg = json.loads(await reader.readexactly(length))
    if not isinstance(msg, dict):
        raise LeanProcessError(f"LSP message is not an object: {msg!r:.200}")
    return msg


class Connection:
    """JSON-RPC with one `lean --server`: requests, notifications, futures, cancellation, typed errors.

    `serve` reads until the stream ends; its owner runs it as a task and, when it returns, calls `fail`
    with the reason (plus what it knows of the process). `running` says whether the peer process still
    runs; `on_notification(method, params)` gets every notification from the server.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_notification: Callable[[str, Any], None],
        running: Callable[[], bool] = lambda: True,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._on_notification = on_notification
        self._running = running
        self._max_bytes = max_message_bytes
        self.failure: str | None = None  # why the connection is unusable; set once
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self.cancelled: set[int] = set()  # ids withdrawn with `$/cancelRequest`, not answered yet
        self.cancel_answers: list[int | str] = []  # how Lean answered them: an error code, or "result"

    @property
    def alive(self) -> bool:
        return self.failure is None and self._running()

    def fail(self, detail: str) -> None:
        """Mark the connection unusable and fail every pending request at once."""
        if self.failure is None:
            self.failure = detail
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(LeanProcessError(self.failure))
        self._pending.clear()

    async def request(self, method: str, params: Any, deadline: float) -> Any:
        """Send a request and wait for its answer until `deadline` (`time.monotonic()`); a request that
        times out or is cancelled is withdrawn. Raises `LeanRpcError` when Lean answers with an error."""
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await self._send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}, deadline)
            return await asyncio.wait_for(fut, max(0.0, deadline - time.monotonic()))
        except (TimeoutError, asyncio.CancelledError):
            self.cancel(rid)
            raise
        finally:
            self._pending.pop(rid, None)

    async def notify(self, method: str, params: Any, deadline: float) -> None:
        await self._send({"jsonrpc": "2.0", "method": method, "params": params}, deadline)

    def cancel(self, rid: int) -> None:
        """Withdraw request `rid` with `$/cancelRequest` (written at once, not awaited: this runs on the
        way out of a timed-out or cancelled wait), so Lean stops working on it."""
        if self.alive and not self._writer.is_closing():
            self.cancelled.add(rid)
            self._writer.write(encode({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": rid}}))

    async def serve(self) -> str:
        """Dispatch everything the server writes until the stream ends or breaks; why it stopped."""
        try:
            while True:
                msg = await read_message(self._reader, self._max_bytes)
                if msg is None:
                    return "lean --server closed its output"
                self._dispatch(msg)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - any protocol breakage makes the connection unusable
            return f"LSP protocol error: {e!r}"

    async def _send(self, message: dict[str, Any], deadline: float) -> None:
        if not self.alive:
            raise LeanProcessError(self.failure or "lean --server is not running")
        try:
            self._writer.write(encode(message))
            await asyncio.wait_for(self._writer.drain(), max(0.0, deadline - time.monotonic()))
        except (ConnectionError, RuntimeError) as e:
            self.fail(f"writing to lean --server failed: {e!r}")
            raise LeanProcessError(self.failure or str(e)) from e

    def _dispatch(self, msg: dict[str, Any]) -> None:
        if "id" in msg and "method" in msg:
            # A request from the server (registerCapability, inlayHint/refresh, ...): acknowledge it.
            if not self._writer.is_closing():
                self._writer.write(encode({"jsonrpc": "2.0", "id": msg["id"], "result": None}))
        elif "id" in msg:
            if msg["id"] in self.cancelled:
                self.cancelled.discard(msg["id"])
                self.cancel_answers.append((msg.get("error") or {}).get("code", "result"))
            fut = self._pending.get(msg["id"])
            if fut is None or fut.done():
                return
            if "error" in msg:
                err = msg["error"] or {}
                fut.set_exception(LeanRpcError(err.get("code"), err.get("message")))
            else:
                fut.set_result(msg.get("result"))
        elif "method" in msg:
            self._on_notification(msg["method"], msg.get("params"))
