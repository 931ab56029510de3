"""The text policy, on small inputs (no Lean)."""

from __future__ import annotations

import pytest

from leanfd.lean.policy import Policy, scan, strip_imports
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
