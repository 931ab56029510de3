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
        ("@[implemented_by g] def f : Nat := 0", "implemented_by"),
        ('@[extern "c_f"] opaque f : Nat', "extern"),
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
            "theorem t : P := my_axiom unsafe_x.y")
    assert scan(text).violations == []
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
