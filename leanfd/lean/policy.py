"""What a candidate proof may contain. Checked on the text before Lean runs.

The header and the reference statement come from the dataset and are trusted; only the text the
model wrote (the proof, the whole `code`, or a file's body after its `prelude`/`import` lines) is
scanned. The scan is an allowlist: what no rule below allows is refused, and the violation names
the word (line N: `word` why).

Commands. A Lean command always begins with a reserved keyword token (an ordinary identifier only
continues a term), and after a parse error Lean tries to read a command at every later token; so
every identifier of the text is looked up in one table, `KEYWORDS` (Lean 4.35 core, Batteries and
Mathlib), which says for each keyword whether it is allowed or why it is refused:

- allowed: declarations (`theorem`, `lemma`, `def`, `abbrev`, `instance`, `example`, `structure`,
  `class`, `inductive`, `opaque`, `mutual`, `alias`, with `where`, `extends`, `deriving`,
  `termination_by`, `decreasing_by`), modifiers (`private`, `protected`, `public`,
  `noncomputable`, `nonrec`, `partial`: the judge refuses a partial or opaque *target*, a helper is
  harmless), scoping (`namespace`, `section`, `end`, `open` with `in`/`hiding`/`renaming`/
  `scoped`, `export`, `variable`, `universe`, `include`, `omit`, `local`), `set_option` and
  `attribute` (checked further, below), and the info commands `#check`, `#check_failure`, `#print`
  (`#print axioms` too), `#reduce`, `#synth`.
- refused: `axiom` and `unsafe` (new axioms, code the kernel does not check: allowed in a whole
  file, `FILE_ALLOWED`, where `#print axioms` of each theorem still has to pass the allowlist);
  `import`, `prelude`, `module` (the header decides them); code run at elaboration time (`#eval`,
  `run_cmd`, `run_tac`, `by_elab`, `eval%`, `initialize`, ...); code registered to run later
  (`simproc`, `register_option`, `declare_config_elab`, ...); syntax extensions (`macro`,
  `syntax`, `elab`, `notation`, `notation3`, `infix`, `scoped[NS]`, ..., which can change how the
  verifier's own commands parse or print); `#exit` (stops before the checks); `#guard_msgs` (can
  hide messages); and the rest of Lean's, Batteries' and Mathlib's commands, which no proof needs
  and which were not reviewed (`irreducible_def`, `add_decl_doc`, `unseal`, `meta`, ...). Every
  `#word` but the five info commands is refused, known or not (`#foo`); `#[1, 2]` and `#v[1, 2]`
  are terms.
Only whole identifiers count: Lean reads `x.axiom` and `«axiom»` as names, not as the keyword.

`set_option NAME`: only names in `Policy.allowed_options` (resource limits and linters; not
`debug.skipKernelTC`, nor `pp.*`, which could make two different types print alike).

Attributes, in `@[...]` and `attribute [...] names`, each entry possibly `local`, `scoped` or `-`
and followed by its arguments: only the names in `ATTRIBUTES`, each of which only tags lemmas for
tactics, registers instances, generates lemmas the kernel checks, steers unfolding, elaboration or
printing, hints the compiler, or documents. Every other attribute is refused
with its name: `implemented_by`, `extern`, `init`, `csimp`, `export` (code and compiled code),
the `*_parser`, `*_elab`, `tactic`, `macro`, `delab`, `app_delab`, `app_unexpander`,
`formatter`, `parenthesizer` and `builtin_*` attributes (code that runs while later commands,
the verifier's included, are parsed, elaborated or printed), Mathlib's `positivity` and `norm_num`
extensions, `to_additive` (its `(attr := ...)` applies other attributes), and unknown names. An
attribute list that cannot be read for sure (a missing name, unbalanced brackets, text that reads
two ways) is refused whole.

Text. Unterminated comments and strings would swallow the checks appended after the candidate;
any text that `leanfd.lean.syntax` cannot read for sure (it reads two ways, depending on Lean's
token table or its error recovery) is refused, since Lean might read code there that the scan
missed; what only core Lean reads where Mathlib reads otherwise (`f '' xaxiom`) is checked too.
A refused word stays refused inside attribute arguments (`@[aesop unsafe]`), since Lean's error
recovery may read a command there. `sorry` and `admit` are not violations but mark the attempt as
unproved.

What this cannot see: a command keyword of a package outside the table (a project's own
`syntax ... : command`) reads here as an identifier. The header imports decide which packages are
loaded; the table covers Lean 4.35, Batteries and Mathlib.

Before any of that (`refusal`), an attempt longer than the size limit is refused unread, and so is a
record holding a lone surrogate, which is not text: UTF-8, and so Lean, cannot take it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from leanfd.lean.records import not_text
from leanfd.lean.syntax import LeanSyntaxError, Lines, Token, lex
from leanfd.lean.vocabulary import ATTRIBUTES, KEYWORDS, SORRY_WORDS

DEFAULT_AXIOMS = ("propext", "Classical.choice", "Quot.sound")
DEFAULT_OPTIONS = (
    "maxHeartbeats",
    "maxRecDepth",
    "synthInstance.maxHeartbeats",
    "synthInstance.maxSize",
    "linter.*",
)

_UNKNOWN_HASH = "is not one of the allowed `#` commands (`#check`, `#check_failure`, `#print`, `#reduce`, `#synth`)"
_NOT_ATTRIBUTE = "is not an allowed attribute (others can register code that runs while later commands are parsed, " \
                 "elaborated, compiled or printed)"
_UNREADABLE_ATTRIBUTES = "is an attribute list that cannot be read for sure"
_TWO_WAYS = "where core Lean and Mathlib read the text differently"


@dataclass(frozen=True)
class Policy:
    """What candidates may use. The defaults follow what Mathlib's own theorems need."""

    allowed_axioms: tuple[str, ...] = DEFAULT_AXIOMS
    allowed_options: tuple[str, ...] = DEFAULT_OPTIONS  # exact names, or a prefix ending in `.*`

    def option_allowed(self, name: str) -> bool:
        return any(
            name == pat or (pat.endswith(".*") and name.startswith(pat[:-1])) for pat in self.allowed_options
        )


@dataclass(frozen=True)
class Violation:
    rule: str
    line: int  # 1-based, in the scanned text
    why: str

    def __str__(self) -> str:
        return f"line {self.line}: `{self.rule}` {self.why}"


@dataclass
class Scan:
    violations: list[Violation] = field(default_factory=list)
    sorry: bool = False


# A whole `.lean` file must declare its own world (the bundled Lean has no Init): it may declare
# axioms and unsafe helpers, since `#print axioms` of each theorem still has to pass the allowlist
# and the kernel never lets a theorem use an unsafe constant.
FILE_ALLOWED = ("axiom", "unsafe")


# Identifiers, `#` words, what only core Lean reads, and symbols (for `@[`, `[`, `]`, `%`, ...).
# Numbers, strings and chars break no rule: the scan does not ask for them.
_WANTED = frozenset({"ident", "hash", "phantom", "other"})
_PERCENT = frozenset(k[:-1] for k in KEYWORDS if k.endswith("%"))  # `eval%` is one token
_CLOSE = {"(": ")", "[": "]", "{": "}", "⟨": "⟩"}
_CLOSERS = frozenset(_CLOSE.values())
Flag = Callable[[str, int, str], None]


def scan(text: str, policy: Policy = Policy(), allow: tuple[str, ...] = ()) -> Scan:
    """Check candidate text against the policy (less the keywords in `allow`). Pure: no Lean involved.

    Text that `leanfd.lean.syntax` cannot read for sure (unterminated, or read differently by
    different token tables) is one violation: the policy never guesses what is code.
    """
    result = Scan()
    lines = Lines(text)
    found: list[Violation] = []

    def flag(rule: str, offset: int, why: str) -> None:
        found.append(Violation(rule, lines.line(offset), why))

    option: Token | None = None  # a `set_option` whose name comes next
    opener: Token | None = None  # `attribute`, `scoped` or `@` (before `[`) whose `[` may come next
    bracket: _Attributes | None = None
    try:  # `phantom`: what core Lean reads after an error where Mathlib reads a token (syntax._converge)
        for tok in lex(text, _WANTED):  # one token at a time: a 10 MB attempt never sits in a list
            kind = tok.kind
            if kind == "other" and option is opener is bracket is None:  # most symbols: only `@[` matters
                if tok.text == "@" and text.startswith("[", tok.end):
                    opener = tok
                continue
            if kind not in _WANTED:
                continue
            if option is not None:  # the name, unless something else comes first
                adjacent = kind == "ident" and not text[option.end : tok.start].strip()
                _check_option(option, tok.text if adjacent else "", policy, flag)
                option = None
            if opener is not None:
                if kind == "phantom":
                    flag(opener.text if opener.text != "@" else "@[", opener.start, _TWO_WAYS)
                elif kind == "other" and tok.text == "[":
                    if opener.text == "scoped":
                        flag("scoped[", opener.start, KEYWORDS["scoped["])
                    else:
                        bracket = _Attributes(opener)
                        opener = None
                        continue
                opener = None
            if bracket is not None and not bracket.step(tok, text, allow, flag):
                bracket = None
            if kind == "other":
                if tok.text == "@" and text.startswith("[", tok.end) and bracket is None:
                    opener = tok
                continue
            word = tok.text
            if kind == "hash" or (word[:1] == "#" and len(word) > 1):  # a phantom `#word` too
                for rule, why in _hash_rules(word, text[tok.end : tok.end + 1], allow):
                    flag(rule, tok.start, why)
                continue
            if word in _PERCENT and text.startswith("%", tok.end):
                word += "%"
            why = KEYWORDS.get(word)
            if why is not None and word not in allow:
                flag(word, tok.start, why)
            elif kind == "phantom" and (word in ("set_option", "attribute", "scoped")
                                        or (word == "@" and text.startswith("[", tok.end))):
                flag(word, tok.start, _TWO_WAYS)
            elif word == "set_option":
                option = tok
            elif word in ("attribute", "scoped") and bracket is None:
                opener = tok
            if word in SORRY_WORDS or ("." in word and any(p in SORRY_WORDS for p in tok.parts)):
                result.sorry = True
        if option is not None:
            _check_option(option, "", policy, flag)
        if bracket is not None:
            flag(bracket.rule, bracket.opener.start, _UNREADABLE_ATTRIBUTES + " (it is never closed)")
    except LeanSyntaxError as e:
        why = "would swallow the verifier's checks" if str(e).startswith("unterminated") else "is refused"
        return Scan(violations=[Violation(str(e), lines.line(e.offset), why)])
    result.violations = found
    return result


class _Attributes:
    """Reads one attribute list `[...]`, after `@` or `attribute`, a token at a time: entries separated
    by `,`, each `[local | scoped | -] name arguments`, arguments up to the next `,` or `]` outside
    brackets. Names outside `ATTRIBUTES` are flagged; a list it cannot read for sure is flagged whole."""

    def __init__(self, opener: Token) -> None:
        self.opener = opener
        self.rule = "@[" if opener.text == "@" else "attribute ["
        self.want = "entry"  # then "name", then "arguments"
        self.open: list[str] = []  # brackets open in the arguments

    def step(self, tok: Token, text: str, allow: tuple[str, ...], flag: Flag) -> bool:
        """Take the next token; False once the list is over (closed, or refused as unreadable)."""
        kind, word = tok.kind, tok.text
        nested = (kind == "other" and word == "@" and text.startswith("[", tok.end)) or word == "attribute"
        if kind == "phantom" or nested:
            flag(self.rule, self.opener.start, _UNREADABLE_ATTRIBUTES + f" (`{word}` inside it)")
            return False
        if self.want == "entry" and ((kind == "ident" and word in ("local", "scoped")) or word == "-"):
            self.want = "name"
            return True
        if self.want != "arguments":
            if kind != "ident":
                flag(self.rule, self.opener.start, _UNREADABLE_ATTRIBUTES + f" (`{word}` where a name should be)")
                return False
            refused = KEYWORDS.get(word) is not None and word not in allow  # then flagged as a keyword
            if word not in ATTRIBUTES and not refused:
                flag(word, tok.start, _NOT_ATTRIBUTE)
            self.want = "arguments"
            return True
        if kind != "other":
            return True
        if word in _CLOSE:
            self.open.append(_CLOSE[word])
        elif word in _CLOSERS:
            if self.open:
                if self.open.pop() != word:
                    flag(self.rule, self.opener.start, _UNREADABLE_ATTRIBUTES + f" (unbalanced `{word}`)")
                    return False
            elif word == "]":
                return False  # the list is over
            else:
                flag(self.rule, self.opener.start, _UNREADABLE_ATTRIBUTES + f" (unbalanced `{word}`)")
                return False
        elif word == "," and not self.open:
            self.want = "entry"
        return True


def _check_option(tok: Token, name: str, policy: Policy, flag: Flag) -> None:
    if not policy.option_allowed(name):
        flag(f"set_option {name}".strip(), tok.start, "changes an option outside the allowlist")


_HASH_KEYWORDS = sorted((k for k in KEYWORDS if k.startswith("#")), key=len, reverse=True)
_WORDS = [k for k, why in KEYWORDS.items() if why is not None and re.fullmatch(r"[a-z_][a-z_0-9!?]*", k)]
_LONGEST_WORD = max(map(len, _WORDS))


def _hash_rules(text: str, after: str, allow: tuple[str, ...]) -> list[tuple[str, str]]:
    """The rules a `#word` breaks, as (rule, why). Only the five info commands, exactly, are allowed,
    and `#v[` (a vector literal). Where Lean's token table ends the command token is not known here
    (`#evalaxiom` is `#eval` then `axiom`), so the longest command that begins it is named, and every
    refused word that ends it."""
    if KEYWORDS.get(text, "") is None or (text == "#v" and after == "["):
        return []
    known = next((k for k in _HASH_KEYWORDS if text.startswith(k)), None)
    if known is not None and KEYWORDS[known] is not None:
        rules = [(known, KEYWORDS[known])]
    else:
        rules = [(text, _UNKNOWN_HASH)]
    tail = text[-_LONGEST_WORD:]
    return rules + [(w, KEYWORDS[w]) for w in _WORDS  # type: ignore[misc]
                    if w not in allow and tail.endswith(w) and len(w) < len(text) - 1]


def refusal(fields: Mapping[str, str], attempt: str, max_chars: int) -> str | None:
    """Why a record is refused before it is scanned or sent to Lean, or None: `fields[attempt]` (the
    proof, the code, the file) is longer than `max_chars`, or a field is not text (see `not_text`)."""
    size = len(fields[attempt])
    if size > max_chars:
        return (f"the {attempt} has {size:,} characters, over the limit of {max_chars:,} "
                "(max_attempt_chars, --max-attempt-chars)")
    return not_text(dict(fields))


def strip_imports(code: str, header: str) -> tuple[str, list[str]]:
    """Blank out the leading `import` lines of `code` that the header already has.

    Models often repeat the whole header before the theorem. Lines are blanked rather than
    removed so that Lean's line numbers still point into the text the model wrote. Returns the
    new text and the imports that the header lacks (which the policy then rejects).
    """
    have = set(re.findall(r"^\s*import\s+(\S+)", header, flags=re.M))
    lines = code.split("\n")
    missing: list[str] = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        m = re.fullmatch(r"import\s+(\S+)", stripped)
        if not m:
            break
        if m.group(1) in have:
            lines[i] = ""
        else:
            missing.append(m.group(1))
    return "\n".join(lines), missing
