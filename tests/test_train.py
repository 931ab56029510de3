"""Training on CPU: a tiny random model loaded by path, real verification by the bundled Lean.

A "taught" model (a few SFT steps on one proof) makes some samples right and some wrong, so GRPO
sees rewards that differ within a group and FD sees failed attempts with feedback.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO
from llm_server import Answer, LLMServer

from leanfd.config import ConfigError, load
from leanfd.data.benchmarks import load_problems
from leanfd.data.prompts import PromptBuilder
from leanfd.train.batching import completion_logits
from leanfd.train.config import TrainConfig
from leanfd.train.losses import fd_loss

PROBLEMS = [
    ("toy_true", "theorem toy_true : True :=", " True.intro"),
    ("toy_id", "theorem toy_id (p : Prop) (hp : p) : p :=", " hp"),
]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, toy_header) -> Path:
    path = tmp_path_factory.mktemp("data") / "problems.jsonl"
    path.write_text("".join(
        json.dumps({"name": n, "split": "test", "header": toy_header, "formal_statement": s}) + "\n"
        for n, s, _ in PROBLEMS))
    return path


@pytest.fixture(scope="module")
def taught_model(tiny_model_dir, dataset, tmp_path_factory) -> Path:
    """The tiny model after a few SFT steps on the problems' proofs (+ the closing fence).

    80 steps: sampled 100 times, it proves toy_id about 63% of the time and toy_true almost never
    (measured), so a GRPO group is mixed whatever the RNG stream. With 40 steps (11% overall) the
    GRPO test passed on CPU with its seed and failed on an H200, whose CUDA sampler draws other
    samples."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    builder = PromptBuilder()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    problems = load_problems(str(dataset))
    pairs = [(tok(builder.build(p))["input_ids"], tok(proof + "\n```")["input_ids"])
             for p, (_, _, proof) in zip(problems, PROBLEMS)]
    for _ in range(80):
        for prompt, target in pairs:
            ids = torch.tensor([prompt + target])
            labels = torch.tensor([[-100] * len(prompt) + target])
            loss = model(input_ids=ids, labels=labels).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
    out = tmp_path_factory.mktemp("taught")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def train(args: list[str], cwd: Path | None = None, launcher: list[str] | None = None,
          env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = (launcher or [sys.executable, "-m"]) + ["leanfd", "train", *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=cwd or REPO,
                         env={**os.environ, "LEANFD_LEAN": "bundled", "TOKENIZERS_PARALLELISM": "false", **(env or {})})
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    return res


def common(model: Path, dataset: Path, out: Path, steps: int) -> list[str]:
    return ["--model", str(model), "--dataset", str(dataset), "--output-dir", str(out), "--max-steps", str(steps),
            "--prompts-per-step", "2", "--group-size", "4", "--max-new-tokens", "8", "--verifier-backend", "cli",
            "--verifier-jobs", "2", "--lr", "1e-3", "--no-live", "--seed", "1"]


def metrics(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]


def final_state(out: Path) -> dict[str, torch.Tensor]:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(out / "final").state_dict()


def test_fd_loss_is_zero_with_same_context_and_teacher_equal_to_student(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    student = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    teacher = copy.deepcopy(student).requires_grad_(False)
    prompts = [tok("theorem t : True :=")["input_ids"], tok("example : 1 = 1 :=")["input_ids"]]
    comps = [tok(" True.intro")["input_ids"], tok(" rfl\n```")["input_ids"]]
    s_logits, tokens, mask = completion_logits(student, prompts, comps, tok.pad_token_id)
    t_logits, _, _ = completion_logits(teacher, prompts, comps, tok.pad_token_id)
    for divergence in ("reverse_kl", "forward_kl", "jsd"):
        for support in ("full", "teacher_topk"):
            student.zero_grad()
            loss, _ = fd_loss(s_logits, t_logits.detach(), tokens, mask, divergence=divergence, support=support,
                              top_k=5)
            loss.backward(retain_graph=True)
            grads = [p.grad.abs().max() for p in student.parameters() if p.grad is not None]
            assert abs(float(loss.detach())) < 1e-6 and max(grads) < 1e-6, (divergence, support)


def test_config_errors_are_early_and_clear(dataset, tmp_path):
    with pytest.raises(ConfigError, match="--group-size 2"):
        load(TrainConfig, overrides={"method": "grpo", "model": "m", "dataset": "d", "group_size": 1})
    with pytest.raises(ConfigError, match="not one of"):
        load(TrainConfig, overrides={"method": "ppo", "model": "m", "dataset": "d"})
    bad = tmp_path / "c.yaml"
    bad.write_text("model: m\ndataset: d\nlearning_rate: 1\n")
    with pytest.raises(ConfigError, match="learning_rate"):
        load(TrainConfig, bad)
    good = tmp_path / "g.yaml"
    good.write_text("model: m\ndataset: d\nmethod: fd+grpo\nmax_steps: 4\nfd_steps: 3\n")
    c = load(TrainConfig, good, {"fd_steps": 2})  # the command line wins
    assert c.fd_steps == 2 and [c.method_at(s) for s in range(4)] == ["fd", "fd", "grpo", "grpo"]


def test_options_the_run_would_not_read_are_refused_naming_them(tmp_path, caplog):
    """Issue 24: an option with no effect for the method (or the feedback) is a run that is not the
    one asked for: given on the command line it is refused at once (exit 2, named); set by a YAML
    file, which may serve every method, it is a warning."""
    from leanfd.commands.train import refuse_unused

    base = {"model": "m", "dataset": "d"}
    unused = {("fd", "eps_low", 0.3): "--eps-low", ("fd", "aggregation", "dr_grpo"): "--aggregation",
              ("fd", "kl_beta", 0.02): "--kl-beta", ("grpo", "divergence", "jsd"): "--divergence",
              ("grpo", "teacher_eval_every", 0): "--teacher-eval-every", ("fd", "critic", "openai"): "--critic"}
    for (method, key, value), flag in unused.items():
        config = load(TrainConfig, overrides={**base, "method": method, key: value})
        flags, why = config.unused_options()
        assert flags == [flag] and why.startswith(f"with --method {method}")
        with pytest.raises(ConfigError, match=f"{flag} has no effect with --method {method}"):
            refuse_unused(config, {key})  # given on the command line
        refuse_unused(config, set())  # set by a YAML file: a warning
        assert f"the config sets {flag}" in caplog.text
    for method, key, value in (("fd", "format_reward", 0.1), ("fd+grpo", "eps_low", 0.3), ("grpo", "eps_low", 0.3)):
        config = load(TrainConfig, overrides={**base, "method": method, key: value, "max_steps": 4, "fd_steps": 2})
        assert config.unused_options()[0] == []
    res = subprocess.run([sys.executable, "-m", "leanfd", "train", "--model", "m", "--dataset", "d", "--method",
                          "grpo", "--ema-rate", "0.1"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert res.returncode == 2 and "--ema-rate has no effect with --method grpo" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("name", ["fd-deepseek-prover-7b", "grpo-deepseek-prover-7b",
                                  "fd-then-grpo-deepseek-prover-7b"])
def test_example_configs_are_valid(name):
    c = load(TrainConfig, REPO / "configs" / f"{name}.yaml")
    assert c.model == "deepseek-ai/DeepSeek-Prover-V1.5-SFT" and c.max_steps > 0


def test_fd_steps_with_real_verification_and_llm_critic(taught_model, dataset, tmp_path):
    out = tmp_path / "fd"
    with LLMServer(default=Answer(["Close the goal with the hypothesis or True.intro."])) as critic:
        train(common(taught_model, dataset, out, 2) + [
            "--method", "fd", "--feedback", "both", "--critic", "openai", "--critic-model", "critic",
            "--critic-base-url", critic.openai_url, "--save-every", "2", "--teacher-eval-every", "1"],
              env={"LEANFD_CACHE": str(tmp_path / "cache")})
        assert critic.requests, "failed attempts went to the critic"
    rows = metrics(out)
    assert [r["step"] for r in rows] == [1, 2] and all(r["method"] == "fd" for r in rows)
    for r in rows:  # the teacher's advantage, measured at every step here
        assert r["teacher_advantage"] == pytest.approx(r["teacher_pass_rate"] - r["student_pass_rate"])
        assert 0 <= r["teacher_pass_rate"] <= 1 and 0 <= r["student_pass_rate"] <= 1
    assert any(r["teacher_samples"] > 0 for r in rows)
    assert all(0 <= r["pass_rate"] <= 1 and r["response_length"] > 0 for r in rows)
    assert any(r["distilled"] > 0 for r in rows) and any(r["fd_divergence"] > 0 for r in rows)
    assert {"entropy", "tokens_per_s", "time_generate", "time_verify", "time_train", "loss"} <= set(rows[0])
    info = json.loads((out / "final" / "leanfd_train.json").read_text())
    assert info["ranks_in_sync"] and info["steps"] == 2
    assert final_state(out)  # loads as a plain transformers model


def test_teacher_advantage_is_the_teachers_lean_checked_pass_rate_minus_the_students(taught_model, dataset,
                                                                                     bundled):
    """The measurement `leanfd train` logs (issue 23): one teacher sample from each failed attempt's
    privileged prompt, checked by Lean, against the student's pass rate on the same problems."""
    from leanfd.data.prompts import extract_proof
    from leanfd.lean.verifier import Verifier
    from leanfd.models import load_backend
    from leanfd.models.base import SamplingConfig
    from leanfd.train.rollout import RolloutEngine
    from leanfd.train.teacher_advantage import measure
    from leanfd.train.teacher_feedback import teacher_prompt

    model = load_backend("hf", str(taught_model))
    hint = "Close the goal with the hypothesis."
    with Verifier(backend="cli", toolchain=bundled, timeout=30) as verifier:
        engine = RolloutEngine(model, verifier, PromptBuilder(), SamplingConfig(n=4, max_tokens=8, stop=("```",)))
        attempts, _ = engine.collect(load_problems(str(dataset)), seed=5)
        texts = tuple(None if a.proved else hint for a in attempts)
        sampling = SamplingConfig(n=1, max_tokens=8, stop=("```",), seed=11)
        adv = measure(attempts, texts, model, verifier, sampling)
        failed = [a for a in attempts if not a.proved]
        outs = model.generate([teacher_prompt(a.prompt, hint) for a in failed], sampling)
        proved = [verifier.check(a.problem.to_check_record(extract_proof(o[0].text, a.problem))).proved
                  for a, o in zip(failed, outs)]
        padded = measure(attempts, texts, model, verifier, sampling, runs=lambda n: n + 3)
    assert adv.attempts == len(failed) > 0 and adv.teacher_proved == sum(proved)
    rate = {g: sum(a.proved for a in attempts if a.group == g) / 4 for g in (0, 1)}
    assert adv.student_rate_sum == pytest.approx(sum(rate[a.group] for a in failed))
    m = adv.metrics()
    assert m["teacher_advantage"] == pytest.approx(sum(proved) / len(failed) - adv.student_rate_sum / len(failed))
    assert padded.attempts == adv.attempts and padded.student_rate_sum == adv.student_rate_sum  # extras not counted


def test_a_model_whose_logits_leanfd_does_not_reproduce_is_refused_before_the_first_step(tiny_model_dir, dataset,
                                                                                        tmp_path):
    """HyperCLOVA X multiplies its logits by `logits_scaling` (Granite divides by the same field): a
    model type outside forward.py's table that post-processes its logits is refused at the start of
    the run, naming the field, not trained on logits 4x off (issue 23.6)."""
    import shutil

    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    config = AutoConfig.for_model("hyperclovax", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=2, vocab_size=len(tok),
                                  logits_scaling=4.0, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    model_dir = tmp_path / "clova"
    AutoModelForCausalLM.from_config(config).save_pretrained(model_dir)
    for f in Path(tiny_model_dir).iterdir():
        if "token" in f.name or f.name == "generation_config.json":
            shutil.copy(f, model_dir / f.name)
    out = tmp_path / "run"
    res = subprocess.run([sys.executable, "-m", "leanfd", "train", *common(model_dir, dataset, out, 1)],
                         capture_output=True, text=True, timeout=300, cwd=REPO,
                         env={**os.environ, "LEANFD_LEAN": "bundled", "TOKENIZERS_PARALLELISM": "false"})
    assert res.returncode == 2, res.stderr[-3000:]
    assert "hyperclovax" in res.stderr and "logits_scaling" in res.stderr and "Traceback" not in res.stderr
    assert not (out / "metrics.jsonl").exists() or not metrics(out)  # refused before a step ran


def test_a_checkpoint_the_file_system_refuses_names_the_output_dir(tiny_model_dir, dataset, tmp_path):
    """Issue 24: a save that fails (here RLIMIT_FSIZE: the kernel's EFBIG, as a full disk fails) is
    exit 2 naming --output-dir and the checkpoint, not an internal error inside torch."""
    import resource

    out = tmp_path / "run"
    res = subprocess.run([sys.executable, "-m", "leanfd", "train", *common(tiny_model_dir, dataset, out, 1)],
                         capture_output=True, text=True, timeout=300, cwd=REPO,
                         env={**os.environ, "LEANFD_LEAN": "bundled", "TOKENIZERS_PARALLELISM": "false"},
                         preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, 64_000)))
    assert res.returncode == 2, res.stderr[-3000:]
    assert f"--output-dir {out}" in res.stderr and "cannot write it" in res.stderr, res.stderr[-3000:]
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr


def test_grpo_learns_from_verified_rewards(taught_model, dataset, tmp_path):
    out = tmp_path / "grpo"
    train(common(taught_model, dataset, out, 2) + ["--method", "grpo", "--kl-beta", "0.02", "--save-every", "2",
                                                   "--tensorboard", "--group-size", "8"])
    rows = metrics(out)
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert all(r["method"] == "grpo" for r in rows)
    assert any(0 < r["pass_rate"] < 1 for r in rows), rows  # rewards differ within groups: a real signal
    assert any(r["advantage_abs"] > 0 and r["grad_norm"] > 0 for r in rows)
    # short proofs end before the 8-token limit: Lean got them while the batch was still decoding
    assert any(r["verified_early"] > 0 for r in rows) and all(r["verified_early"] <= 1 for r in rows)


def test_fd_then_grpo_in_one_run_and_init_from(taught_model, dataset, tmp_path):
    out = tmp_path / "fdgrpo"
    train(common(taught_model, dataset, out, 3) + ["--method", "fd+grpo", "--fd-steps", "2", "--lora-r", "4",
                                                   "--bf16", "--gradient-checkpointing"])
    assert [r["method"] for r in metrics(out)] == ["fd", "fd", "grpo"]
    out2 = tmp_path / "grpo_from_fd"
    args = common(taught_model, dataset, out2, 1) + ["--method", "grpo", "--init-from", str(out)]
    train([a for a in args if a != str(taught_model) and a != "--model"])
    assert metrics(out2)[0]["method"] == "grpo"


def test_multi_turn_revisions(taught_model, dataset, tmp_path):
    """--turns 2: failed attempts are revised after Lean's feedback, in the same step."""
    out = tmp_path / "turns"
    train(common(taught_model, dataset, out, 1) + ["--method", "grpo", "--turns", "2"])
    (row,) = metrics(out)
    failed_first = round(row["samples"] - 8)  # every failed first attempt got one revision
    assert 0 < failed_first <= 8 and row["pass_rate"] < 1


def test_resume_gives_the_same_weights(taught_model, dataset, tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    args = ["--method", "fd", "--save-every", "1"]
    train(common(taught_model, dataset, straight, 2) + args)
    train(common(taught_model, dataset, split, 1) + args)  # "interrupted" after step 1
    train(common(taught_model, dataset, split, 2) + args)  # resumes from checkpoint-1
    assert [r["step"] for r in metrics(split)] == [1, 2]
    a, b = final_state(straight), final_state(split)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_two_processes_with_accelerate_keep_identical_weights(taught_model, dataset, tmp_path):
    out = tmp_path / "ddp"
    # accelerate's multi-process launcher with gloo on CPU: ACCELERATE_USE_CPU turns DDP to the CPU.
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                "--main_process_port", "0", "-m"]
    train(common(taught_model, dataset, out, 2) + ["--method", "fd", "--prompts-per-step", "1",
                                                   "--verifier-jobs", "1", "--save-every", "2"],
          launcher=launcher, env={"ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"})
    info = json.loads((out / "final" / "leanfd_train.json").read_text())
    assert info["processes"] == 2 and info["ranks_in_sync"] and len(info["rank_checksums"]) == 2


ACCELERATE_2 = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0",
                "-m"]
CPU_GLOO = {"ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}


def test_fsdp2_trains_as_ddp_does_teacher_and_reference_sharded(taught_model, dataset, tmp_path):
    """Two processes on gloo: the same FD-then-GRPO run (EMA teacher, KL reference) under DDP and
    under FSDP2 gives the same losses step by step and the same final weights."""
    args = ["--method", "fd+grpo", "--fd-steps", "2", "--kl-beta", "0.02", "--prompts-per-step", "1",
            "--verifier-jobs", "1", "--save-every", "3", "--micro-batch", "3"]
    runs = {}
    for sharding in ("ddp", "fsdp2"):
        out = tmp_path / sharding
        train(common(taught_model, dataset, out, 3) + args + ["--sharding", sharding], launcher=ACCELERATE_2,
              env=CPU_GLOO)
        runs[sharding] = out
    ddp, fsdp = metrics(runs["ddp"]), metrics(runs["fsdp2"])
    assert [r["method"] for r in fsdp] == ["fd", "fd", "grpo"]
    assert any(r["loss"] != 0 for r in fsdp)
    for a, b in zip(ddp, fsdp, strict=True):
        assert a["pass_rate"] == b["pass_rate"] and a["response_length"] == b["response_length"]
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4, abs=1e-7), (a, b)
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-4, abs=1e-7)
    info = json.loads((runs["fsdp2"] / "final" / "leanfd_train.json").read_text())
    assert info["sharding"] == "fsdp2" and info["ranks_in_sync"] and info["processes"] == 2
    a, b = final_state(runs["ddp"]), final_state(runs["fsdp2"])
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert any(not torch.equal(b[k], v) for k, v in final_state_of(taught_model).items())  # it trained


def final_state_of(model_dir: Path) -> dict[str, torch.Tensor]:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir).state_dict()


def test_fsdp2_resumes_exactly_from_its_sharded_checkpoint_with_lora(taught_model, dataset, tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    args = ["--method", "fd", "--save-every", "1", "--lora-r", "4", "--sharding", "fsdp2", "--teacher-dtype",
            "bfloat16", "--prompts-per-step", "1", "--verifier-jobs", "1"]
    train(common(taught_model, dataset, straight, 2) + args, launcher=ACCELERATE_2, env=CPU_GLOO)
    train(common(taught_model, dataset, split, 1) + args, launcher=ACCELERATE_2, env=CPU_GLOO)
    assert sorted(p.name for p in (split / "checkpoint-1").glob("*.distcp"))  # sharded: one file per process
    train(common(taught_model, dataset, split, 2) + args, launcher=ACCELERATE_2, env=CPU_GLOO)
    assert [r["step"] for r in metrics(split)] == [1, 2]
    assert [r["loss"] for r in metrics(split)] == [r["loss"] for r in metrics(straight)]
    a, b = final_state(straight), final_state(split)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_dry_run_prints_the_plan_and_a_run_that_cannot_fit_stops_before_loading_a_model(tiny_model_dir, dataset,
                                                                                         tmp_path):
    base = [sys.executable, "-m", "leanfd", "train", "--model", str(tiny_model_dir), "--dataset", str(dataset),
            "--output-dir", str(tmp_path / "out")]
    env = {**os.environ, "LEANFD_LEAN": "bundled"}
    ok = subprocess.run(base + ["--dry-run", "--gpu-memory-gb", "80"], capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    assert "weights" in ok.stdout and "fits" in ok.stdout and "80.0 GB" in ok.stdout
    # 1 GB cannot hold even the CUDA context line: refused with what to change, exit 2, nothing written
    small = subprocess.run(base + ["--gpu-memory-gb", "1"], capture_output=True, text=True, env=env, timeout=120)
    assert small.returncode == 2, small.stderr
    assert "does not fit" in small.stderr and "Traceback" not in small.stderr
    assert "Loading weights" not in small.stderr and not (tmp_path / "out" / "final").exists()


def test_fsdp2_in_one_process_is_refused_before_a_model_is_loaded(tiny_model_dir, dataset, tmp_path):
    res = subprocess.run([sys.executable, "-m", "leanfd", "train", "--model", str(tiny_model_dir), "--dataset",
                          str(dataset), "--output-dir", str(tmp_path / "o"), "--sharding", "fsdp2"],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "LEANFD_LEAN": "bundled"})
    assert res.returncode == 2 and "--sharding ddp" in res.stderr and "Traceback" not in res.stderr
    assert "Loading weights" not in res.stderr


def test_an_output_dir_holding_another_runs_checkpoint_is_refused_before_loading(tiny_model_dir, dataset,
                                                                                  tmp_path):
    """A checkpoint written by a GRPO run is neither resumed by an FD run nor overwritten by --no-resume."""
    out = tmp_path / "run"
    ckpt = out / "checkpoint-3"
    ckpt.mkdir(parents=True)
    grpo = load(TrainConfig, overrides={"model": str(tiny_model_dir), "dataset": str(dataset), "method": "grpo"})
    (ckpt / "trainer_state.json").write_text(json.dumps({"step": 3, "config": dataclasses.asdict(grpo)}, default=list))
    base = [sys.executable, "-m", "leanfd", "train", "--model", str(tiny_model_dir), "--dataset", str(dataset),
            "--output-dir", str(out)]
    env = {**os.environ, "LEANFD_LEAN": "bundled"}
    other = subprocess.run(base + ["--method", "fd"], capture_output=True, text=True, timeout=120, env=env)
    assert other.returncode == 2 and "another run" in other.stderr and "method 'grpo' there, 'fd' now" in other.stderr
    fresh = subprocess.run(base + ["--method", "grpo", "--no-resume"], capture_output=True, text=True, timeout=120,
                           env=env)
    assert fresh.returncode == 2 and "would overwrite" in fresh.stderr
    assert "Traceback" not in other.stderr + fresh.stderr and sorted(p.name for p in out.iterdir()) == ["checkpoint-3"]
