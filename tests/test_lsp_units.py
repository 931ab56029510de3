"""The language server's pure logic: sites and edits (term and tactic), prompts and candidates,
classification and ranking, caches, settings, command arguments. The tactic path, which the bundled
Lean (no tactic framework) cannot run, is covered here, down to a search with a scripted Lean."""

from __future__ import annotations

import asyncio

import pytest

from leanfd.lean.positions import utf16_position
from leanfd.lean.run import LeanRun, Message
from leanfd.lsp import prompts
from leanfd.lsp.cache import Documents, Results
from leanfd.lsp.settings import Settings, SettingsError, from_editor
from leanfd.lsp.sites import LeanText, LineIndex, Site, next_step_site, proof_site
from leanfd.lsp.suggest import (
    Engine,
    NoGoal,
    Suggestion,
    classify,
    collect,
    goal_from_answer,
    goal_from_messages,
    merge,
    rank,
)
from leanfd.models import Completion

HEAD = "prelude\ninductive N : Type where\n  | zero : N\n"


def site_at(text: str, needle: str, shift: int = 0, nth: int = -1) -> Site | None:
    """The next-step site with the cursor at the `nth` occurrence of `needle` (plus `shift`)."""
    starts = [i for i in range(len(text)) if text.startswith(needle, i)]
    return next_step_site(LeanText(text), starts[nth] + shift)


# -- sites ------------------------------------------------------------------------------------------

def test_term_sorry_is_replaced_by_a_term_and_probed_as_a_hole():
    text = HEAD + "theorem t (n : N) : Eq n n := sorry\n"
    site = site_at(text, "sorry", 2)
    assert site is not None and site.kind == "term" and text[site.start : site.end] == "sorry"
    assert site.shadow(text, "Eq.refl n").endswith(":= Eq.refl n\n")
    probe, offset, method = site.probe_text(text)
    assert method == "$/lean/plainTermGoal" and probe[offset] == "_" and probe.endswith(":= _\n")
    assert site.decl_line(text) == 4 and site.other_sorries == 0


@pytest.mark.parametrize("proof, kind", [
    ("by sorry", "tactic"),
    ("by\n  intro x\n  sorry", "tactic"),
    ("by\n  constructor\n  · sorry\n  · exact h", "tactic"),
    ("by\n  cases h with\n  | inl h => sorry\n  | inr h => exact h", "tactic"),
    ("by\n  case left => sorry", "tactic"),
    ("by simp <;> sorry", "tactic"),
    ("by\n  exact sorry", "term"),
    ("by\n  have h : P := sorry\n  exact h", "term"),
    ("by\n  refine ⟨?_, sorry⟩", "term"),
    ("fun x => sorry", "term"),
    ("match n with\n  | .zero => sorry\n  | .succ k => k", "term"),
    ("⟨sorry, h⟩", "term"),
])
def test_sorry_kind(proof: str, kind: str):
    text = HEAD + f"theorem t (n : N) : P :=\n  {proof}\n"
    site = site_at(text, "sorry", 0, nth=0)
    assert site is not None and site.kind == kind


def test_multi_line_tactic_keeps_the_block_column():
    text = HEAD + "theorem t : P := by\n  intro x\n  sorry\n"
    site = site_at(text, "sorry")
    assert site.new_text("constructor\nexact x") == "constructor\n  exact x"
    assert site.shadow(text, "constructor\nexact x").endswith("  intro x\n  constructor\n  exact x\n")
    probe, offset, method = site.probe_text(text)
    assert method == "$/lean/plainGoal" and probe == text and probe.startswith("sorry", offset)


def test_other_sorries_are_counted():
    text = HEAD + "theorem t : P := by\n  constructor\n  · sorry\n  · sorry\n"
    assert site_at(text, "sorry", nth=0).other_sorries == 1


def test_insertion_at_the_end_of_a_tactic_line():
    text = HEAD + "theorem t : P := by\n  intro x\n"
    site = site_at(text, "intro x", len("intro x"))
    assert site.kind == "tactic" and site.insert and site.start == site.end
    assert site.shadow(text, "exact x") == HEAD + "theorem t : P := by\n  intro x\n  exact x\n"
    assert text[: site.probe].endswith("intro x")
    after_by = site_at(text, ":= by", len(":= by"))
    assert after_by.shadow(text, "skip").endswith(":= by\n  skip\n  intro x\n")
    one_line = HEAD + "theorem t : P := by intro x\n"
    aligned = site_at(one_line, "intro x", 7).shadow(one_line, "exact x")
    assert aligned.endswith("by intro x\n" + " " * 20 + "exact x\n")


def test_insertion_on_a_blank_line_and_refusals():
    text = HEAD + "theorem t : P := by\n  intro x\n\n  exact x\n"
    blank = text.index("\n\n") + 1
    site = next_step_site(LeanText(text), blank)
    assert site is not None and site.insert and site.shadow(text, "skip").endswith("intro x\n  skip\n  exact x\n")
    assert text[: site.probe].endswith("intro x")
    assert site_at(text, "intro x", 2) is None  # mid-line
    assert site_at(text, "theorem", 9) is None  # on the statement
    assert next_step_site(LeanText(text), 3) is None  # outside any declaration
    term = HEAD + "theorem t : P := h\n"
    assert site_at(term, ":= h", 4) is None  # a term proof: no tactic block to insert into


def test_declarations_end_at_the_next_command_and_comments_do_not_count():
    text = (HEAD + "theorem t : P := sorry\n-- a note\n/-- doc -/\ntheorem u : Q := sorry\n#check t\n"
            "/-\ntheorem v : R := sorry\n-/\n")
    t_site = site_at(text, "sorry", nth=0)
    assert t_site.shadow(text, "h").endswith("theorem t : P := h\n-- a note\n")
    u_site = site_at(text, "sorry", nth=1)
    assert u_site.decl.name == "u" and u_site.shadow(text, "h").endswith("theorem u : Q := h\n")
    assert site_at(text, "sorry", nth=2) is None  # commented out


def test_unterminated_comment_or_string():
    before = HEAD + "/- open\ntheorem t : P := sorry\n"
    assert site_at(before, "sorry") is None
    after = HEAD + "theorem t : P := sorry\n#check \"open\n"
    assert site_at(after, "sorry") is not None  # it starts after the declaration: the shadow ends before it


def test_proof_site_is_the_whole_proof_from_anywhere_in_the_theorem():
    text = HEAD + "theorem t (n : N) :\n    Eq n n := by\n  sorry\n\n#check t\n"
    lt = LeanText(text)
    site = proof_site(lt, text.index("(n : N)"))
    assert site is not None and text[site.start : site.end] == " by\n  sorry"
    assert site.shadow(text, "Eq.refl n").endswith("Eq n n := Eq.refl n\n\n")
    probe, offset, _ = site.probe_text(text)
    assert probe[offset] == "_" and probe.endswith(":= _\n\n")
    assert proof_site(lt, text.index("#check")) is None
    assert proof_site(LeanText(HEAD + "def f : N := N.zero\n"), len(HEAD) + 3) is None  # not a theorem


def test_positions_count_utf16_units():
    text = "a𝔸b\nx"
    index = LineIndex(text)
    assert index.position(2, "utf-16") == (0, 3) and index.offset(0, 3, "utf-16") == 2
    assert index.position(2, "utf-8") == (0, 5) and index.offset(0, 5, "utf-8") == 2
    assert index.offset(1, 99) == len(text) and index.offset(7, 0) == len(text)
    assert utf16_position(text, 3) == {"line": 0, "character": 4}


# -- prompts and candidates -------------------------------------------------------------------------

def test_prompt_shows_the_goal_and_ends_at_the_cursor():
    text = HEAD + "theorem t (n : N) : Eq n n := sorry\n"
    site = site_at(text, "sorry")
    p = prompts.prompt(text, site, "n : N\n⊢ Eq n n")
    assert p.startswith("Complete the following Lean 4 code:\n\n```lean4\n" + HEAD)
    assert "/- goal at the cursor:\nn : N\n⊢ Eq n n\n-/\n" in p and p.endswith(":= ")
    whole = prompts.prompt(text, proof_site(LeanText(text), site.start), "g")
    assert whole.endswith("Eq n n :=")


def test_next_step_candidates():
    text = HEAD + "theorem t : P := by\n  intro x\n  sorry\n"
    tactic = site_at(text, "sorry")
    assert prompts.candidate("constructor\n  exact x\n```", tactic) == "constructor"
    assert prompts.candidate("have h : Q := by\n    simp\n  exact h", tactic) == "have h : Q := by\n  simp"
    assert prompts.candidate("```lean4\nsimp\n```", tactic) == "simp"
    assert prompts.candidate("<think>hmm</think>\n\n  omega", tactic) == "omega"
    assert prompts.candidate("   \n", tactic) is None
    term = site_at(HEAD + "theorem t : P := sorry\n", "sorry")
    assert prompts.candidate("fun x =>\n  x\ntheorem next : Q := sorry", term) == "fun x =>\n  x"


def test_whole_proof_candidates():
    text = HEAD + "theorem t : P := sorry\n"
    site = proof_site(LeanText(text), len(HEAD) + 2)
    assert prompts.candidate(" by\n  intro x\n  exact x\n\ntheorem u : Q := h", site) == "by\n  intro x\n  exact x"
    assert prompts.candidate("```lean4\ntheorem t : P := by\n  simp\n```", site) == "by\n  simp"
    assert prompts.candidate("Eq.refl n```", site) == "Eq.refl n"


def test_collect_merges_duplicates_and_applies_the_policy():
    site = site_at(HEAD + "theorem t : P := sorry\n", "sorry")
    got, rejected = collect([
        Completion("Eq.refl n", logprobs=[-1.0, -3.0]), Completion("#exit"), Completion(" Eq.refl  n"),
        Completion("sorry"), Completion("axiom cheat : False"), Completion("h"),
    ], site)
    assert [(c.text, c.count, c.order, c.logprob) for c in got] == [("Eq.refl n", 2, 0, -2.0), ("h", 1, 5, 0.0)]
    assert rejected == 2


# -- classification and ranking ---------------------------------------------------------------------

def msg(severity: str, line: int, text: str) -> Message:
    return Message(severity, line, 0, line, 1, text)  # type: ignore[arg-type]


def test_classify():
    site = site_at(HEAD + "theorem t : P := by\n  sorry\n", "sorry")
    goal = "x : N\n⊢ P"
    ok = LeanRun("ok", [msg("error", 1, "an error before the declaration")])
    assert classify(ok, 4, site, goal, False) == ("closes", [], "")
    assert classify(ok, 4, site, goal, True)[0] == "progress"  # the candidate itself has a sorry
    sorry_left = LeanRun("ok", [msg("warning", 4, "declaration uses `sorry`")])
    assert classify(sorry_left, 4, site, goal, False)[0] == "progress"
    left = LeanRun("ok", [msg("error", 5, "unsolved goals\nx : N\n⊢ Q\n\nx : N\n⊢ R")])
    assert classify(left, 4, site, goal, False) == ("progress", ["x : N\n⊢ Q", "x : N\n⊢ R"], "")
    same = LeanRun("ok", [msg("error", 5, "unsolved goals\nx : N\n⊢  P")])
    assert classify(same, 4, site, goal, False)[0] is None
    wrong = LeanRun("ok", [msg("error", 5, "unsolved goals\nx : N\n⊢ Q"), msg("error", 5, "type mismatch\n...")])
    assert classify(wrong, 4, site, goal, False) == (None, [], "type mismatch")
    assert classify(LeanRun("timeout", detail="no result within 3 s"), 4, site, goal, False) == (
        None, [], "no result within 3 s")
    others = site_at(HEAD + "theorem t : P := by\n  constructor\n  · sorry\n  · sorry\n", "sorry", nth=0)
    assert classify(sorry_left, 4, others, goal, False)[0] == "closes"  # the sorry left is the other one


def sug(text: str, status: str, count: int = 1, score: float = 0.0, order: int = 0) -> Suggestion:
    return Suggestion(text, status, "tactic", 0, 5, text, count=count, score=score, order=order)  # type: ignore[arg-type]


def test_rank_and_merge():
    ranked = rank([sug("a", "progress", count=5), sug("b", "closes", order=3),
                   sug("c", "closes", count=2, score=-0.5, order=4), sug("d", "closes", count=2, score=-0.1, order=5)])
    assert [s.text for s in ranked] == ["d", "c", "b", "a"]
    merged = merge([sug("a", "progress", count=2)], [sug(" a", "progress", count=1), sug("b", "closes")])
    assert [(s.text, s.count) for s in merged] == [("b", 1), ("a", 3)]


def test_goal_readers():
    assert goal_from_answer("$/lean/plainTermGoal", {"goal": "⊢ P", "range": {}}) == "⊢ P"
    assert goal_from_answer("$/lean/plainGoal", {"goals": ["⊢ P", "⊢ Q"], "rendered": ""}) == "⊢ P\n\n⊢ Q"
    assert goal_from_answer("$/lean/plainGoal", {"goals": []}) == ""
    assert goal_from_answer("$/lean/plainGoal", None) is None
    hole = msg("error", 4, "don't know how to synthesize placeholder\ncontext:\nn : N\n⊢ Eq n n")
    assert goal_from_messages([hole], 4) == "n : N\n⊢ Eq n n"
    assert goal_from_messages([hole], 5) is None
    assert goal_from_messages([msg("error", 6, "unsolved goals\n⊢ P")], 4) == "⊢ P"


# -- the tactic path through a search, with a scripted Lean and model ----------------------------------

class ScriptedLean:
    """Answers like `lean --server` with tactics would: the goal, then verdicts by candidate text."""

    def __init__(self) -> None:
        self.checked: list[str] = []

    async def run_queries(self, header, body, queries, timeout=None):
        assert queries == [("$/lean/plainGoal", {"position": {"line": 5, "character": 2}})]
        return LeanRun("ok", []), [{"goals": ["x : N\n⊢ P ∧ Q"]}]

    async def run(self, header, body, timeout=None):
        self.checked.append(body)
        tail = body.split(":= by\n", 1)[1]
        if "exact ⟨hp, hq⟩" in tail:
            return LeanRun("ok", [])
        if "constructor" in tail:
            return LeanRun("ok", [msg("error", 4, "unsolved goals\nx : N\n⊢ P\n\nx : N\n⊢ Q")])
        return LeanRun("ok", [msg("error", 6, "unknown identifier 'nope'")])


class ScriptedModel:
    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.prompts: list[str] = []

    async def agenerate(self, prompt_list, sampling):
        self.prompts += prompt_list
        return [[Completion(x) for x in self.texts]]


class ScriptedEngine(Engine):
    def __init__(self, lean: ScriptedLean, model: ScriptedModel) -> None:
        super().__init__(Settings(model="m", samples=4))
        self._lean, self._scripted = lean, model

    async def pool(self):
        return self._lean

    async def model(self):
        return self._scripted


def test_tactic_search_ranks_closing_before_progress():
    text = HEAD + "theorem t (x : N) : P ∧ Q := by\n  intro h\n  sorry\n"
    site = site_at(text, "sorry")
    lean, model = ScriptedLean(), ScriptedModel(["constructor", "exact nope", "exact ⟨hp, hq⟩\n```", "#exit"])
    reports: list[tuple[str, int | None]] = []
    outcome = asyncio.run(ScriptedEngine(lean, model).search(text, site, lambda m, p: reports.append((m, p))))
    assert outcome.goal == "x : N\n⊢ P ∧ Q" and outcome.rejected == 1 and outcome.checked == 3
    found = [(s.text, s.status) for s in outcome.suggestions]
    assert found == [("exact ⟨hp, hq⟩", "closes"), ("constructor", "progress")]
    assert outcome.suggestions[1].goals == ["x : N\n⊢ P", "x : N\n⊢ Q"]
    assert all(b.endswith("  intro h\n  " + c + "\n") for b, c in
               zip(lean.checked, ["constructor", "exact nope", "exact ⟨hp, hq⟩"]))
    assert model.prompts[0].endswith("⊢ P ∧ Q\n-/\ntheorem t (x : N) : P ∧ Q := by\n  intro h\n  ")
    assert reports[0] == ("reading the goal", 0) and reports[-1][1] == 100


def test_search_stops_before_the_model_when_lean_sees_no_goal():
    class NoGoalLean(ScriptedLean):
        async def run_queries(self, header, body, queries, timeout=None):
            return LeanRun("ok", [msg("error", 4, "unexpected token ')'; expected term")]), [None]

    text = HEAD + "theorem t : P := by\n  sorry )\n"
    model = ScriptedModel(["simp"])
    with pytest.raises(NoGoal) as err:
        asyncio.run(ScriptedEngine(NoGoalLean(), model).search(text, site_at(text, "sorry")))
    assert err.value.broken and "parse" in str(err.value) and model.prompts == []


# -- caches, settings, arguments -----------------------------------------------------------------------

def test_results_are_per_version_and_dropped_on_change():
    r = Results()
    r.put("u", 1, "site", "goal", "m", [sug("a", "closes")])
    assert [s.text for s in r.get("u", 1, "site", "m")] == ["a"]
    assert r.get("u", 1, "site", "m", goal="other") is None and r.get("u", 1, "site", "m2") is None
    assert r.get("u", 2, "site", "m") is None
    r.put("u", 2, "site", "goal", "m", [sug("b", "closes")])
    r.put("u", 1, "site", "goal", "m", [sug("late", "closes")])  # a search that ended after a change
    assert [s.text for s in r.get("u", 2, "site", "m")] == ["b"]
    r.mark_broken("u", 2, "other")
    assert r.broken("u", 2, "other") and not r.broken("u", 3, "other")
    r.forget("u")
    assert r.get("u", 2, "site", "m") is None


def test_documents_are_analysed_once_per_version():
    docs = Documents(capacity=1)
    a = docs.get("u", 1, "x")
    assert docs.get("u", 1, "x") is a and docs.get("u", 2, "y") is not a
    docs.get("v", 1, "z")
    assert docs.get("u", 2, "y") is not a


def test_settings():
    s = Settings().merge({"backend": "hf", "model": "m", "baseUrl": None, "maxTokens": 64, "temperature": 0,
                          "inlineTimeout": 2, "unknownKey": 1, "lean": ""})
    assert (s.backend, s.model, s.base_url, s.max_tokens, s.temperature, s.inline_timeout, s.lean) == (
        "hf", "m", None, 64, 0.0, 2.0, None)
    assert from_editor({"leanfd": {"model": "x"}}) == {"model": "x"} and from_editor({"model": "x"}) == {"model": "x"}
    for bad in ({"backend": "gpt"}, {"samples": 0}, {"samples": "3"}, {"samples": 1.5}, {"timeout": -1},
                {"model": 3}, {"maxFileChars": True}):
        with pytest.raises(SettingsError):
            Settings().merge(bad)
    with pytest.raises(SettingsError):
        Settings().merge(["not", "an", "object"])
    assert Settings(model="a").model_key != Settings(model="b").model_key


@pytest.mark.parametrize("options", [[], {"leanfd": []}, {"leanfd": {}}, {}, None])
def test_an_empty_lua_table_is_an_empty_object(options):
    """Neovim encodes `settings = { leanfd = {} }` as `{"leanfd": []}` and `{}` as `[]`."""
    assert Settings(model="m").merge(from_editor(options)) == Settings(model="m")


@pytest.mark.parametrize("options, message", [
    ({"leanfd": [1]}, "must be an object, got list"), ({"leanfd": 5}, "must be an object, got int"),
    ([{"model": "x"}], "must be an object, got list"), ("model=x", "must be an object, got str"),
])
def test_settings_of_the_wrong_type_are_named(options, message):
    with pytest.raises(SettingsError, match=message):
        Settings().merge(from_editor(options))


def test_command_arguments():
    pytest.importorskip("pygls")
    from pygls.exceptions import JsonRpcInvalidParams

    from leanfd.lsp.server import parse_arguments

    uri, pos, apply = parse_arguments(({"uri": "file:///a.lean", "position": {"line": 1, "character": 2}},))
    assert (uri, pos.line, pos.character, apply) == ("file:///a.lean", 1, 2, False)
    assert parse_arguments(({"uri": "u", "position": {"line": 0, "character": 0}, "apply": True},))[2]
    for bad in ((), ({"uri": "u"},), ({"uri": 1, "position": {"line": 0, "character": 0}},),
                ({"uri": "u", "position": {"line": True, "character": 0}},),
                ({"uri": "u", "position": {"line": 0, "character": 0}, "apply": "yes"},), ("u", {})):
        with pytest.raises(JsonRpcInvalidParams):
            parse_arguments(bad)


def test_masked_spans_read_lean_text_as_the_verifier_does():
    """`/--/` opens a doc comment (Lean skips the character after `/-`); past text the one reader
    refuses, nothing is taken for code."""
    from leanfd.lsp.sites import masked_spans

    assert masked_spans('/--/ " -/ axiom x -- "\nabc') == ([(0, 9), (18, 22)], None)
    assert masked_spans("/- a /- b -/ c -/ d") == ([(0, 17)], None)
    spans, stop = masked_spans('theorem t : P := h\n/- open\n')
    assert spans == [] and stop == 19
