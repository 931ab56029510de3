"""Kimina Lean Server's API, as kimina-client 0.2.1 speaks it, answered with leanfd's verdicts.

`POST /api/check` takes `{"snippets": [{"id", "code"}], "timeout", "debug", "reuse", "infotree"}` and
answers `{"results": [{"id", "time", "error" | "response": {"messages", "sorries"}}]}`; the older
`POST /verify` takes `{"codes": [{"custom_id", "proof" | "code"}], "timeout", ...}` and answers
`{"results": [{"custom_id", "error" | "response": {"messages", "sorries", "time"}}]}`. Messages are in
the Lean REPL's shape (`severity` error, warning or info; `pos` and `endPos` with a 1-based `line` and
0-based `column`; `data`).

A snippet is a whole Lean file and is judged as `leanfd check` judges a `.lean` file: every
declaration kind-checked, only allowed axioms, nothing the snippet declares trusted. Kimina's clients
call a result valid when it has no error message and no sorry, so every snippet leanfd does not
prove carries an error message that says why (`leanfd: rejected: ...`) and is invalid to them too.
A snippet that only uses `sorry` keeps Kimina's shape for that: its `sorries`, no error. A timeout
or a check the machinery could not finish is an `error` string, which kimina-client reads as a
timeout ("timed out" in it) or a server error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from leanfd.lean.messages import is_sorry_warning
from leanfd.lean.records import Verdict
from leanfd.lean.run import Message
from leanfd.serve.shapes import a_list, a_timeout, an_object, bad, json_type, optional

# Lean's LSP says "information"; the REPL, and so Kimina's clients, say "info".
SEVERITY = {"error": "error", "warning": "warning", "information": "info"}


@dataclass(frozen=True)
class Snippets:
    """What a Kimina request asks: snippet ids and their code, in order, and a timeout per snippet."""

    ids: list[str]
    codes: list[str]
    timeout: float | None


def parse_check(body: Any) -> Snippets:
    """The body of `POST /api/check` (kimina-client's `CheckRequest`)."""
    obj = an_object(body, '{"snippets": [{"id", "code"}], "timeout"}')
    snippets = a_list(obj, "snippets", '{"id", "code"} objects')
    if not snippets:
        raise bad("`snippets` is empty: send at least one {id, code}")
    ids, codes = [], []
    for i, s in enumerate(snippets):
        if not isinstance(s, dict):
            raise bad(f"snippets[{i}] must be an object {{id, code}}, not {json_type(s)}")
        for key in ("id", "code"):
            if not isinstance(s.get(key), str):
                raise bad(f"snippets[{i}].{key} must be a string, not {json_type(s.get(key))}")
        ids.append(s["id"])
        codes.append(s["code"])
    for key in ("debug", "reuse"):
        optional(obj, key, bool, "true or false")
    optional(obj, "infotree", str, "a string")  # accepted; leanfd returns no info trees
    return Snippets(ids, codes, a_timeout(obj))


def parse_verify(body: Any) -> Snippets:
    """The body of `POST /verify` (`VerifyRequestBody`: `codes` of `{custom_id, proof | code}`)."""
    obj = an_object(body, '{"codes": [{"custom_id", "proof" | "code"}], "timeout"}')
    items = a_list(obj, "codes", '{"custom_id", "proof" | "code"} objects')
    if not items:
        raise bad("`codes` is empty: send at least one {custom_id, proof}")
    ids, codes = [], []
    for i, c in enumerate(items):
        if not isinstance(c, dict):
            raise bad(f"codes[{i}] must be an object {{custom_id, proof}}, not {json_type(c)}")
        cid = c.get("custom_id")
        if isinstance(cid, bool) or not isinstance(cid, (str, int)):
            raise bad(f"codes[{i}].custom_id must be a string or an integer, not {json_type(cid)}")
        text = c.get("proof") if c.get("proof") is not None else c.get("code")
        if not isinstance(text, str):
            raise bad(f"codes[{i}] needs `proof` (or `code`): a string, not {json_type(text)}")
        ids.append(str(cid))
        codes.append(text)
    optional(obj, "disable_cache", bool, "true or false")
    optional(obj, "infotree_type", str, "a string")
    return Snippets(ids, codes, a_timeout(obj))


def position(line: int | None, column: int | None) -> dict[str, int] | None:
    return None if line is None else {"line": line, "column": column or 0}


def repl_message(m: Message) -> dict[str, Any]:
    return {"severity": SEVERITY.get(m.severity, "info"), "pos": position(m.line, m.column),
            "endPos": position(m.end_line, m.end_column), "data": m.text}


def only_sorry(v: Verdict) -> bool:
    """Not proved only because of `sorry`: Kimina's clients call that "sorry", not an error."""
    return v.status == "failed" and v.sorry and not any(m.severity == "error" for m in v.messages)


def command_response(v: Verdict) -> dict[str, Any]:
    """The REPL's answer to the snippet: Lean's messages, its sorries, and leanfd's own error message
    when the snippet is not proved for any other reason than `sorry`."""
    messages = [repl_message(m) for m in v.messages]
    sorries = []
    if v.sorry:
        where = next((m for m in v.messages if is_sorry_warning(m)), None)
        pos = position(where.line, where.column) if where else {"line": 1, "column": 0}
        end = position(where.end_line, where.end_column) if where else pos
        sorries.append({"pos": pos, "endPos": end, "goal": v.goals[0] if v.goals else ""})
    if not v.proved and not only_sorry(v):
        at = v.first_error or next((m for m in v.messages if m.severity == "error"), None)
        pos = position(at.line, at.column) if at else {"line": 1, "column": 0}
        messages.append({"severity": "error", "pos": pos, "endPos": None, "data": verdict_line(v)})
    return {"messages": messages, "sorries": sorries}


def verdict_line(v: Verdict) -> str:
    text = f"leanfd: {v.status}: {v.reason}" if v.reason else f"leanfd: {v.status}"
    if v.status == "timeout" and "timed out" not in text:
        text += " (timed out)"  # the words kimina-client looks for to call it a timeout
    return text


def failed_to_run(v: Verdict) -> bool:
    """No answer from Lean to give (a timeout, the machinery failing): the REPL's `error` string."""
    return v.status in ("timeout", "crashed")


def leanfd_fields(v: Verdict) -> dict[str, Any]:
    """leanfd's verdict in brief, beside Kimina's fields (its clients ignore fields they do not know)."""
    return {"status": v.status, "reason": v.reason, "axioms": v.axioms}


def repl_response(snippet_id: str, v: Verdict) -> dict[str, Any]:
    """One result of `/api/check` (kimina-client's `ReplResponse`): exactly one of `error`, `response`."""
    out: dict[str, Any] = {"id": snippet_id, "time": round(v.elapsed, 6)}
    if failed_to_run(v):
        out["error"] = verdict_line(v)
    else:
        out["response"] = command_response(v)
    out["leanfd"] = leanfd_fields(v)
    return out


def backward_response(custom_id: str, v: Verdict) -> dict[str, Any]:
    """One result of `/verify` (Kimina's `BackwardResponse`: the time inside the response)."""
    out: dict[str, Any] = {"custom_id": custom_id}
    if failed_to_run(v):
        out["error"] = verdict_line(v)
    else:
        out["response"] = {**command_response(v), "time": round(v.elapsed, 6)}
    out["leanfd"] = leanfd_fields(v)
    return out
