"""Read what Lean printed for the verifier's own commands (`#print`, `#print axioms`).

Pure. Each reader takes the text of the one message at the command's own line and either returns
the answer or `None` when the text does not have exactly the shape Lean gives it: a message the
reader cannot account for is never guessed at, so the judge treats it as a missing answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
class Kind:
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


def kind(text: str) -> Kind | None:
    m = _KIND.match(text)
    if m is None:
        return None
    return Kind(m.group("keyword"), tuple(m.group("modifiers").split()))
