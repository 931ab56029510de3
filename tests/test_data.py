"""The data layer: benchmark loaders, the `.lean` directory writer, pass@k, prompts and extraction
(pure: no Lean, no model, no network)."""

from __future__ import annotations

import json
import logging
import math
import sys
import types
from collections import Counter
from pathlib import Path

import pytest

from leanfd.data.benchmarks import (
    DEFAULT_HEADER,
    Problem,
    lean_file_text,
    load_problems,
    normalise_statement,
    write_lean_dir,
)
from leanfd.data.errors import DataError
from leanfd.data.passk import default_ks, pass_at_k, pass_at_k_table, summarize, tally
from leanfd.data.prompts import (
    PromptBuilder,
    chat_prompt,
    completion_prompt,
    extract_proof,
    load_examples,
    load_template,
)
from leanfd.lean.errors import RecordError
from leanfd.lean.records import BadLine

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MINIF2F = DATA / "minif2f.jsonl"
PROOFNET = DATA / "proofnet.jsonl"
FEW_SHOT = DATA / "minif2f_valid_few_shot.jsonl"


def raw(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def minif2f() -> list[Problem]:
    return load_problems(MINIF2F)


@pytest.fixture(scope="module")
def proofnet() -> list[Problem]:
    return load_problems(PROOFNET)


def by_name(problems: list[Problem], name: str) -> Problem:
    return next(p for p in problems if p.name == name)


# --- the shared benchmarks ------------------------------------------------------------------------


@pytest.mark.parametrize("path, total, splits", [
    (MINIF2F, 488, {"valid": 244, "test": 244}),
    (PROOFNET, 371, {"valid": 185, "test": 186}),
])
def test_shared_benchmarks_load_whole_and_unchanged(path, total, splits):
    bad: list[BadLine] = []
    problems = load_problems(path, bad=bad)
    assert bad == []
    assert len(problems) == total
    assert Counter(p.split for p in problems) == splits
    assert len({p.uid for p in problems}) == total
    for p, r in zip(problems, raw(path)):  # DeepSeek's records are already in normal form
        assert (p.name, p.split, p.header, p.informal_prefix, p.formal_statement, p.goal) == (
            r["name"], r["split"], r["header"], r["informal_prefix"], r["formal_statement"], r["goal"])
        assert p.extra == {}
        assert p.to_dict() == r


def test_duplicate_names_get_distinct_uids(proofnet):
    counts = Counter(p.name for p in proofnet)
    dups = {n for n, c in counts.items() if c > 1}
    assert len(dups) == 19
    renamed = [p for p in proofnet if p.uid != p.name]
    assert len(renamed) == sum(counts[n] - 1 for n in dups) == 22
    third = [p for p in proofnet if p.uid == "exercise_5_1#3"]
    assert len(third) == 1 and third[0].name == "exercise_5_1"


def test_definitions_count_as_declarations(proofnet):
    p = by_name(proofnet, "exercise_2_8_6")
    assert p.formal_statement.startswith("noncomputable def exercise_2_8_6")
    assert p.declared_name == "exercise_2_8_6"


def test_filters_split_names_limit(minif2f):
    assert len(load_problems(MINIF2F, split="valid")) == 244
    assert len(load_problems(MINIF2F, split="VALIDATION")) == 244  # aliases, any case
    assert load_problems(MINIF2F, split="train") == []
    algebra = [r["name"] for r in raw(MINIF2F) if r["name"].startswith("mathd_algebra")]
    assert [p.name for p in load_problems(MINIF2F, names="^mathd_algebra")] == algebra
    first = load_problems(MINIF2F, limit=5)
    assert [p.name for p in first] == [p.name for p in minif2f[:5]]
    test5 = load_problems(MINIF2F, split="test", names="^(amc|aime)", limit=3)
    assert len(test5) == 3 and all(p.split == "test" and p.name[:3] in ("amc", "aim") for p in test5)
    expected = [p.name for p in minif2f if p.split == "test" and p.name[:3] in ("amc", "aim")][:3]
    assert [p.name for p in test5] == expected
    assert load_problems(MINIF2F, limit=0) == []
    with pytest.raises(DataError, match="regular expression"):
        load_problems(MINIF2F, names="(")
    with pytest.raises(DataError, match="limit"):
        load_problems(MINIF2F, limit=-1)


def test_malformed_lines_are_reported_with_their_number_and_skipped(tmp_path, caplog):
    good = raw(MINIF2F)[0]
    lines = [
        json.dumps(good),
        '{"name": "broken", ',  # 2: not JSON
        "",  # 3: blank lines are not records
        "[1, 2]",  # 4: not an object
        json.dumps({"name": "x", "split": "test"}),  # 5: no statement
        json.dumps({**good, "formal_statement": "theorem t : 1 = 1 := by rfl"}),  # 6: a proof inside
        json.dumps({**good, "header": 3}),  # 7: header not a string
        json.dumps({**good, "formal_statement": "example : True"}),  # 8: no :=
        json.dumps({**good, "name": "second"}),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bad: list[BadLine] = []
    with caplog.at_level(logging.WARNING, logger="leanfd.data.benchmarks"):
        problems = load_problems(path, bad=bad)
    assert [p.name for p in problems] == [good["name"], "second"]
    assert [b.line for b in bad] == [2, 4, 5, 6, 7, 8]
    assert all(b.path == str(path) for b in bad)
    assert "not valid JSON" in bad[0].error and "formal_statement" in bad[2].error
    assert "not with a proof" in bad[3].error and "'header'" in bad[4].error and ":=" in bad[5].error
    assert f"{path}:2: skipped" in caplog.text and f"{path}:8: skipped" in caplog.text


# --- other record shapes --------------------------------------------------------------------------


def test_leanworkbook_record():
    d = {
        "id": "lean_workbook_plus_7", "split": "lean_workbook",
        "natural_language_statement": "Prove that $a^2 + b^2 \\geq 2ab$.",
        "formal_statement": "theorem lean_workbook_plus_7 (a b : ℝ) : a ^ 2 + b ^ 2 ≥ 2 * a * b  :=  by sorry",
        "state_before": "a b : ℝ\n⊢ a ^ 2 + b ^ 2 ≥ 2 * a * b", "tactic": "nlinarith [sq_nonneg (a - b)]",
    }
    p = Problem.from_dict(d)
    assert p.name == "lean_workbook_plus_7" and p.split == "lean_workbook"
    assert p.header == DEFAULT_HEADER
    assert p.formal_statement == "theorem lean_workbook_plus_7 (a b : ℝ) : a ^ 2 + b ^ 2 ≥ 2 * a * b  :=  by\n"
    assert p.informal_prefix == "/-- Prove that $a^2 + b^2 \\geq 2ab$. -/\n"
    assert p.goal == d["state_before"]
    assert p.extra["id"] == d["id"] and p.extra["tactic"] == d["tactic"]


def test_statement_carrying_its_header_and_doc():
    """Goedel-Pset style: the header and the informal statement live inside `formal_statement`."""
    stmt = ("import Mathlib\nimport Aesop\nset_option maxHeartbeats 400000\nopen BigOperators Real\n\n"
            "/-- Show that 2 + 2 = 4. -/\ntheorem four : (2 : ℕ) + 2 = 4 := by sorry")
    p = Problem.from_dict({"problem_id": 17, "formal_statement": stmt})
    assert p.name == "17"
    assert p.header == "import Mathlib\nimport Aesop\nset_option maxHeartbeats 400000\nopen BigOperators Real\n\n"
    assert p.informal_prefix == "/-- Show that 2 + 2 = 4. -/\n"
    assert p.formal_statement == "theorem four : (2 : ℕ) + 2 = 4 := by\n"
    assert p.declared_name == "four"
    # no imports of its own: the default header, then the statement's context
    q = Problem.from_dict({"formal_statement": "open Real\n\ntheorem five : (5 : ℝ) = 5 := by\n"})
    assert q.name == "five" and q.header == DEFAULT_HEADER + "open Real\n\n"
    # a scoped `open ... in` stays with its declaration
    r = Problem.from_dict({"formal_statement": "open Real in\ntheorem six : π > 3 := by sorry"})
    assert r.header == DEFAULT_HEADER and r.formal_statement == "open Real in\ntheorem six : π > 3 := by\n"


@pytest.mark.parametrize("stmt, out", [
    ("theorem t : P := by\n", "theorem t : P := by\n"),
    ("theorem t : P :=", "theorem t : P :="),
    ("theorem t : P := by sorry", "theorem t : P := by\n"),
    ("theorem t : P := by\n  sorry\n", "theorem t : P := by\n"),
    ("theorem t : P := sorry", "theorem t : P :="),
    ("theorem t : P := by -- to do\n", "theorem t : P := by -- to do\n"),
])
def test_normalise_statement(stmt, out):
    assert normalise_statement(stmt) == (out, "t")


def test_json_array_source(tmp_path):
    path = tmp_path / "wb.json"
    path.write_text(json.dumps([
        {"id": "a", "formal_statement": "theorem a : True := by sorry"},
        {"id": "b"},
    ]), encoding="utf-8")
    bad: list[BadLine] = []
    assert [p.name for p in load_problems(path, bad=bad)] == ["a"]
    assert [(b.line, "formal_statement" in b.error) for b in bad] == [(2, True)]


# --- directories of .lean files -------------------------------------------------------------------


def test_lean_dir_round_trip(tmp_path, minif2f, proofnet):
    wb = Problem.from_dict({
        "id": "lean_workbook_3", "split": "lean_workbook",
        "formal_statement": "theorem lean_workbook_3 (x : ℝ) (h : 0 < x) : 0 < x ^ 2 := by sorry",
    })
    problems = [
        minif2f[0], by_name(minif2f, "mathd_algebra_182"),  # `:= by` statements with informal prefixes
        by_name(proofnet, "exercise_13_4a2"),  # a helper `def` in the header, a `:=` statement
        by_name(proofnet, "exercise_2_8_6"),  # a `noncomputable def`, a comment ending the header
        next(p for p in proofnet if p.uid == "exercise_3_3#2"),
        wb,
    ]
    paths = write_lean_dir(problems, tmp_path)
    assert paths[0] == tmp_path / "valid" / f"{minif2f[0].name}.lean"
    assert paths[4].name == "exercise_3_3#2.lean"
    text = paths[1].read_text(encoding="utf-8")
    assert text == problems[1].header + problems[1].informal_prefix + problems[1].formal_statement + "  sorry\n"
    back = {p.name + p.split: p for p in load_problems(tmp_path)}
    assert len(back) == len(problems)
    for p in problems:
        q = back[p.name + p.split]
        assert (q.name, q.split, q.header, q.informal_prefix, q.formal_statement) == (
            p.name, p.split, p.header, p.informal_prefix, p.formal_statement)
    with pytest.raises(DataError, match="exists"):
        write_lean_dir(problems[:1], tmp_path)
    assert write_lean_dir(problems[:1], tmp_path, overwrite=True) == paths[:1]


@pytest.mark.parametrize("path", [MINIF2F, PROOFNET])
def test_lean_dir_round_trip_of_whole_benchmarks(tmp_path, path):
    problems = load_problems(path)
    write_lean_dir(problems, tmp_path)
    bad: list[BadLine] = []
    back = load_problems(tmp_path, bad=bad)
    assert bad == []

    def fields(ps):
        return sorted((p.split, p.name, p.header, p.informal_prefix, p.formal_statement) for p in ps)

    assert fields(back) == fields(problems)


def test_minif2f_lean4_layout(tmp_path):
    """As in yangky11/miniF2F-lean4: `MiniF2F/{Test,Valid}/NAME.lean`, `:= by sorry` on the last line."""
    header = "import Mathlib\n\nset_option maxHeartbeats 0\n\nopen BigOperators Real Nat Topology Rat\n\n"
    files = {
        "MiniF2F/Test/amc12a_2020_p10.lean":
            header + "theorem amc12a_2020_p10\n  (n : ℕ)\n  (h₀ : 1 < n) :\n  (Nat.digits 10 n).sum = 13 := by sorry",
        "MiniF2F/Valid/mathd_algebra_10.lean":
            header + "/-- Find $|3 - 5|$. -/\ntheorem mathd_algebra_10 : |(3 : ℝ) - 5| = 2 := by\n  sorry\n",
        "MiniF2F/Valid/two_sorries.lean":
            header + "lemma aux : True := sorry\n\ntheorem two_sorries : True := by sorry\n",
        "MiniF2F/Test.lean": "import MiniF2F.Test.amc12a_2020_p10\n",  # imports only: not a problem
        "MiniF2F/.lake/build/ignored.lean": header + "theorem ignored : True := by sorry\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    bad: list[BadLine] = []
    problems = load_problems(tmp_path, bad=bad)
    assert [(p.name, p.split) for p in problems] == [("amc12a_2020_p10", "Test"), ("mathd_algebra_10", "Valid")]
    p, q = problems
    assert p.header == header and p.informal_prefix == ""
    assert p.formal_statement == (
        "theorem amc12a_2020_p10\n  (n : ℕ)\n  (h₀ : 1 < n) :\n  (Nat.digits 10 n).sum = 13 := by\n")
    assert q.informal_prefix == "/-- Find $|3 - 5|$. -/\n" and q.formal_statement.endswith(":= by\n")
    assert [(Path(b.path).name, b.line) for b in bad] == [("two_sorries.lean", 9)]
    assert "sorry" in bad[0].error
    assert [x.name for x in load_problems(tmp_path / "MiniF2F", split="valid")] == ["mathd_algebra_10"]
    single = load_problems(tmp_path / "MiniF2F/Test/amc12a_2020_p10.lean")
    assert [x.formal_statement for x in single] == [p.formal_statement]


def test_lean_file_text_shapes(tmp_path):
    shapes = {
        "theorem t : True :=": "theorem t : True := sorry\n",
        "theorem t : True := by\n": "theorem t : True := by\n  sorry\n",
        "theorem t : True := by ": "theorem t : True := by sorry\n",
    }
    for stmt, text in shapes.items():
        p = Problem("t", "import Mathlib", stmt)
        assert lean_file_text(p) == "import Mathlib\n" + text
        path = tmp_path / "t.lean"
        path.write_text(lean_file_text(p), encoding="utf-8")
        (q,) = load_problems(path)
        assert q.header == "import Mathlib\n" and q.formal_statement == normalise_statement(stmt)[0]


# --- Hugging Face (never the network) -------------------------------------------------------------


def test_hub_id_without_datasets_library(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    with pytest.raises(DataError) as e:
        load_problems("cat-searcher/minif2f-lean4")
    assert "pip install datasets" in str(e.value) and "local JSONL" in str(e.value)


def test_hub_id_offline(monkeypatch):
    def load_dataset(name, *args, **kwargs):
        raise ConnectionError(f"Couldn't reach '{name}' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError) as e:
        load_problems("cat-searcher/minif2f-lean4")
    msg = str(e.value)
    assert "ConnectionError" in msg and "HF_HUB_OFFLINE" in msg and "local JSONL" in msg


def test_hub_rows_become_problems(monkeypatch):
    rows = {
        "test": [
            {"id": "mathd_algebra_478", "header": None, "informal_stmt": "The volume of a cone.",
             "formal_statement": "theorem mathd_algebra_478 (b h v : ℝ) (h₀ : v = 1 / 3 * (b * h)) :\n"
                                 "  v = 1 / 3 * (b * h) := by sorry"},
            {"id": "broken", "formal_statement": None},
        ],
        "validation": [{"id": "v1", "split": "valid", "formal_statement": "theorem v1 : True := by\n"}],
    }
    seen = []

    def load_dataset(name, *args, **kwargs):
        seen.append((name, args, kwargs))
        return rows

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    bad: list[BadLine] = []
    problems = load_problems("someone/minif2f", bad=bad)
    assert seen == [("someone/minif2f", (), {})]
    assert [(p.name, p.split) for p in problems] == [("mathd_algebra_478", "test"), ("v1", "valid")]
    assert problems[0].header == DEFAULT_HEADER and problems[0].informal_prefix == "/-- The volume of a cone. -/\n"
    assert [(b.path, b.line) for b in bad] == [("someone/minif2f[test]", 2)]
    assert [p.name for p in load_problems("someone/minif2f", split="validation")] == ["v1"]


def test_missing_local_paths_are_not_hub_ids():
    for source in ("no/such/file.jsonl", "./missing", "/tmp/leanfd-missing-dir/x", "a/b/c"):
        with pytest.raises(DataError, match="no such file"):
            load_problems(source)


# --- pass@k ---------------------------------------------------------------------------------------


def exact(n: int, c: int, k: int) -> float:
    return 1 - math.comb(n - c, k) / math.comb(n, k)


def test_pass_at_k_hand_values():
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2) = 1 - 3/6
    assert pass_at_k(10, 3, 5) == pytest.approx(1 - 21 / 252)  # C(7,5)/C(10,5)
    assert pass_at_k(5, 0, 1) == 0.0 and pass_at_k(5, 0, 5) == 0.0  # c = 0
    assert pass_at_k(5, 5, 1) == 1.0 and pass_at_k(5, 5, 5) == 1.0  # c = n
    assert pass_at_k(5, 2, 4) == 1.0  # k > n - c: every 4 of 5 samples hold a passing one
    assert pass_at_k(1000, 1, 1) == pytest.approx(0.001)
    assert pass_at_k(2000, 3, 1024) == pytest.approx(exact(2000, 3, 1024))  # binomials beyond floats
    for n in range(1, 13):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == pytest.approx(exact(n, c, k), abs=1e-12)
    for args in ((4, 5, 1), (4, -1, 1), (4, 1, 0), (4, 1, 5)):
        with pytest.raises(ValueError):
            pass_at_k(*args)


def test_default_ks():
    assert default_ks(1) == [1]
    assert default_ks(8) == [1, 2, 4, 8]
    assert default_ks(6) == [1, 2, 4, 6]
    assert default_ks(32) == [1, 2, 4, 8, 16, 32]


def test_pass_at_k_table():
    counts = {"a": (4, 1), "b": (4, 0), "c": (4, 4)}
    assert pass_at_k_table(counts) == pytest.approx({"1": 1.25 / 3, "2": 1.5 / 3, "4": 2 / 3})
    assert list(pass_at_k_table(counts)) == ["1", "2", "4"]
    assert pass_at_k_table({"a": (6, 0)}) == {"1": 0.0, "2": 0.0, "4": 0.0, "6": 0.0}
    assert pass_at_k_table({}) == {}


def test_pass_at_k_table_with_different_n():
    counts = {"a": (8, 1), "b": (2, 1)}  # k goes up to the smallest n
    table = pass_at_k_table(counts)
    assert table == pytest.approx({"1": (1 / 8 + 1 / 2) / 2, "2": ((1 - 21 / 28) + 1.0) / 2})
    assert pass_at_k_table(counts, ks=[1]) == pytest.approx({"1": (1 / 8 + 1 / 2) / 2})
    with pytest.raises(ValueError, match="smallest"):
        pass_at_k_table(counts, ks=[4])
    with pytest.raises(ValueError, match="no samples"):
        pass_at_k_table({"a": (0, 0)})


def test_tally_and_summarize():
    counts = tally([("a", True), ("b", False), ("a", False), ("b", False), ("a#2", True), ("a#2", True)])
    assert counts == {"a": (2, 1), "b": (2, 0), "a#2": (2, 2)}
    s = summarize(counts)
    assert s["problems"] == 3 and s["solved"] == 2
    assert s["samples"] == {"min": 2, "max": 2, "total": 6}
    assert s["pass_at_k"] == pytest.approx({"1": (0.5 + 0 + 1) / 3, "2": 2 / 3})
    assert s["per_problem"]["b"] == {"n": 2, "c": 0}
    json.dumps(s)


# --- prompts --------------------------------------------------------------------------------------


def test_completion_prompt_is_deepseek_prover_style(minif2f):
    p = minif2f[0]
    assert completion_prompt(p) == (
        "Complete the following Lean 4 code:\n\n```lean4\n" + p.header + p.informal_prefix + p.formal_statement)
    assert PromptBuilder().build(p) == completion_prompt(p)


def test_few_shot_completion_prompt(minif2f):
    examples = load_examples(FEW_SHOT)
    assert len(examples) == 67
    target = by_name(minif2f, "mathd_algebra_182")  # itself one of the examples
    builder = PromptBuilder(few_shot=FEW_SHOT, num_few_shot=3, seed=1)
    prompt = builder.build(target)
    shots = prompt.split("\n```\n\n\n")
    assert len(shots) == 4
    assert prompt.endswith(completion_prompt(target))
    assert prompt.count("theorem mathd_algebra_182") == 1  # never its own proof as an example
    for shot in shots[:3]:
        assert shot.startswith("Complete the following Lean 4 code:\n\n```lean4\n" + DEFAULT_HEADER + "/-- ")
    assert PromptBuilder(few_shot=FEW_SHOT, num_few_shot=3, seed=1).build(target) == prompt  # reproducible
    assert PromptBuilder(few_shot=FEW_SHOT, num_few_shot=0).build(target) == completion_prompt(target)


def test_few_shot_file_without_proofs(tmp_path, caplog):
    path = tmp_path / "shots.jsonl"
    rows = raw(FEW_SHOT)[:2]
    del rows[1]["formal_proof"]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        examples = load_examples(path)
    assert [e.problem.name for e in examples] == [rows[0]["name"]]
    assert "formal_proof" in caplog.text and f"{path}:3: skipped" in caplog.text
    path.write_text(json.dumps(rows[1]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="no few-shot example"):
        load_examples(path)


def test_chat_prompt(minif2f, tmp_path):
    p, ex = minif2f[1], load_examples(FEW_SHOT)[:1]
    messages = chat_prompt(p, ex)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    code = (p.header + p.informal_prefix + p.formal_statement).rstrip()
    assert f"```lean4\n{code}\n```" in messages[-1]["content"]
    e = ex[0]
    assert messages[2]["content"] == (
        f"```lean4\n{e.problem.header}{e.problem.informal_prefix}{e.problem.formal_statement}{e.proof}\n```")
    empty = tmp_path / "none.txt"
    empty.write_text("\n", encoding="utf-8")
    built = PromptBuilder(style="chat", system_template=empty).build(p)
    assert [m["role"] for m in built] == ["user"]
    with pytest.raises(DataError, match="style"):
        PromptBuilder(style="raw")


def test_template_override(tmp_path, minif2f):
    path = tmp_path / "mine.txt"
    path.write_text("Prove {name} {unknown} {x : ℕ}:\n{formal_statement}\n", encoding="utf-8")
    p = minif2f[0]
    assert load_template("completion", path) == "Prove {name} {unknown} {x : ℕ}:\n{formal_statement}"
    assert PromptBuilder(template=path).build(p) == f"Prove {p.name} {{unknown}} {{x : ℕ}}:\n{p.formal_statement}"
    with pytest.raises(DataError, match="cannot read"):
        PromptBuilder(template=tmp_path / "missing.txt")


# --- extracting proofs ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def amc(minif2f) -> Problem:
    return by_name(minif2f, "amc12a_2015_p10")


def test_extract_continuation(amc):
    proof = "  have h₃ : (x + 1) * (y + 1) = 81 := by nlinarith\n  nlinarith [h₃]"
    completion = (proof + "\n```\n\n\nComplete the following Lean 4 code:\n\n```lean4\n"
                  + amc.header + amc.formal_statement + "  omega\n```")
    assert extract_proof(completion, amc) == {"proof": proof}
    assert extract_proof("  nlinarith [sq_nonneg (x - y)]\n", amc) == {"proof": "  nlinarith [sq_nonneg (x - y)]"}
    assert extract_proof("```", amc) == {"proof": ""}


def test_extract_chat_code_block(amc):
    full = amc.header + amc.formal_statement + "  nlinarith [sq_nonneg (x - y)]"
    completion = f"Here is a proof.\n\n```lean4\n{full}\n```\n\nIt factors $(x+1)(y+1) = 81$."
    assert extract_proof(completion, amc) == {"code": full}
    # several blocks: the last one with the theorem wins; one without it is not the answer
    first = amc.formal_statement + "  simp"
    completion = f"```lean\n{first}\n```\nThat fails. Better:\n```lean4\n{full}\n```\n```lean4\n#eval 1\n```"
    assert extract_proof(completion, amc) == {"code": full}
    # an unclosed block (the sample hit max_tokens) runs to the end
    assert extract_proof(f"```lean4\n{first}", amc) == {"code": first}


def test_extract_after_thinking(amc):
    tried = amc.formal_statement + "  simp"
    final = amc.formal_statement + "  omega"
    completion = (f"<think>\nMaybe:\n```lean4\n{tried}\n```\nNo, simp fails.\n</think>\n"
                  f"Final answer:\n```lean4\n{final}\n```")
    assert extract_proof(completion, amc) == {"code": final}


def test_extract_other_shapes(amc):
    assert extract_proof("```lean4\n  norm_num\n  omega\n```", amc) == {"proof": "  norm_num\n  omega"}
    restated = amc.formal_statement + "  omega"
    assert extract_proof(restated + "\n", amc) == {"code": restated}
    assert extract_proof(amc.header + restated, amc) == {"code": amc.header + restated}
    aux = amc.formal_statement.replace("amc12a_2015_p10", "amc12a_2015_p10_aux") + "  omega"
    assert extract_proof(f"```lean4\n{aux}\n```", amc) == {"proof": aux}  # another theorem is not ours


def test_check_records_assemble(minif2f, proofnet):
    """Every record, ProofNet's `def` statements included, assembles into the verifier's checking file."""
    from leanfd.lean.snippet import assemble, attempt_text

    for p in minif2f + proofnet:
        if p.declared_name:
            rec = p.to_check_record({"proof": "  sorry" if p.formal_statement.endswith("\n") else " by sorry"})
            assert assemble(rec, attempt_text(rec)).statement.name == p.declared_name


def test_extracted_fields_make_check_records(amc, proofnet):
    rec = amc.to_check_record(extract_proof("  omega\n```", amc))
    assert (rec.mode, rec.proof, rec.name, rec.extra["split"]) == ("proof", "  omega", amc.uid, "valid")
    dup = next(p for p in proofnet if p.uid == "exercise_3_3#2")
    block = dup.header + dup.formal_statement + " by\n  sorry"
    rec = dup.to_check_record(extract_proof(f"```lean4\n{block}\n```", dup))
    assert (rec.mode, rec.code, rec.name) == ("code", block, "exercise_3_3#2")
    with pytest.raises(RecordError):
        amc.to_check_record({})


@pytest.mark.timeout(30)
def test_lean_dir_reports_entries_that_are_not_files_without_opening_them(tmp_path, toy_header):
    """`prove --dataset DIR`: a FIFO, a folder or a broken link named `*.lean` is a bad entry, never opened
    (opening a FIFO would wait for a writer forever); the honest file beside them still loads."""
    import os

    from leanfd.data.benchmarks import iter_lean_dir

    (tmp_path / "good.lean").write_text(toy_header + "theorem good (n : N) : Eq n n := sorry\n")
    os.mkfifo(tmp_path / "pipe.lean")
    (tmp_path / "folder.lean").mkdir()
    (tmp_path / "broken.lean").symlink_to(tmp_path / "nowhere")
    items = list(iter_lean_dir(tmp_path))
    bad = {Path(b.path).name: b.error for b in items if isinstance(b, BadLine)}
    assert set(bad) == {"pipe.lean", "folder.lean", "broken.lean"}, items
    assert "FIFO" in bad["pipe.lean"] and "directory" in bad["folder.lean"] and "broken" in bad["broken.lean"]
    assert [p.name for p in items if not isinstance(p, BadLine)] == ["good"]
