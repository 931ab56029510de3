"""`leanfd.lean.syntax` on small inputs (no Lean; tests/test_syntax_fuzz.py checks it against Lean)."""

from __future__ import annotations

import pytest

from leanfd.lean.syntax import (
    LeanSyntaxError,
    Lines,
    lex,
    parse_declaration,
    split_header,
    tokenize,
)


def code(src: str) -> list[str]:
    """The code tokens' texts, and the phantom ones marked `~`."""
    return [("~" if t.kind == "phantom" else "") + t.text for t in lex(src) if t.kind not in ("comment", "doc")]


def kinds(src: str) -> list[tuple[str, str]]:
    return [(t.kind, t.text) for t in lex(src)]


def test_doc_comment_opener_is_not_closed_by_its_own_slash():
    # `/--/` opens a doc comment that runs to the next `-/`: the lexer that closed it after four
    # characters hid the `axiom` from the policy
    assert code('/--/ " -/ axiom Classical.choice : False -- "') == ["axiom", "Classical.choice", ":", "False"]
    assert kinds("/-!/ x -/ y") == [("doc", "/-!/ x -/"), ("ident", "y")]


def test_block_comments_nest_and_skip_the_character_after_the_opener():
    assert code("/- a /- b -/ axiom -/ c") == ["c"]
    assert code("/-/-/ c") == ["c"]  # the `/` after `/-` is skipped: `-/` closes at once
    assert code("/- -- -/ c") == ["c"]


def test_doc_comment_body_begins_after_whitespace_and_comments():
    # like every token, `/--` is followed by whitespace: here a line comment, so the `-/` on the
    # first line is commented out and the body ends on the next line
    assert kinds("/---- -/ x\n-/ y") == [("doc", "/---- -/ x\n-/"), ("ident", "y")]
    with pytest.raises(LeanSyntaxError):
        list(lex("/--\taxiom x : False -/"))  # a tab there is an error, after which Lean reads code


def test_strings_and_escapes():
    assert kinds('"a \\" -- b" c') == [("string", '"a \\" -- b"'), ("ident", "c")]
    assert kinds('"gap \\\n    continues" d') == [("string", '"gap \\\n    continues"'), ("ident", "d")]
    assert kinds('"\\x41\\u0041\\t" e')[1] == ("ident", "e")
    assert kinds('r#"a "b" -/"# f') == [("string", 'r#"a "b" -/"#'), ("ident", "f")]
    assert kinds('r"x" g') == [("string", 'r"x"'), ("ident", "g")]
    for bad in ('"\\q"', '"\\u{41}"', '"\\\n\n x"'):  # invalid escapes and a gap over two newlines
        with pytest.raises(LeanSyntaxError, match="escape"):
            list(lex(bad))


def test_chars_and_primes():
    assert kinds("h' 'a' '\\n' '\\'' x'' ") == [
        ("ident", "h'"), ("char", "'a'"), ("char", "'\\n'"), ("char", "'\\''"), ("ident", "x''"),
    ]
    assert code("'\"' axiom") == ["'\"'", "axiom"]  # the char literal '"' opens no string


def test_guillemet_names():
    assert code('x.«a -/ b».«c " d» e') == ['x.«a -/ b».«c " d»', "e"]
    assert tokenize("«axiom»")[0].parts == ["«axiom»"]  # an identifier named axiom, not the keyword


def test_unicode_identifiers_follow_lean():
    assert code("αβ ℕ x₁ é λx h!") == ["αβ", "ℕ", "x₁", "é", "λ", "x", "h!"]  # λ is no letter
    # a zero-width space is no letter: Lean reads `ax`, fails, reads `iom`; never `axiom`
    assert code("ax\u200biom") == ["ax", "\u200b", "iom"]


def test_mathlib_quote_tokens_are_read_both_ways():
    assert code("f '' s = t") == ["f", "''", "s", "=", "t"]
    assert code("(f ⁻¹' {7})") == ["(", "f", "⁻", "¹", "'", "{", "7", "}", ")"]
    # core Lean fails on `''` and resumes after `' x`: it reads `axiom` where Mathlib reads `xaxiom`
    assert "~axiom" in code("f '' xaxiom bad")
    with pytest.raises(LeanSyntaxError):
        list(lex("'' «x \"» -- \" axiom bad"))  # a string in one reading, code in the other


def test_wide_symbol_before_a_raw_string_is_refused():
    # `»` is no token: core Lean skips one byte into it, reads a letter, then `r`, `#` and a plain
    # string, where a raw string hides the `axiom`
    with pytest.raises(LeanSyntaxError):
        list(lex('»r#"a" axiom bad : False "#'))


def test_hash_words():
    assert kinds("#print x") == [("hash", "#print"), ("ident", "x")]
    assert code("#printé x") == ["#print", "é", "x"]  # `#print` then `é`, or `#` then `printé`: same code
    for src in ("#check'a'", '#printr#"a"b"# axiom'):  # a char or an identifier; a raw string or not
        with pytest.raises(LeanSyntaxError):
            list(lex(src))


def test_numbers():
    numbers = ["1", "2.5", "1e-3", "0x1F", "0b10", "1_000", "2."]
    assert [t.text for t in tokenize(" ".join(numbers))] == numbers
    for bad in ("1.e", "0x", "1_", "2else"):
        with pytest.raises(LeanSyntaxError, match="number"):
            list(lex(bad))


@pytest.mark.parametrize("src", [
    "/- open", "/- /- -/", "/-- doc", '"abc', 'r#"abc"', "«name", "x.«name", "'", "''",
    "a\tb", "a\rb", '"a{b}"', "(--c", "<-- x", "x //- y",
    "x ' r#\" a \"#",  # core Lean skips the `r` after a stray quote: no raw string, a plain one
])
def test_what_cannot_be_read_for_sure_raises(src):
    with pytest.raises(LeanSyntaxError):
        list(lex(src))


def test_crlf_reads_as_lf_with_offsets_into_the_text_as_given():
    src = 'a\r\n-- c\r\n"s\\\r\n  t" b'
    toks = list(lex(src))
    assert [(t.kind, t.text) for t in toks] == [("ident", "a"), ("comment", "-- c"), ("string", '"s\\\r\n  t"'),
                                                ("ident", "b")]
    assert all(src[t.start : t.end] == t.text for t in toks)


def test_lexing_is_lazy():
    toks = lex("a b /- never closed")
    assert [next(toks).text, next(toks).text] == ["a", "b"]
    with pytest.raises(LeanSyntaxError, match="unterminated comment"):
        next(toks)


def test_lines():
    lines = Lines("a\nbc\n\nd")
    assert [lines.line(o) for o in (0, 1, 2, 4, 5, 6)] == [1, 1, 2, 2, 3, 4]


@pytest.mark.parametrize("text, imports, end", [
    ("-- c\nprelude\nimport A\n\ntheorem x : P := h\n", "-- c\nprelude\nimport A\n\n", "-- c\nprelude\nimport A\n\n"),
    ("import Mathlib\nset_option maxHeartbeats 400000\nopen Real\n\n/-- doc -/\ntheorem t",
     "import Mathlib\n", "import Mathlib\nset_option maxHeartbeats 400000\nopen Real\n\n"),
    ("import A\nopen Real in\ntheorem six : π > 3", "import A\n", "import A\n"),
    ("import A\nset_option pp.all true in\n#check 1", "import A\n", "import A\n"),
    ("import A /- a\nb -/\nopen X\n  Y\ntheorem t", "import A /- a\nb -/\n", "import A /- a\nb -/\nopen X\n  Y\n"),
    ("/-! module doc -/\nimport A\ntheorem t", "/-! module doc -/\nimport A\n", "/-! module doc -/\nimport A\n"),
    ("import A\n/- never closed", "import A\n", "import A\n"),
    ("import A theorem t", "", ""),  # a header line holds only header
    ("theorem t", "", ""),
    ("import A", "import A", "import A"),
])
def test_header_split(text, imports, end):
    h = split_header(text)
    assert (text[: h.imports], text[: h.end]) == (imports, end)


@pytest.mark.parametrize("text, imports", [
    # only `prelude` and `import` are header: what goes on from them is body, which the policy scans
    ("import Foo\n  run_cmd pure ()\ntheorem t", "import Foo\n"),
    ("prelude\n  inductive F : Prop\naxiom ax : F", "prelude\n"),
    ("prelude inductive F : Prop axiom ax : F theorem bad : F := ax", ""),
    ("import Foo bar\ntheorem t", ""),  # one module name per `import`
    ("import Foo.\ntheorem t", ""),
    ("import axiom\nax : False", ""),  # Lean fails at the keyword and reads `axiom ax : False` on
    ("import foo\ntheorem t", ""),  # an all-lowercase name might be a keyword too
    ("module\n\npublic import Mathlib\n", ""),  # the module system is not header here
    # Lean 4.35's forms of `import`, comments between tokens, a name on the next line
    ("public meta import all Mathlib.Tactic\nmeta import Aesop\nimport «my mod»\ntheorem t",
     "public meta import all Mathlib.Tactic\nmeta import Aesop\nimport «my mod»\n"),
    ("import /- c -/ Foo -- d\n\ntheorem t", "import /- c -/ Foo -- d\n\n"),
    ("import\nMathlib\ntheorem t", "import\nMathlib\n"),
    ("import all\ntheorem t", ""),
    ("public theorem t", ""),
])
def test_header_is_prelude_and_imports_exactly(text, imports):
    assert text[: split_header(text).imports] == imports


def test_declaration_is_the_one_keyword_outside_comments():
    d = parse_declaration("/-- def here := -/\n@[simp] noncomputable def ex {G : Type*} [Group G] :\n  G := by sorry")
    assert (d.keyword.text, d.name.text, d.modifier.text) == ("def", "ex", "noncomputable")
    assert [t.text for t in d.proof] == ["by", "sorry"]
    assert parse_declaration("attribute [instance] foo\ntheorem t : P :=").keyword.text == "theorem"
    assert parse_declaration("example : P := by").name is None
    s = "theorem t (f := fun x => x) : P :="  # the signature ends at the last `:=`
    assert s[: parse_declaration(s).signature_end] == "theorem t (f := fun x => x) : P "
    with pytest.raises(LeanSyntaxError, match="more than one"):
        parse_declaration("def helper := 1\ntheorem t : helper = 1 :=")
    with pytest.raises(LeanSyntaxError, match="not with a proof"):
        parse_declaration("theorem t : P := by simp")
    with pytest.raises(LeanSyntaxError, match="declares nothing"):
        parse_declaration("-- theorem t : P :=")
