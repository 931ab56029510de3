"""Check records (what to verify) and verdicts (what Lean said about it)."""

from __future__ import annotations

import codecs
import errno
import json
import os
import re
import stat
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

    @property
    def header_error(self) -> Message | None:
        """Lean's first error in the header (a `.lean` file's own `prelude`/`import` lines), or None."""
        return next((m for m in self.messages if m.severity == "error" and m.region == "header"), None)

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


def decode_utf8(raw: bytes) -> str:
    """`raw` as text; a ValueError that names the first byte UTF-8 cannot hold and where it is."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"not valid UTF-8: byte 0x{raw[e.start]:02x} at byte {e.start + 1}") from None


class Unreadable(ValueError):
    """A path that is not a regular file leanfd can read (a directory, a FIFO, a broken link, no
    permission): the message says which, and nothing was read from it."""


_KINDS = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


def not_regular(mode: int) -> str | None:
    """What a file of this `st_mode` is when it is not a regular file ("a directory", ...), or None."""
    return None if stat.S_ISREG(mode) else _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def lean_entries(root: str | Path) -> list[tuple[Path, str]]:
    """Every entry named `*.lean` under `root`, in path order, each with why it cannot be read as a
    file ("" when it may be): the one walk of a folder of Lean files (`check DIR`, `prove --dataset DIR`).

    A folder that cannot be listed is an entry too, since its files are unknown. Hidden folders
    (`.lake`, `.git`: a Lean project's dependencies and history) are not entered. Links are listed,
    never followed into, so a link loop cannot trap the walk; what a listed entry is (a FIFO, a
    folder, a broken link) is learnt by `read_lean_file`, which never opens what is no regular file.
    """
    found: dict[Path, str] = {}

    def unlisted(e: OSError) -> None:
        found[Path(e.filename)] = f"a folder that cannot be listed ({e.strerror or e}): its files are not read"

    for folder, dirs, files in os.walk(root, onerror=unlisted):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in (*dirs, *files):
            if name.endswith(".lean"):
                found.setdefault(Path(folder, name), "")
    return sorted(found.items())


def read_lean_file(path: str | Path) -> str:
    """The text of a `.lean` file, as Lean reads it: UTF-8, byte for byte. A byte order mark is kept:
    Lean 4.35 does not skip one (`lean` on a file starting with it reads no `prelude` or `import`, and
    a mark after the first line is "expected token").

    Raises Unreadable when `path` is not a regular file or cannot be read; its kind is learnt with
    `stat` before anything opens it, so a FIFO or a device is never opened (opening a FIFO waits for a
    writer, opening a device may act). Raises ValueError when the bytes are not UTF-8.
    """
    try:
        kind = not_regular(os.stat(path).st_mode)
    except OSError as e:
        raise Unreadable(_stat_error(path, e)) from None
    if kind:
        raise Unreadable(f"{kind}, not a regular file: not opened")
    try:
        # O_NONBLOCK: should a FIFO have replaced the file since `stat`, opening it does not wait.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise Unreadable(f"cannot open: {e.strerror or e}") from None
    with os.fdopen(fd, "rb") as fh:
        if kind := not_regular(os.fstat(fd).st_mode):
            raise Unreadable(f"{kind}, not a regular file: not read")
        try:
            raw = fh.read()
        except OSError as e:
            raise Unreadable(f"cannot read: {e.strerror or e}") from None
    return decode_utf8(raw)


def _stat_error(path: str | Path, e: OSError) -> str:
    if e.errno == errno.ELOOP:
        return "a symbolic link loop"
    if e.errno == errno.ENOENT and os.path.islink(path):
        return f"a broken symbolic link (to {os.readlink(path)!r}, which does not exist)"
    return f"cannot read: {e.strerror or e}"


def _surrogate_at(text: str) -> int | None:
    """Index of the first lone surrogate of `text` (a JSON `"\\ud800"` decodes to one), or None."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        return e.start
    return None


def not_text(value: Any, where: str = "") -> str | None:
    """Why parsed JSON `value` is not text, or None: a string in it (a key or a value, at any depth)
    holds a lone surrogate, which JSON's `\\u` escapes allow but UTF-8 cannot encode, so Lean could
    never be given it."""
    if isinstance(value, str):
        i = _surrogate_at(value)
        if i is None:
            return None
        return f"{f'field {where!r}' if where else 'the value'} holds a lone surrogate \\u{ord(value[i]):04x} " \
               f"at character {i + 1}, which is not text (UTF-8 cannot encode it)"
    if isinstance(value, dict):
        for k, v in value.items():
            place = f"{where}.{k}" if where else k
            if why := not_text(k, place) or not_text(v, place):
                return why
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if why := not_text(v, f"{where}[{i}]"):
                return why
    return None


class JsonlWriter:
    """Writes one JSON object a line, each line with one `write(2)` straight to the file (no
    buffer): a line on disk is always whole, even when a signal ends the run between two lines.

    Non-ASCII text is written as it is, except in a line holding a lone surrogate (UTF-8 cannot
    encode one): that line is written with ASCII escapes instead, so writing never fails.
    """

    def __init__(self, path: str | Path, mode: Literal["w", "a"] = "w"):
        self._fh = open(path, mode + "b", buffering=0)

    def write(self, obj: Any) -> None:
        try:
            data = (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8")
        except UnicodeEncodeError:
            data = (json.dumps(obj) + "\n").encode("ascii")
        self.write_bytes(data)

    def write_bytes(self, data: bytes) -> None:
        """One line already encoded (ending with a newline), e.g. kept verbatim from an earlier file."""
        view = memoryview(data)
        while view:  # a regular file takes the whole line at once, short of a full disk
            view = view[self._fh.write(view):]

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "JsonlWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# A lone surrogate can only come from a `\\uD800`-`\\uDFFF` escape: raw UTF-8 cannot encode one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def read_lines(path: str | Path, parse: Callable[[Any], T]) -> Iterator[tuple[int, T | BadLine]]:
    """Yield (line number, parse(json) or BadLine) for each non-empty line; a malformed line never
    stops the rest. `parse` raises ValueError (RecordError is one) for a line it cannot use.

    Lines are split on `\\n` only (JSON Lines) and decoded one by one, so a byte that is not UTF-8
    or a lone surrogate (see `not_text`) makes only its own line malformed. A UTF-8 byte order
    mark before the first line is ignored. Reads line by line so a large file is never held whole.
    """
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            if not raw.strip():
                continue
            try:
                value = json.loads(decode_utf8(raw))
                if _SURROGATE_ESCAPE.search(raw) and (why := not_text(value)):
                    raise ValueError(why)
                yield lineno, parse(value)
            except json.JSONDecodeError as e:
                yield lineno, BadLine(str(path), lineno, f"not valid JSON: {e.msg} at column {e.colno}")
            except (ValueError, KeyError, TypeError) as e:
                yield lineno, BadLine(str(path), lineno, str(e))


def read_jsonl(path: str | Path) -> Iterator[tuple[int, CheckRecord | BadLine]]:
    """Check records from a JSONL file (see `read_lines`)."""
    return read_lines(path, CheckRecord.from_dict)
