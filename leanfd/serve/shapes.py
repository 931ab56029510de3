"""Checking a request's JSON against the shape it must have: one message per mistake, naming the field."""

from __future__ import annotations

import math
from typing import Any

from leanfd.serve.limits import Refusal


def bad(message: str) -> Refusal:
    return Refusal(400, message)


def an_object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad(f"the body must be a JSON object ({what}), not {json_type(body)}")
    return body


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


def a_list(obj: dict[str, Any], key: str, item: str) -> list[Any]:
    value = obj.get(key)
    if not isinstance(value, list):
        raise bad(f"`{key}` must be an array of {item}, not {json_type(value)}")
    return value


def a_timeout(obj: dict[str, Any], key: str = "timeout") -> float | None:
    """`obj[key]` as seconds (> 0, finite), or None when absent or null."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad(f"`{key}` must be a number of seconds, not {json_type(value)}")
    if not math.isfinite(value) or value <= 0:
        raise bad(f"`{key}` must be a positive number of seconds, got {value}")
    return float(value)


def optional(obj: dict[str, Any], key: str, kind: type, what: str) -> None:
    """A field the server accepts and may ignore must still have the type its clients send."""
    value = obj.get(key)
    if value is not None and (not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))):
        raise bad(f"`{key}` must be {what}, not {json_type(value)}")


def only(obj: dict[str, Any], allowed: tuple[str, ...]) -> None:
    if unknown := sorted(set(obj) - set(allowed)):
        raise bad(f"unknown field(s) {', '.join(map(repr, unknown))}; this endpoint takes {', '.join(allowed)}")
