"""Differential fuzzing of `leanfd.lean.syntax` against a real Lean: shared by the test and the bench.

Each case is a random mixture of comment and string delimiters, escapes, quotes, guillemets, raw
string openers, identifiers, spaces and newlines, with sentinel commands (`#print "S<i>"`, each on a
line of its own) among and after it. Many cases go into one file (`prelude` first: the bundled Lean
has no Init). Lean ran a sentinel when its text comes back as an information message; the module
says it runs when a `#print` token starts there. The two must agree on every sentinel.

A case that the module refuses (LeanSyntaxError) is left out of the file and counted apart: the
policy rejects such text, so it needs no agreement, but it must stay a small share of all cases or
the module would be refusing its way to agreement. So is a case where the module's two readings
(core Lean's and Mathlib's, `phantom` tokens) differ at a sentinel: the bundled Lean is core Lean,
but the module cannot know which Lean will read the text. The module reads every kept case from a
clean state: the case before it ends with a sentinel that is code.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from leanfd.lean.syntax import LeanSyntaxError, Token, lex

# (fragment, weight). Identifiers avoid Lean's command keywords, so no case declares or opens anything.
FRAGMENTS: tuple[tuple[str, int], ...] = (
    ("/-", 6), ("-/", 10), ("/--", 3), ("/-!", 2), ("--", 4), ('"', 8), ("'", 6), ("\\", 4),
    ("\\n", 2), ('\\"', 3), ("\\\\", 2), ("\\x41", 1), ("\\u0041", 1), ("\\q", 1), ("\\\n  ", 1),
    ("«", 3), ("»", 4), ('r#"', 2), ('"#', 2), ('r"', 1), ("'a'", 2), ("'\\n'", 1), ("h'", 2),
    ("a", 4), ("x", 3), ("foo", 2), ("r", 2), ("é", 1), ("λ", 1), ("x.y", 1), ("1", 2), ("0x1", 1),
    ("(", 1), (")", 1), (":", 1), (":=", 1), (".", 1), ("#", 1), ("!", 1), ("/", 2), ("-", 2),
    ("'\"'", 1), ("'\\''", 1), ('r##"', 1), ('"##', 1), ("`", 1), ("1e5", 1), ("2.", 1), ("{", 1), ("}", 1),
    ("∑", 1), ("⁻¹", 1), ("ℕ", 1), ("x₁", 1), ("\u200b", 1), ("\u00a0", 1),
    (" ", 14), ("\n", 6), ("\r\n", 1), ("\t", 1),
)
_TEXTS = [f for f, _ in FRAGMENTS]
_WEIGHTS = [w for _, w in FRAGMENTS]


def sentinel(i: int) -> str:
    return f'#print "S{i}"'


@dataclass
class Batch:
    """One Lean file of cases and what the module predicts for each of its sentinels."""

    text: str = "prelude\n"
    predicted: dict[str, bool] = field(default_factory=dict)  # sentinel text -> runs
    offsets: dict[str, int] = field(default_factory=dict)
    cases: int = 0
    refused: int = 0


def make_case(rng: random.Random, first: int) -> tuple[str, list[str]]:
    """The text of one case and the names of its sentinels, numbered from `first`."""
    parts: list[str] = []
    names: list[str] = []
    for k in range(first, first + rng.randint(1, 3)):
        parts += rng.choices(_TEXTS, _WEIGHTS, k=rng.randint(1, 7))
        parts.append(f"\n{sentinel(k)}\n")
        names.append(f"S{k}")
    return "".join(parts), names


def make_batch(seed: int, cases: int, first: int) -> Batch:
    """`cases` cases from `seed`, the refused ones left out, sentinels numbered from `first`."""
    rng = random.Random(seed)
    batch = Batch()
    k = first
    for _ in range(cases):
        text, names = make_case(rng, k)
        k += len(names)
        batch.cases += 1
        read = _read(text)
        if read is None:
            batch.refused += 1
            continue
        text, toks = read
        prints = {t.start: t for t in toks if t.kind == "hash" and t.text == "#print"}
        phantoms = [t for t in toks if t.kind == "phantom"]
        offsets = {name: text.index(f'#print "{name}"') for name in names}  # closers may have moved them
        if any(p.start < off + 6 and off < p.end for p in phantoms for off in offsets.values() if off in prints):
            batch.refused += 1  # core Lean and Mathlib read a sentinel differently: no one answer
            continue
        base = len(batch.text)
        for name, off in offsets.items():
            batch.predicted[name] = off in prints
            batch.offsets[name] = base + off
        batch.text += text
    return batch


def _read(text: str) -> tuple[str, list[Token]] | None:
    """The case's final text and the module's tokens of it, or None where it refuses the case.
    While it reads the case as unterminated, the closer it names is put before the last sentinel
    (at most five times), so that closing, not only opening, gets tested."""
    for _ in range(6):
        try:
            toks = list(lex(text))
        except LeanSyntaxError as e:
            closer = _closer(text, e)
            if closer is None:
                return None
            head, _, tail = text.rpartition("\n#print")
            text = f"{head} {closer}\n#print{tail}"
            continue
        return text, toks
    return None


def _closer(text: str, e: LeanSyntaxError) -> str | None:
    why = str(e)
    if why == "unterminated comment":
        return "-/"
    if why == "unterminated string literal":
        return '"'
    if why == "unterminated raw string literal":
        return '"' + "#" * (len(text) - len(text[e.offset + 1 :].lstrip("#")) - e.offset - 1)
    if why == "unterminated «identifier»":
        return "»"
    return None


def lean_prints(argv: list[str], text: str, cwd: str | None = None, env: dict | None = None,
                timeout: float = 120.0) -> set[str]:
    """The texts of the information messages Lean prints for `text` (read from stdin)."""
    out = subprocess.run(argv, input=text.encode(), capture_output=True, timeout=timeout, cwd=cwd,
                         env={**os.environ, **(env or {})})
    found = set()
    for line in out.stdout.decode(errors="replace").splitlines():
        if line.startswith("{"):
            m = json.loads(line)
            if m.get("severity") == "information":
                found.add(m["data"])
    return found


@dataclass
class Result:
    cases: int = 0
    refused: int = 0
    sentinels: int = 0
    agreed: int = 0
    swallowed: int = 0  # sentinels both readings hold not to run (inside a comment or string)
    disagreements: list[tuple[str, bool, str]] = field(default_factory=list)  # (sentinel, predicted, context)


def run(toolchain, batches: int, cases: int, seed: int = 0, jobs: int = 4) -> Result:
    """Fuzz `batches` files of `cases` cases each against `toolchain` (a `leanfd.lean.toolchain.Toolchain`)."""
    made = [make_batch(seed * 1_000_003 + b, cases, first=b * cases * 4) for b in range(batches)]
    argv = toolchain.command("-DmaxErrors=0", "--json", "--stdin")  # by default Lean stops after 100 errors
    with ThreadPoolExecutor(jobs) as pool:
        printed = list(pool.map(lambda b: lean_prints(argv, b.text, toolchain.cwd, toolchain.env), made))
    result = Result()
    for batch, seen in zip(made, printed):
        result.cases += batch.cases
        result.refused += batch.refused
        for name, predicted in batch.predicted.items():
            result.sentinels += 1
            ran = name in seen
            if ran == predicted:
                result.agreed += 1
                result.swallowed += not ran
            else:
                off = batch.offsets[name]
                result.disagreements.append((name, predicted, batch.text[max(0, off - 120) : off + 20]))
    return result
