"""The judge and the readers of Lean's answers to the verifier's commands (pure: no Lean).

The shapes of the answers are the ones the bundled Lean 4.35.0 prints; tests/test_soundness.py and
tests/test_adversarial.py hold the judge to them with real runs.
"""

from __future__ import annotations

import pytest

from leanfd.lean import messages
from leanfd.lean.judge import judge
from leanfd.lean.messages import goals_of
from leanfd.lean.records import CheckRecord
from leanfd.lean.run import MAX_MESSAGE_CHARS, MAX_RAW_MESSAGE_CHARS, LeanRun, Message
from leanfd.lean.snippet import assemble, assemble_file, attempt_text


@pytest.mark.parametrize(
    "text, axioms",
    [
        ("'t' depends on axioms: [propext,\n Classical.choice]", ["propext", "Classical.choice"]),
        ("'t' does not depend on any axioms", []),
        ("'_private._stdin.0.A.pt' does not depend on any axioms", []),
        # a name can say anything: the answer is Lean's last words, read once
        ("'«does not depend on any axioms»' depends on axioms: [cheat]", ["cheat"]),
        ("'«x' depends on axioms: [propext]»' does not depend on any axioms", []),
        ("'«a' depends on axioms: [b]»' depends on axioms: [c]", ["c"]),
        ("'t' depends on axioms: [«propext, cheat»]", ["«propext, cheat»"]),
        ("something else", None),
        ("'t' depends on axioms: [propext", None),
        ("'t' depends on axioms: [propext] and more", None),
    ],
)
def test_axioms_are_read_from_the_end(text, axioms):
    assert messages.axioms(text) == axioms


@pytest.mark.parametrize(
    "text, keyword, checked",
    [
        ("theorem A.B.bad : Eq N.zero N.zero :=\nEq.refl N.zero", "theorem", True),
        ("private theorem pt : Eq N.zero N.zero :=\nEq.refl N.zero", "theorem", True),
        ("@[reducible] def ab : N :=\nN.zero", "def", True),
        ("@[instance_reducible] def instInhN : Inhabited ⋯ :=\n{ default := ⋯ }", "def", True),
        ("unsafe def uf : Eq N.zero N.zero.succ :=\nuf", "def", False),
        ("opaque pf : ⋯ → ⋯", "opaque", False),
        ("axiom sorryAx.{u} : (α : ⋯) → ⋯", "axiom", False),
        ("unsafe axiom lcErased : Type", "axiom", False),
        ("constructor Eq.refl.{u} : ∀ {α : ⋯}, ⋯", "constructor", False),
    ],
)
def test_kinds(text, keyword, checked):
    kind = messages.kind(text)
    assert kind is not None and kind.keyword == keyword and kind.checked == checked


def test_unknown_kind_is_not_guessed():
    assert messages.kind("theorem_like x") is None and messages.kind("'theorem' x") is None


def info(line: int, text: str) -> Message:
    return Message("information", line, 0, line, 1, text)


def answers(sn, kind="theorem t : P :=\nh", axioms="'leanfdcheck_n' does not depend on any axioms", pins=()):
    target = sn.targets[0]
    out = [info(target.kind_line, kind), info(target.axioms_line, axioms), info(sn.end_line, "leanfd-end-n")]
    for pin, (first, last) in zip(sn.pins, pins):
        out += [info(pin.first_line, first), info(pin.last_line, last)]
    return out


def test_judge_needs_every_answer():
    rec = CheckRecord("t", "", "theorem t : P :=", proof=" h")
    sn = assemble(rec, attempt_text(rec), nonce="n")
    lines = sn.text.split("\n")
    assert lines[sn.attempt_start - 1] == "theorem t : P := h"
    assert lines[sn.check_line - 1] == ("set_option synthInstance.maxSize 0 in set_option debug.skipKernelTC false in "
                                        "set_option maxRecDepth 512 in "
                                        "theorem _root_.leanfdcheck_n : type_of% @_root_.t_leanfdref_n := @_root_.t")
    assert lines[sn.targets[0].axioms_line - 1] == "#print axioms _root_.leanfdcheck_n"
    assert lines[sn.end_line - 1] == '#print "leanfd-end-n"'
    full = answers(sn)
    assert judge(sn, LeanRun("ok", full), "t").status == "proved"
    for i in range(len(full)):  # drop any one answer: never proved
        assert judge(sn, LeanRun("ok", full[:i] + full[i + 1 :]), "t").status == "rejected"
    for i in range(len(full)):  # or say it twice
        assert judge(sn, LeanRun("ok", full + [full[i]]), "t").status == "rejected"
    # the kernel check refused the candidate: Lean's message says why, and the verdict repeats it
    mismatch = Message("error", sn.check_line, 0, sn.check_line, 1, "Type mismatch\n  @t\nhas type\n  Q")
    v = judge(sn, LeanRun("ok", answers(sn) + [mismatch]), "t")
    assert v.status == "rejected" and "reference statement's type" in v.reason and "has type\n  Q" in v.reason
    absent = Message("error", sn.targets[0].kind_line, 0, None, None, "Unknown constant `_root_.t`")
    v = judge(sn, LeanRun("ok", answers(sn) + [mismatch, absent]), "t")
    assert v.status == "failed" and "no theorem named `t`" in v.reason
    assert "unsafe def" in judge(sn, LeanRun("ok", answers(sn, kind="unsafe def t : P :=\nt")), "t").reason
    assert judge(sn, LeanRun("ok", answers(sn, kind="opaque t : P")), "t").status == "rejected"
    assert judge(sn, LeanRun("ok", answers(sn, kind="axiom t : P")), "t").status == "rejected"
    cheat = answers(sn, axioms="'leanfdcheck_n' depends on axioms: [propext]")
    assert "propext" in judge(sn, LeanRun("ok", cheat), "t").reason  # not pinned: the header lacks it


def test_allowlisted_axiom_counts_only_when_pinned_alike():
    rec = CheckRecord("t", "prelude\n", "theorem t : P :=", proof=" h")
    sn = assemble(rec, attempt_text(rec), axioms=("propext",), nonce="n")
    uses = "'leanfdcheck_n' depends on axioms: [propext]"
    same = ("axiom propext : ∀ {a b : Prop}, a", "axiom propext : ∀ {a b : Prop}, a")
    assert judge(sn, LeanRun("ok", answers(sn, axioms=uses, pins=[same])), "t").status == "proved"
    changed = (same[0], "axiom propext : False")
    assert judge(sn, LeanRun("ok", answers(sn, axioms=uses, pins=[changed])), "t").status == "rejected"
    not_axiom = ("theorem propext : ∀ {a b : Prop}, a", "theorem propext : ∀ {a b : Prop}, a")
    assert judge(sn, LeanRun("ok", answers(sn, axioms=uses, pins=[not_axiom])), "t").status == "rejected"


def test_files_skip_their_own_axioms_but_never_allow_them():
    sn = assemble_file("prelude\n", "axiom cheat : False\ntheorem t : False := cheat", ["cheat", "t"], nonce="n")
    cheat, t = sn.targets
    base = [info(cheat.kind_line, "axiom cheat : False"), info(cheat.axioms_line, "'cheat' depends on axioms: [cheat]"),
            info(t.kind_line, "theorem t : False :=\ncheat"), info(sn.end_line, "leanfd-end-n")]
    v = judge(sn, LeanRun("ok", base + [info(t.axioms_line, "'t' depends on axioms: [cheat]")]), "f")
    assert v.status == "rejected" and "cheat" in v.reason
    v = judge(sn, LeanRun("ok", base + [info(t.axioms_line, "'t' does not depend on any axioms")]), "f")
    assert v.status == "proved" and v.axioms == [] and not v.sorry


def test_backends_keep_the_verifiers_outputs_whole_and_verdicts_clipped():
    run = LeanRun("ok")
    run.add(info(1, "x" * (MAX_MESSAGE_CHARS * 3)))
    assert len(run.messages[0].text) == MAX_MESSAGE_CHARS * 3 and not run.truncated
    run.add(info(2, "y" * (MAX_RAW_MESSAGE_CHARS + 1)))
    assert run.truncated and len(run.messages[1].text) < MAX_RAW_MESSAGE_CHARS + 100
    rec = CheckRecord("t", "", "theorem t : P :=", proof=" h")
    sn = assemble(rec, attempt_text(rec), nonce="n")
    long = Message("warning", sn.attempt_start, 0, None, None, "w" * (MAX_MESSAGE_CHARS * 2))
    v = judge(sn, LeanRun("ok", answers(sn) + [long]), "t")
    assert v.status == "proved" and len(v.messages[0].text) < MAX_MESSAGE_CHARS + 100


def test_goals():
    err = Message("error", 1, 0, 1, 1, "unsolved goals\nx : N\n⊢ P\n\ny : N\n⊢ Q")
    assert goals_of([err]) == ["x : N\n⊢ P", "y : N\n⊢ Q"]


def test_a_message_left_unread_proves_nothing():
    """A Lean line over the cli backend's limit, or past the message cap, is skipped unread: it may have
    been an error, so every answer being there is not enough."""
    rec = CheckRecord("t", "", "theorem t : P :=", proof=" h")
    sn = assemble(rec, attempt_text(rec), nonce="n")
    v = judge(sn, LeanRun("ok", answers(sn), dropped=True, truncated=True), "t")
    assert v.status == "rejected" and "unread" in v.reason
