"""The LM head path (leanfd/train/forward.py) against the logits each model family computes itself.

One tiny random model per family users train (2 layers, hidden 32, vocab 160, float32 on CPU, built
from a config by AutoModelForCausalLM), each with a non-trivial logit post-processing: the head
applied to `completion_hidden`'s states must give the model's own logits at every completion
position, and `verify_head` must pass on it and refuse a model whose logits it does not reproduce.
"""

from __future__ import annotations

import pytest
import torch

from leanfd.lean.errors import ConfigError
from leanfd.train.batching import completion_logits
from leanfd.train.forward import completion_hidden, head_tolerance, lm_head, unwrap_model, verify_head

PROMPTS = [[5, 6, 7, 8], [9, 10], [11, 12, 13]]
COMPLETIONS = [[20, 21, 22], [23, 24, 25, 26, 27], [28]]
COMMON = dict(vocab_size=160, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, pad_token_id=0, bos_token_id=1, eos_token_id=2)
# Multi-head latent attention (DeepSeek V2/V3) with a small MoE: one dense layer, then 4 experts.
MLA = dict(num_key_value_heads=4, n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=16,
           kv_lora_rank=16, q_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=8,
           first_k_dense_replace=1, n_group=1, topk_group=1)
SOFTCAP = 30.0
# Gemma 3 4B and up: Gemma3ForConditionalGeneration, a tiny SigLIP tower beside the text model.
GEMMA3 = dict(text_config={**COMMON, "head_dim": 8, "final_logit_softcapping": SOFTCAP}, mm_tokens_per_image=4,
              vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                 image_size=28, patch_size=14))
LARGE_LOGITS = {"gemma2", "gemma3_text", "gemma3"}  # logits well past SOFTCAP, so that a cap would show

# model_type -> (config fields beyond COMMON, (scale, softcap) that lm_head must read from them)
FAMILIES = {
    "qwen2": ({}, (1.0, None)),
    "qwen2_moe": (dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16,
                       shared_expert_intermediate_size=16), (1.0, None)),
    "qwen3": (dict(head_dim=8), (1.0, None)),
    "qwen3_moe": (dict(head_dim=8, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16), (1.0, None)),
    "llama": ({}, (1.0, None)),  # also DeepSeek-Prover V1.5 / DeepSeek-Math: model_type llama
    "mistral": ({}, (1.0, None)),
    "mixtral": (dict(num_local_experts=4, num_experts_per_tok=2), (1.0, None)),
    "deepseek_v2": (MLA, (1.0, None)),
    "deepseek_v3": (MLA, (1.0, None)),
    "gemma": (dict(head_dim=8), (1.0, None)),
    "gemma2": (dict(head_dim=8, final_logit_softcapping=SOFTCAP), (1.0, SOFTCAP)),
    "gemma3_text": (dict(head_dim=8, final_logit_softcapping=SOFTCAP), (1.0, SOFTCAP)),
    "gemma3": (GEMMA3, (1.0, None)),  # does not cap, although its text_config has a softcap
    "granite": (dict(logits_scaling=8.0), (0.125, None)),
    "granitemoe": (dict(logits_scaling=8.0, num_local_experts=4, num_experts_per_tok=2), (0.125, None)),
    "granitemoeshared": (dict(logits_scaling=8.0, num_local_experts=4, num_experts_per_tok=2,
                              shared_intermediate_size=16), (0.125, None)),
    "granitemoehybrid": (dict(logits_scaling=8.0, num_local_experts=4, num_experts_per_tok=2,
                              shared_intermediate_size=16, layer_types=["mamba", "attention"], mamba_n_heads=4,
                              mamba_d_head=16, mamba_n_groups=1, mamba_d_state=8), (0.125, None)),
    "cohere": (dict(logit_scale=0.0625), (0.0625, None)),
    "cohere2": (dict(logit_scale=0.0625), (0.0625, None)),
    "cohere2_moe": (dict(logit_scale=0.0625), (0.0625, None)),
}


def _model(model_type: str, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    from transformers import AutoConfig, AutoModelForCausalLM

    fields, _ = FAMILIES[model_type]
    config = AutoConfig.for_model(model_type, **(fields if "text_config" in fields else {**COMMON, **fields}))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(config)
    if model_type in LARGE_LOGITS:
        # Logits of a few times the cap, so that tanh bends them (random init gives |z| < 1).
        with torch.no_grad():
            model.get_output_embeddings().weight.mul_(400.0)
    return model.to(dtype).eval()


@pytest.mark.parametrize("model_type", list(FAMILIES))
def test_head_on_completion_hidden_equals_the_models_own_logits(model_type):
    model = _model(model_type)
    assert unwrap_model(model).config.model_type == model_type
    head = lm_head(model)
    assert (head.scale, head.softcap) == FAMILIES[model_type][1]

    with torch.no_grad():
        want, _, mask = completion_logits(model, PROMPTS, COMPLETIONS, pad_id=0)  # (B, T, V)
        ch = completion_hidden(model, PROMPTS, COMPLETIONS, pad_id=0, check_head=True)
        got = ch.head(ch.hidden)  # (B, T, V)
        raw = ch.head.module(ch.hidden)  # lm_head alone, before the post-processing
    real = mask.bool()
    torch.testing.assert_close(got[real], want[real], rtol=1e-5, atol=1e-5 * float(want.abs().max()))
    if head.scale != 1.0:  # the post-processing matters: the bare head is off by the factor
        torch.testing.assert_close(raw[real] * head.scale, want[real])
    if head.softcap is not None:  # ... and tanh bends the logits well away from the bare head's
        assert raw[real].abs().max() > 2 * SOFTCAP > want[real].abs().max()
    elif model_type in LARGE_LOGITS:  # ... or does not, where the model does not cap
        assert want[real].abs().max() > 2 * SOFTCAP
    assert verify_head(model, PROMPTS, COMPLETIONS, pad_id=0) <= head_tolerance(torch.float32)


def _scaled_logits(model: torch.nn.Module, factor: float) -> torch.nn.Module:
    """`model` returning its logits times `factor`: a post-processing leanfd does not reproduce."""
    forward = model.forward

    def scaled(*args, **kwargs):
        out = forward(*args, **kwargs)
        out.logits = out.logits * factor
        return out

    model.forward = scaled
    return model


def test_unlisted_model_type_passes_when_honest_and_is_refused_naming_its_fields_when_not():
    model = _model("llama")
    model.config.model_type = "mystery_lm"  # a model type LOGIT_POST_PROCESSING lacks
    head = lm_head(model)
    assert head.rule is None and (head.scale, head.softcap) == (1.0, None)
    assert verify_head(model, PROMPTS, COMPLETIONS, pad_id=0) == 0.0  # no post-processing: nothing to refuse

    model.config.output_logits_multiplier = 3.0
    _scaled_logits(model, 3.0)
    with pytest.raises(ConfigError) as err:
        verify_head(model, PROMPTS, COMPLETIONS, pad_id=0)
    message = str(err.value)
    assert "'mystery_lm'" in message and "config.output_logits_multiplier = 3.0" in message
    assert "LOGIT_POST_PROCESSING" in message and "modeling_mystery_lm.py" in message
    with pytest.raises(ConfigError, match="mystery_lm"):  # the inline check says the same
        completion_hidden(model, PROMPTS, COMPLETIONS, pad_id=0, check_head=True)


def test_listed_model_type_whose_logits_differ_is_refused_naming_the_field():
    model = _model("cohere")
    model.config.logit_scale = 0.5  # CohereForCausalLM read 0.0625 when built: lm_head now reads another
    with pytest.raises(ConfigError) as err:
        verify_head(model, PROMPTS, COMPLETIONS, pad_id=0)
    message = str(err.value)
    assert "'cohere'" in message and "config.logit_scale = 0.5" in message
    assert "logits = lm_head(h) * config.logit_scale" in message and "modeling_cohere.py" in message

    with pytest.raises(ConfigError, match="'llama'.*logits = lm_head"):
        verify_head(_scaled_logits(_model("llama"), 3.0), PROMPTS, COMPLETIONS, pad_id=0)


@pytest.mark.parametrize("model_type", ["llama", "granite", "cohere", "gemma2", "deepseek_v3"])
def test_bf16_and_autocast_pass_when_honest_and_a_tenth_too_large_is_refused(model_type):
    tolerance = head_tolerance(torch.bfloat16)
    assert head_tolerance(torch.float32) < tolerance < 0.05
    assert verify_head(_model(model_type, torch.bfloat16), PROMPTS, COMPLETIONS, pad_id=0) <= tolerance
    model = _model(model_type)  # float32 weights under bf16 autocast, as accelerate's mixed precision runs
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert verify_head(model, PROMPTS, COMPLETIONS, pad_id=0) <= tolerance
    with pytest.raises(ConfigError, match=model_type):
        verify_head(_scaled_logits(_model(model_type, torch.bfloat16), 1.1), PROMPTS, COMPLETIONS, pad_id=0)


def test_accelerate_mixed_precision_float32_outputs_are_checked_at_bf16_tolerance():
    """accelerate's prepare(mixed_precision="bf16") runs the forward under autocast and returns its
    outputs as float32: the logits are bf16 values, which the check must judge as bf16, with or
    without an autocast around it (the trainer's losses apply the head inside one)."""
    from accelerate.utils import convert_outputs_to_fp32

    def prepared(model):
        model.forward = convert_outputs_to_fp32(torch.autocast("cpu", dtype=torch.bfloat16)(model.forward))
        return model

    model = prepared(_model("gemma2"))
    assert verify_head(model, PROMPTS, COMPLETIONS, pad_id=0) <= head_tolerance(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert verify_head(model, PROMPTS, COMPLETIONS, pad_id=0) <= head_tolerance(torch.bfloat16)
    with pytest.raises(ConfigError, match="gemma2"):
        verify_head(prepared(_scaled_logits(_model("gemma2"), 1.1)), PROMPTS, COMPLETIONS, pad_id=0)


def test_verify_head_with_lora_dropout_on_lm_head_runs_in_eval_and_restores_every_mode():
    from peft import LoraConfig, get_peft_model

    # init_lora_weights=False: B != 0, so the lm_head adapter (and its dropout) changes the logits.
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.5, target_modules=["q_proj", "v_proj", "lm_head"],
                        task_type="CAUSAL_LM", init_lora_weights=False)
    model = get_peft_model(_model("granite"), config)
    model.train()
    torch.manual_seed(0)
    with pytest.raises(ConfigError, match="granite"):  # in train mode the dropout makes the two sides differ
        completion_hidden(model, PROMPTS, COMPLETIONS, pad_id=0, check_head=True)
    frozen = unwrap_model(model).model.layers[0]
    frozen.eval()  # a module the caller keeps in eval stays so
    modes = {name: m.training for name, m in model.named_modules()}
    assert verify_head(model, PROMPTS, COMPLETIONS, pad_id=0) <= head_tolerance(torch.float32)
    assert {name: m.training for name, m in model.named_modules()} == modes
    assert model.training and not frozen.training


def test_verify_head_agrees_across_ranks_through_an_all_reduce(tmp_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        assert verify_head(_model("granite"), PROMPTS, COMPLETIONS, pad_id=0) == 0.0
        with pytest.raises(ConfigError, match="granite"):
            verify_head(_scaled_logits(_model("granite"), 3.0), PROMPTS, COMPLETIONS, pad_id=0)
    finally:
        dist.destroy_process_group()
