"""Soundness: every rule, with a real attempt at breaking it, through the bundled Lean.

Each attack runs on every backend, so the pooled server, the snapshot backend (about a minute more
here) and the Ray actors (on the 2-node cluster of tests/ray_cluster.py; skipped without Ray) are held
to the same verdicts as one-shot `lean --json`.
"""

from __future__ import annotations

import pytest
from ray_cluster import ray_cluster  # noqa: F401

from leanfd.lean.judge import judge
from leanfd.lean.policy import Policy
from leanfd.lean.records import CheckRecord, LeanFile
from leanfd.lean.snippet import assemble, attempt_text
from leanfd.lean.verifier import Verifier

STMT = "theorem t_zero_add (n : N) : Eq (N.add N.zero n) n :="
PROOF = "\n  N.rec (motive := fun n => Eq (N.add N.zero n) n) (Eq.refl N.zero) (fun _ ih => congrArg N.succ ih) n"
SIG = "theorem t_zero_add (n : N) : Eq (N.add N.zero n) n :="


@pytest.fixture(scope="module", params=["cli", "server", "snapshot", "ray"])
def verifier(request, bundled):
    address = request.getfixturevalue("ray_cluster").address if request.param == "ray" else None
    with Verifier(backend=request.param, toolchain=bundled, timeout=60, jobs=2, ray_address=address) as v:
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


def test_printing_options_of_the_candidate_decide_nothing(verifier, toy_header):
    """The kernel decides the statement, not a printer: options that change printing (policy bypassed
    here) leave a candidate of another type refused, with Lean's message at the kernel check."""
    code = (
        "set_option pp.universes false\nset_option pp.explicit false\nset_option pp.all false\n"
        "theorem t_id {α : Type} (a : α) : Eq a a := Eq.refl a"
    )
    r = CheckRecord("t_id", toy_header, "theorem t_id {α : Sort u} (a : α) : Eq a a :=", code=code)
    sn = assemble(r, attempt_text(r))
    v = judge(sn, verifier.run_raw(sn.header, sn.body), "t_id")
    assert v.status == "rejected" and "reference statement's type" in v.reason, v.reason
    assert "Type mismatch" in v.reason and "@t_id" in v.reason, v.reason


def test_lean_files_are_checked_whole(verifier, toy_header):
    good = toy_header + SIG + PROOF + "\n"
    bad = toy_header + "theorem u (n : N) : Eq n (N.succ n) := sorryAx _ Bool.false\n"
    good_v = verifier.check(LeanFile("good", good))
    bad_v = verifier.check(LeanFile("bad", bad))
    assert good_v.status == "proved", good_v.reason
    assert bad_v.status == "failed" and bad_v.sorry


# The classes of holes found by playing the adversary against the earlier verifier (issue 10), each
# closed by asking Lean rather than reading the text.
FALSE = "Eq N.zero (N.succ N.zero)"


def deep(depth: int, leaf: str = "N.zero") -> str:
    term = leaf
    for _ in range(depth):
        term = f"(N.add {term} {term})"
    return term


@pytest.mark.parametrize(
    "code",
    [
        # `/--/` opens a doc comment in Lean; a lexer that closed it hid what follows the `"`
        f'/--/ " -/ axiom Classical.choice : {FALSE} -- "\ntheorem goal_false : {FALSE} := Classical.choice',
        f'/--/ " -/ unsafe def goal_false : {FALSE} := goal_false -- "',
    ],
)
def test_what_the_text_hides_lean_still_refuses(verifier, toy_header, code):
    r = CheckRecord("goal_false", toy_header, f"theorem goal_false : {FALSE} :=", code=code)
    v = verifier.check(r)
    assert v.status == "rejected", v.reason
    # with the text policy bypassed, Lean's answers alone refuse it: an axiom the header never
    # declared, or a declaration the kernel never checks
    sn = assemble(r, attempt_text(r))  # the toy header declares none of the allowlisted axioms
    v = judge(sn, verifier.run_raw(sn.header, sn.body), "goal_false")
    assert v.status == "rejected" and ("Classical.choice" in v.reason or "unsafe" in v.reason), v.reason


def test_types_past_the_printers_step_budget_are_told_apart(verifier, toy_header):
    """`pp.maxSteps` (5000) elides with `⋯`: `Eq x x` and `Eq x (N.succ x)` print alike behind a big term,
    which once fooled a comparison of printed types; the kernel check never prints them."""
    big = deep(10)
    stmt = f"theorem t (x : N) : And (Eq {big} {big}) (Eq x (N.succ x)) :="
    code = f"theorem t (x : N) : And (Eq {big} {big}) (Eq x x) := And.intro (Eq.refl _) (Eq.refl x)"
    assert verifier.check(CheckRecord("t", toy_header, stmt, code=code)).status == "rejected"
    honest = CheckRecord("t", toy_header, f"theorem t (x : N) : And (Eq {big} {big}) (Eq x x) :=",
                         proof=" And.intro (Eq.refl _) (Eq.refl x)")
    v = verifier.check(honest)
    assert v.status == "proved", v.reason


@pytest.mark.parametrize(
    "body, culprit",
    [
        ("axiom propext : False\ntheorem bad : False := propext", "propext"),  # an allowlisted name, not the header's
        ("namespace Classical\naxiom choice : False\nend Classical\ntheorem bad : False := Classical.choice",
         "Classical.choice"),
        (f"unsafe def f : {FALSE} := f", "unsafe def"),
        (f"axiom cheat : False\ntheorem foo : Eq N.zero N.zero := Eq.refl _ where bar : {FALSE} := False.elim cheat",
         "foo.bar"),
        (f"axiom cheat : False\nnamespace A.B\nend B\ntheorem bad : {FALSE} := False.elim cheat\nend A", "A.bad"),
        (f"axiom cheat : False\ntheorem «does not depend on any axioms» : {FALSE} := False.elim cheat", "cheat"),
    ],
)
def test_whole_files_answer_for_every_declaration(verifier, toy_header, body, culprit):
    v = verifier.check(LeanFile("f", toy_header + body + "\n"))
    assert v.status == "rejected" and culprit in v.reason, v.reason


@pytest.mark.parametrize("text", [
    "prelude inductive False : Prop axiom propext : False theorem bad : False := propext\n",
    "prelude\ninductive False : Prop axiom propext : False\ntheorem bad : False := propext\n",
])
def test_a_files_header_is_its_imports_alone(verifier, text):
    """Commands on the `prelude` line are the file's, not a trusted header's: `propext` is not allowed
    (the header is whole lines, so the first file's line goes to the body, where `prelude` is refused)."""
    v = verifier.check(LeanFile("f", text))
    assert v.status == "rejected" and ("propext" in v.reason or "`prelude`" in v.reason), v.reason


def test_a_hidden_theorem_in_a_whole_file_is_still_checked(verifier, toy_header):
    body = ("axiom cheat : False\ntheorem ok : Eq N.zero N.zero := Eq.refl _\n"
            f'/--/ " -/ theorem bad : {FALSE} := False.elim cheat -- "\n')
    v = verifier.check(LeanFile("f", toy_header + body))
    assert v.status == "rejected" and "`bad`" in v.reason, v.reason


LONG = "a_constant_with_a_name_long_enough_to_make_every_printed_statement_wide_" * 2


@pytest.mark.parametrize(
    "name, stmt, proof, extra",
    [
        ("t", "theorem t (x : N) : Eq x x :=", None, "private theorem t (x : N) : Eq x x := Eq.refl x"),
        ("t", "theorem t (extern : N) : Eq extern extern :=", " Eq.refl extern", ""),
        ("t" * 90, f"theorem {'t' * 90} (a b c d : N) : And (Eq (N.add a b) (N.add a b)) (And (Eq (N.add c d) "
         "(N.add c d)) (Eq (N.mul a (N.add b c)) (N.mul a (N.add b c)))) :=",
         " And.intro (Eq.refl _) (And.intro (Eq.refl _) (Eq.refl _))", ""),
        ("t", "theorem t.{w1, w2} {α : Sort w1} {β : Sort w2} (a : α) (b : β) : And (Eq a a) (Eq b b) :=",
         " And.intro (Eq.refl a) (Eq.refl b)", ""),
        ("t", f"theorem t : Eq {deep(8, LONG)} {deep(8, LONG)} :=", " Eq.refl _",
         f"noncomputable def {LONG} : N := N.zero\n"),
    ],
    ids=["private", "binder-named-extern", "wider-than-120", "universe-params", "type-over-20000-chars"],
)
def test_genuine_proofs_are_proved(verifier, toy_header, name, stmt, proof, extra):
    header = toy_header + (extra if extra.startswith("noncomputable") else "")
    if proof is None:
        r = CheckRecord(name, header, stmt, code=extra)
    else:
        r = CheckRecord(name, header, stmt, proof=proof)
    v = verifier.check(r)
    assert v.status == "proved", v.reason


# 2^32 in unary: a definitional-equality question about it does not end in any reasonable time.
HUGE_N = ("noncomputable def h2 : N := N.succ (N.succ N.zero)\n"
          + "".join(f"noncomputable def h{k + 3} : N := N.mul h{k + 2} h{k + 2}\n" for k in range(5)))


@pytest.mark.parametrize("backend", ["cli", "snapshot"])
@pytest.mark.parametrize("limit", ["", "set_option maxHeartbeats 0\n",
                                   "set_option maxHeartbeats 0\nset_option maxRecDepth 100000\n"])
def test_a_kernel_check_that_never_ends_is_a_timeout_or_an_error(bundled, toy_header, backend, limit):
    """The reference is false; the candidate proves `h7 = h7`, whose type differs only behind 2^32 unfoldings.
    Lean's limits stop the kernel check with an error (the check pins `maxRecDepth`, whatever the attempt
    set); with none, the verifier's timeout does. Never `proved`, never a crash."""
    r = CheckRecord("t_big", toy_header + HUGE_N, "theorem t_big : Eq h7 (N.succ h7) :=",
                    code=f"{limit}theorem t_big : Eq h7 h7 := Eq.refl _")
    with Verifier(backend=backend, toolchain=bundled, timeout=8, jobs=1) as v:
        verdict = v.check(r)
    assert verdict.status in ("rejected", "timeout"), (verdict.status, verdict.reason)
