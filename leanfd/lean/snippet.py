"""Assemble the Lean file that checks one record, and remember where each part lies.

Layout (lines count from the header's first line):

    header                       trusted, shared by many checks (pooled backends keep it warm)
    pins                         `#print` of each allowlisted axiom, as the header left it
    reference                    the reference statement restated as `axiom NAME_leanfdref_<nonce>`:
                                 elaborated in the header's scope before the candidate can change anything
    attempt                      the candidate text as the model wrote it
    checks                       the kernel check (below), what NAME is (`#print`), the check's axioms
                                 (`#print axioms`), the pins again, an end marker

The kernel check is `theorem leanfdcheck_<nonce> : type_of% @NAME_leanfdref_<nonce> := @_root_.NAME`:
Lean accepts it only if the candidate's type is definitionally equal to the reference's, checked by the
kernel. The statement is never compared as printed text: binder names (hygienic names of anonymous
instance binders included), binder kinds, universe names and order, and definitions unfolded in the
candidate's statement do not matter; a different proposition does. The reference's universe level
metavariables, in the check's header, become universe parameters of the check before its value is
elaborated, so a candidate that holds only for some universes (`Sort 1` for `Sort u`) is refused, while
one more polymorphic than the reference is instantiated. `synthInstance.maxSize 0` pins the check to
`@NAME` itself: with no instance search, the elaborator cannot wrap the candidate in a coercion the
attempt declared. `debug.skipKernelTC false` keeps the kernel on for the check whatever the attempt set.

The reference keeps the statement's own namespace prefix (`Nat.foo` becomes
`Nat.foo_leanfdref_<nonce>`) so its names resolve exactly as the candidate's do. It is an axiom, so a
candidate that uses it is caught by the axiom allowlist (the check's axioms include the candidate's).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from leanfd.lean.errors import RecordError
from leanfd.lean.records import CheckRecord
from leanfd.lean.syntax import LeanSyntaxError, keyword_indices, parse_declaration, split_header, tokenize
from leanfd.lean.vocabulary import DECLARATION_KEYWORDS, STATEMENT_KEYWORDS

# `def`/`abbrev` statements occur in ProofNet (data-carrying results such as `CommGroup G`): proving
# one means giving a term of its type, checked exactly like a theorem's proof (STATEMENT_KEYWORDS).


@dataclass(frozen=True)
class Statement:
    """A reference statement split into its parts."""

    name: str  # the declared name, as written (may be dotted)
    signature: str  # `theorem NAME binders : type`, without `:=` and what follows
    keyword: str = "theorem"  # one of STATEMENT_KEYWORDS

    @property
    def proposition(self) -> bool:
        """A `theorem`/`lemma` states a proposition; a `def`/`abbrev` may state data (`CommGroup G`)."""
        return self.keyword in ("theorem", "lemma")

    def as_axiom(self, new_name: str) -> str:
        """The signature with its keyword replaced by `axiom` and its name by `new_name`."""
        toks = tokenize(self.signature)
        k = keyword_indices(toks, STATEMENT_KEYWORDS)[0]
        kw, name_tok = toks[k], toks[k + 1]
        start = kw.start
        if k > 0 and toks[k - 1].text == "noncomputable":  # `noncomputable axiom` is not Lean
            start = toks[k - 1].start
        s = self.signature
        return s[:start] + "axiom" + s[kw.end : name_tok.start] + new_name + s[name_tok.end :]


def parse_statement(statement: str) -> Statement:
    """Find the declared name and cut the statement before its proof (`:=`, `:= by`, `:= by sorry`).

    One reading for every caller (`leanfd.lean.syntax.parse_declaration`): the statement must
    declare exactly one thing, whose keyword is in `STATEMENT_KEYWORDS`.
    """
    try:
        d = parse_declaration(statement, DECLARATION_KEYWORDS)
    except LeanSyntaxError as e:
        raise RecordError(f"formal_statement cannot be read: {e}") from None
    if d.keyword.text not in STATEMENT_KEYWORDS or d.name is None:
        raise RecordError("formal_statement must declare a `theorem` (or `lemma`, `def`, `abbrev`) with a name")
    return Statement(name=d.name.text, signature=statement[: d.signature_end].rstrip(), keyword=d.keyword.text)


def attempt_text(record: CheckRecord) -> str:
    """The text the model is responsible for, as Lean will see it (statement + proof, or code)."""
    if record.code is not None:
        return record.code
    stmt, proof = record.formal_statement, record.proof or ""
    if stmt and proof and not stmt[-1].isspace() and not proof[0].isspace():
        return stmt + " " + proof
    return stmt + proof


# `#print` of an allowlisted axiom, right after the header and again after the attempt: the two must
# agree (see `Pin`). Every option that abbreviates, hides or rewrites is pinned one by one (an option the
# attempt set explicitly overrides what `pp.all` implies), so that a change cannot hide in elided text.
_HUGE = 10**9
PP_ALL = (
    "pp.all true", "pp.explicit true", "pp.universes true", "pp.notation false", "pp.fullNames true",
    "pp.privateNames true", "pp.funBinderTypes true", "pp.piBinderTypes true", "pp.letVarTypes true",
    "pp.proofs true", "pp.proofs.withType true", "pp.proofs.threshold 0", "pp.coercions false",
    "pp.coercions.types true", "pp.instances true", "pp.instanceTypes true", f"pp.maxSteps {_HUGE}",
    "pp.deepTerms true", f"pp.deepTerms.threshold {_HUGE}", "pp.oneline false", "pp.beta false",
    "pp.structureInstances false", "pp.structureInstanceTypes true", "pp.fieldNotation false",
    "pp.fieldNotation.generalized false", "pp.mvars true", "pp.mvars.anonymous true", "pp.mvars.levels true",
    "pp.safeShadowing false", "pp.sanitizeNames false", "pp.natLit true", "pp.numericTypes true",
    "pp.unicode.fun false", "pp.match false", "pp.motives.all true", "pp.tagAppFns false",
    "pp.showLetValues true", f"pp.showLetValues.threshold {_HUGE}", "pp.piBinderNames.hygienic true",
    "pp.mdata true", "pp.raw false", "pp.exprSizes false", "pp.analyze false", "pp.instantiateMVars true",
)
# `#print` of a declaration, for its kind only: its first line is `[@[attrs]] [modifiers] kind NAME`.
# One step of the delaborator keeps the rest (type, value) to a few characters.
PP_KIND = ("pp.oneline true", "pp.maxSteps 1", "pp.raw false", "pp.all false", "pp.privateNames false")
# The kernel check (see the module docstring): no instance search, so no coercion; the kernel on; Lean's
# default recursion depth (4.35: 512), so that a definitional-equality question too deep to answer is an
# error, not a stack overflow, whatever the attempt set (a long one ends at the verifier's timeout).
KERNEL_CHECK = ("synthInstance.maxSize 0", "debug.skipKernelTC false", "maxRecDepth 512")


def pinned(options: tuple[str, ...], command: str) -> str:
    return "".join(f"set_option {o} in " for o in options) + command


def root_name(name: str) -> str:
    return name if name.startswith("_root_.") else "_root_." + name


def ref_name(name: str, nonce: str) -> str:
    suffix = f"_leanfdref_{nonce}"
    if name.endswith("»"):
        return name[:-1] + suffix + "»"
    return name + suffix


def check_name(nonce: str) -> str:
    return f"leanfdcheck_{nonce}"


def kernel_check(stmt: Statement, reference: str, nonce: str) -> str:
    """The command whose acceptance means: the candidate `stmt.name` proves the reference, by the kernel.

    A proposition is checked as a `theorem`; a data-carrying statement (`def`) as a `noncomputable def`,
    which the kernel checks the same way."""
    keyword = "theorem" if stmt.proposition else "noncomputable def"
    return pinned(KERNEL_CHECK, f"{keyword} {root_name(check_name(nonce))} : type_of% @{root_name(reference)} := "
                                f"@{root_name(stmt.name)}")


@dataclass(frozen=True)
class Target:
    """A declaration the verifier asks Lean about, and the line of each answer."""

    name: str  # as written, without `_root_.`
    kind_line: int  # `#print`: what kind of declaration it is
    axioms_line: int  # `#print axioms` (of the kernel check for a record: its axioms include the target's)
    # An `example` is listed in the .ilean as `_example` but never added to the environment: Lean's
    # "unknown constant" at its lines is expected. (A declaration that the file itself names
    # `_example` does exist, prints, and is checked like any other.)
    may_be_absent: bool = False


@dataclass(frozen=True)
class Pin:
    """An allowlisted axiom printed right after the header and again after the attempt: it counts only
    if the header declared it (the first print succeeds: for a missing one it is an error, expected)
    and the attempt left the name as it was (both prints agree)."""

    name: str
    first_line: int
    last_line: int


@dataclass(frozen=True)
class Snippet:
    """The assembled file and the line of each verifier command (1-based, from the header's start).

    With a reference (a record), the candidate's type is compared with it; without one (a whole
    `.lean` file checked as it is), the file is its own reference and every declaration Lean reports
    for it is a target.
    """

    header: str
    body: str
    nonce: str
    targets: tuple[Target, ...]
    pins: tuple[Pin, ...]
    pins_start: int  # first line after the header
    ref_start: int  # first line of the reference block (records; == attempt_start for files)
    attempt_start: int  # line where the attempt's first line lies
    attempt_lines: int
    end_line: int
    statement: Statement | None = None
    check_line: int | None = None  # the kernel check (records only)

    @property
    def text(self) -> str:
        return self.header + self.body

    @property
    def end_marker(self) -> str:
        return f"leanfd-end-{self.nonce}"

    def is_pin_line(self, line: int) -> bool:
        return any(line in (p.first_line, p.last_line) for p in self.pins)

    def absent_targets(self, error_lines: set[int]) -> set[Target]:
        """The targets that may be absent (an `example`) and are: Lean answered their `#print` with an error."""
        return {t for t in self.targets if t.may_be_absent and t.kind_line in error_lines}

    def region(self, line: int) -> str:
        if line < self.pins_start:
            return "header"
        if line < self.ref_start:
            return "pins"
        if line < self.attempt_start:
            return "reference"
        if line < self.attempt_start + self.attempt_lines:
            return "attempt"
        return "checks"


def _header(text: str) -> str:
    return text + "\n" if text and not text.endswith("\n") else text


class _Lines:
    """Lines of verifier commands, each remembered by its 1-based line in the whole file."""

    def __init__(self, first_line: int) -> None:
        self.first_line = first_line
        self.lines: list[str] = []

    def add(self, command: str) -> int:
        self.lines.append(command)
        return self.first_line + len(self.lines) - 1

    @property
    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)

    @property
    def next_line(self) -> int:
        return self.first_line + len(self.lines)


def _first_pins(first_line: int, axioms: tuple[str, ...]) -> tuple[_Lines, list[int]]:
    block = _Lines(first_line)
    return block, [block.add(pinned(PP_ALL, f"#print {root_name(a)}")) for a in axioms]


def _checks(block: _Lines, names: list[str], axioms: tuple[str, ...], first_pins: list[int], nonce: str,
            axioms_of: str | None = None) -> tuple[tuple[Target, ...], tuple[Pin, ...], int]:
    """What each of `names` is and which axioms it uses (those of `axioms_of` instead, for a record: the
    kernel check, which includes the target's), the pins again, the end marker."""
    targets = []
    for n in names:
        root = root_name(n)
        kind_line = block.add(pinned(PP_KIND, f"#print {root}"))
        axioms_line = block.add(f"#print axioms {root_name(axioms_of) if axioms_of else root}")
        absent = axioms_of is None and (n == "_example" or n.endswith("._example"))
        targets.append(Target(n.removeprefix("_root_."), kind_line, axioms_line, absent))
    pins = tuple(Pin(a, first, block.add(pinned(PP_ALL, f"#print {root_name(a)}")))
                 for a, first in zip(axioms, first_pins))
    end_line = block.add(f'#print "leanfd-end-{nonce}"')
    return tuple(targets), pins, end_line


def assemble(record: CheckRecord, attempt: str, axioms: tuple[str, ...] = (), nonce: str | None = None) -> Snippet:
    """Build the checking file for `record` whose candidate text (after import stripping) is `attempt`;
    `axioms` are the allowlisted ones, pinned after the header."""
    nonce = nonce or secrets.token_hex(6)
    stmt = parse_statement(record.formal_statement)
    header = _header(record.header)
    pins_start = header.count("\n") + 1
    pre, first_pins = _first_pins(pins_start, axioms)
    ref_start = pre.next_line
    rname = ref_name(stmt.name, nonce)
    ref_axiom = stmt.as_axiom(rname)
    attempt_start = ref_start + ref_axiom.count("\n") + 1
    attempt_lines = attempt.count("\n") + 1
    post = _Lines(attempt_start + attempt_lines)
    check_line = post.add(kernel_check(stmt, rname, nonce))
    targets, pins, end_line = _checks(post, [stmt.name], axioms, first_pins, nonce, axioms_of=check_name(nonce))
    body = pre.text + ref_axiom + "\n" + attempt + "\n" + post.text
    return Snippet(
        header=header, body=body, nonce=nonce, targets=targets, pins=pins, pins_start=pins_start,
        ref_start=ref_start, attempt_start=attempt_start, attempt_lines=attempt_lines, end_line=end_line,
        statement=stmt, check_line=check_line,
    )


def assemble_file(header: str, code: str, names: list[str], axioms: tuple[str, ...] = (),
                  nonce: str | None = None) -> Snippet:
    """Build the checking file for a whole `.lean` file: `names` are the declarations Lean reported
    for it (none on the first run, which only asks Lean what the file declares)."""
    nonce = nonce or secrets.token_hex(6)
    header = _header(header)
    pins_start = header.count("\n") + 1
    pre, first_pins = _first_pins(pins_start, axioms)
    start = pre.next_line
    attempt_lines = code.count("\n") + 1
    post = _Lines(start + attempt_lines)
    targets, pins, end_line = _checks(post, names, axioms, first_pins, nonce)
    return Snippet(header=header, body=pre.text + code + "\n" + post.text, nonce=nonce, targets=targets,
                   pins=pins, pins_start=pins_start, ref_start=start, attempt_start=start,
                   attempt_lines=attempt_lines, end_line=end_line)


def split_file(text: str) -> tuple[str, str]:
    """Split a `.lean` file into its header (`prelude`/`import` lines, with the comments and blank
    lines among and after them: `leanfd.lean.syntax.split_header`) and its body.

    The header is whole lines, so the body keeps its line numbers once the header's are counted.
    `open` and `set_option` stay in the body, where the policy checks them.
    """
    cut = split_header(text).imports
    return text[:cut], text[cut:]
