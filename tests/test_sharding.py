"""FSDP2 sharding (`leanfd.train.sharding`) in real 2-process gloo runs on the CPU.

Three launches of tests/sharding_worker.py, each rank writing what it measured as JSON: `core`
(torchrun: FSDP2 against DDP, memory, EMA, gathered weights, lm_head outside the forward, synced
generation, bf16), `save` (accelerate launch: 4 steps straight, full and LoRA, a DCP checkpoint
after step 2, `save_full`) and `resume` (torchrun, fresh processes: steps 3-4 from the checkpoint).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from leanfd.train import ema, sharding

REPO = Path(__file__).resolve().parents[1]
WORKER = REPO / "tests" / "sharding_worker.py"
LAUNCH_TIMEOUT = 150  # a collective that never pairs up hangs: the timeout turns that into a failure

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
ACCELERATE = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0"]


def _launch(launcher: list[str], phase: str, model_dir: Path, out: Path) -> list[dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([*launcher, str(WORKER), phase, str(model_dir), str(out)], env=env,
                         capture_output=True, text=True, timeout=LAUNCH_TIMEOUT)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-6000:]
    ranks = [json.loads((out / f"{phase}-rank{r}.json").read_text()) for r in range(2)]
    assert all(r["world_size"] == 2 for r in ranks)
    return ranks


@pytest.fixture(scope="module")
def core(tiny_model_dir, tmp_path_factory) -> list[dict]:
    return _launch(TORCHRUN, "core", tiny_model_dir, tmp_path_factory.mktemp("core"))


@pytest.fixture(scope="module")
def saved_and_resumed(tiny_model_dir, tmp_path_factory) -> tuple[list[dict], list[dict], Path]:
    out = tmp_path_factory.mktemp("resume")
    saved = _launch(ACCELERATE, "save", tiny_model_dir, out)
    resumed = _launch(TORCHRUN, "resume", tiny_model_dir, out)
    return saved, resumed, out


# -- FSDP2 against DDP -------------------------------------------------------------------------


def test_fsdp2_steps_give_ddps_losses_grad_norms_and_weights(core):
    for rank in core:
        r = rank["ddp_fsdp"]
        assert len(r["fsdp"]) == len(r["ddp"]) == 3
        assert not any(f["reduced_early"] for f in r["fsdp"])  # no reduce-scatter before the last micro-batch
        for f, d in zip(r["fsdp"], r["ddp"], strict=True):
            assert f["loss"] == pytest.approx(d["loss"], rel=1e-5)
            assert f["grad_norm"] == pytest.approx(d["grad_norm"], rel=1e-5)  # a float from DTensor grads
        assert r["weights_moved"] > 1e-3  # the steps changed the weights ...
        assert r["weights_diff"] < 1e-4  # ... alike under both
    assert core[0]["ddp_fsdp"]["checksum"] == core[1]["ddp_fsdp"]["checksum"]
    # rank 1 had one micro-batch and padded to rank 0's two with an empty-mask pass
    assert core[0]["ddp_fsdp"]["fsdp"][0]["loss"] != pytest.approx(core[1]["ddp_fsdp"]["fsdp"][0]["loss"], rel=0.1)


def test_weights_that_differ_across_ranks_are_refused_before_sharding(core):
    for rank in core:
        assert "model.layers.0.mlp.up_proj.weight" in rank["refused"]  # named on both ranks


def test_each_rank_holds_about_half_of_ddps_bytes(core):
    for rank in core:
        r = rank["ddp_fsdp"]
        for part in ("params", "grads", "optimizer"):
            assert r["bytes_ddp"][part] > 0
            assert 0.45 <= r["bytes_fsdp"][part] / r["bytes_ddp"][part] <= 0.55, (part, r["bytes_fsdp"], r["bytes_ddp"])
        assert r["bytes_teacher"]["params"] == r["bytes_fsdp"]["params"]  # sharded the same way


def test_sharded_ema_teacher_equals_the_unsharded_ema_of_the_gathered_weights(core):
    for rank in core:
        r = rank["ddp_fsdp"]
        assert r["teacher_vs_unsharded_ema"] < 1e-6
        assert r["teacher_vs_student"] > 1e-4  # the teacher lags the student: the check is not vacuous


def test_gathered_weights_in_a_fresh_plain_model_give_the_sharded_models_logits(core, saved_and_resumed):
    for rank in core:
        assert rank["ddp_fsdp"]["export_logits_diff"] < 1e-5
        assert rank["ddp_fsdp"]["export_vs_start_logits_diff"] > 1e-2
    saved, _, _ = saved_and_resumed
    for rank in saved:  # LoRA: sharded A and B, merged into the gathered base weights
        assert rank["lora"]["export_logits_diff"] < 1e-4
        assert rank["lora"]["vs_start_logits_diff"] > 1e-3


@pytest.mark.parametrize("tied, bf16", [(True, False), (False, False), (True, True)])
def test_lm_head_called_outside_the_root_forward_gets_the_plain_gradients(core, tied, bf16):
    """A chunked loss: lm_head on hidden-state chunks after the root forward, recomputed in
    backward, over two micro-batches (the first without gradient sync), HF's layer checkpointing on;
    against a plain model's full-logits loss on the same data."""
    tol = 3e-2 if bf16 else 1e-5  # bf16 forward against an fp32 one
    for rank in core:
        r = next(x for x in rank["lm_head"] if x["tied"] == tied and x["bf16"] == bf16)
        assert r["n_grads"] == (26 if tied else 27)  # the tied model has no lm_head.weight of its own
        assert r["grad_dtypes"] == ["torch.float32"]  # reduced in fp32, onto fp32 master shards
        assert r["grad_scale"] > 1e-3
        assert r["grad_diff"] < tol * r["grad_scale"]
        assert r["last_logit_diff"] < tol * 10  # hidden_states[-1] is after the final norm


def test_synced_generation_with_different_prompt_counts_and_lengths_ends_and_matches_plain(core):
    lengths = [[len(sample) for prompt in rank["generate"]["sharded"] for sample in prompt] for rank in core]
    assert [len(x) for x in lengths] == [3, 1]  # prompt counts
    assert max(lengths[0]) > 3 >= max(lengths[1])  # rank 1 (at most 3 tokens) kept forwarding for rank 0's
    for rank in core:
        g = rank["generate"]
        assert g["sharded"] == g["plain"]
        assert g["loss_after"] > 0  # and the model trained after generating (no inference tensors left)


def test_bf16_compute_with_an_fp32_teacher_and_a_bf16_reference(core):
    for rank in core:
        r = rank["bf16"]
        assert r["finite"] and len(r["losses"]) == 2
        assert r["student_shard_dtypes"] == r["teacher_shard_dtypes"] == ["torch.float32"]
        assert r["reference_shard_dtypes"] == ["torch.bfloat16"]
        assert r["teacher_logits_dtype"] == r["reference_logits_dtype"] == "torch.bfloat16"
        assert r["teacher_moved"] > 1e-4


# -- checkpoints -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["full", "lora"])
def test_dcp_resume_in_fresh_processes_continues_bitwise(saved_and_resumed, kind):
    saved, resumed, _ = saved_and_resumed
    for s, r in zip(saved, resumed, strict=True):
        straight = s[kind]["records"]
        assert [x["step"] for x in straight] == [0, 1, 2, 3]
        assert r[kind]["records"] == straight[2:]  # losses, grad norms, lr (scheduler), data seeds (RNG)
        assert straight[3]["loss"] != straight[1]["loss"]
        assert r[kind]["model"] == s[kind]["model"]
        assert r[kind]["teacher"] == s[kind]["teacher"]
    assert saved[0][kind]["model"] == saved[1][kind]["model"]


def test_lora_under_fsdp2_trains_only_the_adapter_and_shards_its_optimizer_state(saved_and_resumed):
    saved, _, _ = saved_and_resumed
    for rank in saved:
        lora, full = rank["lora"]["bytes"], rank["full"]["bytes"]
        assert 0 < lora["optimizer"] < full["optimizer"] / 4
        losses = [x["loss"] for x in rank["lora"]["records"]]
        assert len(set(losses)) == len(losses)


@pytest.mark.parametrize("kind", ["full", "lora"])
def test_save_full_writes_a_plain_transformers_model(saved_and_resumed, kind):
    from transformers import AutoModelForCausalLM

    saved, _, out = saved_and_resumed
    final = out / f"final-{kind}"
    assert not (final / "adapter_config.json").exists()
    model = AutoModelForCausalLM.from_pretrained(final, dtype=torch.float32)
    assert not any("lora" in n for n, _ in model.named_parameters())
    ids = torch.tensor(saved[0][kind]["ids"])
    with torch.no_grad():
        got = model(input_ids=ids).logits
    assert torch.allclose(got, torch.tensor(saved[0][kind]["logits"]), atol=1e-4)


# -- in-process --------------------------------------------------------------------------------


def test_a_bf16_ema_teacher_tracks_the_fp32_one_where_round_to_nearest_would_freeze():
    torch.manual_seed(0)
    student = torch.nn.Linear(256, 256, bias=False)
    teacher32 = sharding.frozen_copy(student)
    teacher16 = sharding.frozen_copy(student, torch.bfloat16)
    nearest = teacher16.weight.clone()
    with torch.no_grad():
        student.weight.mul_(1.01)  # the student 1% away from the teacher
    for step in range(20):
        ema.ema_update(teacher32, student, 0.05)
        ema.ema_update(teacher16, student, 0.05, seed=step)
        nearest = nearest.lerp(student.weight.detach().to(torch.bfloat16), 0.05)  # what lerp_ in bf16 does
    start = student.weight.detach() / 1.01
    assert torch.equal(nearest, start.to(torch.bfloat16))  # round-to-nearest: every update lost
    # the drift along the student's direction (the update is 1% of each weight, times its sign)
    moved32 = ((teacher32.weight - start) * start).sum()
    moved16 = ((teacher16.weight.float() - start.to(torch.bfloat16).float()) * start).sum()
    assert float(moved32) > 0 and abs(float(moved16 / moved32) - 1) < 0.02  # unbiased: the same drift
    assert (teacher16.weight.float() != start.to(torch.bfloat16).float()).float().mean() > 0.2
    a = sharding.frozen_copy(student, torch.bfloat16)
    b = sharding.frozen_copy(student, torch.bfloat16)
    ema.ema_update(a, student, 0.05, seed=3)
    ema.ema_update(b, student, 0.05, seed=3)
    assert torch.equal(a.weight, b.weight)  # the same seed, the same rounding: ranks stay alike


def test_ema_update_refuses_a_teacher_shaped_unlike_the_student():
    student, teacher = torch.nn.Linear(4, 4), sharding.frozen_copy(torch.nn.Linear(4, 4))
    teacher.weight = torch.nn.Parameter(torch.zeros(2, 4), requires_grad=False)
    with pytest.raises(sharding.ShardingError, match="shard"):
        ema.ema_update(teacher, student, 0.1)


def test_decoder_layers_found_through_peft_and_refused_when_absent(tiny_model_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    layers = sharding.decoder_layers(model)
    assert layers == list(model.model.layers)
    peft_model = get_peft_model(model, LoraConfig(r=2, target_modules="all-linear", task_type="CAUSAL_LM"))
    assert [type(m).__name__ for m in sharding.decoder_layers(peft_model)] == ["Qwen2DecoderLayer"] * len(layers)
    with pytest.raises(sharding.ShardingError, match="_no_split_modules"):
        sharding.decoder_layers(torch.nn.Sequential(torch.nn.Linear(2, 2)))
    odd = torch.nn.Sequential(torch.nn.Linear(2, 2))
    odd._no_split_modules = ["NoSuchLayer"]
    with pytest.raises(sharding.ShardingError, match="NoSuchLayer"):
        sharding.decoder_layers(odd)


def test_agree_count_outside_a_process_group_is_the_count_itself():
    assert sharding.agree_count(3) == 3
