"""Statement parsing, file assembly and message placement (pure: no Lean)."""

from __future__ import annotations

import pytest

from leanfd.lean.errors import RecordError
from leanfd.lean.records import CheckRecord
from leanfd.lean.snippet import attempt_text, parse_statement, split_file


@pytest.mark.parametrize(
    "stmt, name, sig",
    [
        ("theorem foo (x : ℕ) : x = x := by\n", "foo", "theorem foo (x : ℕ) : x = x"),
        ("theorem foo : x = x :=", "foo", "theorem foo : x = x"),
        ("theorem Nat.foo : (let y := 1; y) = 1 := by sorry", "Nat.foo", "theorem Nat.foo : (let y := 1; y) = 1"),
        ("/-- doc := -/\nlemma bar : P", "bar", "/-- doc := -/\nlemma bar : P"),
    ],
)
def test_parse_statement(stmt, name, sig):
    s = parse_statement(stmt)
    assert (s.name, s.signature) == (name, sig)


def test_parse_statement_rejects_a_proof_inside():
    with pytest.raises(RecordError):
        parse_statement("theorem foo : P := by simp")
    with pytest.raises(RecordError):
        parse_statement("instance foo : Inhabited Nat :=")


def test_def_statements_become_axioms():
    s = parse_statement("noncomputable def ex {G : Type*} [Group G] :\n  CommGroup G :=")
    assert s.name == "ex" and s.as_axiom("ex_r") == "axiom ex_r {G : Type*} [Group G] :\n  CommGroup G"


def test_reference_axiom_keeps_namespace_prefix():
    s = parse_statement("theorem Nat.foo (n : N) : Eq n n :=")
    assert s.as_axiom("Nat.foo_leanfdref_x") == "axiom Nat.foo_leanfdref_x (n : N) : Eq n n"


def test_attempt_text_joins_statement_and_proof():
    r = CheckRecord("t", "", "theorem t : P :=", proof="h")
    assert attempt_text(r) == "theorem t : P := h"
    assert attempt_text(CheckRecord("t", "", "theorem t : P := by\n", proof="  simp")) == "theorem t : P := by\n  simp"


def test_file_helpers():
    header, body = split_file("-- c\nprelude\nimport A\n\ntheorem x : P := h\n")
    assert header == "-- c\nprelude\nimport A\n\n" and body.startswith("theorem x")


def test_statement_parsing_reads_code_only():
    # a `def` in the doc comment is no declaration; the one keyword outside comments is
    s = parse_statement("/-- We def ine: theorem x := y -/\ntheorem foo (h : a = b) : b = a := by sorry")
    assert (s.name, s.signature) == ("foo", "/-- We def ine: theorem x := y -/\ntheorem foo (h : a = b) : b = a")
    with pytest.raises(RecordError, match="more than one"):
        parse_statement("def helper : N := 1\ntheorem foo : helper = 1 :=")
    with pytest.raises(RecordError, match="cannot be read"):
        parse_statement("theorem foo : P := /- never closed")


def test_split_file_leaves_options_to_the_body():
    # `open` and `set_option` go to the body, where the policy checks them; lines are kept whole
    text = "import A\n-- c\nset_option pp.all true\nopen B in\ntheorem x : P := h\n"
    header, body = split_file(text)
    assert header == "import A\n-- c\n" and header + body == text
    assert split_file("/- never closed\nimport A") == ("", "/- never closed\nimport A")
