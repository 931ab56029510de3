"""The text policy, on small inputs (no Lean)."""

from __future__ import annotations

import pytest
from adversarial_cases import FILE_GENUINE, GENUINE

from leanfd.lean.policy import FILE_ALLOWED, KEYWORDS, Policy, scan, strip_imports
from leanfd.lean.snippet import split_file
from leanfd.lean.syntax import LeanSyntaxError, tokenize


def words(src: str) -> list[str]:
    return [t.text for t in tokenize(src) if t.kind in ("ident", "hash")]


def test_comments_strings_and_chars_hide_words():
    src = 'theorem t : P := -- axiom here\n /- unsafe /- nested -/ axiom -/ f "axiom \\" x" \'a\' h\' x'
    assert words(src) == ["theorem", "t", "P", "f", "h'", "x"]


def test_unterminated_constructs_raise():
    for src in ("/- open", "/- /- -/", '"abc', "«name"):
        with pytest.raises(LeanSyntaxError):
            tokenize(src)


@pytest.mark.parametrize(
    "text, rule",
    [
        ("axiom cheat : False", "axiom"),
        ("unsafe def f : Nat := 0", "unsafe"),
        ("#exit", "#exit"),
        ("#eval 1", "#eval"),
        ("#eval! 1", "#eval!"),
        ("run_cmd pure ()", "run_cmd"),
        ("#guard_msgs in #check 1", "#guard_msgs"),
        ("macro \"x\" : term => `(1)", "macro"),
        ("syntax \"y\" : term", "syntax"),
        ("notation \"z\" => 1", "notation"),
        ("infixl:65 \" +++ \" => f", "infixl"),
        ("import Mathlib.Tactic", "import"),
        ("set_option debug.skipKernelTC true in", "set_option debug.skipKernelTC"),
        ("set_option pp.explicit false", "set_option pp.explicit"),
        ("/- never closed", "unterminated comment"),
    ],
)
def test_forbidden(text, rule):
    found = scan("theorem t : P := by\n  exact h\n" + text)
    assert [v.rule for v in found.violations] == [rule]
    assert found.violations[0].line == 3


def test_allowed_options_and_lookalikes():
    text = ("set_option maxHeartbeats 400000 in\nset_option linter.unusedVariables false\n"
            "theorem t (extern implemented_by : N) : P := my_axiom unsafe_x.y")
    assert scan(text).violations == []  # attribute names are not keywords; Lean answers what they do
    assert not Policy().option_allowed("linterx")
    assert Policy(allowed_options=("pp.*",)).option_allowed("pp.all")


def test_sorry_and_admit_are_marked_not_forbidden():
    assert scan("by sorry").sorry and scan("by admit").sorry
    assert not scan("-- sorry\nby rfl").sorry
    assert scan("by sorry").violations == []


def test_strip_imports_keeps_line_numbers():
    header = "import Mathlib\nimport Aesop\n"
    code = "import Mathlib\nimport Aesop\n\ntheorem t : True := trivial"
    stripped, missing = strip_imports(code, header)
    assert missing == [] and stripped.split("\n")[3] == "theorem t : True := trivial"
    assert stripped.count("\n") == code.count("\n")
    _, missing = strip_imports("import Evil\ntheorem t : True := trivial", header)
    assert missing == ["Evil"]


@pytest.mark.parametrize("text, rules", [
    # `/--/` opens a doc comment that the `-/` after the string closes: the axiom is code
    ('/--/ " -/ axiom Classical.choice : False -- "', ["axiom"]),
    ("/-- a /- b -/ c -/ axiom x : False", ["axiom"]),
    ("#evalaxiom x : False", ["#eval", "axiom"]),  # Lean reads `#eval` then `axiom`
    ("theorem t : f '' xaxiom bad : False", ["axiom"]),  # core Lean resumes inside `xaxiom`
    ("set_option /- c -/ maxHeartbeats 0 in", ["set_option"]),  # no name right after it: not allowed
])
def test_what_lean_reads_as_code_is_checked(text, rules):
    assert [v.rule for v in scan(text).violations] == rules


@pytest.mark.parametrize("text", [
    "x //- y -/ axiom z : False",  # `//` is a token: Lean reads `//` then the line comment `- y -/ ...`
    '»r#"a" axiom bad : False "#',  # core Lean reads no raw string after `»`
    "/--\taxiom bad : False -/",  # a tab after the opener: Lean errors there and reads on as code
    'theorem t : P := by exact s!"{by run_tac pure ()}"',  # `{...}` of an interpolated string is code
])
def test_text_read_two_ways_is_refused(text):
    found = scan(text)
    assert len(found.violations) == 1 and found.violations[0].why == "is refused"


def test_mathlib_notation_with_quotes_passes():
    text = "theorem t (f : α → β) (s : Set β) : f '' (f ⁻¹' s) ⊆ s ∧ (∑' n : ℕ, g n) = 1 := by\n  simp"
    assert scan(text).violations == []


# -- the allowlist: what no rule allows is refused, by name --------------------------------------------

REFUSED_ATTRIBUTES = [
    "implemented_by", "extern", "init", "builtin_init", "csimp", "never_extract", "export", "term_parser",
    "command_parser", "tactic_parser", "builtin_term_parser", "builtin_command_parser", "builtin_tactic",
    "builtin_macro", "builtin_delab", "builtin_doc", "term_elab", "command_elab", "tactic", "formatter",
    "parenthesizer", "delab", "app_delab", "app_unexpander", "env_linter", "positivity", "norm_num",
    "to_additive", "my_own_attribute",
]
ATTRIBUTE_FORMS = ["@[{a} foo]\ndef f : N := z", "@[local {a}] def f : N := z", "@[simp, {a} (x := 1)] def f : N := z",
                   "attribute [{a}] f", "attribute [scoped {a} foo] f", "attribute [-{a}] f"]


@pytest.mark.parametrize("form", ATTRIBUTE_FORMS)
@pytest.mark.parametrize("attr", REFUSED_ATTRIBUTES)
def test_attributes_outside_the_allowlist_are_refused_by_name(attr, form):
    found = scan("theorem t : P := h\n" + form.format(a=attr))
    assert [(v.rule, v.line) for v in found.violations] == [(attr, 2)]


def test_keyword_attributes_are_refused_as_keywords():
    # `macro` is both: one violation, the keyword's
    assert [str(v) for v in scan("@[macro k] def f : N := z").violations] == [
        "line 1: `macro` defines syntax, which can change how the verifier's commands parse or print"]
    # a refused word stays refused inside arguments: Lean's error recovery may read a command there
    assert [v.rule for v in scan("@[aesop unsafe 50% apply] theorem t : P := h").violations] == ["unsafe"]


@pytest.mark.parametrize("text", [
    "@[] def f : N := z", "@[simp def f : N := z", "@[simp (] def f : N := z", "@[simp )] def f : N := z",
    "@[, simp] def f : N := z", "@[(simp)] def f : N := z", '@["simp"] def f : N := z',
    "@[simp @[foo] bar] def f : N := z", "attribute [simp attribute [foo] g] f", "attribute [simp",
    "@[local] def f : N := z", "@[simp f '' xfoo] def f : N := z",  # the last reads two ways
])
def test_attribute_lists_that_cannot_be_read_for_sure_are_refused(text):
    found = scan(text)
    assert found.violations and found.violations[0].rule in ("@[", "attribute [")
    assert "cannot be read for sure" in found.violations[0].why


@pytest.mark.parametrize("text, rules", [
    ("#foo x", ["#foo"]),
    ("#help tactic simp", ["#help"]),
    ("#find _ + _ = _", ["#find"]),
    ("#where", ["#where"]),
    ("#lint", ["#lint"]),
    ("#guard 1 == 1", ["#guard"]),
    ("#exec foo", ["#exec"]),
    ("#checkfoo x", ["#checkfoo"]),  # `#check` is allowed, not what begins with it
    ("#checkaxiom x : False", ["#checkaxiom", "axiom"]),  # Lean reads `#check` then `axiom`
    ("#s.card", ["#s"]),  # Mathlib's `#s` reads as a command token here: refused
])
def test_hash_commands_other_than_the_five_info_commands_are_refused(text, rules):
    assert [v.rule for v in scan(text).violations] == rules


@pytest.mark.parametrize("text, rule", [
    ('notation3 "∑ "(...)", "r:67:(scoped f => Finset.sum Finset.univ f) => r', "notation3"),
    ('local notation "‖" x "‖" => f x', "notation"),
    ("scoped[NS] attribute [simp] foo", "scoped["),
    ("irreducible_def f : N := z", "irreducible_def"),
    ("initialize_simps_projections Foo (toFun → apply)", "initialize_simps_projections"),
    ('library_note "x" /-- y -/', "library_note"),
    ("/-- doc -/\nadd_decl_doc foo", "add_decl_doc"),
    ("compile_inductive% Foo", "compile_inductive%"),
    ("suppress_compilation", "suppress_compilation"),
    ("unseal f in\ntheorem t : P := h", "unseal"),
    ("seal f", "seal"),
    ("register_simp_attr my_simps", "register_simp_attr"),
    ("unif_hint (n : N) where n =?= z ⊢ f n =?= z", "unif_hint"),
    ("simproc reduceFoo (foo _) := fun e => pure .continue", "simproc"),
    ("dsimproc_decl d (foo _) := fun e => pure .continue", "dsimproc_decl"),
    ("elab_rules : term | `(foo) => pure z", "elab_rules"),
    ("run_elab pure ()", "run_elab"),
    ("run_meta pure ()", "run_meta"),
    ("theorem t : P := by_elab pure h", "by_elab"),
    ("theorem t : P := by\n  run_tac pure ()", "run_tac"),
    ("def n : N := eval% 1 + 1", "eval%"),
    ("recall foo", "recall"),
    ("sudo set_option maxHeartbeats 0 in\ntheorem t : P := h", "sudo"),
    ("unset_option maxHeartbeats", "unset_option"),
    ("variable? [Group G]", "variable?"),
    ("whatsnew in\ntheorem t : P := h", "whatsnew"),
    ("count_heartbeats in\ntheorem t : P := h", "count_heartbeats"),
    ('binder_predicate x " ≫ " y:term => `($x > $y)', "binder_predicate"),
    ("declare_syntax_cat foo", "declare_syntax_cat"),
    ("meta def f : N := z", "meta"),
    ("module", "module"),
    ("with_weak_namespace Foo\ndef f : N := z", "with_weak_namespace"),
    ("assert_not_exists Foo", "assert_not_exists"),
    ("coinductive S : Prop where\n  | mk : S → S", "coinductive"),
    ("init_quot", "init_quot"),
    ("builtin_initialize foo : IO.Ref N ← IO.mkRef z", "builtin_initialize"),
    ("set_premise_selector fun _ _ => pure #[]", "set_premise_selector"),
    ("unlock_limits", "unlock_limits"),
    ("deprecated_syntax foo", "deprecated_syntax"),
])
def test_command_keywords_outside_the_allowlist_are_refused_by_name(text, rule):
    assert [v.rule for v in scan(text).violations][:1] == [rule]


def test_every_refused_keyword_is_refused():
    for word, why in KEYWORDS.items():
        if why is not None and not word.startswith("#") and word != "scoped[":
            text = f"x {word[:-1]}% y" if word.endswith("%") else f"x {word} y"
            assert [v.rule for v in scan(text).violations] == [word], word


HONEST = """\
import Mathlib
/-! Every allowed form, used honestly. -/
set_option maxHeartbeats 400000
set_option linter.unusedVariables false
universe u v
noncomputable section
open Real Nat hiding add_comm
open Finset renaming sum → fsum
open scoped BigOperators
namespace Work
section Helpers
variable {α : Type*} [Group α] (n : ℕ)
include n
omit n in
/-- A helper. -/
@[simp, reducible] private def double (k : ℕ) : ℕ := k + k
@[local simp, -instance] protected abbrev two : ℕ := 2
@[irreducible, semireducible, instance_reducible] nonrec def three : ℕ := 3
@[inline, specialize] partial def loop (k : ℕ) : ℕ := loop k
@[ext, symm, refl, trans, congr, norm_cast, push_cast, coe] theorem h1 : True := trivial
@[default_instance 100, match_pattern, induction_eliminator, cases_eliminator] def h2 : ℕ := 0
@[nolint simpNF, deprecated h1 (since := "2025-01-01"), gcongr, mono, continuity, measurability]
theorem h3 : True := trivial
@[fun_prop, aesop safe apply (rule_sets := [Foo]), simps, elab_as_elim, pp_nodot, grind =, bound] def h4 : ℕ := 0
@[class] structure Marker where
  x : ℕ
lemma h5 : double 1 = 2 := by simp [double]
end Helpers
structure Point (α : Type u) where
  x : α
  y : α
deriving Repr
class inductive Decision (p : Prop) : Type where
  | no | yes
class Shape (α : Type u) extends Inhabited α where
  area : α → ℕ
instance (priority := 50) instShape : Shape ℕ := ⟨fun n => n⟩
local instance : Inhabited Point := ⟨⟨0, 0⟩⟩
scoped instance : Inhabited (Fin 1) := ⟨0⟩
inductive Tree where
  | leaf
  | node (l r : Tree)
opaque secret : ℕ
mutual
def even : ℕ → Bool
  | 0 => true
  | n + 1 => odd n
def odd : ℕ → Bool
  | 0 => false
  | n + 1 => even n
end
def ack : ℕ → ℕ → ℕ
  | 0, n => n + 1
  | m + 1, 0 => ack m 1
  | m + 1, n + 1 => ack m (ack (m + 1) n)
termination_by m n => (m, n)
decreasing_by all_goals simp_wf; omega
theorem with_where : 1 + 1 = 2 := aux
where aux : 1 + 1 = 2 := rfl
alias with_where' := with_where
example : True := trivial
attribute [simp] with_where
attribute [local instance] Classical.propDecidable
attribute [-simp] with_where
deriving instance DecidableEq for Tree
export Nat (succ)
end Work
#check Work.with_where
#check_failure (1 : Bool)
#print Work.with_where
#print axioms Work.with_where
#reduce 2 + 2
#synth Inhabited ℕ
"""


def test_every_allowed_form_passes():
    body = HONEST.split("\n", 1)[1]  # the imports are the header's
    assert scan(body).violations == []
    assert scan(body.replace("opaque secret", "axiom secret").replace("partial def", "unsafe def"),
                allow=FILE_ALLOWED).violations == []


MATHLIB_PROOF = """\
open Real Finset in
/-- A realistic proof, Mathlib style. -/
@[simp] lemma sum_id_le {α : Type*} [Group α] (s : Finset ℕ) (f : ℕ → ℝ) (hf : ∀ i ∈ s, 0 ≤ f i) :
    0 ≤ ∑ i ∈ s, f i := by
  apply Finset.sum_nonneg
  intro i hi
  exact hf i hi

variable {α : Type*} [Group α]

theorem image_sub (f : α → α) (s : Set α) (h : ∀ x ∈ s, f x = x) : f '' s = s := by
  ext y
  constructor
  · rintro ⟨x, hx, rfl⟩
    rw [h x hx]
    exact hx
  · intro hy
    exact ⟨y, hy, h y hy⟩

theorem calc_chain (a b c : ℝ) (hab : a ≤ b) (hbc : b ≤ c) : a ≤ c := by
  calc a ≤ b := hab
    _ ≤ c := hbc

theorem set_builder (p : ℕ → Prop) : {x | p x} = {x : ℕ | p x} := rfl

example : (#[1, 2] : Array ℕ).size = 2 := by decide

theorem exists_pair : ∃ p : ℕ × ℕ, p.1 = 1 := ⟨(1, 2), rfl⟩

theorem fun_pattern : (fun ⟨x, hx⟩ => x : {n : ℕ // n > 0} → ℕ) ⟨1, by norm_num⟩ = 1 := rfl

theorem mod_two (n : ℕ) (h : n%2 = 1) : n % 2 ≠ 0 := by omega

theorem tsum_image (f : ℕ → ℝ) (s : Set ℝ) : f ⁻¹' s = {n | f n ∈ s} ∧ (∑' n : ℕ, (0 : ℝ)) = 0 := by
  constructor
  · rfl
  · simp

theorem use_nlinarith (x y : ℝ) (h₀ : 0 < x) : x ^ 2 + y ^ 2 ≥ 2 * x * y := by
  nlinarith [sq_nonneg (x - y), sq_abs x, h₀.le]
"""


def test_a_mathlib_style_proof_passes():
    found = scan(MATHLIB_PROOF)
    assert found.violations == [] and not found.sorry


def test_whole_names_count_not_their_parts():
    # Lean reads `x.axiom` and `«axiom»` as names, `n%2` as `n % 2`: not keywords
    assert scan("theorem t (x : S) : P := x.axiom «axiom» (n%2) Module.End LinearMap.module").violations == []


def test_toy_prelude_and_the_honest_adversarial_cases_pass(toy_header):
    header, body = split_file(toy_header)
    assert header.startswith("prelude") and "universe u v" in body
    assert scan(body, allow=FILE_ALLOWED).violations == []
    for case in GENUINE + FILE_GENUINE:
        if case.mode == "file":
            text = toy_header + case.attempt
            if case.first_line:
                text = case.first_line + text.removeprefix("prelude")
            found = scan(split_file(text)[1], allow=FILE_ALLOWED)
        else:
            found = scan(strip_imports(case.attempt, toy_header + case.header)[0])
        assert found.violations == [], (case.id, found.violations)


@pytest.mark.parametrize("text, rules", [
    ("import Foo\n  run_cmd pure ()\ntheorem t : True := trivial", ["run_cmd"]),
    ("prelude inductive F : Prop axiom ax : F theorem bad : F := ax", ["prelude"]),
    ("prelude\n  #exit\n", ["#exit"]),
    ("import Foo\nimport axiom\nax : False", ["import"]),  # Lean would read `axiom ax : False`
])
def test_a_file_body_is_everything_after_prelude_and_imports(text, rules):
    _, body = split_file(text)
    assert [v.rule for v in scan(body, allow=FILE_ALLOWED).violations] == rules
