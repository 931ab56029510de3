"""Soundness: every rule, with a real attempt at breaking it, through the bundled Lean.

Each attack runs on both backends, so the pooled server is held to the same verdicts as one-shot
`lean --json`.
"""

from __future__ import annotations

import pytest

from leanfd.lean.judge import judge
from leanfd.lean.policy import Policy
from leanfd.lean.records import CheckRecord, LeanFile
from leanfd.lean.snippet import assemble, attempt_text
from leanfd.lean.verifier import Verifier

STMT = "theorem t_zero_add (n : N) : Eq (N.add N.zero n) n :="
PROOF = "\n  N.rec (motive := fun n => Eq (N.add N.zero n) n) (Eq.refl N.zero) (fun _ ih => congrArg N.succ ih) n"
SIG = "theorem t_zero_add (n : N) : Eq (N.add N.zero n) n :="


@pytest.fixture(scope="module", params=["cli", "server"])
def verifier(request, bundled):
    with Verifier(backend=request.param, toolchain=bundled, timeout=60, jobs=2) as v:
        yield v


def rec(header: str, **kw) -> CheckRecord:
    return CheckRecord.from_dict({"name": "t_zero_add", "header": header, "formal_statement": STMT, **kw})


def test_real_proof_is_proved(verifier, toy_header):
    v = verifier.check(rec(toy_header, proof=PROOF))
    assert v.status == "proved", v.reason
    assert v.axioms == [] and not v.sorry and not v.messages and "4.35.0" in v.lean_version


def test_code_mode_with_comments_and_allowed_option(verifier, toy_header):
    code = f"-- an axiom in a comment is fine\nset_option maxHeartbeats 400000 in\n{SIG}{PROOF}"
    v = verifier.check(rec(toy_header, code=code))
    assert v.status == "proved", v.reason


def test_lean_error_fails_with_message_at_attempt_line(verifier, toy_header):
    v = verifier.check(rec(toy_header, proof="\n  Eq.refl n"))
    assert v.status == "failed"
    assert v.first_error is not None and v.first_error.line == 2 and "Type mismatch" in v.first_error.text
    assert v.first_error.region == "attempt"


@pytest.mark.parametrize("proof", [" sorryAx _ Bool.false", " sorry"])
def test_sorry_is_never_proved(verifier, toy_header, proof):
    v = verifier.check(rec(toy_header, proof=proof))
    assert v.status == "failed" and v.sorry


def test_sorry_warning_without_sorry_text(verifier, toy_header):
    """`sorryAx` reached through a header definition: no `sorry` in the text, Lean still reports it."""
    header = toy_header + "noncomputable def hole (α : Sort u) : α := sorryAx α Bool.false\n"
    v = verifier.check(rec(header, proof=" hole _"))
    assert v.status == "failed" and v.sorry and "sorryAx" in (v.axioms or [])


def test_axiom_from_header_is_outside_allowlist(verifier, toy_header):
    """The policy forbids `axiom` in the attempt; an axiom reachable otherwise is caught by `#print axioms`."""
    header = toy_header + "axiom cheat : False\n"
    v = verifier.check(rec(header, proof=" False.elim cheat"))
    assert v.status == "rejected" and "cheat" in v.reason
    allowing = Verifier(backend="cli", toolchain=verifier.toolchain, policy=Policy(allowed_axioms=("cheat",)))
    with allowing:
        assert allowing.check(rec(header, proof=" False.elim cheat")).status == "proved"


def test_using_the_reference_axiom_is_rejected(verifier, toy_header):
    """Even a candidate that knows the nonce cannot prove the theorem with the reference axiom."""
    r = rec(toy_header, code=f"{SIG} t_zero_add_leanfdref_abc n")
    sn = assemble(r, attempt_text(r), nonce="abc")
    v = judge(sn, verifier.run_raw(sn.header, sn.body), "t_zero_add")
    assert v.status == "rejected" and "t_zero_add_leanfdref_abc" in v.reason


@pytest.mark.parametrize(
    "code, why",
    [
        ("theorem t_zero_add (n : N) : Eq n n := Eq.refl n", "another statement"),
        ("theorem t_zero_add {n : N} : Eq (N.add N.zero n) n :=" + PROOF, "implicit binder"),
        (
            "namespace Foo\nnoncomputable def N.zero : N := N.succ _root_.N.zero\n"
            "theorem _root_.t_zero_add (n : N) : Eq (N.add N.zero n) n := sorryAx _ Bool.false\nend Foo",
            "same text, shadowed constant",
        ),
        (
            "section\nvariable (h : False)\ninclude h\n"
            "theorem t_zero_add (n : N) : Eq (N.add N.zero n) n := False.elim h\nend",
            "extra hypothesis from a variable",
        ),
    ],
)
def test_statement_must_match_elaborated_type(verifier, toy_header, code, why):
    v = verifier.check(rec(toy_header, code=code))
    assert v.status != "proved", why
    if "sorryAx" not in code:
        assert v.status == "rejected" and "reference statement's type" in v.reason, (why, v.reason)


def test_shadowed_constant_with_a_real_proof_is_rejected(verifier, toy_header):
    code = (
        "namespace Foo\nnoncomputable def N.add (a b : N) : N := b\n"
        "theorem _root_.t_zero_add (n : N) : Eq (N.add N.zero n) n := Eq.refl n\nend Foo"
    )
    v = verifier.check(rec(toy_header, code=code))
    assert v.status == "rejected" and "Foo.N.add" in v.reason


def test_universe_generalisation_must_match(verifier, toy_header):
    stmt = "theorem t_id {α : Sort u} (a : α) : Eq a a :="
    r = CheckRecord("t_id", toy_header, stmt, code="theorem t_id {α : Type} (a : α) : Eq a a := Eq.refl a")
    v = verifier.check(r)
    assert v.status == "rejected"
    ok = CheckRecord("t_id", toy_header, stmt, proof=" Eq.refl a")
    assert verifier.check(ok).status == "proved"


def test_def_statement_needs_a_term_of_its_type(verifier, toy_header):
    stmt = "noncomputable def toy_pair (a b : Prop) (ha : a) (hb : b) : And a b :="
    ok = CheckRecord("toy_pair", toy_header, stmt, proof=" And.intro ha hb")
    assert verifier.check(ok).status == "proved"
    other = CheckRecord("toy_pair", toy_header, stmt, code="def toy_pair (a b : Prop) (ha : a) (hb : b) : a := ha")
    assert verifier.check(other).status == "rejected"


def test_missing_root_theorem(verifier, toy_header):
    v = verifier.check(rec(toy_header, code="namespace X\n" + SIG + PROOF))
    assert v.status == "failed" and "no theorem named" in v.reason


@pytest.mark.parametrize(
    "tail",
    [
        "\naxiom cheat : False",
        "\n#exit",
        "\n/- swallow the checks",
        "\nset_option debug.skipKernelTC true",
        "\nset_option pp.all false",
        "\n#eval 1",
        "\nrun_cmd pure ()",
        "\nmacro \"cheat\" : term => `(sorryAx _ Bool.false)",
        "\nnotation \"cheat\" => Eq.refl",
        "\n#guard_msgs in\n#check N",
        "\nunsafe def f : N := N.zero",
        "\n@[implemented_by f] noncomputable def g : N := N.zero",
    ],
)
def test_policy_rejects_before_lean(verifier, toy_header, tail):
    v = verifier.check(rec(toy_header, proof=PROOF + tail))
    assert v.status == "rejected" and v.reason.startswith("policy:"), v.reason


def test_import_not_in_header_rejected_and_repeated_header_imports_dropped(verifier, toy_header):
    v = verifier.check(rec(toy_header, code="import Evil\n" + SIG + PROOF))
    assert v.status == "rejected" and "Evil" in v.reason


@pytest.mark.parametrize(
    "tail, status",
    [("\n#exit", "rejected"), ("\n/- swallow", "failed")],
)
def test_checks_survive_without_the_policy(verifier, toy_header, tail, status):
    """Second line of defence: with the text policy bypassed, the appended checks still refuse."""
    r = rec(toy_header, proof=PROOF + tail)
    sn = assemble(r, attempt_text(r))
    v = judge(sn, verifier.run_raw(sn.header, sn.body), "t_zero_add")
    assert v.status == status, v.reason


def test_printing_options_of_the_candidate_do_not_reach_the_type_check(verifier, toy_header):
    """`pp.explicit false` overrides `pp.all` in Lean; the check pins it again (policy bypassed here)."""
    code = (
        "set_option pp.universes false\nset_option pp.explicit false\nset_option pp.all false\n"
        "theorem t_id {α : Type} (a : α) : Eq a a := Eq.refl a"
    )
    r = CheckRecord("t_id", toy_header, "theorem t_id {α : Sort u} (a : α) : Eq a a :=", code=code)
    sn = assemble(r, attempt_text(r))
    v = judge(sn, verifier.run_raw(sn.header, sn.body), "t_id")
    assert v.status == "rejected"
    assert "@Eq.{1} α a a" in v.reason, v.reason


def test_lean_files_are_checked_whole(verifier, toy_header):
    good = toy_header + SIG + PROOF + "\n"
    bad = toy_header + "theorem u (n : N) : Eq n (N.succ n) := sorryAx _ Bool.false\n"
    good_v = verifier.check(LeanFile("good", good))
    bad_v = verifier.check(LeanFile("bad", bad))
    assert good_v.status == "proved", good_v.reason
    assert bad_v.status == "failed" and bad_v.sorry
