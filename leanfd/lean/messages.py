"""Lean's messages, as Lean 4.35.0 words them: every reader of Lean's messages matches them here, so
that a Lean upgrade that rewords one is a one-line change in this file.

Two kinds. Diagnostics about the attempt (a `sorry` warning, unsolved goals, a placeholder Lean could
not fill, a parse error), read by the judge and the editor. Answers to the verifier's own commands
(`#print`, `#print axioms`): each reader takes the text of the one message at the command's own line
and returns the answer, or `None` when the text does not have exactly the shape Lean gives it: a
message the reader cannot account for is never guessed at, so the judge treats it as a missing answer.
Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leanfd.lean.run import Message

# --- diagnostics -------------------------------------------------------------------------------------

SORRY_WARNING = re.compile(r"declaration uses [`']sorry[`']")  # Lean 4.35 quotes with backticks
UNSOLVED_GOALS = "unsolved goals"  # an error, then the goals, one block each, blank-line separated
PLACEHOLDER = "don't know how to synthesize placeholder"  # an error; its context follows `context:\n`
# The parser: `unexpected token ...; expected ...`, `unexpected end of input`, `expected ...`.
PARSE_ERROR = re.compile(r"(unexpected |expected )")


def is_sorry_warning(m: Message) -> bool:
    return m.severity == "warning" and SORRY_WARNING.search(m.text) is not None


def goals_of(messages: Iterable[Message]) -> list[str]:
    """Goals Lean printed in `unsolved goals` errors, one string per goal block."""
    goals = []
    for m in messages:
        if m.severity == "error" and m.text.startswith(UNSOLVED_GOALS):
            goals.extend(g.strip() for g in m.text[len(UNSOLVED_GOALS) :].split("\n\n") if g.strip())
    return goals


def placeholder_context(m: Message) -> str | None:
    """The local context and goal of a placeholder Lean could not fill, or None for another message."""
    if m.severity == "error" and m.text.startswith(PLACEHOLDER) and "context:\n" in m.text:
        return m.text.split("context:\n", 1)[1].strip()
    return None


# --- answers to the verifier's commands -----------------------------------------------------------

# A name as `Name.toString` prints it: components joined by `.`, each plain or in guillemets.
_COMPONENT = r"(?:«[^»]*»|[^\s,.\[\]«»]+)"
_NAME = rf"{_COMPONENT}(?:\.{_COMPONENT})*"
_ONE_NAME = re.compile(_NAME)
_NAME_LIST = re.compile(rf"(?:{_NAME}(?:,\s+{_NAME})*)?\]")
_DEPENDS = "' depends on axioms: ["
_INDEPENDENT = "' does not depend on any axioms"
_KIND = re.compile(
    r"(?:@\[[^\]\n]*\]\s+)*"
    r"(?P<modifiers>(?:(?:private|protected|unsafe|partial|noncomputable|nonrec)\s+)*)"
    r"(?P<keyword>theorem|def|axiom|opaque|inductive|constructor|recursor|quot|instance|abbrev|structure|class)\s"
)


def axioms(text: str) -> list[str] | None:
    """The axioms in `#print axioms X` output: `'X' depends on axioms: [a, b]` or `'X' does not depend
    on any axioms`. X may be any name (`«does not depend on any axioms»` too), so the answer is read
    from the end, and a text that parses more than one way is refused."""
    if not text.startswith("'"):
        return None
    readings: list[list[str]] = []
    if text.endswith(_INDEPENDENT) and len(text) > len(_INDEPENDENT):
        readings.append([])
    start = text.find(_DEPENDS, 1)
    while start >= 0:
        rest = text[start + len(_DEPENDS) :]
        if _NAME_LIST.fullmatch(rest):
            readings.append(_ONE_NAME.findall(rest[:-1]))
        start = text.find(_DEPENDS, start + 1)
    return readings[0] if len(readings) == 1 else None


@dataclass(frozen=True)
class DeclKind:
    """What `#print X` says X is: `theorem`, `def`, `axiom`, `opaque` (also `partial def`), ..."""

    keyword: str
    modifiers: tuple[str, ...]

    @property
    def checked(self) -> bool:
        """Does the kernel check a value for it? A theorem's or a safe definition's only: an axiom has
        none, an `opaque` (which `partial def` becomes) hides it, `unsafe` code is never checked."""
        return self.keyword in ("theorem", "def") and not {"unsafe", "partial"} & set(self.modifiers)

    @property
    def is_axiom(self) -> bool:
        return self.keyword == "axiom"

    @property
    def unchecked_code(self) -> bool:
        return "unsafe" in self.modifiers or "partial" in self.modifiers or self.keyword == "opaque"

    def __str__(self) -> str:
        return " ".join((*self.modifiers, self.keyword))


def kind(text: str) -> DeclKind | None:
    m = _KIND.match(text)
    if m is None:
        return None
    return DeclKind(m.group("keyword"), tuple(m.group("modifiers").split()))
