"""Statement parsing, file assembly and message placement (pure: no Lean)."""

from __future__ import annotations

import pytest

from leanfd.lean.errors import RecordError
from leanfd.lean.judge import goals_of, judge, parse_axioms
from leanfd.lean.records import CheckRecord
from leanfd.lean.run import LeanRun, Message
from leanfd.lean.snippet import assemble, attempt_text, declared_theorems, parse_statement, split_file


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


def test_assembled_lines_point_at_the_checks():
    rec = CheckRecord("t", "prelude\nuniverse u\n", "theorem t : P :=", proof=" h\n  -- two lines")
    sn = assemble(rec, attempt_text(rec), nonce="abc")
    lines = sn.text.split("\n")
    assert lines[sn.ref_check_line - 1] == "#check @_root_.t_leanfdref_abc"
    assert lines[sn.attempt_start - 1] == "theorem t : P := h"
    assert lines[sn.type_check_line - 1] == "#check @_root_.t"
    assert lines[sn.axioms_lines[0] - 1] == "#print axioms _root_.t"
    assert lines[sn.end_line - 1] == '#print "leanfd-end-abc"'
    assert [sn.region(i) for i in (1, 3, sn.attempt_start, sn.end_line)] == ["header", "reference", "attempt", "checks"]


def test_judge_needs_every_check_output():
    rec = CheckRecord("t", "", "theorem t : P :=", proof=" h")
    sn = assemble(rec, attempt_text(rec), nonce="n")
    info = lambda line, text: Message("information", line, 0, line, 1, text)  # noqa: E731
    full = [
        info(sn.ref_check_line, "t_leanfdref_n : P"),
        info(sn.type_check_line, "t : P"),
        info(sn.axioms_lines[0], "'t' does not depend on any axioms"),
        info(sn.end_line, "leanfd-end-n"),
    ]
    assert judge(sn, LeanRun("ok", full), "t").status == "proved"
    for i in range(4):  # drop any one output: never proved
        assert judge(sn, LeanRun("ok", full[:i] + full[i + 1 :]), "t").status == "rejected"
    forged_end = full[:3] + [info(sn.end_line, "leanfd-end-other")]
    assert judge(sn, LeanRun("ok", forged_end), "t").status == "rejected"
    wrong = full[:1] + [info(sn.type_check_line, "t : Q")] + full[2:]
    assert "reference statement's type" in judge(sn, LeanRun("ok", wrong), "t").reason
    cheat = full[:2] + [info(sn.axioms_lines[0], "'t' depends on axioms: [propext, cheat]")] + full[3:]
    assert judge(sn, LeanRun("ok", cheat), "t").status == "rejected"


def test_parse_axioms_and_goals():
    assert parse_axioms("'t' depends on axioms: [propext,\n Classical.choice]") == ["propext", "Classical.choice"]
    assert parse_axioms("'t' does not depend on any axioms") == []
    assert parse_axioms("something else") is None
    err = Message("error", 1, 0, 1, 1, "unsolved goals\nx : N\n⊢ P\n\ny : N\n⊢ Q")
    assert goals_of([err]) == ["x : N\n⊢ P", "y : N\n⊢ Q"]


def test_file_helpers():
    header, body = split_file("-- c\nprelude\nimport A\n\ntheorem x : P := h\n")
    assert header == "-- c\nprelude\nimport A\n\n" and body.startswith("theorem x")
    code = "namespace A\ntheorem b : P := h\nend A\ntheorem _root_.c : P := h\nlemma d : P := h"
    assert declared_theorems(code) == ["_root_.A.b", "_root_.c", "_root_.d"]


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
