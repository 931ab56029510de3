"""Attacks on the verifier and honest proofs it must keep accepting, as data for test_adversarial.py.

Everything is term mode over the toy prelude (lean_project/toy/Prelude.lean): the bundled Lean has no
`Init`, so no tactics, no numerals, no `macro`. A case is one attempt: `proof` (the text after the
reference statement), `code` (the model's whole body; the statement is only the reference), `file`
(a whole `.lean` file, its own reference: the toy prelude is put in front), or `nonce` (code checked
through `assemble` with a nonce the attempt knows, the policy bypassed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Mode = Literal["proof", "code", "file", "nonce"]


@dataclass(frozen=True)
class Case:
    id: str
    mode: Mode
    attempt: str
    statement: str = ""  # the reference (proof, code and nonce modes)
    header: str = ""  # appended to the toy prelude (proof, code and nonce modes)
    why: str = ""  # what the attempt tries, or what honest habit it stands for
    first_line: str = ""  # file mode: replaces the toy prelude's first line (`prelude`)


ZA = "theorem t_zero_add (n : N) : Eq (N.add N.zero n) n :="
ZA_PROOF = "\n  N.rec (motive := fun n => Eq (N.add N.zero n) n) (Eq.refl N.zero) (fun _ ih => congrArg N.succ ih) n"
ZA_CODE = ZA + ZA_PROOF
GF = "theorem goal_false : Eq N.zero (N.succ N.zero) :="  # false: its proofs are all cheats
GF_SIG = GF.removesuffix(" :=")
FALSE_TY = "Eq N.zero (N.succ N.zero)"
SORRY = "sorryAx _ Bool.false"
NONCE = "abc123abc123"


def tree(depth: int, leaf: str, fn: str) -> str:
    """A complete binary tree of `fn` applications over `leaf`, as Lean text."""
    return leaf if depth == 0 else f"({fn} {tree(depth - 1, leaf, fn)} {tree(depth - 1, leaf, fn)})"


def and_chain(k: int) -> tuple[str, str]:
    """`And (Eq a_{k-1} a_{k-1}) (... (And (Eq a0 a0) True))` and its proof."""
    ty, pf = "True", "True.intro"
    for i in range(k):
        ty, pf = f"(And (Eq a{i} a{i}) {ty})", f"(And.intro (Eq.refl a{i}) {pf})"
    return ty, pf


# Lean prints `#check` output at width 120. Here `name : type` fits on one line for `t_w` but not
# for `t_w_leanfdref_<nonce>` (23 characters longer), so the reference's line breaks elsewhere.
W3_TY, W3_PF = and_chain(3)
WIDE_BREAKS = f"theorem t_w (a0 a1 a2 a3 a4 a5 a6 a7 a8 : N) : {W3_TY} :="
W6_TY, W6_PF = and_chain(6)
WIDE_BOTH = f"theorem t_w (a0 a1 a2 a3 a4 a5 a6 a7 a8 : N) : {W6_TY} :="

# Lean's delaborator stops after `pp.maxSteps` (default 5000) visits and prints the rest as `⋯`;
# `pp.all` does not lift it. Two depth-10 trees of a bound `f` use up the budget, so the second
# conjunct is never printed and the reference and a weaker candidate print alike.
BIG_F = tree(10, "x", "f")
ELIDED_REF = f"theorem t_big (f : N → N → N) (x : N) : And (Eq {BIG_F} {BIG_F}) (Eq x (N.succ x)) :="
ELIDED_TRUE = f"theorem t_big (f : N → N → N) (x : N) : And (Eq {BIG_F} {BIG_F}) (Eq x x) :="
# Printed under pp.all this type is about 27,000 characters, past the 20,000 a message keeps.
BIG_ADD = tree(10, "x", "N.add")
HUGE = f"theorem t_huge (x : N) : Eq {BIG_ADD} {BIG_ADD} :="
# The same tree at depth 9 prints in under 20,000 characters.
BIG_ADD9 = tree(9, "x", "N.add")
LARGE = f"theorem t_large (x : N) : Eq {BIG_ADD9} {BIG_ADD9} :="


def succ_chain(k: int) -> str:
    return "N.zero" if k == 0 else f"(N.succ {succ_chain(k - 1)})"


# Nested terms are indented one more step per level: at depth 200 the printed type passes 20,000
# characters, at depth 60 it stays well under.
DEEP_200 = f"theorem t_deep : Eq {succ_chain(200)} {succ_chain(200)} :="
DEEP_60 = f"theorem t_deep : Eq {succ_chain(60)} {succ_chain(60)} :="

FAKE_EQ = "inductive Eq {α : Sort u} : α → α → Prop where\n  | any (a b : α) : Eq a b\n"
FAKE_N = (  # noncomputable: the bundled Lean has no runtime to compile against
    "noncomputable def N : Type := Bool\n"
    "noncomputable def N.zero : N := Bool.true\n"
    "noncomputable def N.succ (_ : N) : N := Bool.true\n"
)
# `/--` opens a doc comment in Lean, whose body `/ " ` ends at `-/`; a scanner that reads `/--/` as a
# complete block comment sees a string from `"` to the `"` after `--` instead, and misses the axiom.
DOC_TRICK = '/--/ " -/ {} -- "\n'
# A doc comment must be followed by a declaration, so `#exit` comes after one.
HIDDEN_EXIT = "theorem helper : True := True.intro\n#exit"

CHEATS: list[Case] = [
    # -- text the policy's lexer reads differently from Lean ---------------------------------------
    Case("doc_comment_lexer_hides_axiom_propext", "code",
         DOC_TRICK.format(f"axiom propext : {FALSE_TY}") + f"{GF_SIG} := propext", GF,
         why="an axiom named like an allowlisted one, hidden from the scanner by `/--/`"),
    Case("doc_comment_lexer_hides_axiom_classical_choice", "code",
         f'/--/ " -/ axiom Classical.choice : {FALSE_TY} -- "\n'
         f"theorem goal_false : {FALSE_TY} := Classical.choice", GF,
         why="the brief's example: `Classical.choice` declared by the attempt"),
    Case("doc_comment_lexer_hides_axiom_quot_sound", "code",
         DOC_TRICK.format("axiom Quot.sound : False") + f"{GF_SIG} := False.elim Quot.sound", GF,
         why="`Quot.sound` declared by the attempt, hidden by `/--/`"),
    Case("doc_comment_lexer_multiline", "code",
         f'/--/ "\n-/\naxiom propext : {FALSE_TY}\n-- "\n{GF_SIG} := propext', GF,
         why="the same lexer gap spread over lines"),
    Case("doc_comment_lexer_hides_exit", "code",
         "theorem goal_false : Eq N.zero N.zero := Eq.refl _\n" + DOC_TRICK.format(HIDDEN_EXIT), GF,
         why="another statement, and `#exit` hidden from the scanner so the type check never runs"),
    Case("doc_comment_lexer_hides_unsafe", "code",
         DOC_TRICK.format(f"unsafe def cheat : {FALSE_TY} := cheat") + f"{GF_SIG} := cheat", GF,
         why="an unsafe definition used by a theorem: Lean itself refuses"),
    Case("digit_before_char_literal", "code",
         f"#check_failure 2'\"'\naxiom propext : {FALSE_TY}\n{GF_SIG} := propext\n-- \"", GF,
         why="the scanner reads `2'` as a prime and opens a string; Lean needs a space before an argument"),
    Case("nested_comment_closes_once", "code",
         f"/- /- -/ axiom propext : {FALSE_TY} -/\n{GF_SIG} := propext", GF,
         why="comments nest: the axiom is inside the comment for Lean too"),
    Case("zero_width_space_splits_axiom", "code",
         f"ax\u200biom propext : {FALSE_TY}\n{GF_SIG} := propext", GF,
         why="U+200B inside `axiom`: the scanner sees two words, Lean an error"),
    Case("zero_width_space_in_name", "code", f"theorem goal\u200b_false : {FALSE_TY} := {SORRY}", GF,
         why="U+200B inside the theorem's name"),
    Case("bom_between_tokens", "code", f"theorem\ufeffgoal_false : {FALSE_TY} := Eq.refl _", GF,
         why="U+FEFF instead of a space"),
    Case("lone_cr_inside_line_comment", "code",
         f"-- harmless\raxiom propext : {FALSE_TY}\n{GF_SIG} := propext", GF,
         why="a lone CR does not end a line comment, in Lean or in the scanner"),
    Case("lone_cr_line_endings_with_sorry", "code", f"{GF_SIG} :=\r  {SORRY}\r", GF,
         why="isolated carriage returns"),
    Case("crlf_does_not_hide_axiom", "code", f"-- x\r\naxiom propext : {FALSE_TY}\r\n{GF_SIG} := propext\r\n", GF,
         why="CRLF line endings around an axiom"),
    Case("guillemets_unsafe_is_an_identifier", "code",
         f"«unsafe» def cheat : {FALSE_TY} := cheat\n{GF_SIG} := cheat", GF,
         why="`«unsafe»` is a name, not the keyword: a parse error"),
    Case("guillemets_axiom_is_an_identifier", "code", f"«axiom» propext : {FALSE_TY}\n{GF_SIG} := propext", GF,
         why="`«axiom»` is a name, not the keyword"),
    Case("unterminated_block_comment", "proof", ZA_PROOF + "\n/- swallow the checks", ZA,
         why="an unterminated comment would swallow the checks"),
    Case("unterminated_string", "code", ZA_CODE + '\n#print "swallow the checks', ZA,
         why="an unterminated string would swallow the checks"),
    Case("unterminated_guillemet", "code", ZA_CODE + "\ntheorem «swallow : True := True.intro", ZA,
         why="an unterminated «name»"),
    Case("unterminated_doc_comment", "code", ZA_CODE + "\n/-- swallow", ZA,
         why="an unterminated doc comment"),
    Case("trailing_doc_comment_before_checks", "code", f"{GF_SIG} := {SORRY}\n/-- doc for the checks -/", GF,
         why="a doc comment that attaches to the verifier's first check"),
    # -- forged output ----------------------------------------------------------------------------
    Case("forged_print_axioms_text", "code",
         f"#print \"'goal_false' does not depend on any axioms\"\n{GF_SIG} := {SORRY}", GF,
         why="prints the text the axiom check looks for"),
    Case("forged_check_in_doc_comment", "code",
         f"/-- goal_false : @Eq.{{1}} N N.zero (N.succ N.zero) -/\n{GF_SIG} := {SORRY}", GF,
         why="a doc comment holding the expected `#check` output"),
    Case("forged_end_marker", "code", f'{GF_SIG} := {SORRY}\n#print "leanfd-end-000000000000"', GF,
         why="prints an end marker of its own"),
    Case("helper_named_does_not_depend_on_any_axioms", "code",
         f"theorem «does not depend on any axioms» : {FALSE_TY} := {SORRY}\n"
         f"{GF_SIG} := «does not depend on any axioms»", GF,
         why="a helper whose name is the text of a clean axiom report"),
    Case("theorem_named_like_check_output", "code",
         f"theorem «goal_false : {FALSE_TY}» : True := True.intro", GF,
         why="no theorem `goal_false`, only one named like its `#check` line"),
    # -- names, namespaces, sections --------------------------------------------------------------
    Case("namespaced_theorem_not_at_root", "code",
         f"namespace Foo\n{FAKE_EQ}{GF_SIG} := Eq.any _ _\nend Foo", GF,
         why="`Foo.goal_false` about `Foo.Eq`; no root theorem"),
    Case("root_prefix_with_namespaced_eq", "code",
         f"namespace Foo\n{FAKE_EQ}theorem _root_.goal_false : {FALSE_TY} := Eq.any _ _\nend Foo", GF,
         why="`_root_.goal_false` stated with `Foo.Eq`"),
    Case("open_in_namespaced_eq", "code",
         f"namespace Fake\n{FAKE_EQ}end Fake\nopen Fake in\n{GF_SIG} := Eq.any _ _", GF,
         why="`open Fake in` to make `Eq` mean `Fake.Eq`"),
    Case("export_namespaced_eq", "code",
         f"namespace Fake\n{FAKE_EQ}end Fake\nexport Fake (Eq)\n{GF_SIG} := Eq.any _ _", GF,
         why="`export Fake (Eq)` at the root"),
    Case("export_alias_of_namespaced_theorem", "code",
         f"namespace Foo\n{FAKE_EQ}{GF_SIG} := Eq.any _ _\nend Foo\nexport Foo (goal_false)", GF,
         why="an `export` alias named like the target is not a root constant"),
    Case("namespaced_N_redefined", "code",
         f"namespace Fake\n{FAKE_N}theorem _root_.goal_false : {FALSE_TY} := Eq.refl _\nend Fake", GF,
         why="`Fake.N.zero` and `Fake.N.succ` are equal by definition"),
    Case("namespaced_False_redefined", "code",
         "namespace Fake\ndef False : Prop := True\ntheorem _root_.t_false : False := True.intro\nend Fake",
         "theorem t_false : False :=", why="`Fake.False` is `True`"),
    Case("binder_named_False_shadows_constant", "code",
         "theorem t_sh (False : Prop) (h : False) : False := h",
         "theorem t_sh (False : Prop) (h : False) : _root_.False :=",
         why="a binder named `False` where the reference means the constant"),
    Case("end_with_another_name", "code", f"namespace A\n{GF_SIG} := {SORRY}\nend B", GF,
         why="`end` of a different name"),
    Case("section_variable_include_hypothesis", "code",
         f"section\nvariable (h : {FALSE_TY})\ninclude h\n{GF_SIG} := h\nend", GF,
         why="the false statement as a section hypothesis"),
    Case("trailing_open_in_wraps_checks", "code",
         f"namespace Fake\n{FAKE_EQ}end Fake\ntheorem goal_false : Fake.Eq N.zero (N.succ N.zero) := Fake.Eq.any _ _\n"
         "open Fake in", GF, why="`open Fake in` left open so it applies to the verifier's check"),
    Case("trailing_set_option_in_wraps_checks", "code", f"{GF_SIG} := {SORRY}\nset_option maxHeartbeats 1 in", GF,
         why="an allowed option left open so it applies to the verifier's check"),
    Case("max_rec_depth_breaks_checks", "code", f"{GF_SIG} := {SORRY}\nset_option maxRecDepth 1", GF,
         why="an allowed option that makes the checks themselves fail"),
    Case("look_alike_greek_Eq", "code",
         "inductive Εq {α : Sort u} : α → α → Prop where\n  | any (a b : α) : Εq a b\n"
         "theorem goal_false : Εq N.zero (N.succ N.zero) := Εq.any _ _", GF,
         why="Greek capital epsilon in `Εq`"),
    Case("look_alike_greek_N", "code",
         "noncomputable def Ν : Type := Bool\nnoncomputable def Ν.zero : Ν := Bool.true\n"
         "noncomputable def Ν.succ (_ : Ν) : Ν := Bool.true\n"
         "theorem goal_false : Eq Ν.zero (Ν.succ Ν.zero) := Eq.refl _", GF,
         why="Greek capital nu in `Ν`"),
    Case("look_alike_greek_omicron_in_name", "code", "theorem gοal_false : Eq N.zero N.zero := Eq.refl _", GF,
         why="Greek omicron in the theorem's name: another theorem"),
    Case("look_alike_cyrillic_in_name", "code", f"theorem gоal_false : {FALSE_TY} := {SORRY}", GF,
         why="Cyrillic o in the theorem's name"),
    # -- universes ----------------------------------------------------------------------------------
    Case("universe_command_specialises", "code",
         "universe w\ntheorem t_id {α : Sort (w+1)} (a : α) : Eq a a := Eq.refl a",
         "theorem t_id {α : Sort u} (a : α) : Eq a a :=", why="a new `universe` that only covers `Type w`"),
    Case("universe_explicit_instance", "code", "theorem t_id {α : Sort 1} (a : α) : Eq.{1} a a := Eq.refl a",
         "theorem t_id {α : Sort u} (a : α) : Eq a a :=", why="`Eq.{1}`: the universe fixed"),
    # -- declaration kinds and modifiers -----------------------------------------------------------
    Case("local_instance_with_sorry", "code",
         "class Holds (p : Prop) : Prop where\n  proof : p\n"
         f"noncomputable def cheat : Holds ({FALSE_TY}) := Holds.mk ({SORRY})\n"
         f"attribute [local instance] cheat\n{GF_SIG} := Holds.proof", GF,
         why="`sorryAx` behind a local instance"),
    Case("mutual_circular", "code",
         f"mutual\ntheorem goal_false : {FALSE_TY} := helper\ntheorem helper : {FALSE_TY} := goal_false\nend", GF,
         why="two theorems that prove each other"),
    Case("self_reference", "code", f"{GF_SIG} := goal_false", GF, why="a theorem that uses itself"),
    Case("termination_by_no_argument", "code", f"{GF_SIG} := goal_false\ntermination_by N.zero", GF,
         why="`termination_by` on a recursion that does not terminate"),
    Case("decreasing_by_sorry", "code",
         f"def loop (n : N) : {FALSE_TY} := loop (N.succ n)\ndecreasing_by exact {SORRY}\n{GF_SIG} := loop N.zero", GF,
         why="`decreasing_by` closed by sorry"),
    Case("partial_def", "code", f"partial def goal_false : {FALSE_TY} := goal_false", GF,
         why="`partial`: an opaque constant with an unchecked implementation"),
    Case("opaque_without_value", "code", f"opaque goal_false : {FALSE_TY}", GF,
         why="`opaque` with no value needs an inhabitant"),
    Case("deriving_then_sorry", "code",
         f"structure Box where\n  val : N\nderiving Inhabited\n{GF_SIG} := {SORRY}", GF, why="a `deriving` clause"),
    Case("noncomputable_def_with_sorry", "code", f"noncomputable def goal_false : {FALSE_TY} := {SORRY}", GF,
         why="`noncomputable def` in place of the theorem"),
    Case("private_theorem_with_sorry", "code", f"private {GF_SIG} := {SORRY}", GF, why="`private`"),
    Case("protected_fake_eq_not_opened", "code",
         "namespace Fake\nprotected def Eq (a b : N) : Prop := True\nend Fake\nopen Fake\n"
         f"{GF_SIG} := True.intro", GF, why="`open` does not bring a protected name into scope"),
    Case("where_auxiliary_with_sorry", "code", f"{GF_SIG} := aux\nwhere aux : {FALSE_TY} := {SORRY}", GF,
         why="`sorryAx` in a `where` auxiliary"),
    Case("instance_keyword_for_theorem", "code", f"instance goal_false : {FALSE_TY} := {SORRY}", GF,
         why="`instance` in place of `theorem`"),
    Case("unsafe_def_plain", "code", f"unsafe def cheat : {FALSE_TY} := cheat\n{GF_SIG} := cheat", GF,
         why="`unsafe`"),
    Case("implemented_by_attribute", "code",
         "noncomputable def good : N := N.zero\n@[implemented_by good] noncomputable def bad : N := N.zero\n"
         f"{GF_SIG} := {SORRY}",
         GF, why="`@[implemented_by]`"),
    Case("extern_attribute", "code", f'@[extern "lean_cheat"] opaque cheat : N\n{GF_SIG} := {SORRY}', GF,
         why="`@[extern]`"),
    Case("axiom_plain", "code", f"axiom propext : {FALSE_TY}\n{GF_SIG} := propext", GF,
         why="an axiom named like an allowlisted one"),
    Case("axiom_in_namespace_classical", "code",
         f"namespace Classical\naxiom choice : {FALSE_TY}\nend Classical\n{GF_SIG} := Classical.choice", GF,
         why="`Classical.choice` declared in its namespace"),
    Case("exit_plain", "proof", f" {SORRY}\n#exit", GF, why="`#exit`"),
    Case("prelude_in_code", "code", f"prelude\n{GF_SIG} := {SORRY}", GF, why="`prelude`"),
    Case("set_option_in_pp_all", "code", f"set_option pp.all false in\n{GF_SIG} := {SORRY}", GF, why="a `pp.*` option"),
    Case("set_option_skip_kernel", "code", f"set_option debug.skipKernelTC true in\n{GF_SIG} := {SORRY}", GF,
         why="`debug.skipKernelTC`"),
    # -- sorry reached indirectly ------------------------------------------------------------------
    Case("sorry_through_helper_def", "code",
         f"noncomputable def hole (α : Sort u) : α := sorryAx α Bool.false\n{GF_SIG} := hole _", GF,
         why="`sorryAx` behind a helper"),
    Case("sorry_explicit_universe", "proof", " @sorryAx.{0} _ Bool.true", GF, why="`@sorryAx.{0}`, synthetic flag set"),
    Case("sorry_root_prefix", "proof", f" _root_.{SORRY}", GF, why="`_root_.sorryAx`"),
    Case("sorry_through_let", "proof", " let x := sorryAx False Bool.false; False.elim x", GF,
         why="`sorryAx` in a `let`"),
    Case("nonce_axiom_guessed", "code", f"{GF_SIG} := goal_false_leanfdref_000000000000", GF,
         why="a guess at the reference's nonce axiom"),
    Case("nonce_axiom_known", "nonce", f"{GF_SIG} := goal_false_leanfdref_{NONCE}", GF,
         why="the reference's own axiom, nonce known (policy bypassed)"),
    # -- types that print alike ---------------------------------------------------------------------
    Case("elided_type_pp_max_steps", "code",
         ELIDED_TRUE + "\n  And.intro (Eq.refl _) (Eq.refl x)", ELIDED_REF,
         why="`pp.maxSteps` prints both types as `⋯` past the trees: a weaker conjunct goes unseen"),
    Case("huge_type_changed_at_the_end", "code",
         f"theorem t_huge (x : N) : Eq {BIG_ADD} (N.add {BIG_ADD9} {BIG_ADD9}) := Eq.refl _",
         f"theorem t_huge (x : N) : Eq {BIG_ADD} (N.add {BIG_ADD9} (N.succ {BIG_ADD9})) :=",
         why="a difference past the 20,000 characters a message keeps"),
    Case("deep_type_off_by_one", "code", f"theorem t_deep : Eq {succ_chain(60)} {succ_chain(60)} := Eq.refl _",
         f"theorem t_deep : Eq {succ_chain(60)} {succ_chain(61)} :=", why="a deep chain one `N.succ` short"),
    Case("wide_type_changed_at_the_end", "code",
         f"theorem t_w (a0 a1 a2 a3 a4 a5 a6 a7 a8 : N) : {W6_TY.replace('(Eq a0 a0)', '(Eq a8 a8)')} :=\n"
         f"  {W6_PF.replace('(Eq.refl a0)', '(Eq.refl a8)')}", WIDE_BOTH,
         why="a statement wider than 120 columns, changed on its last printed line"),
]

CHEAT_CLASS = f"class Cheat : Prop where\n  h : {FALSE_TY}\n"

FILE_CHEATS: list[Case] = [
    Case("file_axiom_named_propext", "file",
         f"axiom propext : False\ntheorem bad : {FALSE_TY} := False.elim propext\n",
         why="the file declares `propext`, an allowlisted name"),
    Case("file_axiom_classical_choice", "file",
         "namespace Classical\naxiom choice : False\nend Classical\n"
         f"theorem bad : {FALSE_TY} := False.elim Classical.choice\n",
         why="the file declares `Classical.choice`"),
    Case("file_axiom_quot_sound", "file",
         f"namespace Quot\naxiom sound : False\nend Quot\ntheorem bad : {FALSE_TY} := False.elim Quot.sound\n",
         why="the file declares `Quot.sound`"),
    Case("file_unsafe_def_proves_false", "file", f"unsafe def f : {FALSE_TY} := f\n",
         why="an unsafe definition of a false proposition"),
    Case("file_where_auxiliary_uses_axiom", "file",
         f"axiom ax : False\ntheorem foo : True := True.intro\nwhere bar : {FALSE_TY} := False.elim ax\n",
         why="`foo.bar` is a theorem of the file that uses a bad axiom; `foo` does not use it"),
    Case("file_namespace_A_B_end_B_hides_A_bad", "file",
         "axiom ax : False\ntheorem bad : True := True.intro\n"
         "namespace A.B\ntheorem good : True := True.intro\nend B\n"
         f"theorem bad : {FALSE_TY} := False.elim ax\nend A\n",
         why="`end B` closes only `B`: `A.bad` is read as the root `bad`"),
    Case("file_section_end_hides_namespaced_bad", "file",
         f"axiom ax : False\ntheorem bad : True := True.intro\nnamespace A\nsection A\nend A\n"
         f"theorem bad : {FALSE_TY} := False.elim ax\nend A\n",
         why="`end A` of a section read as the end of namespace `A`"),
    Case("file_theorem_named_does_not_depend_on_any_axioms", "file",
         f"axiom ax : False\ntheorem «does not depend on any axioms» : {FALSE_TY} := False.elim ax\n",
         why="the axiom report quotes the theorem's name"),
    Case("file_axiom_named_does_not_depend_on_any_axioms", "file",
         "axiom «does not depend on any axioms» : False\n"
         f"theorem bad : {FALSE_TY} := False.elim «does not depend on any axioms»\n",
         why="the axiom report lists an axiom with that name"),
    Case("file_doc_comment_lexer_hides_theorem", "file",
         "axiom ax : False\n" + DOC_TRICK.format(f"theorem bad : {FALSE_TY} := False.elim ax"),
         why="a theorem the file's scanner never sees"),
    Case("file_named_prop_instance_uses_axiom", "file",
         f"axiom ax : False\n{CHEAT_CLASS}instance bad : Cheat := Cheat.mk (False.elim ax)\n",
         why="an instance of a Prop-valued class is a theorem too"),
    Case("file_anonymous_prop_instance_uses_axiom", "file",
         f"axiom ax : False\n{CHEAT_CLASS}instance : Cheat := Cheat.mk (False.elim ax)\n",
         why="an anonymous instance has no name to find"),
    Case("file_end_A_B_closes_two_scopes", "file",
         f"axiom ax : False\nnamespace A\ntheorem bad : True := True.intro\nnamespace B\nend A.B\n"
         f"theorem bad : {FALSE_TY} := False.elim ax\n",
         why="`end A.B` closes both scopes: the root `bad` is read as `A.bad`"),
    Case("file_opaque_with_value_uses_axiom", "file", f"axiom ax : False\nopaque bad : {FALSE_TY} := False.elim ax\n",
         why="`opaque` is a declaration too"),
    # `example` adds nothing to the environment, but it is the file's claim of a proof all the same.
    Case("file_example_uses_axiom", "file", f"axiom ax : False\nexample : {FALSE_TY} := False.elim ax\n",
         why="a false `example` proved with a bad axiom"),
    Case("file_commands_on_the_prelude_line", "file", "",
         first_line="prelude inductive F : Prop axiom ax : F theorem bad : F := ax",
         why="a file's header is cut by lines: commands after `prelude` on its line are never scanned or checked"),
    Case("file_forged_axiom_report", "file",
         "axiom ax : False\n#print \"'bad' does not depend on any axioms\"\n"
         f"theorem bad : {FALSE_TY} := False.elim ax\n",
         why="prints a clean axiom report of its own"),
    Case("file_where_auxiliary_used", "file",
         f"axiom ax : False\ntheorem foo : {FALSE_TY} := bar\nwhere bar : {FALSE_TY} := False.elim ax\n",
         why="the auxiliary's axiom reaches the theorem"),
    Case("file_mutual_uses_axiom", "file",
         f"axiom ax : False\nmutual\ntheorem a1 : {FALSE_TY} := False.elim ax\ntheorem a2 : True := True.intro\nend\n",
         why="a theorem inside `mutual`"),
    Case("file_private_theorem_uses_axiom", "file",
         f"axiom ax : False\nprivate theorem bad : {FALSE_TY} := False.elim ax\n", why="`private`"),
    Case("file_root_prefix_in_namespace", "file",
         f"axiom ax : False\nnamespace A\ntheorem _root_.bad : {FALSE_TY} := False.elim ax\nend A\n", why="`_root_`"),
    Case("file_namespaced_axiom_named_propext", "file",
         f"namespace Foo\naxiom propext : False\nend Foo\ntheorem bad : {FALSE_TY} := False.elim Foo.propext\n",
         why="`Foo.propext` is not `propext`"),
    Case("file_sorry_through_helper", "file",
         f"noncomputable def hole (α : Sort u) : α := sorryAx α Bool.false\ntheorem bad : {FALSE_TY} := hole _\n",
         why="`sorryAx` behind a helper"),
    Case("file_exit", "file", f"axiom ax : False\ntheorem bad : {FALSE_TY} := False.elim ax\n#exit\n",
         why="`#exit` before the checks"),
    Case("file_doc_comment_lexer_hides_exit", "file",
         f"axiom ax : False\ntheorem bad : {FALSE_TY} := False.elim ax\n" + DOC_TRICK.format(HIDDEN_EXIT),
         why="`#exit` the scanner does not see"),
    Case("file_unterminated_comment", "file", f"theorem bad : {FALSE_TY} := {SORRY}\n/- swallow",
         why="an unterminated comment"),
]

GENUINE: list[Case] = [
    Case("proof_with_comments_and_doc_comment_text", "proof",
         "\n  -- induction on n; an axiom in a comment is fine\n  /- block comment: unsafe, #exit, sorry -/"
         + ZA_PROOF + " -- done", ZA, why="comments around and inside the proof"),
    Case("code_with_doc_comments", "code",
         "/-! Module doc: `axiom` and `sorry` in text. -/\n/-- The additive identity, on the left. -/\n"
         + ZA_CODE + "\n-- qed", ZA, why="doc comments before the theorem"),
    Case("doc_comment_holding_code_text", "code", f"/-- axiom propext : {FALSE_TY} -/\n" + ZA_CODE, ZA,
         why="a doc comment whose text looks like an axiom"),
    Case("string_holding_forbidden_words", "code",
         '#print "axiom unsafe sorry #exit"\ntheorem t_p (n : N) : Eq n n := Eq.refl n',
         "theorem t_p (n : N) : Eq n n :=", why="forbidden words inside a string"),
    Case("private_theorem_exact_statement", "code",
         "private theorem t_priv (n : N) : Eq n n := Eq.refl n", "theorem t_priv (n : N) : Eq n n :=",
         why="`private` changes visibility, not the statement"),
    Case("protected_theorem_in_namespace", "code",
         "namespace N\nprotected theorem my_refl (n : N) : Eq n n := Eq.refl n\nend N",
         "theorem N.my_refl (n : N) : Eq n n :=", why="a dotted statement proved as `protected` in its namespace"),
    Case("wide_statement_breaks_differently", "proof", " " + W3_PF, WIDE_BREAKS,
         why="over 120 columns printed: the reference's longer name moves the line break"),
    Case("wide_statement_breaks_alike", "proof", " " + W6_PF, WIDE_BOTH,
         why="over 120 columns printed, breaking at the same place for both names"),
    Case("wide_statement_code_mode", "code", WIDE_BOTH + "\n  " + W6_PF, WIDE_BOTH,
         why="the same in code mode"),
    Case("header_universes_wide_signature", "proof", " Eq.refl (f a)",
         "theorem t_univ2 {α : Sort u} {β : Sort v} (f : α → β) (a : α) : Eq (f a) (f a) :=",
         why="header universes: `.{u_1, u_2}` breaks inside the reference's universe list"),
    Case("explicit_universe_params_proof", "proof", " Eq.refl (f a)",
         "theorem t_univ.{w₁, w₂} {α : Sort w₁} {β : Sort w₂} (f : α → β) (a : α) : Eq (f a) (f a) :=",
         why="explicit `.{w₁, w₂}`"),
    Case("explicit_universe_params_code", "code",
         "theorem t_univ.{w₁, w₂} {α : Sort w₁} {β : Sort w₂} (f : α → β) (a : α) : Eq (f a) (f a) :=\n"
         "  Eq.refl (f a)",
         "theorem t_univ.{w₁, w₂} {α : Sort w₁} {β : Sort w₂} (f : α → β) (a : α) : Eq (f a) (f a) :=",
         why="explicit `.{w₁, w₂}` in code mode"),
    Case("renamed_universe_parameter", "code", "theorem t_id.{w} {α : Sort w} (a : α) : Eq a a := Eq.refl a",
         "theorem t_id {α : Sort u} (a : α) : Eq a a :=",
         why="`#check` prints universe parameters as `u_1, ...` whatever their names"),
    Case("binder_named_extern", "proof", " Eq.refl extern", "theorem t_ext (extern : N) : Eq extern extern :=",
         why="`extern` is an attribute name, not a keyword"),
    Case("binder_named_axiom_free", "code", "theorem t_af (axiom_free : N) : Eq axiom_free axiom_free := Eq.refl _",
         "theorem t_af (axiom_free : N) : Eq axiom_free axiom_free :=", why="`axiom_free` is not `axiom`"),
    Case("open_N_in", "code",
         "open N in\ntheorem t_zero_add (n : N) : Eq (add zero n) n :=\n"
         "  N.rec (motive := fun n => Eq (add zero n) n) (Eq.refl zero) (fun _ ih => congrArg succ ih) n",
         ZA, why="`open N in`: names print in full"),
    Case("helper_lemmas_before_theorem", "code",
         "theorem step (n : N) (ih : Eq (N.add N.zero n) n) : Eq (N.add N.zero (N.succ n)) (N.succ n) :=\n"
         "  congrArg N.succ ih\n"
         "theorem t_zero_add (n : N) : Eq (N.add N.zero n) n :=\n"
         "  N.rec (motive := fun n => Eq (N.add N.zero n) n) (Eq.refl N.zero) (fun n ih => step n ih) n",
         ZA, why="a helper lemma first"),
    Case("namespace_helpers_main_at_root", "code",
         "namespace Helpers\n"
         "theorem step (n : N) (ih : Eq (N.add N.zero n) n) : Eq (N.add N.zero (N.succ n)) (N.succ n) :=\n"
         "  congrArg N.succ ih\nend Helpers\n"
         "theorem t_zero_add (n : N) : Eq (N.add N.zero n) n :=\n"
         "  N.rec (motive := fun n => Eq (N.add N.zero n) n) (Eq.refl N.zero) (fun n ih => Helpers.step n ih) n",
         ZA, why="helpers in a namespace, the theorem at the root"),
    Case("root_prefix_inside_namespace", "code",
         "namespace Work\ntheorem _root_.t_zero_add (n : N) : Eq (N.add N.zero n) n :=" + ZA_PROOF + "\nend Work",
         ZA, why="`_root_.` from inside a namespace"),
    Case("set_option_max_heartbeats", "code", "set_option maxHeartbeats 400000 in\n" + ZA_CODE, ZA,
         why="an allowed resource limit"),
    Case("set_option_linter", "code",
         "set_option linter.unusedVariables false in\ntheorem t_unused (a b : N) : Eq a a := Eq.refl a",
         "theorem t_unused (a b : N) : Eq a a :=", why="a linter option"),
    Case("crlf_code", "code", ("-- CRLF\n" + ZA_CODE + "\n").replace("\n", "\r\n"), ZA, why="CRLF line endings"),
    Case("crlf_proof", "proof", ZA_PROOF.replace("\n", "\r\n") + "\r\n", ZA, why="CRLF line endings in a proof"),
    Case("printed_type_over_20000_characters", "proof", " Eq.refl _", HUGE,
         why="a statement printed in about 27,000 characters"),
    Case("printed_type_over_10000_characters", "proof", " Eq.refl _", LARGE,
         why="a statement printed in about 13,000 characters"),
    Case("elided_type_exact_statement", "code", ELIDED_TRUE + "\n  And.intro (Eq.refl _) (Eq.refl x)", ELIDED_TRUE,
         why="a type the printer elides, proved as stated"),
    Case("deeply_nested_type", "proof", " Eq.refl _", DEEP_60, why="a 60-deep chain of `N.succ`"),
    Case("deeply_nested_type_past_the_message_limit", "proof", " Eq.refl _", DEEP_200,
         why="a 200-deep chain of `N.succ`, printed past 20,000 characters"),
    Case("guillemet_statement_name", "code", "theorem «my thm» (n : N) : Eq n n := Eq.refl n",
         "theorem «my thm» (n : N) : Eq n n :=", why="a «name» with a space"),
    Case("binders_after_colon", "code",
         "theorem t_zero_add : ∀ (n : N), Eq (N.add N.zero n) n := fun n =>" + ZA_PROOF, ZA,
         why="`(n : N) :` written as `: ∀ (n : N),`"),
    Case("grouped_binders", "code", "theorem t_comm_refl (a : N) (b : N) : Eq (N.add a b) (N.add a b) := Eq.refl _",
         "theorem t_comm_refl (a b : N) : Eq (N.add a b) (N.add a b) :=", why="`(a b : N)` as `(a : N) (b : N)`"),
    Case("section_variable_binder", "code",
         "section\nvariable (n : N)\ntheorem t_zero_add : Eq (N.add N.zero n) n :=" + ZA_PROOF + "\nend", ZA,
         why="the binder from `variable`"),
    Case("where_helper", "code",
         "theorem t_zero_add (n : N) : Eq (N.add N.zero n) n :=\n"
         "  N.rec (motive := fun n => Eq (N.add N.zero n) n) (Eq.refl N.zero) (fun n ih => step n ih) n\n"
         "where step (n : N) (ih : Eq (N.add N.zero n) n) : Eq (N.add N.zero (N.succ n)) (N.succ n) :=\n"
         "  congrArg N.succ ih", ZA, why="a `where` auxiliary"),
    Case("noncomputable_def_statement", "proof", " And.intro ha hb",
         "noncomputable def toy_pair (a b : Prop) (ha : a) (hb : b) : And a b :=", why="a `def` statement"),
    Case("def_instead_of_theorem", "code", "noncomputable def t_d (n : N) : Eq n n := Eq.refl n",
         "theorem t_d (n : N) : Eq n n :=", why="`def` for a theorem: same type, same kernel check"),
    Case("unicode_identifiers", "code",
         "theorem t_sym {α : Sort u} {a₁ b₁ : α} (h₁ : Eq a₁ b₁) : Eq b₁ a₁ := Eq.symm h₁",
         "theorem t_sym {α : Sort u} {a₁ b₁ : α} (h₁ : Eq a₁ b₁) : Eq b₁ a₁ :=",
         why="Greek and subscripts"),
    Case("eq_trans_chain", "proof", " Eq.trans h₁ (Eq.symm h₂)",
         "theorem t_chain (a b c : N) (h₁ : Eq a b) (h₂ : Eq c b) : Eq a c :=", why="a short chain"),
    Case("export_alias", "code",
         "export N (add)\ntheorem t_zero_add (n : N) : Eq (add N.zero n) n :=\n"
         "  N.rec (motive := fun n => Eq (add N.zero n) n) (Eq.refl N.zero) (fun _ ih => congrArg N.succ ih) n",
         ZA, why="an `export` alias prints as the constant"),
    Case("auto_bound_implicit", "code", "theorem t_id (a : α) : Eq a a := Eq.refl a",
         "theorem t_id {α : Sort u} (a : α) : Eq a a :=", why="`α` and its universe bound automatically"),
    Case("proof_ends_in_line_comment", "proof", ZA_PROOF + " -- no newline after this", ZA,
         why="a trailing line comment with no newline"),
]

FILE_GENUINE: list[Case] = [
    Case("file_honest", "file", ZA_CODE + "\ntheorem t2 (n : N) : Eq n n := Eq.refl n\n", why="a plain file"),
    Case("file_namespace_A_B_end_B_honest", "file",
         "namespace A.B\ntheorem good : True := True.intro\nend B\ntheorem mid : True := True.intro\nend A\n",
         why="`namespace A.B` closed as `end B` then `end A`"),
    Case("file_section_in_namespace_honest", "file",
         "namespace A\nsection A\ntheorem x1 : True := True.intro\nend A\ntheorem x2 : True := True.intro\nend A\n",
         why="a section named like its namespace"),
    Case("file_where_honest", "file",
         "theorem foo : And True True := And.intro bar bar\nwhere bar : True := True.intro\n", why="`where`"),
    Case("file_mutual_honest", "file",
         "mutual\ntheorem m1 : True := True.intro\ntheorem m2 : True := True.intro\nend\n", why="`mutual`"),
    Case("file_open_in", "file",
         "open N in\ntheorem z (n : N) : Eq (add n zero) n := Eq.refl n\n", why="`open N in`"),
    Case("file_unused_axiom", "file", "axiom ax : False\ntheorem t (n : N) : Eq n n := Eq.refl n\n",
         why="a file may declare an axiom that no theorem uses"),
    Case("file_guillemet_name", "file", "theorem «my theorem» (n : N) : Eq n n := Eq.refl n\n", why="a «name»"),
    Case("file_crlf", "file", "theorem t (n : N) : Eq n n := Eq.refl n\r\ntheorem t2 : True := True.intro\r\n",
         why="CRLF line endings"),
]

DOCUMENTED_REJECTS: list[Case] = [
    # An `example` is never in the environment, so Lean cannot be asked for its axioms: a whole file
    # that declares axioms (every toy file does: its prelude declares `sorryAx`) and has an example
    # is refused. A file that declares none (a Mathlib file) may have examples.
    Case("file_example_beside_theorem", "file",
         "theorem ok : True := True.intro\nexample : Eq N.zero N.zero := Eq.refl _\n",
         why="an honest `example` after an honest theorem"),
    # With `Init`, `admit` is a tactic keyword that means sorry, so the scanner counts the word as sorry;
    # only in a world without `Init` (the toy prelude) can it be a binder.
    Case("binder_named_admit", "proof", " Eq.refl admit", "theorem t_adm (admit : N) : Eq admit admit :=",
         why="`admit` as a binder name"),
    # Lean 4.35 refuses isolated carriage returns (`isolated carriage returns are not allowed`).
    Case("lone_cr_line_endings", "code", ZA_CODE.replace("\n", "\r"), ZA, why="CR-only line endings"),
]



# -- second adversarial round, against the design that asks Lean every soundness question ------------
#
# What Lean 4.35 does over the toy prelude, learnt here: an elaboration error does NOT always leave a
# `sorry` behind. A type mismatch logs the error and then `internal exception #3` (making the `sorry`
# fails without `Init`), and a runtime exception (heartbeats, `maxRecDepth`) is one error at the
# command: either way the false theorem stays in the environment and `#print axioms` says it
# `does not depend on any axioms`. Only the error message tells, so these cases pin that the judge
# never accepts past an error (a backend that dropped or moved that message would accept them).

# 2^14 as repeated doubling: proving `b14 = b13 + b12` needs a long unfolding, which a small heartbeat
# or recursion budget interrupts after the theorem was added.
POW2 = ("noncomputable def two : N := N.succ (N.succ N.zero)\nnoncomputable def b0 : N := N.succ N.zero\n"
        + "".join(f"noncomputable def b{i} : N := N.mul b{i - 1} two\n" for i in range(1, 15)))
POW2_FALSE = "theorem t_pow : Eq b14 (N.add b13 b12) :="  # false: 16384 is not 8192 + 4096

CHEATS += [
    Case("heartbeat_timeout_keeps_false_theorem", "code",
         f"set_option maxHeartbeats 50 in\n{POW2_FALSE} Eq.refl _", POW2_FALSE, POW2,
         why="a runtime exception after the theorem was added: Lean keeps it, axiom-free, and reports one error"),
    Case("heartbeat_timeout_global_keeps_false_theorem", "code",
         f"set_option maxHeartbeats 50\n{POW2_FALSE} Eq.refl _", POW2_FALSE, POW2,
         why="the same with a global `set_option` that also applies to the verifier's checks"),
    Case("max_rec_depth_keeps_false_theorem", "code",
         f"set_option maxRecDepth 200 in\n{POW2_FALSE} Eq.refl _", POW2_FALSE, POW2,
         why="`maxRecDepth` reached while checking `Eq.refl`: the false theorem stays, axiom-free"),
    Case("type_mismatch_keeps_false_theorem", "code", f"{GF_SIG} := Eq.refl _", GF,
         why="without `Init` the `sorry` Lean would put in place fails: the false theorem stays, axiom-free"),
    Case("dangling_open_in_before_checks", "code",
         f"namespace Fake\n{FAKE_EQ}end Fake\ntheorem goal_false : Fake.Eq N.zero (N.succ N.zero) := Fake.Eq.any _ _\n"
         "open Fake in", GF,
         why="`open Fake in` as the last line applies to the verifier's first `#check`"),
    Case("def_self_reference", "code", f"def goal_false : {FALSE_TY} := goal_false", GF,
         why="a definition that is its own value"),
    Case("let_rec_loop", "code", f"{GF_SIG} := let rec loop (n : N) : {FALSE_TY} := loop n; loop N.zero", GF,
         why="a non-terminating `let rec`"),
    Case("termination_by_structural_loop", "code",
         f"def loop (n : N) : {FALSE_TY} := loop n\ntermination_by structural n\n{GF_SIG} := loop N.zero", GF,
         why="`termination_by structural` on a parameter that never shrinks"),
    Case("target_declared_twice", "code",
         f"theorem goal_false : Eq N.zero N.zero := Eq.refl _\n{GF_SIG} := goal_false", GF,
         why="a true theorem under the target's name, then the false one again"),
]

FILE_CHEATS += [
    Case("file_heartbeat_timeout_keeps_false_theorem", "file",
         f"{POW2}set_option maxHeartbeats 50 in\n{POW2_FALSE} Eq.refl _\n",
         why="an axiom-free false theorem, and only an error to tell it"),
    Case("file_example_beside_honest_theorem", "file",
         f"axiom ax : False\ntheorem ok : True := True.intro\nexample : {FALSE_TY} := False.elim ax\n",
         why="a false `example` proved with a bad axiom, hidden behind an honest theorem"),
    Case("file_let_rec_uses_axiom", "file",
         f"axiom ax : False\ntheorem foo : True := let rec bar : {FALSE_TY} := False.elim ax; True.intro\n",
         why="`foo.bar` from a `let rec`, which `foo` does not use"),
    Case("file_instance_in_namespace_uses_axiom", "file",
         f"axiom ax : False\n{CHEAT_CLASS}namespace A\ninstance : Cheat := Cheat.mk (False.elim ax)\nend A\n"
         "theorem ok : True := True.intro\n",
         why="an anonymous instance inside a namespace (`A.instCheat`)"),
    Case("file_private_in_namespace_uses_axiom", "file",
         f"axiom ax : False\nnamespace A\nprivate theorem bad : {FALSE_TY} := False.elim ax\nend A\n",
         why="`_private._stdin.0.A.bad`"),
    Case("file_abbrev_uses_axiom", "file",
         f"axiom ax : False\nabbrev bad : {FALSE_TY} := False.elim ax\ntheorem ok : True := True.intro\n",
         why="an `abbrev` is a definition too"),
    Case("file_mutual_circular_theorems", "file",
         f"mutual\ntheorem a : {FALSE_TY} := b\ntheorem b : {FALSE_TY} := a\nend\n", why="circular proofs"),
]

_T_ID = "theorem t_id {α : Sort u} (a : α) : Eq a a :="

GENUINE += [
    # A model that copies Lean's own names writes `universe u_1`: the statement is the same, but the
    # verifier's `#check` names its universe metavariables around the declared ones (`u_2`).
    Case("declared_universe_u_1", "code", "universe u_1\ntheorem t_id {α : Sort u_1} (a : α) : Eq a a := Eq.refl a",
         _T_ID, why="`universe u_1` declared and used"),
    Case("declared_universes_unused", "code",
         "universe u_1 u_2\ntheorem t_id {α : Sort u} (a : α) : Eq a a := Eq.refl a",
         _T_ID, why="`universe u_1 u_2` declared, never used"),
    Case("declared_universe_w", "code", "universe w\ntheorem t_id {α : Sort w} (a : α) : Eq a a := Eq.refl a", _T_ID,
         why="a universe of another name"),
    Case("universe_u_1_in_closed_section", "code",
         "section\nuniverse u_1\nvariable {α : Sort u_1}\ntheorem t_id (a : α) : Eq a a := Eq.refl a\nend", _T_ID,
         why="`universe u_1` inside a section that is closed"),
    # `variable` outside any section stays in scope for the verifier's `#check`, whose delaborator then
    # renames the statement's binders away from the variables (`n` printed `n_1`).
    Case("top_level_variable_binder", "code",
         "variable (n : N)\ntheorem t_zero_add : Eq (N.add N.zero n) n :=" + ZA_PROOF, ZA,
         why="the binder from a top-level `variable` (the `section_variable_binder` case, without `section`)"),
    Case("top_level_variable_unused", "code", "variable (n : N)\n" + ZA_CODE, ZA,
         why="a top-level `variable` of the same name as the statement's binder, unused"),
    Case("top_level_variable_auto_universe", "code",
         "variable {α : Sort u}\ntheorem t_id (a : α) : Eq a a := Eq.refl a",
         _T_ID, why="`variable {α : Sort u}` at the top, as models write `variable {α : Type*}`"),
    Case("print_axioms_after_theorem", "code",
         ZA_CODE + "\n#print axioms t_zero_add\n#check t_zero_add\n#check @t_zero_add",
         ZA, why="models often end with `#print axioms` of their theorem"),
    Case("examples_around_theorem", "code",
         "example : Eq N.zero N.zero := Eq.refl _\n" + ZA_CODE + "\nexample (n : N) : Eq n n := Eq.refl n", ZA,
         why="`example`s before and after"),
    Case("unclosed_namespace_root_theorem", "code",
         "namespace Work\ntheorem _root_.t_zero_add (n : N) : Eq (N.add N.zero n) n :=" + ZA_PROOF, ZA,
         why="a namespace left open: the checks run inside it"),
    Case("unclosed_section", "code", "section\nvariable (m : N)\n" + ZA_CODE, ZA,
         why="a section left open, with a variable the theorem does not use"),
    Case("global_max_rec_depth", "code", "set_option maxRecDepth 4000\n" + ZA_CODE, ZA,
         why="a global resource option, which also applies to the checks"),
    Case("global_small_max_rec_depth", "code", "set_option maxRecDepth 100\n" + ZA_CODE, ZA,
         why="a small global `maxRecDepth`: the checks' 45 nested `set_option ... in` still fit"),
    Case("global_max_heartbeats_zero", "code", "set_option maxHeartbeats 0\n" + ZA_CODE, ZA, why="no heartbeat limit"),
    Case("global_linter_all", "code", "set_option linter.all true\n" + ZA_CODE, ZA,
         why="every linter on: warnings at the checks' lines are not answers"),
    Case("noncomputable_section_code", "code", "noncomputable section\n" + ZA_CODE + "\nend", ZA,
         why="`noncomputable section`"),
    Case("doc_comment_in_statement", "proof", ZA_PROOF, "/-- The left identity. -/\n" + ZA,
         why="a statement with its doc comment"),
    Case("root_prefixed_statement", "proof", " Eq.refl n", "theorem _root_.t_p (n : N) : Eq n n :=",
         why="a statement named `_root_.t_p`"),
    Case("guillemets_around_plain_name", "code", "theorem «t_p» (n : N) : Eq n n := Eq.refl n",
         "theorem «t_p» (n : N) : Eq n n :=", why="`«t_p»` is `t_p`"),
    Case("where_in_proof_mode", "proof", " step\nwhere step : Eq n n := Eq.refl n", "theorem t_p (n : N) : Eq n n :=",
         why="a `where` clause after a proof"),
    Case("comments_inside_proof_term", "proof", " -- by refl\n  /- a -/ Eq.refl n /- b -/ -- end",
         "theorem t_p (n : N) : Eq n n :=", why="comments before, inside and after the term"),
    Case("unicode_namespace_statement", "code", "namespace Ω\ntheorem t_α₁ (n : N) : Eq n n := Eq.refl n\nend Ω",
         "theorem Ω.t_α₁ (n : N) : Eq n n :=", why="a Greek namespace and a subscripted name"),
    Case("explicit_at_eq", "code", "theorem t_p : ∀ (n : N), @Eq N n n := fun n => Eq.refl n",
         "theorem t_p (n : N) : Eq n n :=", why="`@Eq N n n` for `Eq n n`"),
    Case("long_theorem_name", "code", f"theorem t_{'a' * 300} (n : N) : Eq n n := Eq.refl n",
         f"theorem t_{'a' * 300} (n : N) : Eq n n :=", why="a 300-character name"),
    Case("unicode_line_separators_in_comments", "code",
         "-- line\u2028separator\u0085next line\x0cform feed\n/- block \u2028 \u2029 -/\n"
         + ZA_CODE + " -- end\u2028", ZA,
         why="U+2028, U+2029, U+0085 and a form feed in comments: lines are `\\n` for Lean and the verifier"),
    Case("unicode_line_separators_in_doc_comment", "code", "/-- doc \u2028 with\u0085 separators -/\n" + ZA_CODE, ZA,
         why="line separators in a doc comment"),
]

FILE_GENUINE += [
    # `example` is the commonest command in a Lean file; the .ilean lists it as `_example`, which no
    # check can name (`Unknown constant _root_._example`), so the whole file fails.
    Case("file_structure_class_instance", "file",
         "structure P where\n  a : N\n  b : N\nclass C (α : Type) where\n  op : α → α\ninstance : C N := C.mk N.succ\n"
         "abbrev M := N\ntheorem t (p : P) : Eq p.a p.a := Eq.refl _\n",
         why="structures, classes, an anonymous instance, an abbrev"),
    Case("file_class_inductive", "file",
         "class inductive Dec (p : Prop) : Type where\n  | no (h : Not p) : Dec p\n  | yes (h : p) : Dec p\n"
         "theorem t : True := True.intro\n", why="`class inductive`"),
    Case("file_structure_extends", "file",
         "structure P where\n  a : N\nstructure Q extends P where\n  b : N\n"
         "theorem t (q : Q) : Eq q.a q.toP.a := Eq.refl _\n",
         why="`extends`"),
    Case("file_doc_comments_and_attributes", "file",
         "/-- doc -/\ntheorem t : True := True.intro\n/-- d2 -/ protected theorem N.t2 : True := True.intro\n"
         "@[reducible] def d : N := N.zero\n", why="doc comments, `protected`, `@[reducible]`"),
    Case("file_named_instances", "file",
         "class C (α : Type) where\n  op : α → α\n@[instance] def myI : C N := C.mk N.succ\n"
         "instance (priority := 50) other : C N := C.mk N.succ\ntheorem t : True := True.intro\n",
         why="instances by attribute and by name"),
    Case("file_keyword_names", "file", "theorem «theorem» : True := True.intro\ntheorem «def» : True := True.intro\n",
         why="theorems named like keywords"),
    Case("file_nested_inductive", "file",
         "inductive L (α : Type) where\n  | nil : L α\n  | cons (a : α) (l : L α) : L α\n"
         "inductive T where\n  | node (cs : L T) : T\ntheorem t : True := True.intro\n", why="a nested inductive"),
    Case("file_unicode_namespaces", "file",
         "namespace Ω.β\ntheorem α₁ : True := True.intro\nend Ω.β\ntheorem «ü ö» : True := True.intro\n",
         why="unicode names and namespaces"),
    Case("file_private_where", "file",
         "private theorem foo : And True True := And.intro bar bar\nwhere bar : True := True.intro\n",
         why="a private theorem with a `where` auxiliary"),
    Case("file_private_instance_in_namespace", "file",
         "class C (α : Type) where\n  op : α → α\nnamespace X\ninstance : C N := C.mk N.succ\nend X\n"
         "theorem t : True := True.intro\n", why="an anonymous instance in a namespace"),
    Case("file_noncomputable_section", "file",
         "noncomputable section\ndef two : N := N.add (N.succ N.zero) (N.succ N.zero)\n"
         "theorem t : Eq two two := Eq.refl _\nend\n",
         why="`noncomputable section`"),
    Case("file_variable_in_namespace", "file",
         "namespace Foo\nvariable (n : N)\ntheorem t : Eq n n := Eq.refl n\nprivate def h : N := n\nend Foo\n",
         why="`variable` in a namespace, a private def"),
    Case("file_info_commands", "file", "theorem t (n : N) : Eq n n := Eq.refl n\n#check t\n#print axioms t\n#print t\n",
         why="the file prints things of its own"),
    Case("file_set_option_in", "file", "set_option maxHeartbeats 400000 in\ntheorem t : True := True.intro\n",
         why="an allowed option"),
]

# The three allowlisted axioms, declared by a header as a dataset's header would (toy types).
ALLOWED_AXIOMS_HEADER = (
    "\naxiom propext {a b : Prop} (h₁ : a → b) (h₂ : b → a) : Eq a b\n"
    "inductive Nonempty (α : Sort u) : Prop where\n  | intro (val : α) : Nonempty α\n"
    "namespace Classical\naxiom choice {α : Sort u} : Nonempty α → α\nend Classical\n"
    "axiom Quot.sound : True\naxiom ax : False\n"
)
_PE = "theorem t_pe (a : Prop) (h : a) : Eq a True :="

# A `#check` whose type mismatch Lean prints in 12.6 MB (a 5,000-character name, copied 2^12 times by
# `congrArg`'s type): past the 4 MB a `lean --json` line may have, so the cli backend drops the error.
_LONG = "c" + "a" * 5000
_BLOWUP = f"Eq.refl {_LONG}"
for _ in range(12):
    _BLOWUP = f"congrArg (fun x => N.add x x) ({_BLOWUP})"
HUGE_ERROR = f"noncomputable def {_LONG} : N := N.zero\n#check ({_BLOWUP} : {FALSE_TY})\n"

CHEATS += [
    Case("error_past_the_line_limit", "code", HUGE_ERROR + ZA_CODE, ZA,
         why="Lean reports an error 12.6 MB long; a verdict with an error Lean reported is never `proved` "
             "(here the theorem is true: what a dropped error could hide is a false one Lean kept axiom-free)"),
    Case("error_past_the_line_limit_full_header", "code", HUGE_ERROR + ZA_CODE, ZA, ALLOWED_AXIOMS_HEADER,
         why="the same under a header that declares every pinned axiom, so no pin error is expected"),
    Case("header_axiom_outside_allowlist", "proof", " False.elim ax", GF, ALLOWED_AXIOMS_HEADER,
         why="an axiom the header declares but the allowlist lacks"),
    Case("header_axiom_outside_allowlist_beside_propext", "proof",
         " False.elim (Eq.rec (motive := fun p _ => p) ax (propext (fun (h : False) => h) (fun h => h)))",
         GF, ALLOWED_AXIOMS_HEADER, why="an allowlisted axiom used beside one outside the allowlist"),
    Case("export_alias_named_propext", "code",
         "namespace Foo\ntheorem propext : False → False := fun h => h\nend Foo\nexport Foo (propext)\n"
         f"{GF_SIG} := False.elim ax", GF, ALLOWED_AXIOMS_HEADER,
         why="an alias `propext` makes the last pin ambiguous"),
]

GENUINE += [
    Case("allowlisted_axiom_from_header", "proof", " propext (fun _ => True.intro) (fun _ => h)", _PE,
         ALLOWED_AXIOMS_HEADER, why="`propext`, declared by the header and allowlisted"),
    Case("allowlisted_axioms_from_header", "code",
         "noncomputable def pick : N := Classical.choice (Nonempty.intro N.zero)\n"
         "theorem t_pe (a : Prop) (h : a) : Eq a True :=\n"
         "  Eq.trans (Quot.sound.rec (motive := fun _ => Eq a True) (propext (fun _ => True.intro) (fun _ => h)))\n"
         "    (congrArg (fun _ => True) (Eq.refl pick))", _PE, ALLOWED_AXIOMS_HEADER,
         why="`propext`, `Quot.sound` and `Classical.choice` together"),
]

FILE_CHEATS += [
    Case("file_empty_guillemet_name_uses_axiom", "file",
         f"axiom ax : False\ntheorem ok : True := True.intro\ntheorem «» : {FALSE_TY} := False.elim ax\n",
         why="a theorem named `«»`"),
    Case("file_guillemet_root_namespace_uses_axiom", "file",
         f"axiom ax : False\ntheorem ok : True := True.intro\ntheorem «_root_».bad : {FALSE_TY} := False.elim ax\n",
         why="`«_root_».bad`, which Lean reads as the root `bad`"),
    Case("file_private_named_private_uses_axiom", "file",
         f"axiom ax : False\ntheorem ok : True := True.intro\nnamespace A\nprivate theorem «_private» : {FALSE_TY} := "
         "False.elim ax\nend A\n", why="a private theorem named `_private`, against the name unmangling"),
    Case("file_empty_component_after_theorem_uses_axiom", "file",
         f"axiom ax : False\ntheorem ok : True := True.intro\ntheorem ok.«» : {FALSE_TY} := False.elim ax\n",
         why="`ok.«»`, a name that prints like `ok.`"),
    Case("file_instance_where_uses_axiom", "file",
         f"axiom ax : False\n{CHEAT_CLASS}instance : Cheat where\n  h := False.elim ax\n"
         "theorem ok : True := True.intro\n",
         why="an anonymous instance written with `where`"),
]


# -- third round (issue 21): the statement is decided by the kernel, never by printed text ------------
#
# The reference's type is pinned before the attempt (`axiom NAME_leanfdref_<nonce>`) and after it
# `theorem leanfdcheck_<nonce> : type_of% @NAME_leanfdref_<nonce> := @_root_.NAME` must be accepted.
# So a genuine proof is `proved` whatever its binder names (hygienic ones included), binder kinds,
# universe names and order, and however it writes definitions of the header; a candidate of another
# type is refused, however alike the two print.

CLASSES = (
    "\nclass Zero (α : Type) where\n  zero : α\nclass Add (α : Type) where\n  add : α → α → α\n"
    "instance : Zero N := Zero.mk N.zero\n"
    "structure Pt where\n  x : N\n  y : N\n"
    "noncomputable def two : N := N.succ (N.succ N.zero)\n"
    "abbrev Nat' : Type := N\n"
)
_INST = "theorem goal_inst {α : Type} [Zero α] (x : α) : Eq x x :="
_INST2 = "theorem t_i2 {α : Type} [Zero α] [Add α] (x : α) : Eq (Add.add x Zero.zero) (Add.add x Zero.zero) :="
_PQ_HEADER = "\ndef «P Q» : Prop := False\n"  # the example: a line break inside «» is not a space
_PQ = "theorem goal_pq : «P Q» :="
# `Eq.refl _` for a false theorem: only the error tells (see above); a coercion the attempt declares
# would turn a theorem of another type into a proof of the reference.
_COE = "class CoeT (α : Sort u) (_ : α) (β : Sort v) where\n  coe : β\n"
_COE_DEP = "class CoeDep (α : Sort u) (_ : α) (β : Sort v) where\n  coe : β\n"
_ZZ = "theorem t_zz : Eq N.zero N.zero :="

CHEATS += [
    Case("pq_line_break_in_guillemets", "code",
         "def «P\nQ» : Prop := True\ntheorem goal_pq : «P\nQ» := True.intro", _PQ, _PQ_HEADER,
         why="`«P\\nQ»` is another name than `«P Q»`: a false statement proved about a true look-alike"),
    Case("pq_line_break_binder", "code",
         "def «P\nQ» : Prop := True\ntheorem goal_pq (h : «P\nQ») : «P\nQ» := h",
         "theorem goal_pq (h : «P Q») : «P Q» :=", _PQ_HEADER,
         why="the same with the look-alike as a binder's type"),
    Case("pq_line_break_indented", "code",
         "def «P\n  Q» : Prop := True\ntheorem goal_pq : «P\n  Q» := True.intro", _PQ, _PQ_HEADER,
         why="a line break and indentation inside the name"),
    Case("pq_tab_like_spaces", "code",
         "def «P  Q» : Prop := True\ntheorem goal_pq : «P  Q» := True.intro", _PQ, _PQ_HEADER,
         why="two spaces inside the name"),
    Case("coercion_bridges_other_type", "code",
         f"{_COE}theorem t_zz : True := True.intro\n"
         "instance : CoeT True t_zz (Eq N.zero N.zero) := CoeT.mk (Eq.refl N.zero)\n", _ZZ,
         why="`t_zz` has another type; a coercion the attempt declares would make `@t_zz` fit the reference"),
    Case("coercion_dep_bridges_false", "code",
         f"{_COE_DEP}theorem goal_false : True := True.intro\n"
         f"instance : CoeDep True goal_false ({FALSE_TY}) := CoeDep.mk ({SORRY})\n", GF,
         why="a dependent coercion from a true theorem to the false reference"),
    Case("universe_max_specialises", "code",
         "theorem t_id.{w} {α : Sort (max w 1)} (a : α) : Eq a a := Eq.refl a", _T_ID,
         why="`Sort (max w 1)` covers no `Prop`: weaker than `Sort u`"),
    Case("universe_merged", "code",
         "theorem t_two {α : Sort u} {β : Sort u} (a : α) (b : β) : True := True.intro",
         "theorem t_two {α : Sort u} {β : Sort v} (a : α) (b : β) : True :=",
         why="one universe for two: holds only where `u = v`"),
    Case("universe_prop_for_sort", "code", "theorem t_id {α : Prop} (a : α) : Eq a a := Eq.refl a", _T_ID,
         why="`Prop` for `Sort u`"),
    Case("namespace_local_definition_shadows", "code",
         "namespace X\ndef Not (_ : Prop) : Prop := True\ntheorem _root_.t_not : Not False := True.intro\nend X",
         "theorem t_not : Not False :=",
         why="inside `namespace X`, `Not` is `X.Not`: the same text, another statement"),
    Case("open_namespace_redefines_class", "code",
         "namespace Fake\nclass Zero (α : Type) where\n  zero : α\nend Fake\n"
         "theorem goal_inst {α : Type} [Fake.Zero α] (x : α) : Eq x x := Eq.refl x", _INST, CLASSES,
         why="an instance binder of another class named `Zero`"),
    Case("instance_fixed_in_statement", "code",
         "theorem t_z (z : Zero N) : Eq (@Zero.zero N instZeroN) N.zero := Eq.refl _",
         "theorem t_z (z : Zero N) : Eq (@Zero.zero N z) N.zero :=", CLASSES,
         why="the header's instance where the reference quantifies over every instance"),
    Case("extra_hypothesis", "code",
         "theorem t_zero_add (n : N) (h : Eq (N.add N.zero n) n) : Eq (N.add N.zero n) n := h", ZA,
         why="the goal as a hypothesis"),
    Case("fewer_binders", "code",
         "theorem t_zero_add : Eq (N.add N.zero N.zero) N.zero := Eq.refl _", ZA,
         why="an instance of the reference for one value"),
    Case("binders_reordered_false", "code",
         "theorem t_ba (b a : N) (h : Eq a b) : Eq a b := h", "theorem t_ba (a b : N) (h : Eq b a) : Eq a b :=",
         why="another hypothesis behind the same names"),
    Case("include_false_left_open", "code",
         f"section\nvariable (h : False)\ninclude h\ntheorem goal_false : {FALSE_TY} := False.elim h", GF,
         why="a section left open with `include h`: the kernel check sees `h` too, `goal_false` still takes it"),
    Case("variable_hypothesis_left_open", "code",
         f"variable (h : {FALSE_TY})\ninclude h\ntheorem goal_false : {FALSE_TY} := h", GF,
         why="the false statement as a top-level `variable`, included"),
    Case("def_data_other_type", "proof", " N.zero", "noncomputable def mk_pt : Pt :=", CLASSES,
         why="a term of another type for a data-carrying statement"),
    Case("heartbeats_off_defeq_grinds", "code",
         "set_option maxHeartbeats 0\ntheorem t_pow : Eq b14 b14 := Eq.refl _", POW2_FALSE, POW2,
         why="no heartbeat limit: the kernel check must unfold 2^14 in unary; a timeout or an error, never proved"),
]

CHEATS += [  # the nonce known (policy bypassed): the attempt reaches the pinned reference and the check
    Case("nonce_check_name_taken", "nonce",
         f"theorem leanfdcheck_{NONCE} : True := True.intro\n{GF_SIG} := {SORRY}", GF,
         why="the check's name declared first: the check fails to declare"),
    Case("nonce_check_name_taken_namespace_open", "nonce",
         f"namespace Work\ntheorem _root_.leanfdcheck_{NONCE} : True := True.intro\n{GF_SIG} := Eq.refl _", GF,
         why="the same from inside a namespace left open"),
    Case("nonce_reference_shadowed_in_open_namespace", "nonce",
         f"namespace Foo\ntheorem goal_false_leanfdref_{NONCE} : Eq N.zero N.zero := Eq.refl _\nend Foo\nopen Foo\n"
         "theorem goal_false : Eq N.zero N.zero := Eq.refl _", GF,
         why="a true `Foo.goal_false_leanfdref_…` opened: the check names the root one"),
    Case("nonce_reference_aliased", "nonce",
         f"namespace Foo\ntheorem goal_false_leanfdref_{NONCE} : Eq N.zero N.zero := Eq.refl _\nend Foo\n"
         f"export Foo (goal_false_leanfdref_{NONCE})\ntheorem goal_false : Eq N.zero N.zero := Eq.refl _", GF,
         why="an export alias of the reference's name"),
    Case("nonce_reference_made_irreducible", "nonce",
         f"attribute [irreducible] goal_false_leanfdref_{NONCE}\n{GF_SIG} := goal_false_leanfdref_{NONCE}", GF,
         why="the reference axiom used as the proof, after an attribute on it"),
    Case("nonce_trailing_open_in", "nonce",
         f"namespace Fake\ntheorem goal_false_leanfdref_{NONCE} : True := True.intro\nend Fake\n"
         "theorem goal_false : True := True.intro\nopen Fake in", GF,
         why="`open Fake in` wraps the check, with a true `Fake.goal_false_leanfdref_…`"),
]

GENUINE += [
    Case("anonymous_instance_binder_proof", "proof", " Eq.refl x", _INST, CLASSES,
         why="the issue's example: an anonymous instance binder's hygienic name differs per declaration"),
    Case("anonymous_instance_binder_code", "code", _INST + " Eq.refl x", _INST, CLASSES,
         why="the same statement written again in code mode"),
    Case("named_instance_for_anonymous", "code",
         "theorem goal_inst {β : Type} [inst : Zero β] (y : β) : Eq y y := Eq.refl y", _INST, CLASSES,
         why="the instance binder named, the others renamed"),
    Case("instance_binder_made_explicit", "code",
         "theorem goal_inst {α : Type} (z : Zero α) (x : α) : Eq x x := Eq.refl x", _INST, CLASSES,
         why="`[Zero α]` written `(z : Zero α)`: binder kinds are not part of the proposition"),
    Case("two_anonymous_instances", "proof", " Eq.refl _", _INST2, CLASSES,
         why="two anonymous instance binders"),
    Case("two_anonymous_instances_code", "code",
         "theorem t_i2 {γ : Type} [Zero γ] [Add γ] (y : γ) : Eq (Add.add y Zero.zero) (Add.add y Zero.zero) :=\n"
         "  Eq.refl _", _INST2, CLASSES, why="the same, renamed, in code mode"),
    Case("pq_same_name_honest", "code", "theorem goal_pq (h : «P Q») : «P Q» := h",
         "theorem goal_pq (h : «P Q») : «P Q» :=", _PQ_HEADER, why="a «name» with a space, used as it is"),
    Case("universe_swapped_order", "code",
         "theorem t_swap.{b, a} {α : Sort a} {β : Sort b} (x : α) (y : β) : True := True.intro",
         "theorem t_swap.{a, b} {α : Sort a} {β : Sort b} (x : α) (y : β) : True :=",
         why="the universe parameters in the other order: `@t_swap.{b, a}` is the reference's proof"),
    Case("variable_makes_binder_implicit", "code",
         "section\nvariable {n : N}\ntheorem t_zero_add : Eq (N.add N.zero n) n :=" + ZA_PROOF + "\nend", ZA,
         why="`variable {n}`: an implicit binder where the reference has an explicit one, the same proposition"),
    Case("renamed_hypothesis_binder", "code", "theorem t_h (a b : N) (h0 : Eq a b) : Eq b a := Eq.symm h0",
         "theorem t_h (a b : N) (h₀ : Eq a b) : Eq b a :=", why="`h₀` renamed `h0`"),
    Case("renamed_every_binder", "code", "theorem t_h (x y : N) (e : Eq x y) : Eq y x := Eq.symm e",
         "theorem t_h (a b : N) (h₀ : Eq a b) : Eq b a :=", why="every binder renamed"),
    Case("generalised_universe", "code", "theorem t_g {α : Sort u} (a : α) : Eq a a := Eq.refl a",
         "theorem t_g {α : Type} (a : α) : Eq a a :=", why="`Type` generalised to `Sort u`: instantiated"),
    Case("unfolded_definition", "code", "theorem t_not : False → False := fun h => h",
         "theorem t_not : Not False :=", why="`Not` unfolded"),
    Case("abbreviation_in_statement", "code",
         "abbrev M : Type := N\ntheorem t_m (n : M) : Eq n n := Eq.refl n", "theorem t_m (n : N) : Eq n n :=",
         why="`N` written through an `abbrev`"),
    Case("header_abbrev_unfolded", "code", "theorem t_m (n : N) : Eq n n := Eq.refl n",
         "theorem t_m (n : Nat') : Eq n n :=", CLASSES, why="the header's `abbrev` unfolded by the candidate"),
    Case("header_def_unfolded", "code", "theorem t_two : Eq (N.succ (N.succ N.zero)) (N.succ (N.succ N.zero)) :=\n"
         "  Eq.refl _", "theorem t_two : Eq two two :=", CLASSES, why="the header's `def two` unfolded"),
    Case("strict_implicit_binder", "code", "theorem t_si ⦃n : N⦄ : Eq n n := Eq.refl n",
         "theorem t_si {n : N} : Eq n n :=", why="`{n}` made `⦃n⦄`"),
    Case("implicit_made_explicit", "code", "theorem t_si (n : N) : Eq n n := Eq.refl n",
         "theorem t_si {n : N} : Eq n n :=", why="`{n}` made `(n)`"),
    Case("projection_statement", "proof", " Eq.refl _", "theorem t_pt (p : Pt) : Eq (Pt.x p) p.x :=", CLASSES,
         why="a structure projection written two ways"),
    Case("def_data_statement", "proof", " Pt.mk N.zero two", "noncomputable def mk_pt : Pt :=", CLASSES,
         why="a data-carrying `def` statement"),
    Case("def_data_code", "code", "noncomputable def mk_pt : Pt := Pt.mk two N.zero",
         "noncomputable def mk_pt : Pt :=", CLASSES, why="the same in code mode"),
    Case("universe_type_for_sort_control", "proof", " Eq.refl a", "theorem t_id {α : Type} (a : α) : Eq a a :=",
         why="the reference stated at `Type`, proved as stated"),
    Case("statement_binders_after_colon_instance", "code",
         "theorem goal_inst : ∀ {α : Type} [Zero α] (x : α), Eq x x := fun x => Eq.refl x", _INST, CLASSES,
         why="the binders after the colon, the instance binder still anonymous"),
]

DOCUMENTED_REJECTS += [
    # The kernel is asked for definitional equality, not logical equivalence: binders in another order
    # are another type (`∀ a b, P` and `∀ b a, P`), though either proves the other.
    Case("binders_swapped", "code", "theorem t_sw (b a : N) : Eq (N.add a b) (N.add a b) := Eq.refl _",
         "theorem t_sw (a b : N) : Eq (N.add a b) (N.add a b) :=", why="`(a b : N)` written `(b a : N)`"),
    Case("instance_binders_swapped", "code",
         "theorem t_i2 {α : Type} [Add α] [Zero α] (x : α) : Eq (Add.add x Zero.zero) (Add.add x Zero.zero) :=\n"
         "  Eq.refl _", _INST2, CLASSES, why="two instance binders in the other order"),
]
