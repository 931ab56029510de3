"""What a backend returns for one Lean file: its messages, how it ended, and how long it took.

Backends know nothing of soundness: they elaborate `header + body` and report. The judge
(`leanfd.lean.judge`) turns a `LeanRun` into a verdict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, Protocol

Severity = Literal["error", "warning", "information"]
Outcome = Literal["ok", "timeout", "crashed"]

# Lean can print megabytes (a huge `#print`, a runaway `#reduce`): keep each message and the
# whole run bounded so a bad attempt never holds the process' memory. Backends keep messages whole up
# to MAX_RAW_MESSAGE_CHARS (the verifier compares its own outputs in full, never clipped) and, once a
# run has kept MAX_RUN_CHARS, clip further ones; verdicts carry messages clipped to MAX_MESSAGE_CHARS.
MAX_MESSAGE_CHARS = 20_000
MAX_RAW_MESSAGE_CHARS = 4_000_000
MAX_RUN_CHARS = 32_000_000
MAX_MESSAGES = 500
MAX_LINE_MB = 4  # the cli backend's longest JSON line: a longer message is skipped unread


@dataclass(frozen=True)
class Message:
    """One Lean message; lines are 1-based and columns 0-based, as Lean reports them."""

    severity: Severity
    line: int
    column: int
    end_line: int | None
    end_column: int | None
    text: str
    region: str = "attempt"  # header | reference | attempt | checks: where in the checked file

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Message":
        return Message(
            d["severity"], d["line"], d["column"], d.get("end_line"), d.get("end_column"), d["text"],
            d.get("region", "attempt"),
        )


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… [truncated {len(text) - limit} characters]"


@dataclass
class LeanRun:
    """The raw result of elaborating one file."""

    outcome: Outcome
    messages: list[Message] = field(default_factory=list)
    elapsed: float = 0.0
    detail: str = ""  # why a run timed out or crashed, in words
    truncated: bool = False  # messages were clipped or dropped
    dropped: bool = False  # some message was not read at all (past MAX_MESSAGES, or a line too long): its
    # severity is unknown, so the run can never prove anything
    declarations: tuple[str, ...] | None = None  # what the file declared, from Lean's .ilean (when asked)
    backend: str = ""  # the backend that ran it, when a routing backend (`auto`) chose it; "" otherwise
    _kept: int = field(default=0, repr=False)

    def add(self, message: Message) -> None:
        """Keep a message within the run's bounds (count, and characters kept whole)."""
        if len(self.messages) >= MAX_MESSAGES:
            self.truncated = self.dropped = True
            return
        limit = MAX_RAW_MESSAGE_CHARS if self._kept < MAX_RUN_CHARS else MAX_MESSAGE_CHARS
        if len(message.text) > limit:
            self.truncated = True
            message = replace(message, text=clip(message.text, limit))
        self._kept += len(message.text)
        self.messages.append(message)


class LeanBackend(Protocol):
    """Elaborates `header + body` and reports Lean's messages.

    `header` is the part shared by many checks (imports, opens, the prelude of a toy benchmark);
    pooled backends keep it elaborated and re-elaborate only `body`. Line numbers in the returned
    messages count from the first line of `header`.
    """

    async def run(self, header: str, body: str, timeout: float) -> LeanRun: ...

    async def aclose(self) -> None: ...
