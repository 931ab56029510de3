"""The memory plan: exact parameter counts, what each option changes, the shipped configs against
the hardware they name, and the weight/gradient/AdamW lines against a real optimizer step on CPU."""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path

import pytest
import torch

from leanfd.config import ConfigError, load
from leanfd.train.config import TrainConfig
from leanfd.train.memory_plan import (
    GB,
    check_fits,
    format_plan,
    layer_activation_bytes,
    plan,
    plan_for,
    read_shape,
    shape_of,
    suggestions,
)

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
SEVEN_B = [p for p in CONFIGS if "7b" in p.name]
DEEPSEEK = "deepseek-ai/DeepSeek-Prover-V1.5-SFT"


@cache
def shape(name: str):
    return read_shape(name)


def config(**overrides) -> TrainConfig:
    return load(TrainConfig, None, {"model": DEEPSEEK, "dataset": "d.jsonl", **overrides})


def weights_grads_adam_teacher(p) -> int:
    return sum(p.line(n) for n in ("weights (fp32)", "gradients (fp32)", "AdamW state", "FD teacher (float32)"))


def test_parameter_counts_are_a_real_models(tiny_model_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    s = read_shape(str(tiny_model_dir))
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert s.params == sum(p.numel() for p in model.parameters())
    assert s.param_tensors == len(list(model.parameters()))
    assert s.layer_params == sum(p.numel() for p in model.model.layers[0].parameters())
    assert s.tied_embeddings and (s.layers, s.hidden, s.kv_heads) == (2, 32, 2)
    peft = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", task_type="CAUSAL_LM"))
    assert s.lora_params(4, "all-linear") == sum(p.numel() for p in peft.parameters() if p.requires_grad)


def test_known_models_are_counted_exactly():
    assert shape(DEEPSEEK).params == 6_910_365_696  # 30 layers of 202,383,360 + 2 x 102400 x 4096 + 4096
    assert shape(DEEPSEEK).architecture == "LlamaForCausalLM" and not shape(DEEPSEEK).tied_embeddings
    kimina = shape("AI-MO/Kimina-Prover-Preview-Distill-1.5B")
    assert kimina.architecture == "Qwen2ForCausalLM" and kimina.tied_embeddings and kimina.head_dim == 128


def test_weights_gradients_and_adamw_lines_equal_a_real_step(tiny_model_dir):
    """Calibration: the bytes torch holds after one AdamW step on CPU, to the byte."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = torch.randint(0, model.config.vocab_size, (2, 8))
    model(input_ids=ids, labels=ids).loss.backward()
    opt.step()
    c = load(TrainConfig, None, {"model": str(tiny_model_dir), "dataset": "d.jsonl", "method": "grpo"})
    p = plan(read_shape(str(tiny_model_dir)), c, 1, 80)
    nbytes = lambda ts: sum(t.numel() * t.element_size() for t in ts)  # noqa: E731
    assert p.line("weights (fp32)") == nbytes(model.parameters())
    assert p.line("gradients (fp32)") == nbytes(q.grad for q in model.parameters())
    assert p.line("AdamW state") == nbytes(t for st in opt.state.values() for t in st.values())


def _saved_bytes_per_layer_token(autocast: bool) -> float:
    """Bytes autograd saves per token for one decoder layer of a small Qwen2, weights excluded:
    the difference between a 4- and a 2-layer model."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    def saved(layers: int) -> tuple[int, Qwen2ForCausalLM]:
        cfg = Qwen2Config(vocab_size=512, hidden_size=128, intermediate_size=352, num_hidden_layers=layers,
                          num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                          attn_implementation="sdpa")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = Qwen2ForCausalLM(cfg)
        ids = torch.randint(0, 512, (2, 64))
        params = {q.untyped_storage().data_ptr() for q in model.parameters()}
        seen: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                model.model(input_ids=ids, attention_mask=torch.ones_like(ids))
        return sum(v for k, v in seen.items() if k not in params), model

    (two, _), (four, model) = saved(2), saved(4)
    per_layer = (four - two) / 2
    if autocast:  # autocast's bf16 weight casts are saved too: a line of their own in the plan
        per_layer -= 2 * sum(m.weight.numel() for m in model.model.layers[0].modules()
                             if isinstance(m, torch.nn.Linear))
    return per_layer / (2 * 64)


@pytest.mark.parametrize("autocast", [False, True])
def test_activation_estimate_within_15_percent_of_what_autograd_saves(autocast):
    from transformers import Qwen2Config

    s = shape_of(Qwen2Config(vocab_size=512, hidden_size=128, intermediate_size=352, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True), "small")
    estimate = layer_activation_bytes(s, e=2 if autocast else 4, r=4)
    measured = _saved_bytes_per_layer_token(autocast)
    assert abs(estimate - measured) / measured < 0.15, (estimate, measured)


def test_fsdp2_shards_the_model_state_over_the_processes():
    ddp = plan(shape(DEEPSEEK), config(sharding="ddp"), 8, 80)
    fsdp = plan(shape(DEEPSEEK), config(sharding="fsdp2"), 8, 80)
    assert weights_grads_adam_teacher(fsdp) == pytest.approx(weights_grads_adam_teacher(ddp) / 8, rel=1e-6)
    assert ddp.line("DDP gradient buckets") == ddp.line("gradients (fp32)") and not fsdp.line("DDP gradient buckets")
    assert fsdp.line("FSDP2 gathered weights") > 0 and not ddp.line("FSDP2 gathered weights")
    assert "fsdp2 over 8 processes, 80 GB GPUs" in format_plan(fsdp)


def test_bf16_teacher_halves_the_teacher_and_reference():
    f32 = plan(shape(DEEPSEEK), config(method="fd+grpo", max_steps=4, fd_steps=2, kl_beta=0.02), 1, 80)
    b16 = plan(shape(DEEPSEEK), config(method="fd+grpo", max_steps=4, fd_steps=2, kl_beta=0.02,
                                       teacher_dtype="bfloat16"), 1, 80)
    assert b16.line("FD teacher (bfloat16)") * 2 == f32.line("FD teacher (float32)")
    assert b16.line("KL reference (bfloat16)") * 2 == f32.line("KL reference (float32)")


def test_teacher_and_reference_only_when_used():
    grpo = plan(shape(DEEPSEEK), config(method="grpo"), 1, 80)
    assert not any(x.name.startswith("FD teacher") for x in grpo.lines)
    assert not any(x.name.startswith("KL reference") for x in grpo.lines)


def test_lora_trains_only_adapters():
    full = plan(shape(DEEPSEEK), config(), 1, 80)
    lora = plan(shape(DEEPSEEK), config(lora_r=16), 1, 80)
    adapters = shape(DEEPSEEK).lora_params(16, "all-linear")
    assert 0 < adapters < shape(DEEPSEEK).params / 100
    assert lora.line("gradients (fp32)") == 4 * adapters
    assert lora.line("AdamW state") < full.line("AdamW state") / 100
    assert lora.line("weights (fp32)") == full.line("weights (fp32)") + 4 * adapters  # the base stays fp32


def test_vllm_share_only_with_the_vllm_backend():
    hf = plan(shape(DEEPSEEK), config(), 1, 80)
    vllm = plan(shape(DEEPSEEK), config(rollout_backend="vllm", vllm_gpu_memory_utilization=0.3), 1, 80)
    assert not hf.line("colocated vLLM") and vllm.line("colocated vLLM") == int(0.3 * 80 * GB)
    assert not any(x.name.startswith("rollout KV cache") for x in vllm.lines)


def test_checkpointing_counts_one_of_the_two_activation_lines():
    on = plan(shape(DEEPSEEK), config(gradient_checkpointing=True, bf16=True), 1, 80)
    off = plan(shape(DEEPSEEK), config(gradient_checkpointing=False, bf16=True), 1, 80)
    assert on.line("activations, no checkpointing") > 5 * on.line("activations, checkpointing")
    assert on.held("backward") < off.held("backward")
    both = {x.name: x.phases for x in on.lines if x.name.startswith("activations")}
    assert both == {"activations, checkpointing": ("backward",), "activations, no checkpointing": ()}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_each_shipped_config_fits_the_hardware_it_names(path):
    c = load(TrainConfig, path)
    assert c.plan.processes and c.plan.gpu_memory_gb, "each config names its hardware in plan:"
    p = plan_for(c)
    assert (p.processes, p.gpu_memory_gb) == (c.plan.processes, c.plan.gpu_memory_gb)
    check_fits(p)
    header = path.read_text().splitlines()[:4]
    assert any("GB" in line for line in header) and any("leanfd train" in line for line in header)


@pytest.mark.parametrize("path", SEVEN_B, ids=lambda p: p.stem)
def test_7b_configs_do_not_fit_replicated(path):
    c = load(TrainConfig, path, {"sharding": "ddp"})
    p = plan_for(c)
    with pytest.raises(ConfigError, match="--sharding fsdp2"):
        check_fits(p)


def replanned(p, processes=None, **optim):
    c = dataclasses.replace(p.config, optim=dataclasses.replace(p.config.optim, **optim))
    return plan(p.shape, c, processes or p.processes, p.gpu_memory_gb)


def test_suggestions_are_replanned_fit_and_are_minimal():
    p = plan(shape(DEEPSEEK), config(sharding="ddp", bf16=True), 8, 80)
    assert not p.fits
    assert suggestions(p) == [f"--sharding fsdp2 --gradient-checkpointing together "
                              f"({replanned(p, sharding='fsdp2', gradient_checkpointing=True).total / GB:.1f} GB)"]
    assert replanned(p, sharding="fsdp2", gradient_checkpointing=True).fits
    assert not replanned(p, sharding="fsdp2").fits and not replanned(p, gradient_checkpointing=True).fits
    alone = suggestions(plan(shape(DEEPSEEK), config(sharding="ddp", bf16=True, gradient_checkpointing=True), 8, 80))
    assert alone[0].startswith("--sharding fsdp2 (") and not any(f.startswith("--micro-batch") for f in alone)


def test_a_micro_batch_suggestion_names_the_largest_that_fits():
    p = plan(shape("AI-MO/Kimina-Prover-Preview-Distill-1.5B"),
             load(TrainConfig, None, {"model": "m", "dataset": "d", "micro_batch": 16, "bf16": True,
                                      "gradient_checkpointing": True, "lora_r": 16}), 1, 24)
    fixes = [f for f in suggestions(p) if f.startswith("--micro-batch")]
    assert len(fixes) == 1
    mb = int(fixes[0].split()[1])
    assert replanned(p, micro_batch=mb).fits and not replanned(p, micro_batch=2 * mb).fits


def test_plan_for_defaults(monkeypatch, tiny_model_dir):
    monkeypatch.setenv("WORLD_SIZE", "4")
    c = load(TrainConfig, None, {"model": str(tiny_model_dir), "dataset": "d"})
    p = plan_for(c)
    assert p.processes == 4 and p.gpu_memory_gb == 80  # no GPU here: --dry-run's default
    assert plan_for(c, processes=2, gpu_memory_gb=24).processes == 2


def test_a_model_it_cannot_read_offline_is_a_clear_error(tmp_path):
    c = load(TrainConfig, None, {"model": "nobody/no-such-model-anywhere", "dataset": "d"})
    with pytest.raises(ConfigError, match="--model nobody/no-such-model-anywhere: cannot read its config offline"):
        plan_for(c)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="give a local path"):
        read_shape(str(empty))
    with pytest.raises(ConfigError, match="--init-from"):
        plan_for(load(TrainConfig, None, {"init_from": str(empty), "dataset": "d"}))


def test_readme_table_states_each_configs_planned_peak():
    rows = [r for r in (REPO / "README.md").read_text().splitlines() if r.startswith("| ") and "`configs/" in r]
    path_of = lambda row: next(w for w in row.split("`") if w.startswith("configs/"))  # noqa: E731
    assert {path_of(r) for r in rows} == {f"configs/{p.name}" for p in CONFIGS}
    for row in rows:
        ddp = "`--sharding ddp`" in row
        p = plan_for(load(TrainConfig, REPO / path_of(row), {"sharding": "ddp"} if ddp else None))
        assert f"| {p.total / GB:.1f} GB{': does not fit' if ddp else ''} |" in row, (row, p.total / GB)
        assert p.fits != ddp


def test_revisions_lengthen_the_sequences():
    one = plan(shape(DEEPSEEK), config(), 1, 80)
    two = plan(shape(DEEPSEEK), config(turns=2), 1, 80)
    assert two.line("activations, checkpointing") > one.line("activations, checkpointing")
    kv = lambda p: next(x.bytes for x in p.lines if x.name.startswith("rollout KV cache"))  # noqa: E731
    assert kv(two) / kv(one) == pytest.approx((512 + 2 * 512) / (512 + 512))


def test_a_lora_adapter_directory_plans_its_base_model(tmp_path, tiny_model_dir):
    (tmp_path / "adapter_config.json").write_text(f'{{"base_model_name_or_path": "{tiny_model_dir}"}}')
    assert read_shape(str(tmp_path)).params == read_shape(str(tiny_model_dir)).params
    p = plan_for(load(TrainConfig, None, {"init_from": str(tmp_path), "dataset": "d"}))
    assert p.shape.params == read_shape(str(tiny_model_dir)).params


def test_a_model_that_is_not_a_causal_lm_is_a_clear_error(tmp_path):
    from transformers import BertConfig

    BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
               intermediate_size=64).save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="cannot plan its memory"):
        read_shape(str(tmp_path))
