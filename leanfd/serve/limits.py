"""What a request must pass before any check runs: the token, the body's size, well-formed JSON.

`Refusal` is the one way a request is turned down: an HTTP status and a message that says why (and,
for 429, when to come back). The app turns it into a response at its edge.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from leanfd.lean.records import not_text


class Refusal(Exception):
    """A request turned down: `status` (4xx, or 503 while the server stops) and a message for the client."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def bearer(headers: Mapping[str, str]) -> str | None:
    """The token a request carries: `Authorization: Bearer TOKEN` (kimina-client's header), or
    `X-Auth-Token: TOKEN` (Kimina Lean Server's own, with or without `Bearer `)."""
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if kimina := headers.get("x-auth-token", "").strip():
        return kimina.removeprefix("Bearer ").strip()
    return None


def authorize(headers: Mapping[str, str], token: str | None) -> None:
    """Refuse (401) a request without the server's token; any request passes when it has none."""
    if token is None:
        return
    given = bearer(headers)
    if given is None:
        raise Refusal(401, "this server needs a token: send `Authorization: Bearer TOKEN`",
                      {"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(given.encode(), token.encode()):  # in constant time: no timing oracle
        raise Refusal(401, "wrong token", {"WWW-Authenticate": 'Bearer error="invalid_token"'})


def too_large(size: int, limit: int) -> Refusal:
    return Refusal(413, f"the request body ({size} bytes or more) is over the limit of {limit} bytes "
                        f"(--max-body-mb {limit / 1e6:g})")


async def read_body(headers: Mapping[str, str], chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The whole body, refused (413) as soon as it is known to pass `limit` bytes: from its
    Content-Length before a byte is read, else while it arrives."""
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Refusal(400, f"Content-Length {declared!r} is not a number of bytes")
        if int(declared) > limit:
            raise too_large(int(declared), limit)
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise too_large(len(body), limit)
    return bytes(body)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(body: bytes) -> Any:
    """The body as JSON; a Refusal (400) saying what is wrong with it. NaN and Infinity (which Python
    would accept) are refused, and so is a string no UTF-8 can hold (Lean could never be given it)."""
    if not body.strip():
        raise Refusal(400, "the request body is empty: send a JSON object")
    try:
        value = json.loads(body, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise Refusal(400, f"the body is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except UnicodeDecodeError as e:
        raise Refusal(400, f"the body is not UTF-8 text: byte 0x{body[e.start]:02x} at byte {e.start + 1}") from None
    except ValueError as e:  # NaN, Infinity, an integer too long to read
        raise Refusal(400, f"the body is not valid JSON: {e}") from None
    except RecursionError:
        raise Refusal(400, "the body is not valid JSON: nested too deeply") from None
    if why := not_text(value):
        raise Refusal(400, why)
    return value
