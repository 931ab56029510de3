"""What a candidate proof may contain. Checked on the text before Lean runs.

The header and the reference statement come from the dataset and are trusted; only the text the
model wrote (the proof, or the whole `code`) is scanned. Rules, each with a reason:

- `axiom`, `unsafe`: new axioms or code the kernel does not check. (`implemented_by` and `extern`
  are not rules: they are attribute names, so `extern` can be a bound variable, and they only change
  compiled code, which no allowed command runs; the kernel and `#print axioms` never see it, and
  `native_decide` shows up as the axiom `Lean.ofReduceBool`.)
- `#exit`: stops elaboration before the verifier's checks run.
- `set_option` outside an allowlist (`debug.skipKernelTC`, `pp.*` which could make two different
  types print alike, ...): only resource limits and linters may be changed.
- code execution at elaboration time: `#eval`, `#eval!`, `#guard`, `run_cmd`, `run_elab`,
  `run_meta`, `run_tac`, `by_elab`, `initialize`, simprocs, `@[command_elab]`-style attributes.
- `#guard_msgs`: it can hide messages, including the verifier's.
- syntax extensions: `macro`, `macro_rules`, `syntax`, `elab`, `elab_rules`, `notation`,
  `infix`/`infixl`/`infixr`/`prefix`/`postfix`, `declare_syntax_cat`, unexpanders and delaborators:
  they can change how the verifier's commands parse or print.
- `import` and `prelude`: the header decides what is imported (leading imports that the header
  already has are dropped from `code`).
- unterminated comments and strings: they would swallow the checks appended after the candidate;
  and any text that `leanfd.lean.syntax` cannot read for sure (it reads two ways, depending on
  Lean's token table or its error recovery), since Lean might read code there that the scan missed.
`sorry` and `admit` are not violations but mark the attempt as unproved.

Before any of that (`refusal`), an attempt longer than the size limit is refused unread, and so is a
record holding a lone surrogate, which is not text: UTF-8, and so Lean, cannot take it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from leanfd.lean.records import not_text
from leanfd.lean.syntax import LeanSyntaxError, Lines, Token, lex

DEFAULT_AXIOMS = ("propext", "Classical.choice", "Quot.sound")
DEFAULT_OPTIONS = (
    "maxHeartbeats",
    "maxRecDepth",
    "synthInstance.maxHeartbeats",
    "synthInstance.maxSize",
    "linter.*",
)

FORBIDDEN_WORDS: dict[str, str] = {
    "axiom": "declares an axiom",
    "unsafe": "unsafe code is not checked by the kernel",
    "import": "imports are fixed by the header",
    "prelude": "the header decides the prelude",
    "run_cmd": "runs code during elaboration",
    "run_elab": "runs code during elaboration",
    "run_meta": "runs code during elaboration",
    "run_tac": "runs code during elaboration",
    "by_elab": "runs code during elaboration",
    "initialize": "runs code during elaboration",
    "builtin_initialize": "runs code during elaboration",
    "simproc": "registers elaboration-time code",
    "dsimproc": "registers elaboration-time code",
    "simproc_decl": "registers elaboration-time code",
    "dsimproc_decl": "registers elaboration-time code",
    "command_elab": "registers elaboration-time code",
    "term_elab": "registers elaboration-time code",
    "tactic_elab": "registers elaboration-time code",
    "macro": "defines syntax",
    "macro_rules": "defines syntax",
    "syntax": "defines syntax",
    "elab": "defines syntax",
    "elab_rules": "defines syntax",
    "notation": "defines syntax",
    "infix": "defines syntax",
    "infixl": "defines syntax",
    "infixr": "defines syntax",
    "prefix": "defines syntax",
    "postfix": "defines syntax",
    "declare_syntax_cat": "defines syntax",
    "app_unexpander": "changes pretty-printing",
    "delab": "changes pretty-printing",
    "register_option": "declares options",
}
FORBIDDEN_COMMANDS: dict[str, str] = {
    "#exit": "stops elaboration before the verifier's checks",
    "#eval": "runs code during elaboration",
    "#eval!": "runs code during elaboration",
    "#exec": "runs code during elaboration",
    "#guard": "runs code during elaboration",
    "#guard_msgs": "can hide messages, including the verifier's",
}
SORRY_WORDS = ("sorry", "admit")


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


# Symbols, numbers, strings and the like break no rule: the scan does not ask for them.
_WANTED = frozenset({"ident", "hash", "phantom"})


def scan(text: str, policy: Policy = Policy(), allow: tuple[str, ...] = ()) -> Scan:
    """Check candidate text against the policy (less the rules in `allow`). Pure: no Lean involved.

    Text that `leanfd.lean.syntax` cannot read for sure (unterminated, or read differently by
    different token tables) is one violation: the policy never guesses what is code.
    """
    result = Scan()
    lines = Lines(text)
    found: list[Violation] = []
    option: Token | None = None  # a `set_option` whose name comes next
    try:  # `phantom`: what core Lean reads after an error where Mathlib reads a token (syntax._converge)
        for tok in lex(text, _WANTED):  # one token at a time: a 10 MB attempt never sits in a list
            if tok.kind not in _WANTED:
                continue
            if option is not None:  # the name, unless something else comes first
                adjacent = tok.kind == "ident" and not text[option.end : tok.start].strip()
                _check_option(option, tok.text if adjacent else "", policy, lines, found)
                option = None
            if tok.kind == "hash":
                found += [Violation(rule, lines.line(tok.start), _why(rule)) for rule in _hash_rules(tok.text, allow)]
                continue
            word = tok.text
            for part in tok.parts if "." in word or "«" in word else (word,):
                if part in FORBIDDEN_WORDS and part not in allow:
                    found.append(Violation(part, lines.line(tok.start), FORBIDDEN_WORDS[part]))
                if part in SORRY_WORDS:
                    result.sorry = True
            if tok.kind == "ident" and word == "set_option":
                option = tok
        if option is not None:
            _check_option(option, "", policy, lines, found)
    except LeanSyntaxError as e:
        why = "would swallow the verifier's checks" if str(e).startswith("unterminated") else "is refused"
        return Scan(violations=[Violation(str(e), lines.line(e.offset), why)])
    result.violations = found
    return result


def _check_option(tok: Token, name: str, policy: Policy, lines: Lines, found: list[Violation]) -> None:
    if not policy.option_allowed(name):
        why = "changes an option outside the allowlist"
        found.append(Violation(f"set_option {name}".strip(), lines.line(tok.start), why))


_LONGEST_RULE = max(map(len, [*FORBIDDEN_WORDS, *FORBIDDEN_COMMANDS]))


def _hash_rules(text: str, allow: tuple[str, ...]) -> list[str]:
    """The rules a `#word` breaks. Where Lean's token table ends the command token is not known
    here (`#evalaxiom` is `#eval` then `axiom`), so every forbidden command that begins it and every
    forbidden word that ends it counts."""
    command = max((c for c in FORBIDDEN_COMMANDS if text.startswith(c)), key=len, default=None)
    tail = text[-_LONGEST_RULE:]
    words = [w for w in FORBIDDEN_WORDS if w not in allow and tail.endswith(w) and len(w) < len(text) - 1]
    return ([command] if command else []) + words


def _why(rule: str) -> str:
    return FORBIDDEN_COMMANDS.get(rule) or FORBIDDEN_WORDS[rule]


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

