"""Assemble the Lean file that checks one record, and remember where each part lies.

Layout (lines count from the header's first line):

    header                       trusted, shared by many checks (pooled backends keep it warm)
    reference                    the reference statement restated as `axiom NAME_leanfdref_<nonce>`,
                                 then `#check` of it under `pp.all`: its elaborated type, printed
                                 before the candidate can change anything
    attempt                      the candidate text as the model wrote it
    checks                       `#check @_root_.NAME` under `pp.all`, `#print axioms`, an end marker

The reference keeps the statement's own namespace prefix (`Nat.foo` becomes
`Nat.foo_leanfdref_<nonce>`) so its names resolve exactly as the candidate's do. It is an axiom, so a
candidate that uses it is caught by the axiom allowlist.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from leanfd.lean.errors import RecordError
from leanfd.lean.records import CheckRecord
from leanfd.lean.syntax import (
    DECLARATION_KEYWORDS,
    LeanSyntaxError,
    keyword_indices,
    parse_declaration,
    split_header,
    tokenize,
)

# `def`/`abbrev` statements occur in ProofNet (data-carrying results such as `CommGroup G`): proving
# one means giving a term of its type, checked exactly like a theorem's proof.
DECL_KEYWORDS = ("theorem", "lemma", "def", "abbrev")
# Printing options for the type comparison. `pp.all` alone is not enough: an option the candidate
# set explicitly (say `pp.explicit false`) overrides what `pp.all` implies, so the ones that hide
# information are pinned one by one. The policy also forbids `pp.*` options in attempts.
PP_PINNED = (
    "set_option pp.all true in set_option pp.explicit true in set_option pp.universes true in "
    "set_option pp.notation false in set_option pp.fullNames true in set_option pp.funBinderTypes true in "
    "set_option pp.proofs true in set_option pp.coercions false in set_option pp.instances true in"
)


@dataclass(frozen=True)
class Statement:
    """A reference statement split into its parts."""

    name: str  # the declared name, as written (may be dotted)
    signature: str  # `theorem NAME binders : type`, without `:=` and what follows

    def as_axiom(self, new_name: str) -> str:
        """The signature with its keyword replaced by `axiom` and its name by `new_name`."""
        toks = tokenize(self.signature)
        k = keyword_indices(toks, DECL_KEYWORDS)[0]
        kw, name_tok = toks[k], toks[k + 1]
        start = kw.start
        if k > 0 and toks[k - 1].text == "noncomputable":  # `noncomputable axiom` is not Lean
            start = toks[k - 1].start
        s = self.signature
        return s[:start] + "axiom" + s[kw.end : name_tok.start] + new_name + s[name_tok.end :]


def parse_statement(statement: str) -> Statement:
    """Find the declared name and cut the statement before its proof (`:=`, `:= by`, `:= by sorry`).

    One reading for every caller (`leanfd.lean.syntax.parse_declaration`): the statement must
    declare exactly one thing, whose keyword is in `DECL_KEYWORDS`.
    """
    try:
        d = parse_declaration(statement, DECLARATION_KEYWORDS)
    except LeanSyntaxError as e:
        raise RecordError(f"formal_statement cannot be read: {e}") from None
    if d.keyword.text not in DECL_KEYWORDS or d.name is None:
        raise RecordError("formal_statement must declare a `theorem` (or `lemma`, `def`, `abbrev`) with a name")
    return Statement(name=d.name.text, signature=statement[: d.signature_end].rstrip())


def attempt_text(record: CheckRecord) -> str:
    """The text the model is responsible for, as Lean will see it (statement + proof, or code)."""
    if record.code is not None:
        return record.code
    stmt, proof = record.formal_statement, record.proof or ""
    if stmt and proof and not stmt[-1].isspace() and not proof[0].isspace():
        return stmt + " " + proof
    return stmt + proof


def root_name(name: str) -> str:
    return name if name.startswith("_root_.") else "_root_." + name


def ref_name(name: str, nonce: str) -> str:
    suffix = f"_leanfdref_{nonce}"
    if name.endswith("»"):
        return name[:-1] + suffix + "»"
    return name + suffix


@dataclass(frozen=True)
class Snippet:
    """The assembled file and the line of each verifier command (1-based, from the header's start).

    With a reference (a record), the candidate's type is compared with it; without one (a whole
    `.lean` file checked as it is), the file is its own reference and only axioms are checked.
    """

    header: str
    body: str
    nonce: str
    targets: tuple[str, ...]  # theorems whose axioms are printed
    ref_start: int  # first line after the header
    attempt_start: int  # line where the attempt's first line lies
    attempt_lines: int
    axioms_lines: tuple[int, ...]
    end_line: int
    statement: Statement | None = None
    ref_name: str = ""
    ref_check_line: int | None = None
    type_check_line: int | None = None

    @property
    def text(self) -> str:
        return self.header + self.body

    @property
    def end_marker(self) -> str:
        return f"leanfd-end-{self.nonce}"

    def region(self, line: int) -> str:
        if line < self.ref_start:
            return "header"
        if line < self.attempt_start:
            return "reference"
        if line < self.attempt_start + self.attempt_lines:
            return "attempt"
        return "checks"


def _header(text: str) -> str:
    return text + "\n" if text and not text.endswith("\n") else text


def _checks(first_line: int, names: list[str], nonce: str, type_check: str | None) -> tuple[str, dict]:
    lines: list[str] = []
    where: dict = {}
    if type_check is not None:
        lines += [PP_PINNED, f"#check @{type_check}"]
        where["type_check_line"] = first_line + 1
    axioms_lines = []
    for n in names:
        axioms_lines.append(first_line + len(lines))
        lines.append(f"#print axioms {n}")
    where["axioms_lines"] = tuple(axioms_lines)
    where["end_line"] = first_line + len(lines)
    lines.append(f'#print "leanfd-end-{nonce}"')
    return "\n".join(lines) + "\n", where


def assemble(record: CheckRecord, attempt: str, nonce: str | None = None) -> Snippet:
    """Build the checking file for `record` whose candidate text (after import stripping) is `attempt`."""
    nonce = nonce or secrets.token_hex(6)
    stmt = parse_statement(record.formal_statement)
    header = _header(record.header)
    rname = ref_name(stmt.name, nonce)
    ref_axiom = stmt.as_axiom(rname)
    ref_block = f"{ref_axiom}\n{PP_PINNED}\n#check @{root_name(rname)}\n"
    ref_start = header.count("\n") + 1
    attempt_start = ref_start + ref_block.count("\n")
    attempt_lines = attempt.count("\n") + 1
    target = root_name(stmt.name)
    checks, where = _checks(attempt_start + attempt_lines, [target], nonce, type_check=target)
    return Snippet(
        header=header, body=ref_block + attempt + "\n" + checks, nonce=nonce, targets=(stmt.name,),
        ref_start=ref_start, attempt_start=attempt_start, attempt_lines=attempt_lines,
        statement=stmt, ref_name=rname, ref_check_line=ref_start + ref_axiom.count("\n") + 2, **where,
    )


def assemble_file(header: str, code: str, names: list[str], nonce: str | None = None) -> Snippet:
    """Build the checking file for a whole `.lean` file: `names` are its theorems."""
    nonce = nonce or secrets.token_hex(6)
    header = _header(header)
    start = header.count("\n") + 1
    attempt_lines = code.count("\n") + 1
    checks, where = _checks(start + attempt_lines, names, nonce, type_check=None)
    return Snippet(header=header, body=code + "\n" + checks, nonce=nonce, targets=tuple(names),
                   ref_start=start, attempt_start=start, attempt_lines=attempt_lines, **where)


def declared_theorems(code: str) -> list[str]:
    """Fully qualified names of the `theorem`/`lemma` declarations of a file, following namespaces."""
    toks = tokenize(code)
    stack: list[str] = []
    names: list[str] = []
    for i, t in enumerate(toks[:-1]):
        nxt = toks[i + 1]
        if t.kind != "ident" or nxt.kind != "ident":
            continue
        if t.text == "namespace":
            stack.append(nxt.text)
        elif t.text == "end" and stack and nxt.text.split(".")[-1] == stack[-1].split(".")[-1]:
            stack.pop()
        elif t.text in DECL_KEYWORDS:
            name = nxt.text
            full = name.removeprefix("_root_.") if name.startswith("_root_.") else ".".join([*stack, name])
            names.append(root_name(full))
    return names


def split_file(text: str) -> tuple[str, str]:
    """Split a `.lean` file into its header (`prelude`/`import` lines, with the comments and blank
    lines among and after them: `leanfd.lean.syntax.split_header`) and its body.

    The header is whole lines, so the body keeps its line numbers once the header's are counted.
    `open` and `set_option` stay in the body, where the policy checks them.
    """
    cut = split_header(text).imports
    return text[:cut], text[cut:]
