"""Where a suggestion goes in a Lean document, and what Lean is asked about it. Pure: no Lean, no editor.

A `Site` is one place a candidate goes, found from the cursor:
- a `sorry` standing for a term (`:= sorry`, `exact sorry`, `fun x => sorry`): a term replaces it;
- a `sorry` standing for a tactic (`by sorry`, a `sorry` line in a tactic block, `· sorry`,
  `case h => sorry`): a tactic replaces it;
- the end of a tactic line, or a blank line, inside a `by` block: a tactic is inserted there;
- for a whole proof (`proveTheorem`): everything after the declaration's `:=`.

Declarations are found by layout, as Lean code is written: a command starts at column 0 (`theorem`,
`def`, `#check`, `@[simp]`, a doc comment, ...) and runs to the next one. Offsets are code points into
the text; editors' positions (UTF-16 by default) are converted by `LineIndex` through pygls's
`PositionCodec` (Lean's own positions, always UTF-16, by `leanfd.lean.positions`). Telling a term `sorry`
from a tactic one is a heuristic on the tokens around it (listed at `sorry_kind`); Lean itself is
asked for the goal, which is the reliable part.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import re
from dataclasses import dataclass, field
from typing import Literal

from lsprotocol.types import Position
from pygls.workspace.position_codec import PositionCodec

from leanfd.lean.syntax import LeanSyntaxError, Token, lex, tokenize
from leanfd.lean.vocabulary import COMMAND_STARTS, DECLARATION_KEYWORDS, MODIFIERS, PROOF_KEYWORDS, SORRY_WORDS

SiteKind = Literal["term", "tactic", "proof"]


def _words(words) -> str:
    """A regex alternation of Lean words, the longest first."""
    return "|".join(map(re.escape, sorted(words, key=len, reverse=True)))


# Words that start a command when they stand at column 0: the end of the declaration before them.
_COMMAND_HEAD = re.compile(rf"(?:@\[|/--|#[A-Za-z_]|(?:{_words(COMMAND_STARTS)})(?![\w'!?.]))")
_DECL_HEAD = re.compile(
    rf"(?:@\[[^\]]*\]\s*)?(?:(?:{_words((*MODIFIERS, 'scoped'))})\s+)*({_words(DECLARATION_KEYWORDS)})(?![\w'!?.])"
)
_OPENERS, _CLOSERS = set("([{⟨⦃"), set(")]}⟩⦄")
# A `sorry` right after one of these stands for a term, even on a line of its own in a tactic block.
_TERM_BEFORE = {":=", "(", "[", "{", "⟨", ",", "exact", "refine", "refine'", "apply", "use", "from", "show",
                "fun", "λ", "←", "calc", "at", "+", "*", "-", "=", "$", "<|", "|>"}
_SPECIALS = re.compile(r"/-|--|\"")
_BLOCK = re.compile(r"/-|-/")


class LineIndex:
    """Offsets <-> LSP positions (`line`, `character` in the negotiated encoding's units)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset) - 1

    def line_bounds(self, line: int) -> tuple[int, int]:
        """Start and end (before `\\n`) of a 0-based line."""
        start = self.starts[line]
        end = self.starts[line + 1] - 1 if line + 1 < len(self.starts) else len(self.text)
        return start, end

    def offset(self, line: int, units: int, encoding: str = "utf-16") -> int:
        """The offset of an editor position; past the end of a line (or of the text) clamps."""
        if line < 0:
            return 0
        if line >= len(self.starts):
            return len(self.text)
        start, end = self.line_bounds(line)
        chars = self.text[start:end]
        codec = _codec(encoding)
        if units <= 0:
            return start
        if units >= codec.client_num_units(chars):  # pygls would clamp before the last character
            return end
        return start + codec.position_from_client_units([chars], Position(line=0, character=units)).character

    def position(self, offset: int, encoding: str = "utf-16") -> tuple[int, int]:
        line = self.line_of(offset)
        start = self.starts[line]
        return line, _codec(encoding).client_num_units(self.text[start:offset])


@functools.cache
def _codec(encoding: str) -> PositionCodec:
    """pygls's codec for the negotiated encoding (`utf-8`, `utf-16`, `utf-32`; another counts UTF-16)."""
    return PositionCodec(encoding)


_MASKING = frozenset({"comment", "doc", "string", "char"})


def masked_spans(text: str) -> tuple[list[tuple[int, int]], int | None]:
    """Spans of comments and literals, and where the text stops being readable (None if never): the
    project's one reader of Lean text (`leanfd.lean.syntax`), so the editor and the verifier agree on
    what is code. Past an unterminated comment or string, or text Lean may read two ways, nothing is
    taken for code: no suggestion is offered there."""
    spans: list[tuple[int, int]] = []
    try:
        for tok in lex(text, _MASKING):
            if tok.kind in _MASKING:
                spans.append((tok.start, tok.end))
    except LeanSyntaxError as e:
        return spans, e.offset
    return spans, None


@dataclass(frozen=True)
class Decl:
    """One declaration: its span in the document, and its tokens (offsets in the document)."""

    start: int
    end: int
    keyword: str
    name: str
    tokens: tuple[Token, ...]
    assign: Token | None  # the `:=` that starts the proof (bracket depth 0), if any

    @property
    def proof_start(self) -> int | None:
        return None if self.assign is None else self.assign.end


@dataclass(frozen=True)
class Site:
    """Where a candidate goes: it replaces `text[start:end]`, after `lead` (a new line, indentation)."""

    kind: SiteKind
    start: int
    end: int
    decl: Decl = field(repr=False)
    probe: int  # where Lean is asked for the goal (in the probe text, see `probe_text`)
    lead: str = ""  # put before the candidate: "\n" + indent to insert after a line, an indent on a blank line
    indent: str = ""  # put before each continuation line of a multi-line candidate
    insert: bool = False  # True: a new tactic is inserted (nothing of the user's text replaced)
    other_sorries: int = 0  # `sorry`s of the declaration outside the replaced text

    def new_text(self, candidate: str) -> str:
        """The replacement for `text[start:end]`: the candidate, placed and indented."""
        lines = candidate.strip("\n").rstrip().split("\n")
        rest = [self.indent + ln if ln.strip() else "" for ln in lines[1:]]
        return self.lead + "\n".join([lines[0].lstrip(), *rest])

    def shadow(self, text: str, candidate: str) -> str:
        """The text Lean checks: the document up to the declaration's end, the candidate in place."""
        return text[: self.start] + self.new_text(candidate) + text[self.end : self.decl.end]

    def probe_text(self, text: str) -> tuple[str, int, str]:
        """(text, offset, LSP method) that reads the goal at the site from Lean.

        A term site becomes the hole `_`: Lean then elaborates it with its expected type and answers
        `$/lean/plainTermGoal` there. (A `sorry` would do the same with `Init`, but a prelude-only Lean
        fails on it with `internal exception #3`; `_` works with and without `Init`.) Tactic sites are
        left as they are and asked `$/lean/plainGoal`: the goals before the `sorry`, or after the line
        that a new tactic follows.
        """
        if self.kind == "tactic":
            return text[: self.decl.end], self.probe, "$/lean/plainGoal"
        hole = " _" if self.kind == "proof" else "_"
        shadow = text[: self.start] + hole + text[self.end : self.decl.end]
        return shadow, self.start + len(hole) - 1, "$/lean/plainTermGoal"

    def decl_line(self, text: str) -> int:
        """1-based line of the declaration's start (as `Message.line` counts)."""
        return text.count("\n", 0, self.decl.start) + 1

    def key(self, text: str) -> str:
        """Identifies the site within one version of a document: its kind and the text before it."""
        digest = hashlib.blake2b(text[: self.start].encode(), digest_size=16).hexdigest()
        return f"{'proof' if self.kind == 'proof' else 'step'}:{digest}"


class LeanText:
    """One version of a document, analysed once: lines, comment spans, command boundaries, declarations."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.index = LineIndex(text)
        self.spans, self.unterminated = masked_spans(text)
        self._span_starts = [s for s, _ in self.spans]
        self.boundaries: list[int] = []  # offsets of lines that start a command
        self._decl_words: dict[int, str] = {}  # boundary offset -> declaration keyword, for declarations
        for start in self.index.starts:
            if start >= len(text) or text[start] in " \t\r\n" or self._masked(start):
                continue
            line_end = text.find("\n", start)
            line = text[start : len(text) if line_end < 0 else line_end]
            if line.startswith("/-") and not line.startswith("/--"):
                continue
            if _COMMAND_HEAD.match(line):
                self.boundaries.append(start)
                if m := _DECL_HEAD.match(line):
                    self._decl_words[start] = m.group(1)
        self._decls: dict[int, Decl | None] = {}

    def _masked(self, offset: int) -> bool:
        """Whether `offset` lies strictly inside a comment or string (its first character does not count)."""
        i = bisect.bisect_right(self._span_starts, offset) - 1
        if i >= 0 and self.spans[i][0] < offset < self.spans[i][1]:
            return True
        return self.unterminated is not None and offset > self.unterminated

    def decl_at(self, offset: int) -> Decl | None:
        """The declaration (theorem, def, ...) whose text holds `offset`, or None."""
        i = bisect.bisect_right(self.boundaries, offset) - 1
        if i < 0 or self.boundaries[i] not in self._decl_words:
            return None
        start = self.boundaries[i]
        if start not in self._decls:
            end = self.boundaries[i + 1] if i + 1 < len(self.boundaries) else len(self.text)
            self._decls[start] = self._parse(start, end)
        return self._decls[start]

    def _parse(self, start: int, end: int) -> Decl | None:
        if self.unterminated is not None and self.unterminated < end:
            return None  # an unterminated comment or string swallows it
        try:
            toks = tuple(Token(t.kind, t.text, t.start + start, t.end + start) for t in tokenize(self.text[start:end]))
        except LeanSyntaxError:
            return None
        keyword = self._decl_words[start]
        k = next(i for i, t in enumerate(toks) if t.text == keyword)
        name = toks[k + 1].text if keyword != "example" and k + 1 < len(toks) and toks[k + 1].kind == "ident" else ""
        depth, assign = 0, None
        for t in toks[k + 1 :]:
            if t.text in _OPENERS:
                depth += 1
            elif t.text in _CLOSERS:
                depth = max(0, depth - 1)
            elif t.kind == "assign" and depth == 0:
                assign = t
                break
        return Decl(start, end, keyword, name, toks, assign)


def next_step_site(doc: LeanText, offset: int) -> Site | None:
    """The site for a next step at the cursor: a `sorry` there, or a tactic to insert; None outside a proof."""
    decl = doc.decl_at(offset)
    if decl is None or decl.proof_start is None or offset < decl.proof_start:
        return None
    toks = decl.tokens
    sorries = [i for i, t in enumerate(toks) if t.text in SORRY_WORDS and t.start >= decl.proof_start]
    at = next((i for i in sorries if toks[i].start <= offset <= toks[i].end), None)
    if at is not None:
        return _sorry_site(doc, decl, at, len(sorries) - 1)
    return _insert_site(doc, decl, offset, len(sorries))


def proof_site(doc: LeanText, offset: int) -> Site | None:
    """The whole proof of the theorem holding the cursor (anywhere in it, statement included)."""
    decl = doc.decl_at(offset)
    if decl is None or decl.keyword not in PROOF_KEYWORDS or decl.assign is None:
        return None
    assert decl.proof_start is not None
    end = decl.proof_start + len(doc.text[decl.proof_start : decl.end].rstrip())
    # Declarations start at column 0, so the model's lines need no extra indentation.
    return Site("proof", decl.proof_start, end, decl, probe=decl.proof_start, lead=" ")


def sorry_kind(text: str, toks: tuple[Token, ...], i: int) -> SiteKind:
    """Whether the `sorry` at `toks[i]` stands for a tactic or a term. Heuristic, in order:

    - right after `by`, `;`, `<;>` or a bullet `·`: tactic;
    - right after `=>`: tactic when its line starts with `case`, `next`, `|` or `·` and a `by` comes
      earlier (a tactic alternative), term otherwise (`fun x => sorry`, a term-mode `match`);
    - first on its line, with a `by` earlier and no term-expecting token just before (`:=`, `(`, `,`,
      `exact`, `fun`, ...): tactic;
    - otherwise: term.
    """
    prev = toks[i - 1] if i > 0 else None
    if prev is None:
        return "term"
    pp = toks[i - 2] if i > 1 else None
    has_by = any(t.text == "by" for t in toks[:i])
    if prev.text in ("by", ";", "·") or (prev.text == ">" and pp is not None and pp.text == ";"):
        return "tactic"
    if prev.text == ">" and pp is not None and pp.text == "=" and pp.end == prev.start:
        line = _line_tokens(text, toks, pp)
        if has_by and line and line[0].text in ("case", "next", "|", "·") and not any(
            t.text in ("fun", "λ") for t in line
        ):
            return "tactic"
        return "term"
    first_on_line = "\n" in text[prev.end : toks[i].start]
    if first_on_line and has_by and prev.text not in _TERM_BEFORE:
        return "tactic"
    return "term"


def _line_tokens(text: str, toks: tuple[Token, ...], tok: Token) -> list[Token]:
    line_start = text.rfind("\n", 0, tok.start) + 1
    line_end = text.find("\n", tok.start)
    line_end = len(text) if line_end < 0 else line_end
    return [t for t in toks if line_start <= t.start < line_end]


def _indentation(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _sorry_site(doc: LeanText, decl: Decl, i: int, others: int) -> Site:
    text, tok = doc.text, decl.tokens[i]
    kind = sorry_kind(text, decl.tokens, i)
    line_start = text.rfind("\n", 0, tok.start) + 1
    # Tactics of a block share one column: continuation lines of a tactic candidate align with the
    # `sorry`; a term's continuation lines keep the indentation of the line it is on.
    indent = " " * (tok.start - line_start) if kind == "tactic" else _indentation(text[line_start : tok.start])
    return Site(kind, tok.start, tok.end, decl, probe=tok.start, indent=indent, other_sorries=others)


def _insert_site(doc: LeanText, decl: Decl, offset: int, sorries: int) -> Site | None:
    """A new tactic at the end of the cursor's line or on the blank line it is on, inside a `by` block."""
    text, index = doc.text, doc.index
    assert decl.proof_start is not None
    if not any(t.text == "by" and decl.proof_start <= t.start and t.end <= offset for t in decl.tokens):
        return None
    line = index.line_of(offset)
    start, end = index.line_bounds(line)
    if doc._masked(offset):
        return None
    if text[start:end].strip():
        if text[offset:end].strip():
            return None  # mid-line: not a place for a new tactic
        anchor = line
        indent = _tactic_indent(doc, decl, anchor)
        at = start + len(text[start:end].rstrip())
        return Site("tactic", at, at, decl, probe=at, lead="\n" + indent, indent=indent, insert=True,
                    other_sorries=sorries)
    anchor = line - 1
    while anchor >= 0 and not text[slice(*index.line_bounds(anchor))].strip():
        anchor -= 1
    if anchor < 0:
        return None
    a_start, a_end = index.line_bounds(anchor)
    typed = text[start:end]
    indent = typed if typed else _tactic_indent(doc, decl, anchor)
    probe = a_start + len(text[a_start:a_end].rstrip())
    return Site("tactic", start, end, decl, probe=probe, lead=indent, indent=indent, insert=True,
                other_sorries=sorries)


def _tactic_indent(doc: LeanText, decl: Decl, line: int) -> str:
    """The column of a tactic that follows `line` in its block."""
    text = doc.text
    start, end = doc.index.line_bounds(line)
    on_line = [t for t in decl.tokens if start <= t.start < end]
    own = _indentation(text[start:end])
    if on_line and on_line[-1].text == "by":
        return own + "  "
    bys = [k for k, t in enumerate(on_line) if t.text == "by"]
    if bys and bys[-1] + 1 < len(on_line):  # `... := by intro x`: the block's column is that of `intro`
        return " " * (on_line[bys[-1] + 1].start - start)
    if on_line and on_line[0].text == "·" and len(on_line) > 1:
        return " " * (on_line[1].start - start)
    return own
