r"""Lean 4 source text, read the way Lean's own parser reads it: tokens, the header, the declaration.

Pure: no Lean runs here. Everything that looks at Lean text (the policy, the statement parser, the
benchmark loaders, the prompt extractor, the editor) reads it through this module, so there is one
idea of what is code and what is a comment or a string. The rules are Lean 4.35.0's
(`src/Lean/Parser/Basic.lean`: `whitespace`, `finishCommentBlock`, `tokenFnAux`, `identFnAux`;
`Init/Meta/Defs.lean`: `isIdFirst`, `isIdRest`; `Module.lean`: `consumeInput`, the error recovery),
checked against the bundled Lean by `tests/test_syntax_fuzz.py`:

- `--` runs to the end of the line. `/-` opens a block comment, and block comments nest; the
  character right after `/-` is skipped unread (so `/-/-/` is one whole comment). `/--` (doc
  comment) and `/-!` (module doc) are tokens; like every token they are followed by whitespace
  (spaces, newlines, comments), then the body, a block comment (so `/--/ x -/` is a doc comment
  that does not close after four characters, and in `/---- -/` the `-/` is commented out).
- strings: escapes `\\ \" \' \n \t \r \xHH \uHHHH` and the gap `\` newline spaces; raw strings
  `r"..."`, `r#"..."#`; char literals `'a'`, `'\n'` where a token starts (`h'` is one identifier).
- identifiers: ASCII letters, `_`, Greek but `λ Π Σ`, Coptic, Latin-1 and Latin Extended-A
  letters, the letter-like block, mathematical script letters; then also digits, `' ! ?` and
  subscripts; `«...»` parts; dotted. A name literal's `` `r`` opens no raw string.
- Lean reads CRLF as LF; offsets here are always into the text as given.

Some text reads two ways, by core Lean and by Lean with Mathlib's token table: `f '' s` (Mathlib's
set image; core Lean fails at the quotes and resumes two characters on), `∑'`, `⁻¹'`, a wide
character that is no token (core Lean resumes one byte into it, where it reads a letter), `#word`
(a command token, or `#` and an identifier). Both readings are followed until they meet; what only
core Lean reads comes out as `phantom` tokens for the policy to check too.

It fails closed: text whose reading is not certain raises `LeanSyntaxError`, so that the policy
rejects it rather than guessing. That covers anything unterminated (comment, string, char,
`«...»`), invalid escapes and numbers (after which Lean resumes parsing mid-token), readings that
do not meet within a few tokens or hide a comment or string on the way, `{` inside a string (an
interpolated string, `s!"{...}"`, makes it code), a comment opener glued to a symbol (`<--`, `//-`:
Lean's token table may read `<-` or `//` first), and a tab or lone CR between tokens (an error
that ends the command before it).

Linear time: the common tokens come from one regex pass, other regexes are matched in place
(`pattern.match(text, pos)`), never on slices, and line numbers come from a table of line starts
(`Lines`). 1 MB of realistic Lean takes about 0.3 s to lex (bench/README.md).
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Literal, NamedTuple

from leanfd.lean.vocabulary import (
    COMMAND_STARTS,
    CONTEXT_COMMANDS,
    DECLARATION_KEYWORDS,
    IMPORT_COMMANDS,
    MODIFIERS,
    PROOF_PLACEHOLDERS,
)

TokenKind = Literal["ident", "hash", "assign", "number", "string", "char", "other", "comment", "doc", "phantom"]
CODE_KINDS = frozenset({"ident", "hash", "assign", "number", "string", "char", "other"})
_PLAIN = frozenset({"ident", "hash", "assign", "number", "other"})  # code that hides nothing

# `Lean.isIdFirst` / `Lean.isIdRest` (Lean 4.35.0): `Char.isAlpha` is ASCII only, every other letter
# comes from `isLetterLike` (Greek but λ, Π, Σ; Coptic; polytonic Greek; the letter-like block;
# mathematical script; Latin-1 and Latin Extended-A letters) and `isSubScriptAlnum`.
_LETTER_LIKE = (
    "\u03b1-\u03ba\u03bc-\u03c9\u0391-\u039f\u03a1\u03a2\u03a4-\u03a9\u03ca-\u03fb\u1f00-\u1ffe\u2100-\u214f"
    "\U0001d49c-\U0001d59f\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0100-\u017f"
)
_ID_FIRST = "a-zA-Z_" + _LETTER_LIKE
_ID_REST = _ID_FIRST + "0-9'!?\u2080-\u2089\u2090-\u209c\u1d62-\u1d6a\u2c7c"
_PART = rf"(?:[{_ID_FIRST}][{_ID_REST}]*|«[^»]*»)"
_IDENT = re.compile(rf"{_PART}(?:\.{_PART})*")
_ABSORB = re.compile(rf"[{_ID_REST}]*(?:\.{_PART})*")
# `#print`, `#eval!`: the tokens of `#` commands are ASCII; Lean splits `#print'` before the quote.
_HASH = re.compile(r"#[A-Za-z_][A-Za-z0-9_!?]*")
_PARTS = re.compile(r"«[^»]*»|[^.]+")
_BLOCK_MARK = re.compile(r"/-|-/")
# Escapes (`quotedCharCoreFn`): the quotable characters, two or four hex digits, and in strings
# only a gap: `\`, a newline, then spaces, tabs or CRs but no second newline.
_ESCAPE = r"\\(?:[\\\"'nrt]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4})"
_STRING = re.compile(rf"\"(?:[^\"\\{{]|{_ESCAPE}|\\\n[ \t\r]*(?![ \t\r\n]))*\"")
_CHAR = re.compile(rf"'(?:{_ESCAPE}|[^\\])'")
_RAW_OPEN = re.compile(r'r(#*)"')
# Numbers (`numberFnAux`): `0b`/`0o`/`0x` and at least one digit, or decimal with an optional
# fraction and exponent; `_` only between digits. Atomic groups: where Lean's scanner commits, so
# does the regex (`1.e` is an error, not `1` then `.e`).
_DEC = r"\d(?:_*\d)*+(?!_)"
_NUMBER = re.compile(
    r"0[bB](?:_*[01])++(?![_01])|0[oO](?:_*[0-7])++(?![_0-7])|0[xX](?:_*[0-9a-fA-F])++(?![_0-9a-fA-F])"
    rf"|(?!0[bBoOxX]){_DEC}(?>(?:\.(?:{_DEC})?)?)(?>(?:[eE][-+]?{_DEC})?)(?![eE])"
)
_ESCAPE_OR_GAP = re.compile(rf"{_ESCAPE}|\\\n[ \t\r]*(?![ \t\r\n])")
_STRING_RUN = re.compile(r'[^"\\{]*')


class Token(NamedTuple):  # a tuple, not a dataclass: a megabyte of Lean makes some 400,000 of them
    kind: TokenKind
    text: str
    start: int  # offset in the source
    end: int

    @property
    def parts(self) -> list[str]:
        """Dotted name components, guillemets kept as they are."""
        return _PARTS.findall(self.text)


class LeanSyntaxError(ValueError):
    """Text whose reading is not certain: unterminated, invalid, or read differently by different
    token tables. `offset` is where it starts, in the text as given."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


class Lines:
    """1-based line numbers of offsets, from a table of line starts (bisect: no rescanning)."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset)


def lex(src: str, kinds: frozenset[str] | None = None) -> Iterator[Token]:
    """Every token of `src` in order, comments included (kinds `comment` and `doc`), lazily: an
    error is raised when the scan reaches it, so a prefix can be read without the rest.

    `kinds`: a hint that only these kinds are wanted; the common tokens of other kinds are then
    not made (the whole text is read all the same, and the rest may still come).
    """
    if "\r\n" not in src:
        yield from _lex(src, kinds=kinds)
        return
    # Lean reads CRLF as LF (line numbers are unchanged): lex that, and map offsets back.
    norm = src.replace("\r\n", "\n")
    removed, k = [], -1  # offsets in `norm` of the LFs that lost their CR
    while (k := src.find("\r\n", k + 1)) >= 0:
        removed.append(k - len(removed))
    back = lambda o: o + bisect.bisect_left(removed, o)  # noqa: E731
    try:
        for t in _lex(norm, kinds=kinds):
            s, e = back(t.start), back(t.end)
            yield Token(t.kind, src[s:e], s, e)
    except LeanSyntaxError as err:
        raise LeanSyntaxError(str(err), back(err.offset)) from None


def tokenize(src: str) -> list[Token]:
    """The code tokens of `src` (comments dropped; strings and chars kept as `string`/`char`)."""
    return [t for t in lex(src) if t.kind in CODE_KINDS]


# Whitespace Lean skips is space and newline: a tab or a lone CR there is an error that ends the
# command before it (a `#print` before a tab prints nothing), refused like Lean refuses it.
# The common tokens in one match (`lastgroup` says which): spaces, identifiers (not an `r` that
# opens a raw string), numbers, `:=`, line comments, strings, and ASCII symbols that no comment
# opener follows. The rest (block comments, quotes, `#`, backticks, `«`, wide characters that
# read two ways, errors) takes the full path.
_FAST = re.compile(
    rf"(?P<space>[ \n]+)|(?P<ident>(?!r#*\"){_IDENT.pattern})|(?P<number>{_NUMBER.pattern})|(?P<assign>:=)"
    rf"|(?P<comment>--[^\n]*)|(?P<string>{_STRING.pattern})"
    r"|(?P<other>(?:[!$%&()*+,.;<=>?@\[\\\]^{|}~:]|-(?!-)|/(?!-))(?!--|/-))"
    # a wide symbol that core Lean's other reading (see `_lex`) cannot make a difference after
    rf"|(?P<wide>[^\x00-\x7f«{_LETTER_LIKE}](?:(?![{_ID_REST}.]|--|/-)|(?=(?!r#*\")[{_ID_FIRST}])))"
    # Mathlib's `f '' s` where core Lean's reading meets this one at once (`_quote_shortcut`'s
    # shortest shapes: a space, then a bracket or a one-letter name)
    rf"|(?P<image>''(?= (?:[({{\[]|(?!r[#\"])[A-Za-z](?![{_ID_REST}.«]))))"
    r"|(?P<slow>[\s\S])"
)


def _lex(src: str, pos: int = 0, plain: bool = False, core: bool = False, depth: int = 0,
         kinds: frozenset[str] | None = None) -> Iterator[Token]:
    """Tokens from `pos`. For the look-ahead of `_converge`: `plain` reads one way only (this
    module's reading: the main pass looks for other readings itself when it gets there); `core`
    reads core Lean's way where that is certain (a stray quote: skipped as core Lean skips it),
    and `depth` counts how often that reading forked already where it is not.

    The common tokens come from `_FAST` in one pass; at a character it leaves, a comment
    (`_comment`) or another token (`_slow_step`) is read, and where core Lean may read the text
    another way, `_converge` checks that both readings meet."""
    n = len(src)
    prev_other = False  # the last token was a symbol character, glued to what follows
    while pos < n:
        start = pos
        for m in _FAST.finditer(src, pos):  # every character matches, so the matches are contiguous
            group = m.lastgroup
            if group == "space":
                continue
            if group == "slow":
                pos = m.start()
                break
            end = m.end()
            if group == "comment" and prev_other and m.start() == start:
                raise _glued_comment(src, start)
            if group == "wide" or group == "image":
                group = "other"
            elif group == "ident" and src.startswith(".«", end):
                raise LeanSyntaxError("unterminated «identifier»", end + 1)
            if kinds is not None and group not in kinds:
                continue
            yield Token(group, m.group(), m.start(), end)  # type: ignore[arg-type]
        else:
            return
        if pos != start:
            prev_other = False  # a fast token came between: no symbol is glued to what follows
        c = src[pos]
        if c == "\t" or c == "\r":
            raise LeanSyntaxError("a tab or a lone CR outside comments and strings (Lean does not allow them)", pos)
        if src.startswith("--", pos) or src.startswith("/-", pos):
            if prev_other:
                raise _glued_comment(src, pos)
            tok = _comment(src, pos)
            yield tok
            pos, prev_other = tok.end, False
            continue
        # lazily, as Lean reads: a look-ahead that wants no more tokens never reads what follows
        step = yield from _slow_step(src, pos, plain, core)
        if step.alternatives and not plain:
            if depth >= _MAX_DEPTH:
                raise LeanSyntaxError("text that core Lean and Mathlib read differently", pos)
            yield step.last  # type: ignore[misc]
            yield from _converge(src, pos, step.end, list(step.alternatives), depth)
            pos, prev_other = step.end, True
            continue
        if step.last is not None:
            yield step.last
        pos, prev_other = step.end, step.glued


def _glued_comment(src: str, pos: int) -> LeanSyntaxError:
    return LeanSyntaxError(f"`{src[pos - 1]}` glued to a comment opener reads differently in "
                           "different token tables", pos - 1)


def _comment(src: str, pos: int) -> Token:
    """The comment at `pos` (`--`, `/-`, or the doc comments `/--` and `/-!`), whole."""
    if src[pos] == "-":
        end = src.find("\n", pos)
        end = len(src) if end < 0 else end
        return Token("comment", src[pos:end], pos, end)
    if src[pos + 2 : pos + 3] in ("-", "!"):
        # `/--` and `/-!` are tokens, and like every token they are followed by whitespace
        # (spaces, newlines, comments) before the comment body begins
        end = _block_end(src, _doc_whitespace(src, pos + 3), pos)
        return Token("doc", src[pos:end], pos, end)
    end = _block_end(src, pos + 3, pos)  # a plain `/-` skips the character after it unread
    return Token("comment", src[pos:end], pos, end)


class _Step(NamedTuple):
    """What `_slow_step` read at one position, besides the tokens it yielded on the way."""

    last: Token | None  # the token the step ends with (None: core Lean skips the text)
    end: int  # where this module reads on
    alternatives: tuple[int, ...] = ()  # where core Lean may read on instead, when it differs
    glued: bool = False  # the last token is a symbol character, glued to what follows


def _one(tok: Token, *alternatives: int) -> _Step:
    return _Step(tok, tok.end, alternatives, tok.kind == "other")


_Steps = Generator[Token, None, _Step]  # yields the tokens before the last, returns the step


def _slow_step(src: str, pos: int, plain: bool, core: bool) -> _Steps:
    """The token at `pos` that `_FAST` leaves: strings it cannot match whole, quotes, numbers,
    raw strings, `#` commands, `«»` names, name literals, wide characters."""
    c = src[pos]
    nxt = src[pos + 1] if pos + 1 < len(src) else ""
    if c == '"':
        m = _STRING.match(src, pos)
        if m is None:
            raise LeanSyntaxError(_string_problem(src, pos), pos)
        return _one(Token("string", m.group(), pos, m.end()))
    if c == "'":
        return (yield from _quote_step(src, pos, nxt, plain, core))
    if "0" <= c <= "9":
        m = _NUMBER.match(src, pos)
        if m is None:
            raise LeanSyntaxError("invalid number literal", pos)
        return _one(Token("number", m.group(), pos, m.end()))
    if c == "r" and (m := _RAW_OPEN.match(src, pos)):
        close = '"' + m.group(1)
        j = src.find(close, m.end())
        if j < 0:
            raise LeanSyntaxError("unterminated raw string literal", pos)
        return _one(Token("string", src[pos : j + len(close)], pos, j + len(close)))
    if c == ":" and nxt == "=":
        return _one(Token("assign", ":=", pos, pos + 2))
    if c == "#" and (m := _HASH.match(src, pos)):
        if m.group().endswith("r") and _RAW_OPEN.match(src, m.end() - 1):
            raise LeanSyntaxError("a `#` command glued to a raw string (`#xr#\"`): where Lean's token ends "
                                  "is not known here", pos)
        ident_end = _IDENT.match(src, pos + 1).end()
        # `#xfoo'`: unless `#xfoo` is a token, Lean reads `#` and `xfoo'`
        return _one(Token("hash", m.group(), pos, m.end()), *((ident_end,) if ident_end > m.end() else ()))
    if m := _IDENT.match(src, pos):
        if m.end() < len(src) and src[m.end()] == "." and src.startswith("«", m.end() + 1):
            raise LeanSyntaxError("unterminated «identifier»", m.end() + 1)
        return _one(Token("ident", m.group(), pos, m.end()))
    if c == "«":
        raise LeanSyntaxError("unterminated «identifier»", pos)
    if c == "`" and (m := _IDENT.match(src, pos + 1)):  # a name literal: `r#"` after it is no raw string
        yield Token("other", c, pos, pos + 1)
        return _one(Token("ident", m.group(), pos + 1, m.end()))
    if c > "\x7f":
        return (yield from _wide_step(src, pos, nxt, plain))
    return _one(Token("other", c, pos, pos + 1))


def _quote_step(src: str, pos: int, nxt: str, plain: bool, core: bool) -> _Steps:
    """A `'`: a char literal, or a symbol's quote (Mathlib's `''`) that core Lean reads another way."""
    if nxt != "'" and (m := _CHAR.match(src, pos)):
        return _one(Token("char", m.group(), pos, m.end()))
    if core:  # core Lean's reading: the stray quote is skipped
        return _Step(None, _quote_resume(src, pos))
    tok = _quote_token(src, pos)
    if plain:
        return _one(tok)
    resume = _quote_resume(src, pos)
    if (phantoms := _quote_shortcut(src, tok.end, resume)) is not None:
        yield tok
        yield from phantoms
        return _Step(None, tok.end, (), True)
    return _one(tok, resume)


def _wide_step(src: str, pos: int, nxt: str, plain: bool) -> _Steps:
    """A character beyond ASCII that no pattern took. A character that is no token makes core
    Lean skip one byte (`consumeInput` adds `' '`), into the middle of this one: it reads as a
    letter (`String.get`'s default `'A'`), and an identifier begins that takes the characters
    after it. Where that identifier ends where this module's next identifier ends too, both
    readings see the same code (`↑n`, `∀s`): only other ends need a look."""
    tok = Token("other", src[pos], pos, pos + 1)
    alternatives: list[int] = []
    absorbed = _ABSORB.match(src, pos + 1).end()
    ident = _IDENT.match(src, pos + 1) if nxt != "r" or not _RAW_OPEN.match(src, pos + 1) else None
    if absorbed > pos + 1 and (ident is None or ident.end() != absorbed):
        alternatives.append(absorbed)
    if nxt != "'":
        return _one(tok, *alternatives)
    yield tok  # `∑'`, `⁻¹'`: Mathlib reads one token; or a char literal begins
    quote = _quote_token(src, pos + 1)
    if not plain:
        alternatives.append(pos + 1 if _CHAR.match(src, pos + 1) else _quote_resume(src, pos + 1))
    return _Step(quote, quote.end, tuple(alternatives), True)


def _doc_whitespace(src: str, i: int) -> int:
    """Where Lean's `whitespace` after a doc comment opener ends. A tab or a lone CR there is an
    error, after which Lean reads on as code: refused."""
    n = len(src)
    while i < n:
        c = src[i]
        if c == " " or c == "\n":
            i += 1
        elif c == "\t" or c == "\r":
            raise LeanSyntaxError("a tab or a lone CR right after a doc comment opener (Lean reads on as code)", i)
        elif src.startswith("--", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/-", i) and src[i + 2 : i + 3] not in ("-", "!"):
            i = _block_end(src, i + 3, i)
        else:
            break
    return i


def _quote_token(src: str, pos: int) -> Token:
    """A `'` (or `''`) read as part of a symbol, as in Mathlib's `''`, `⁻¹'`, `∑'` tokens."""
    width = 2 if src.startswith("''", pos) else 1
    return Token("other", src[pos : pos + width], pos, pos + width)


def _quote_resume(src: str, pos: int) -> int:
    """Where core Lean reads on after a `'` at `pos` that begins no char literal: `charLitFnAux`
    fails after the two characters that follow it; after `''` an error at the first quote makes
    `consumeInput` skip one character, and a char literal is tried from the second."""
    q, n = pos, len(src)
    while src.startswith("''", q):
        q += 1
        if q - pos > 4:
            raise LeanSyntaxError("a run of `'`", pos)
    if _CHAR.match(src, q) is not None:
        return q
    i = q + 1
    if src.startswith("\\", i):  # `quotedCharFn`: an invalid escape fails where it goes wrong
        i += 1
        digits = {"x": 2, "u": 4}.get(src[i : i + 1], 0)
        if digits:
            i += 1
            for _ in range(digits):
                if i >= n or src[i] not in "0123456789abcdefABCDEF":
                    return i
                i += 1
        elif src[i : i + 1] in ("\\", '"', "'", "r", "n", "t"):
            i += 1
        else:
            return i
    else:
        i += 1
    if i >= n:
        raise LeanSyntaxError("`'` that does not begin a character literal", pos)
    return i + 1  # after the character that should have been the closing quote


def _quote_shortcut(src: str, end: int, resume: int) -> list[Token] | None:
    """`_converge`'s answer, without its look-ahead, for the common shapes after a stray quote that
    ends at `end` where core Lean resumes at `resume`: a space, then `(`, `{`, `[` or a letter
    (`f '' (s)`, `f '' s`, `f '' Set.univ`, `∑' x`). None for any other shape."""
    if resume != end + 2 or src[end] != " ":
        return None
    y = src[end + 1]
    if y in "({[":
        return []
    if not ("a" <= y <= "z" or "A" <= y <= "Z") or (y == "r" and _RAW_OPEN.match(src, end + 1)):
        return None
    mine = _IDENT.match(src, end + 1).end()
    if mine == resume:
        return []
    z = src[resume]
    if ("a" <= z <= "z" or "A" <= z <= "Z" or z == "_") and not (z == "r" and _RAW_OPEN.match(src, resume)):
        core = _IDENT.match(src, resume)
        if core.end() == mine:  # core Lean reads the rest of the same identifier, `et.univ`
            return [Token("phantom", core.group(), resume, mine)]
    return None


_MAX_DEPTH = 2  # readings that fork again while they have not met (`f '' (f ⁻¹' s)`), at most


def _converge(src: str, pos: int, resume: int, alternatives: list[int], depth: int) -> Iterator[Token]:
    """Check that the other readings of the text at `pos` (core Lean's, going on at each of
    `alternatives`) meet this module's (going on at `resume`) within a few tokens, with only code
    on the way; yield what only they read as `phantom` tokens (code, for the policy to check).
    Otherwise the text is refused. An other reading that forks again is checked the same way, to
    `_MAX_DEPTH`; this module's own reading is read plainly here, and on by the main pass."""
    n = len(src)
    try:
        others = [_first_tokens(_lex(src, a, core=True, depth=depth + 1), 4) for a in alternatives]
        limit = max((o[-1].end for o in others if o), default=n)
        mine = list(itertools.takewhile(lambda t: t.start < limit, _lex(src, resume, plain=True)))
    except LeanSyntaxError:
        raise LeanSyntaxError("text that core Lean and Mathlib read differently", pos) from None
    seen = {(t.kind, t.start, t.end) for t in mine}
    for other in others:
        meet = next((i for i, t in enumerate(other) if (t.kind, t.start, t.end) in seen), len(other))
        meet_at = other[meet].start if meet < len(other) else n
        if (meet == len(other) and sum(t.kind != "phantom" for t in other) == 4) or any(
            t.kind not in _PLAIN and t.kind != "phantom" for t in other[:meet] + [t for t in mine if t.start < meet_at]
        ):
            raise LeanSyntaxError("text that core Lean and Mathlib read differently", pos)
        for t in other[:meet]:  # (what core Lean skips before it is no token, or one identifier `A...`)
            yield t if t.kind == "phantom" else Token("phantom", t.text, t.start, t.end)


def _first_tokens(toks: Iterator[Token], count: int) -> list[Token]:
    """The tokens up to the `count`-th that is not `phantom`."""
    out: list[Token] = []
    for t in toks:
        out.append(t)
        if t.kind != "phantom":
            count -= 1
            if count == 0:
                break
    return out


def _block_end(src: str, i: int, start: int) -> int:
    """Offset just after the block comment whose body starts at `i` (`finishCommentBlock`: nests)."""
    depth = 1
    while (m := _BLOCK_MARK.search(src, i)) is not None:
        i = m.end()
        depth += 1 if m.group() == "/-" else -1
        if depth == 0:
            return i
    raise LeanSyntaxError("unterminated comment", start)


def _string_problem(src: str, pos: int) -> str:
    """Why the string literal at `pos` does not match (only called when it does not)."""
    j = pos + 1
    while (j := _STRING_RUN.match(src, j).end()) < len(src) and src[j] != '"':
        if src[j] == "{":
            return "`{` in a string: an interpolated string (`s!\"{...}\"`) would make it code"
        if (esc := _ESCAPE_OR_GAP.match(src, j)) is None:
            return "invalid escape sequence in a string literal"
        j = esc.end()
    return "unterminated string literal"


# --- the header ------------------------------------------------------------------------------------

# Lean 4.35's header (`src/Lean/Parser/Module.lean`): `[module] [prelude] ([public] [meta] import [all] Name)*`;
# its words (IMPORT_COMMANDS, CONTEXT_COMMANDS) are in leanfd.lean.vocabulary.


@dataclass(frozen=True)
class Header:
    """Where the header of a Lean text ends. Both cuts are line starts (or the text's end), so the
    rest keeps its line numbers once the header's lines are counted.

    The rule: the header is the longest run of whole lines at the start of the text that hold only
    blank space, comments (not a doc comment `/--`, which belongs to the declaration below it) and
    header commands, with the blank lines after them. A header command starts with its keyword,
    first on its line. `prelude` and `import` are read as Lean 4.35 reads them: `prelude` alone,
    `[public] [meta] import [all] Name`, the name a module's (with a capital letter, a dot or
    `«...»`: an all-lowercase word might be a keyword, `import axiom`, which Lean would read as a
    command after failing on it); anything else on their lines, or going on from them, ends the
    header at the start of their line, so that nothing but `prelude` and `import` is left unscanned
    by the policy. `module` is not header here. `open` and `set_option` run over the following
    tokens up to the next line whose first token stands at column 0, or to a word that begins a
    command; one whose last token is `in` scopes the next command (`open Real in`) and is not header.
    `imports` counts `prelude` and `import` only; `end` also `open` and `set_option`. A line that
    cannot be read ends the header before it.
    """

    imports: int
    end: int


# Words that begin a command: an `open` or `set_option` stops there (`open A theorem t`); `scoped` goes on
# with an `open` (`open scoped Real`), and `@` begins an attribute list.
_COMMAND_WORDS = (COMMAND_STARTS - {"scoped"}) | {"@"}


def split_header(text: str) -> Header:
    """Find both header cuts of `text` (see `Header`). Only the header and the token after it are
    read; a line that cannot be read (LeanSyntaxError) ends the header before it, so that whatever
    is unreadable stays in the part the policy checks."""
    return Header(imports=_header_cut(text, IMPORT_COMMANDS), end=_header_cut(text, IMPORT_COMMANDS + CONTEXT_COMMANDS))


def _header_cut(text: str, commands: tuple[str, ...]) -> int:
    cut = 0  # the last line start up to which every line is header
    toks = _until_unreadable(lex(text))
    tok = next(toks, None)
    while tok is not None:
        if tok.kind == "comment" or tok.text.startswith("/-!"):  # a module doc reads as a comment here
            last, tok = tok, next(toks, None)
        elif tok.kind == "ident" and tok.text in commands and _first_on_line(text, tok.start):
            command = tok
            if tok.text in IMPORT_COMMANDS:
                read = _import_command(tok, toks)
                if read is None:  # not exactly `prelude` or an import: scanned
                    return _blank_lines_after(text, cut, command.start)
                last, tok = read
            else:
                last, tok = tok, next(toks, None)
                while (tok is not None and tok.kind in CODE_KINDS
                       and not (tok.start == 0 or text[tok.start - 1] == "\n")
                       and tok.text not in _COMMAND_WORDS and tok.kind != "hash"):
                    last, tok = tok, next(toks, None)
                if last.text == "in":  # `open Real in`: scoped to the command after it
                    return _blank_lines_after(text, cut, command.start)
        else:
            return _blank_lines_after(text, cut, tok.start)
        eol = text.find("\n", last.end)
        if eol < 0:  # the text's last line
            return len(text) if tok is None else cut
        if tok is None or tok.start > eol:
            cut = eol + 1
    return len(text)  # only blank space is left


def _import_command(first: Token, toks: Iterator[Token]) -> tuple[Token, Token | None] | None:
    """Read `prelude` or `[public] [meta] import [all] Name` from `first` on (comments between its
    tokens are whitespace): its last token and the token after it, or None if it is anything else."""
    def code() -> Token | None:
        t = next(toks, None)
        while t is not None and t.kind == "comment":
            t = next(toks, None)
        return t

    if first.text == "prelude":
        return first, next(toks, None)
    tok: Token | None = first
    for optional in ("public", "meta"):
        if tok is not None and tok.kind == "ident" and tok.text == optional:
            tok = code()
    if tok is None or tok.kind != "ident" or tok.text != "import":
        return None
    tok = code()
    if tok is not None and tok.kind == "ident" and tok.text == "all":
        tok = code()
    if tok is None or tok.kind != "ident" or not _module_name(tok.text):
        return None
    return tok, next(toks, None)


def _module_name(name: str) -> bool:
    """A name that cannot be a command keyword (those are all lowercase, and none is dotted)."""
    return "." in name or "«" in name or any(c.isupper() for c in name)


def _until_unreadable(toks: Iterator[Token]) -> Iterator[Token]:
    """The tokens, then, if the text cannot be read further, a token of no kind where it fails."""
    try:
        yield from toks
    except LeanSyntaxError as e:
        yield Token("unreadable", "", e.offset, e.offset)  # type: ignore[arg-type]


def _blank_lines_after(text: str, cut: int, stop: int) -> int:
    """`cut`, moved over the blank lines after it that come before the line holding `stop`."""
    line_start = text.rfind("\n", 0, stop) + 1
    return line_start if line_start > cut and not text[cut:line_start].strip() else cut


def _first_on_line(text: str, offset: int) -> bool:
    line_start = text.rfind("\n", 0, offset) + 1
    return not text[line_start:offset].strip()


# --- the declaration -------------------------------------------------------------------------------



@dataclass(frozen=True)
class Declaration:
    """The one declaration of a statement: `[doc] [@[attrs]] [modifiers] keyword name signature [:= proof]`."""

    keyword: Token
    name: Token | None  # None for `example` and an anonymous `instance`
    modifier: Token | None  # `noncomputable`, ... right before the keyword, if any
    assign: Token | None  # the `:=` that ends the signature
    proof: tuple[Token, ...]  # what follows it: `by`, `sorry`, `by sorry` or nothing
    signature_end: int  # offset where the signature ends (at `:=`, or the text's end), spaces kept


def keyword_indices(toks: list[Token], keywords: tuple[str, ...] = DECLARATION_KEYWORDS) -> list[int]:
    """Indices of the declaration keywords among code tokens, outside `[...]` (`attribute [instance] f`)."""
    depth, found = 0, []
    for i, t in enumerate(toks):
        if t.text == "[":
            depth += 1
        elif t.text == "]":
            depth = max(0, depth - 1)
        elif t.kind == "ident" and depth == 0 and t.text in keywords:
            found.append(i)
    return found


def parse_declaration(text: str, keywords: tuple[str, ...] = DECLARATION_KEYWORDS) -> Declaration:
    """Read a statement that declares exactly one thing (a keyword of `keywords` outside attribute
    brackets; a `def` in a comment is not a keyword). Its signature ends at the last `:=`, after
    which only `by`, `sorry` or `by sorry` may follow. Raises LeanSyntaxError.

    Exactly one, not the first or the last: a statement that declares two things (a helper `def`
    before the theorem) has no single signature to restate, so it is refused rather than cut at a
    guess; helpers belong in the header.
    """
    toks = tokenize(text)
    found = keyword_indices(toks, keywords)
    if not found:
        raise LeanSyntaxError(f"declares nothing (no {', '.join(f'`{k}`' for k in keywords)})", 0)
    if len(found) > 1:
        raise LeanSyntaxError(f"declares more than one thing (`{toks[found[0]].text}` and "
                              f"`{toks[found[1]].text}`); helper definitions belong in the header",
                              toks[found[1]].start)
    k = found[0]
    kw = toks[k]
    name = toks[k + 1] if k + 1 < len(toks) and toks[k + 1].kind == "ident" and kw.text != "example" else None
    modifier = toks[k - 1] if k > 0 and toks[k - 1].text in MODIFIERS else None
    assigns = [t for t in toks[k + 1 :] if t.kind == "assign"]
    if not assigns:
        return Declaration(kw, name, modifier, None, (), len(text))
    last = assigns[-1]
    proof = tuple(t for t in toks if t.start >= last.end)
    if tuple(t.text for t in proof) not in PROOF_PLACEHOLDERS:
        raise LeanSyntaxError("must end with `:=`, `:= by` or `:= by sorry`, not with a proof", last.start)
    return Declaration(kw, name, modifier, last, proof, last.start)


def split_lean_text(text: str) -> tuple[str, str, str]:
    """(header, prefix, declaration) of a Lean snippet or file.

    The declaration is the last `theorem`/`lemma`/`def`/... with its modifiers, attributes and
    scoping lines (`open Real in`); the prefix the doc comment (`/--`, on a line of its own) right
    above it, with any comments between them; the header everything before: imports, options, and
    the helper definitions some benchmarks carry (ProofNet). Without a declaration, all of `text` is
    the header. Text that cannot be read is split at its header (`leanfd.lean.syntax.Header.end`).
    """
    try:
        toks = tokenize(text)
    except LeanSyntaxError:
        cut = split_header(text).end
        return text[:cut], "", text[cut:]
    kws = keyword_indices(toks)
    if not kws:
        return text, "", ""
    j = kws[-1]
    while j > 0:
        prev = toks[j - 1]
        if prev.kind == "ident" and prev.text in MODIFIERS:
            j -= 1
        elif prev.kind == "ident" and prev.text == "in":  # `open Real in`: scoped to the declaration
            line_start = text.rfind("\n", 0, prev.start) + 1
            k = j - 1
            while k > 0 and toks[k - 1].start >= line_start:
                k -= 1
            if k == j - 1:
                break
            j = k
        elif prev.text == "]":  # an attribute `@[...]`?
            k, depth = j - 1, 0
            while k >= 0:
                depth += {"]": 1, "[": -1}.get(toks[k].text, 0)
                if depth == 0:
                    break
                k -= 1
            if k < 1 or toks[k - 1].text != "@":
                break
            j = k - 1
        else:
            break
    start = toks[j].start
    prev_end = toks[j - 1].end if j > 0 else 0
    region = text[prev_end:start]  # whitespace and comments only
    cut = start
    for m in re.finditer(r"(?m)^[ \t]*/--", region):
        if m.start() == 0 and prev_end > 0:
            continue  # a comment that ends the previous command's line
        cut = prev_end + m.start()
        break
    return text[:cut], text[cut:start], text[start:]


# --- JSONL and JSON ---------------------------------------------------------------------------
