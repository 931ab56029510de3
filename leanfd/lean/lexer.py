"""A small Lean 4 lexer: enough to see words and command keywords outside comments and strings.

It is not a parser. It finds identifiers, `#commands`, `:=` and the spans of comments and string
literals, so that policy rules match real tokens (`my_axiom` is not `axiom`, `-- axiom` is a
comment) and so that an unterminated comment or string is caught before it swallows the
verifier's own checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["ident", "hash", "assign", "other"]

# Lean identifiers: letters (incl. Greek, letter-like symbols, subscripts), digits, _ ' ! ?
_ID_START = r"[^\W\d]"
_ID_REST = r"[\w'!?\u2080-\u209c\u1d62-\u1d6a\u2071\u207f]"
_IDENT = re.compile(rf"(?:{_ID_START}{_ID_REST}*|«[^»]*»)(?:\.(?:{_ID_START}{_ID_REST}*|«[^»]*»))*")
_HASH = re.compile(r"#[A-Za-z_][\w!?]*")
# Matched at an offset (`pattern.match(src, i)`), never on `src[i:]`: a copy of the rest of the text
# at every `r` or `'` would make tokenising quadratic in the length of the text.
_RAW_OPEN = re.compile(r'r(#*)"')
_CHAR_LITERAL = re.compile(r"'(?:\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|.)|[^\\'\n])'")


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str
    start: int  # offset in the source
    end: int

    @property
    def parts(self) -> list[str]:
        """Dotted name components, guillemets kept as they are."""
        return re.findall(r"«[^»]*»|[^.]+", self.text)


class LexError(ValueError):
    """The text cannot be tokenised: an unterminated comment, string or character literal."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


def tokenize(src: str) -> list[Token]:
    """Tokens outside comments and literals. Raises LexError on an unterminated construct."""
    toks: list[Token] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
        elif src.startswith("--", i):
            j = src.find("\n", i)
            i = n if j < 0 else j + 1
        elif src.startswith("/-", i):
            i = _skip_block_comment(src, i)
        elif c == '"':
            i = _skip_string(src, i)
        elif c == "r" and _RAW_OPEN.match(src, i):
            i = _skip_raw_string(src, i)
        elif c == "'" and not _after_ident(src, i) and _char_literal_end(src, i) is not None:
            i = _char_literal_end(src, i)  # type: ignore[assignment]
        elif src.startswith(":=", i):
            toks.append(Token("assign", ":=", i, i + 2))
            i += 2
        elif c == "#" and (m := _HASH.match(src, i)):
            toks.append(Token("hash", m.group(), i, m.end()))
            i = m.end()
        elif m := _IDENT.match(src, i):
            toks.append(Token("ident", m.group(), i, m.end()))
            i = m.end()
        elif c == "«":
            raise LexError("unterminated «identifier»", i)
        else:
            toks.append(Token("other", c, i, i + 1))
            i += 1
    return toks


def _skip_block_comment(src: str, i: int) -> int:
    """Block comments nest in Lean: `/- /- -/ -/` is one comment."""
    depth, j, start = 0, i, i
    while j < len(src):
        if src.startswith("/-", j):
            depth += 1
            j += 2
        elif src.startswith("-/", j):
            depth -= 1
            j += 2
            if depth == 0:
                return j
        else:
            j += 1
    raise LexError("unterminated comment", start)


def _skip_string(src: str, i: int) -> int:
    j = i + 1
    while j < len(src):
        if src[j] == "\\":
            j += 2
        elif src[j] == '"':
            return j + 1
        else:
            j += 1
    raise LexError("unterminated string literal", i)


def _skip_raw_string(src: str, i: int) -> int:
    m = _RAW_OPEN.match(src, i)
    assert m
    close = '"' + m.group(1)
    j = src.find(close, m.end())
    if j < 0:
        raise LexError("unterminated raw string literal", i)
    return j + len(close)


def _after_ident(src: str, i: int) -> bool:
    """A quote right after an identifier character is a prime (`h'`), not a char literal."""
    return i > 0 and bool(re.match(_ID_REST, src[i - 1]))


def _char_literal_end(src: str, i: int) -> int | None:
    m = _CHAR_LITERAL.match(src, i)
    return m.end() if m else None


def line_of(src: str, offset: int) -> int:
    """1-based line of a character offset."""
    return src.count("\n", 0, offset) + 1
