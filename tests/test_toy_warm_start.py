"""The warm start (lean_project/toy/warm_start.py): deterministic by seed, loadable like a hub model."""

from __future__ import annotations

from pathlib import Path

from conftest import REPO, TOY, toy_module

warm = toy_module("warm_start")


def _run(tmp_path, name: str, seed: int):
    c = warm.WarmStartConfig(out=str(tmp_path / name), seed=seed, vocab=1024, hidden=32, layers=1, heads=4,
                             steps=3, batch=4, teacher_pairs=0, measure_samples=0)
    return warm.warm_start(c)


def test_same_seed_same_files_other_seed_other_weights(tmp_path):
    a, b, c = _run(tmp_path, "a", 0), _run(tmp_path, "b", 0), _run(tmp_path, "c", 1)
    for f in ("model.safetensors", "tokenizer.json", "config.json", "generation_config.json"):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()


def test_loads_like_a_hub_model_and_tokenizes_the_prompt_as_trained(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = _run(tmp_path, "m", 0)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    prompts, targets = warm.sft_pairs(str(TOY / "family.jsonl"))
    ids = tok(prompts[0]).input_ids
    assert tok.decode(ids) == prompts[0]  # byte-level: round-trips
    assert len(ids) < 120  # the prelude header's lines are single tokens
    assert model.config.vocab_size == len(tok)
    assert model.generation_config.eos_token_id == tok.eos_token_id


def test_reuse_keeps_a_warm_start_made_with_the_same_options_only(tmp_path):
    out = _run(tmp_path, "r", 0)
    same = warm.WarmStartConfig(out=str(out), seed=0, vocab=1024, hidden=32, layers=1, heads=4, steps=3, batch=4,
                                teacher_pairs=0, measure_samples=0)
    assert warm.made_with(out, same)
    assert not warm.made_with(out, warm.WarmStartConfig(**{**vars(same), "steps": 4}))
    assert not warm.made_with(tmp_path / "elsewhere", same)
    # the dataset is compared by content: the committed warm start was made in another clone
    copy = tmp_path / "family.jsonl"
    copy.write_bytes(Path(same.dataset).read_bytes())
    assert warm.made_with(out, warm.WarmStartConfig(**{**vars(same), "dataset": str(copy)}))
    copy.write_bytes(Path(same.dataset).read_bytes() + b"\n")
    assert not warm.made_with(out, warm.WarmStartConfig(**{**vars(same), "dataset": str(copy)}))
    (out / "model.safetensors").unlink()  # an interrupted one is made again
    assert not warm.made_with(out, same)


def test_teacher_pairs_carry_leans_verdict_and_the_critics_hint_as_fd_places_them(tmp_path):
    """The SFT pairs that teach the model to read FD's privileged context: a corrupted attempt that
    the bundled Lean rejects, its feedback made by leanfd's FD code (Lean's verdict + the hint critic
    over HTTP), placed before the student's prompt as `teacher_prompt` does, then the reference proof."""
    import json

    from leanfd.data.prompts import PromptBuilder
    from leanfd.train.teacher_feedback import FEEDBACK_INTRO

    rows = [json.loads(line) for line in (TOY / "family.jsonl").read_text().splitlines()]
    subset = [r for r in rows if r["split"] == "train"][::40]  # one or two of several shapes
    data = tmp_path / "family.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in subset))
    c = warm.WarmStartConfig(dataset=str(data), out=str(tmp_path / "w"), teacher_pairs=2, feedback="both")
    prompts, targets, _ = warm.teacher_sft_pairs(str(data), c)
    assert 0 < len(prompts) <= 2 * len(subset)
    builder = PromptBuilder(style="completion")
    from leanfd.data.benchmarks import load_problems

    students = {builder.build(p): p for p in load_problems(str(data), split="train")}
    for prompt, target in zip(prompts, targets):
        assert prompt.startswith(FEEDBACK_INTRO + "\n")
        assert "Feedback on a previous attempt:\nThe attempt" in prompt  # the critic's hint, on the proof alone
        assert "A proof begins" in prompt or "whole proof and then more" in prompt
        assert "wrong at its very start: it has `theorem`" not in prompt
        assert "Lean's verdict on a previous attempt:\n" in prompt  # and the compiler's
        student = next(s for s in students if prompt.endswith(s))
        assert target == students[student].extra["formal_proof"] + warm.FENCE
    assert warm.teacher_sft_pairs(str(data), c)[:2] == (prompts, targets)  # deterministic


def test_corruptions_are_near_and_never_the_proof():
    import random

    rng = random.Random(0)
    proof = " And.intro h.right h.left"
    others = [" Eq.symm h", " And.intro h.right  h.left"]  # the second is the proof, spaced otherwise
    outs = [warm.corrupt(proof, rng, ["h", "h.left", "And.intro"], others) for _ in range(100)]
    assert proof not in outs and len(set(outs)) > 5
    assert " Eq.symm h" in outs and others[1] not in outs  # another theorem's proof, never this one's
    assert any(lemma in o for o in outs for lemma in warm.LEMMAS if lemma != "And.intro")


def test_teacher_advantage_is_measured_on_the_students_own_failures(tmp_path):
    """A 2-step model proves nothing: every student sample fails, each gets FD's feedback and one
    teacher sample; the numbers are the same on a second measurement (deterministic by seed)."""
    c = warm.WarmStartConfig(out=str(tmp_path / "m"), hidden=32, layers=1, heads=4, steps=2, batch=4,
                             teacher_pairs=0, measure_names=r"^fam_(and_left|symm|and_left_nested)_0$",
                             measure_samples=2)
    out = warm.warm_start(c)
    adv = __import__("json").loads((out / "teacher_advantage.json").read_text())
    assert {k: (v["problems"], v["samples"]) for k, v in adv.items()} == {"train": (2, 4), "near": (1, 2)}
    for v in adv.values():
        assert v["failures"] == v["samples"] * (1 - v["student"])
        assert v["advantage"] == round(v["teacher"] - v["student"], 4)
    assert warm.teacher_advantage(out, c.dataset, c.measure_names, 2, c.seed) == adv
    assert "teacher's advantage, train shapes" in warm.advantage_lines(adv)[0]


def test_the_committed_warm_start_is_the_scripts_and_its_teacher_beats_its_student():
    """`make demo` and `make experiment` reuse lean_project/toy/warm_start: it must be the one the
    script's defaults make (or the demo spends 20 minutes making it again), and FD needs its teacher,
    shown the hint critic's feedback on the student's own failures, to prove more than the student:
    measured again here on the train shapes (the student's samples, Lean, the critic over HTTP)."""
    c = warm.WarmStartConfig()
    out = REPO / c.out
    assert warm.made_with(out, c), f"{out} was not made with warm_start.py's defaults: make it again"
    adv = warm.teacher_advantage(out, c.dataset, c.measure_names, samples=2, seed=c.seed, feedback=c.feedback,
                                 ahead=c.hint_ahead)["train"]
    assert 0.05 <= adv["student"] <= 0.45, adv  # a student with room to learn
    assert adv["advantage"] >= 0.2, adv  # and a teacher at least 20 points better


def test_other_options_never_replace_the_committed_warm_start(tmp_path):
    """The committed warm start is made with the defaults: other options into its place are refused
    (exit 2, naming the options and the fix) before anything is made; into another place they are
    fine, and so are the defaults."""
    import subprocess
    import sys

    committed = REPO / "lean_project" / "toy" / "warm_start"
    before = (committed / "model.safetensors").stat().st_mtime_ns
    res = subprocess.run([sys.executable, str(TOY / "warm_start.py"), "--out", str(committed), "--steps", "5",
                          "--teacher-pairs", "0"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert "--steps, --teacher-pairs" in res.stderr and "give another --out" in res.stderr
    assert (committed / "model.safetensors").stat().st_mtime_ns == before
    assert warm.overwrites_committed(warm.WarmStartConfig()) is None
    assert warm.overwrites_committed(warm.WarmStartConfig(out=str(tmp_path), steps=5)) is None
    other = tmp_path / "family.jsonl"
    other.write_text("")
    assert "--dataset" in warm.overwrites_committed(warm.WarmStartConfig(dataset=str(other)))
