"""Check records (what to verify) and verdicts (what Lean said about it)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, TypeVar

from leanfd.lean.errors import RecordError
from leanfd.lean.run import Message

T = TypeVar("T")
Status = Literal["proved", "failed", "timeout", "crashed", "rejected"]
STATUSES: tuple[Status, ...] = ("proved", "failed", "timeout", "crashed", "rejected")
KNOWN_FIELDS = ("name", "header", "formal_statement", "proof", "code")


@dataclass(frozen=True)
class CheckRecord:
    """A theorem to check: the reference `formal_statement` and either a `proof` that follows it or
    the model's complete `code` (then `formal_statement` is only the reference).

    `extra` keeps every other field of the input line so later steps still have them.
    """

    name: str
    header: str
    formal_statement: str
    proof: str | None = None
    code: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def mode(self) -> Literal["proof", "code"]:
        return "code" if self.code is not None else "proof"

    @staticmethod
    def from_dict(d: Any) -> "CheckRecord":
        if not isinstance(d, dict):
            raise RecordError(f"a record must be a JSON object, got {type(d).__name__}")
        for key in ("name", "formal_statement"):
            if not isinstance(d.get(key), str) or not d[key].strip():
                raise RecordError(f"field {key!r} is missing or not a non-empty string")
        header = d.get("header", "")
        if not isinstance(header, str):
            raise RecordError("field 'header' must be a string")
        proof, code = d.get("proof"), d.get("code")
        if proof is None and code is None:
            raise RecordError("a record needs 'proof' (text after the statement) or 'code' (the whole theorem)")
        if proof is not None and code is not None:
            raise RecordError("give either 'proof' or 'code', not both")
        for key, val in (("proof", proof), ("code", code)):
            if val is not None and not isinstance(val, str):
                raise RecordError(f"field {key!r} must be a string")
        extra = {k: v for k, v in d.items() if k not in KNOWN_FIELDS}
        return CheckRecord(d["name"], header, d["formal_statement"], proof, code, extra)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "header": self.header, "formal_statement": self.formal_statement}
        if self.proof is not None:
            d["proof"] = self.proof
        if self.code is not None:
            d["code"] = self.code
        return {**d, **self.extra}


@dataclass(frozen=True)
class LeanFile:
    """A whole `.lean` file to check as it is (its own reference)."""

    name: str
    text: str
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path}


@dataclass
class Verdict:
    """Everything the verifier learnt about one record; JSON-serialisable through `to_dict`.

    Message lines are relative to the attempt as the model wrote it (`statement + proof` in proof
    mode, `code` in code mode); messages of the header carry `region="header"`.
    """

    name: str
    status: Status
    reason: str = ""  # one line: why the status is what it is
    messages: list[Message] = field(default_factory=list)
    first_error: Message | None = None
    goals: list[str] = field(default_factory=list)
    sorry: bool = False
    axioms: list[str] | None = None  # None: Lean never reported them
    elapsed: float = 0.0
    lean_version: str = ""
    backend: str = ""
    truncated: bool = False

    @property
    def proved(self) -> bool:
        return self.status == "proved"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["messages"] = [m.to_dict() for m in self.messages]
        d["first_error"] = self.first_error.to_dict() if self.first_error else None
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Verdict":
        fields = {k: d[k] for k in Verdict.__dataclass_fields__ if k in d}
        fields["messages"] = [Message.from_dict(m) for m in d.get("messages", [])]
        fe = d.get("first_error")
        fields["first_error"] = Message.from_dict(fe) if fe else None
        return Verdict(**fields)


@dataclass
class BadLine:
    """A line of an input file that could not be read as a record."""

    path: str
    line: int
    error: str


def read_lines(path: str | Path, parse: Callable[[Any], T]) -> Iterator[tuple[int, T | BadLine]]:
    """Yield (line number, parse(json) or BadLine) for each non-empty line; a malformed line never
    stops the rest. `parse` raises ValueError (RecordError is one) for a line it cannot use.

    Reads line by line so a large file is never held whole.
    """
    with open(path, encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                yield lineno, parse(json.loads(raw))
            except json.JSONDecodeError as e:
                yield lineno, BadLine(str(path), lineno, f"not valid JSON: {e.msg} at column {e.colno}")
            except (ValueError, KeyError, TypeError) as e:
                yield lineno, BadLine(str(path), lineno, str(e))


def read_jsonl(path: str | Path) -> Iterator[tuple[int, CheckRecord | BadLine]]:
    """Check records from a JSONL file (see `read_lines`)."""
    return read_lines(path, CheckRecord.from_dict)
