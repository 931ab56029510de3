"""The policy's weights as a Hugging Face checkpoint names them, for an inference engine to load.

A colocated vLLM engine samples the rollouts; after every optimizer step it must sample from the
new weights. vLLM's `model.load_weights` reads `(name, tensor)` pairs under the names of the
model's HF checkpoint, so the trained model's names are mapped back to those: PEFT's
`base_model.model.` prefix and `.base_layer` infix dropped, each LoRA delta added to its base
weight in a new tensor (the model itself is left as it is), LoRA's own tensors skipped,
activation-checkpointing and torch.compile wrappers' prefixes removed.

Under FSDP2 (`leanfd.train.sharding`) each parameter is a DTensor holding this rank's shard: it
is gathered whole with `full_tensor()`, one tensor at a time, as it is yielded. That gather is a
collective, so every rank must iterate the generator to its end, in step (each rank's colocated
engine loads the full weights); DeepSpeed ZeRO-3 is not supported.

The final export (`save_full`) and the weights' checksum read the same stream of named tensors,
so they live here too: whatever leaves the trainer goes through `iter_policy_weights`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from leanfd.train.sharding import ShardingError, base_model, rank, reshard

_WRAPPER_PREFIXES = ("_checkpoint_wrapped_module.", "_orig_mod.")


def checkpoint_name(name: str) -> str:
    """A parameter's name as the model's HF checkpoint spells it."""
    name = name.removeprefix("base_model.model.").replace(".base_layer.", ".")
    for prefix in _WRAPPER_PREFIXES:
        name = name.replace(prefix, "")
    return name.replace("modules_to_save.default.", "")


def _full(tensor: torch.Tensor) -> torch.Tensor:
    """The whole tensor: an FSDP2 shard (a DTensor) gathered from every rank, a plain one as is."""
    from torch.distributed.tensor import DTensor

    return tensor.full_tensor() if isinstance(tensor, DTensor) else tensor


def _adapter_layers(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """PEFT's adapted layers by module name, whether the model is a PeftModel or transformers
    attached the adapter itself."""
    try:
        from peft.tuners.tuners_utils import BaseTunerLayer
    except ImportError:
        return {}
    return {name: m for name, m in model.named_modules() if isinstance(m, BaseTunerLayer)}


def _delta(layer: torch.nn.Module, module_name: str) -> torch.Tensor | None:
    """The active adapters' contribution to the layer's base weight (None when already merged)."""
    if getattr(layer, "merged", False):
        return None
    if not hasattr(layer, "get_delta_weight"):
        raise NotImplementedError(f"{module_name}: only LoRA adapters can be sent to the rollout engine")
    known = getattr(layer, "lora_A", {})
    deltas = [layer.get_delta_weight(a) for a in layer.active_adapters if a in known]
    return sum(deltas[1:], deltas[0]) if deltas else None


@torch.no_grad()
def iter_policy_weights(model: torch.nn.Module, dtype: torch.dtype | None = None) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield `(checkpoint name, tensor)` for every weight of the (unwrapped) policy.

    LoRA is merged arithmetically into a new tensor (base + B @ A * scale) rather than with
    `merge_adapter()`/`unmerge_adapter()`: that round trip leaves the base weights off by rounding
    after every step (seen while writing tests/test_weight_sync.py), and the model is never modified here.
    A generator: tensors go to the engine one at a time, never a second copy of the whole model.
    `dtype` casts each tensor as it goes (the engine's dtype, e.g. bf16). Sharded parameters (and
    LoRA's A and B, when sharded) are gathered as they come: see the module docstring.
    """
    reshard(model)  # a root left gathered by a no-grad forward holds plain bf16 copies, not the shards
    layers = _adapter_layers(model)
    for name, param in model.named_parameters():
        if layers and ("lora_" in name or "original_module" in name):
            continue  # folded into the base weights / the copy that modules_to_save replaces
        tensor = _full(param.detach())
        if name.endswith(".base_layer.weight"):
            module_name = name[: -len(".base_layer.weight")]
            delta = _delta(layers[module_name], module_name) if module_name in layers else None
            if delta is not None:
                tensor = tensor + _full(delta).to(tensor.dtype)
        yield checkpoint_name(name), tensor if dtype is None else tensor.to(dtype)


def save_full(model: nn.Module, directory: str | Path, tokenizer: Any = None) -> None:
    """Write the policy as a plain transformers model (LoRA merged) to `directory` from rank 0.

    A collective: every rank gathers the weights one tensor at a time (`iter_policy_weights`);
    only rank 0 keeps a CPU copy, so rank 0 needs the model's full size in host memory once."""
    from transformers import AutoModelForCausalLM

    rank0 = rank() == 0
    weights = {}
    for name, tensor in iter_policy_weights(model):
        if rank0:
            weights[name] = tensor.detach().to("cpu", copy=True)
    if rank0:
        base = base_model(model)
        with torch.device("meta"):
            plain = AutoModelForCausalLM.from_config(base.config, dtype=torch.float32)
        _, unexpected = plain.load_state_dict(weights, strict=False, assign=True)
        plain.tie_weights()  # the export names a tied weight once
        absent = [n for n, p in plain.named_parameters() if p.is_meta]
        if absent or unexpected:
            raise ShardingError(f"export does not match {type(plain).__name__}: missing {absent}, "
                                f"unexpected {unexpected}")
        if getattr(base, "generation_config", None) is not None:
            plain.generation_config = base.generation_config
        Path(directory).mkdir(parents=True, exist_ok=True)
        plain.save_pretrained(str(directory))
        if tokenizer is not None:
            tokenizer.save_pretrained(str(directory))
    if dist.is_initialized():
        dist.barrier()


def weights_checksum(model: nn.Module) -> str:
    """A hash of the full trained weights (gathered under FSDP2: a collective): under DDP every
    rank must print the same; under FSDP2 they agree by construction, and the hash still tells
    two runs' weights apart."""
    h = hashlib.sha256()
    for name, tensor in iter_policy_weights(model):  # one full tensor at a time, in parameter order
        h.update(name.encode())
        h.update(tensor.detach().to(torch.float32).cpu().numpy().tobytes())
    return h.hexdigest()
