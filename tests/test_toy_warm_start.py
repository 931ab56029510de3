"""The warm start (lean_project/toy/warm_start.py): deterministic by seed, loadable like a hub model."""

from __future__ import annotations

from conftest import TOY, toy_module

warm = toy_module("warm_start")


def _run(tmp_path, name: str, seed: int):
    c = warm.WarmStartConfig(out=str(tmp_path / name), seed=seed, vocab=1024, hidden=32, layers=1, heads=4,
                             steps=3, batch=4, teacher_pairs=0)
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
                                teacher_pairs=0)
    assert warm.made_with(out, same)
    assert not warm.made_with(out, warm.WarmStartConfig(**{**vars(same), "steps": 4}))
    assert not warm.made_with(tmp_path / "elsewhere", same)
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
    c = warm.WarmStartConfig(dataset=str(data), out=str(tmp_path / "w"), teacher_pairs=2)
    prompts, targets = warm.teacher_sft_pairs(str(data), c)
    assert 0 < len(prompts) <= 2 * len(subset)
    builder = PromptBuilder(style="completion")
    from leanfd.data.benchmarks import load_problems

    students = {builder.build(p): p for p in load_problems(str(data), split="train")}
    for prompt, target in zip(prompts, targets):
        assert prompt.startswith(FEEDBACK_INTRO + "\n")
        assert "Feedback on a previous attempt:\nThe attempt" in prompt  # the critic's hint
        assert "Lean's verdict on a previous attempt:\n" in prompt  # and the compiler's
        student = next(s for s in students if prompt.endswith(s))
        assert target == students[student].extra["formal_proof"] + warm.FENCE
    assert warm.teacher_sft_pairs(str(data), c) == (prompts, targets)  # deterministic


def test_corruptions_are_near_and_never_the_proof():
    import random

    rng = random.Random(0)
    proof = " And.intro h.right h.left"
    outs = [warm.corrupt(proof, rng, ["h", "h.left", "And.intro"]) for _ in range(50)]
    assert proof not in outs and len(set(outs)) > 5
