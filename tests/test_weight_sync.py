"""The weights a colocated vLLM engine is given after each step: HF checkpoint names, merged LoRA.

vLLM itself cannot be installed here; what it would receive is checked by loading it into a fresh
transformers model from the same checkpoint, which reads the same names.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
import torch

from leanfd.train.weight_sync import checkpoint_name, iter_policy_weights


def _fresh(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


def _load_into_fresh(tiny_model_dir, weights: dict[str, torch.Tensor]):
    """A fresh model with `weights` loaded by name, strictly: every name must exist there and every
    weight the checkpoint holds must be given (tied aliases aside)."""
    model = _fresh(tiny_model_dir)
    params = dict(model.named_parameters())  # tied weights appear once, as in the export
    assert set(weights) == set(params), (set(weights) ^ set(params))
    with torch.no_grad():
        for name, tensor in weights.items():
            assert params[name].shape == tensor.shape, name
            params[name].copy_(tensor)
    return model


def test_plain_model_exports_its_checkpoint_names(tiny_model_dir):
    from safetensors.torch import load_file

    model = _fresh(tiny_model_dir)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))  # "trained": differs from the checkpoint on disk
    weights = dict(iter_policy_weights(model))
    on_disk = load_file(str(tiny_model_dir / "model.safetensors"))
    assert set(weights) <= set(on_disk)  # every name is one the checkpoint (and vLLM's loader) uses
    ids = torch.tensor([[5, 17, 42, 9, 3]])
    assert torch.equal(_logits(_load_into_fresh(tiny_model_dir, weights), ids), _logits(model, ids))


def test_lora_is_folded_into_the_export_and_the_model_is_left_untouched(tiny_model_dir):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    model = get_peft_model(_fresh(tiny_model_dir), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear",
                                                               task_type="CAUSAL_LM"))
    with torch.no_grad():  # LoRA's B starts at zero, which would make any merge look right
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(0.05 * torch.randn_like(p))
    ids = torch.tensor([[5, 17, 42, 9, 3, 77]])
    before = _logits(model, ids)
    base_before = {n: p.detach().clone() for n, p in model.named_parameters() if "base_layer" in n}

    weights = dict(iter_policy_weights(model))
    assert not any("lora_" in n or "base_layer" in n or n.startswith("base_model") for n in weights)
    engine_side = _load_into_fresh(tiny_model_dir, weights)
    assert torch.allclose(_logits(engine_side, ids), before, atol=1e-5)
    assert not torch.allclose(_logits(_fresh(tiny_model_dir), ids), before, atol=1e-3)  # LoRA mattered

    # the model itself is untouched: base weights bit-identical (a merge/unmerge round trip is not)
    assert all(torch.equal(p, base_before[n]) for n, p in model.named_parameters() if "base_layer" in n)
    assert torch.equal(_logits(model, ids), before)


def test_export_casts_to_the_engine_dtype(tiny_model_dir):
    weights = list(iter_policy_weights(_fresh(tiny_model_dir), dtype=torch.bfloat16))
    assert weights and all(t.dtype == torch.bfloat16 for _, t in weights)


@pytest.mark.parametrize("trained, checkpoint", [
    ("base_model.model.model.layers.0.self_attn.q_proj.base_layer.weight", "model.layers.0.self_attn.q_proj.weight"),
    ("model.layers.3._checkpoint_wrapped_module.mlp.up_proj.weight", "model.layers.3.mlp.up_proj.weight"),
    ("_orig_mod.model.norm.weight", "model.norm.weight"),
    ("base_model.model.lm_head.modules_to_save.default.weight", "lm_head.weight"),
])
def test_checkpoint_names(trained, checkpoint):
    assert checkpoint_name(trained) == checkpoint


def test_vllm_rollouts_without_vllm_fail_early_and_say_how_to_install(tiny_model_dir, tmp_path, toy_header):
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    data = tmp_path / "p.jsonl"
    data.write_text('{"name": "t", "header": ' + json.dumps(toy_header)
                    + ', "formal_statement": "theorem t : True :="}\n')
    res = subprocess.run([sys.executable, "-m", "leanfd", "train", "--method", "grpo", "--model", str(tiny_model_dir),
                          "--dataset", str(data), "--output-dir", str(tmp_path / "out"), "--max-steps", "1",
                          "--rollout-backend", "vllm", "--no-live", "--lean", "bundled"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    assert "pip install 'leanfd[vllm]'" in res.stderr, res.stderr[-2000:]
    assert not (tmp_path / "out").exists()  # refused before a model was loaded or anything written
