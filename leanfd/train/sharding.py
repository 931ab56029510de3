"""FSDP2 sharding of the policy, its EMA teacher and its KL reference (`--sharding fsdp2`).

torch's own `fully_shard` (FSDP2) is applied here rather than through accelerate's FSDP plugin:
accelerate refuses the plugin on a CPU machine and falls back to an unsharded model, while
`fully_shard` on a transformers model shards and trains under gloo as under NCCL. The wrapping is
torchtitan's: one FSDP unit per repeated decoder layer (found from the model's `_no_split_modules`),
then the root, which holds the embeddings, the final norm and `lm_head`.

`lm_head` is deliberately *not* a unit of its own. The root unit is never resharded after its
forward (`reshard_after_forward=False`; FSDP2 does the same for a root by default), so after
`model(..., output_hidden_states=True, logits_to_keep=1)` the root's parameters stay gathered until
the backward's end: a chunked loss may call `lm_head` as a module on hidden-state chunks outside the
root forward, any number of times, and activation checkpointing may recompute those calls in the
backward, without an all-gather of its own (a separate unit would all-gather per call, possibly
inside the backward's recompute) and without splitting tied weights (Qwen2.5-1.5B ties `lm_head`
to `embed_tokens`; one parameter cannot sit in two units). The price: the root's parameters
(embeddings and `lm_head`, ~15% of a 1.5B Qwen) are held unsharded from each forward to the end of
its backward. (Measured: with the root resharded after its forward, `lm_head` called outside
fails with "aten.mm.default got mixed torch.Tensor and DTensor".) transformers 5 checkpoints a
layer's `forward`, not its `__call__`, so FSDP2's hooks stay outside HF's activation checkpointing.

Teacher and reference are copies of the unsharded model sharded by the same function, so the EMA
update pairs each student shard with the teacher shard of the same placement, locally, with no
communication (ema.py). Every forward and backward of a sharded model is a collective: every rank
must run the same number of them (`agree_count`, `HFBackend.synced_gpus`). Checkpoints of sharded
models: sharded_checkpoints.py; the gathered export and checksum: weight_sync.py.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator

import torch
import torch.distributed as dist
from torch import nn

from leanfd.lean.errors import LeanFDError

log = logging.getLogger(__name__)

class ShardingError(LeanFDError):
    """The model cannot be sharded as asked (no decoder layers found, mismatched copies)."""


# -- finding the blocks ------------------------------------------------------------------------


def base_model(model: nn.Module) -> nn.Module:
    """The transformers model under a PEFT wrapper (the model itself when there is none)."""
    get = getattr(model, "get_base_model", None)
    return get() if callable(get) else model


def decoder_layers(model: nn.Module) -> list[nn.Module]:
    """The repeated blocks to shard one by one: modules whose class is named in the model's
    `_no_split_modules` (transformers' list of blocks that must stay whole, i.e. the decoder
    layers), looked for through a PEFT wrapper."""
    base = base_model(model)
    names = set(getattr(base, "_no_split_modules", None) or ())
    if not names:
        raise ShardingError(f"{type(base).__name__} declares no _no_split_modules: cannot tell its decoder layers")
    layers = [m for m in model.modules() if type(m).__name__ in names or _fsdp_base_name(m) in names]
    if not layers:
        raise ShardingError(f"{type(base).__name__}: no module of the classes {sorted(names)} named in its "
                            "_no_split_modules")
    return layers


def _fsdp_base_name(module: nn.Module) -> str:
    """The class name a module had before `fully_shard` swapped it for `FSDP<name>`."""
    name = type(module).__name__
    return name.removeprefix("FSDP") if is_sharded(module) else name


def is_sharded(model: nn.Module) -> bool:
    """Whether `model` (or the transformers model under its PEFT wrapper) is an FSDP2 root."""
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule) or isinstance(base_model(model), FSDPModule)


def default_mesh():
    """A 1-D mesh over every process: cuda when there is one, cpu (gloo) otherwise."""
    from torch.distributed.device_mesh import init_device_mesh

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return init_device_mesh(device, (dist.get_world_size(),))


# -- sharding ----------------------------------------------------------------------------------


def shard_model(model: nn.Module, *, param_dtype: torch.dtype | None = None, mesh=None) -> nn.Module:
    """Shard `model` in place with FSDP2, one unit per decoder layer, then the root; return it.

    `param_dtype` is the dtype parameters are all-gathered in and computed in (bf16 under
    `--bf16`); the shards themselves keep their own dtype (fp32 master weights for the policy) and
    gradients are reduced in fp32. Call after gradient checkpointing and LoRA are applied and
    before the optimizer is built (it must see the sharded parameters). Every rank must hold the
    same weights (each keeps its slice of its own copy; nothing is broadcast, unlike DDP): the
    same checkpoint, LoRA initialised under the same seed. That is checked here.
    """
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    _check_same_on_every_rank(model)
    mesh = mesh if mesh is not None else default_mesh()
    mp = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=torch.float32 if param_dtype else None)
    layers = decoder_layers(model)
    for layer in layers:
        fully_shard(layer, mesh=mesh, mp_policy=mp)
    # False: the root's parameters (embeddings, norm, lm_head) stay gathered from its forward to the
    # end of the backward, for `lm_head` called outside the forward (see the module docstring).
    # The root is the transformers model, under a PEFT wrapper if there is one: `generate` calls
    # that model's own forward, never the wrapper's, and the root's hooks must run either way.
    fully_shard(base_model(model), mesh=mesh, mp_policy=mp, reshard_after_forward=False)
    log.info("%s sharded over %d ranks: %d decoder layers and the root, computed in %s",
             type(base_model(model)).__name__, mesh.size(), len(layers), param_dtype or "the parameters' dtype")
    return model


def _check_same_on_every_rank(model: nn.Module) -> None:
    """Refuse to shard weights that differ across ranks, by a fingerprint of each parameter (its
    sum and its sum of squares, with no float64 copy of the weight) compared across ranks: two
    small all-reduces."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    names, prints = [], []
    for name, p in model.named_parameters():
        if p.is_meta:  # a model built on the meta device has no values to differ yet
            continue
        flat = p.detach().reshape(-1).float()
        names.append(name)
        prints.append(torch.stack([flat.sum(dtype=torch.float64), flat.dot(flat).double()]).cpu())
    if not prints:
        return
    local = torch.stack(prints).to(_collective_device())  # (P, 2)
    low, high = local.clone(), local.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    differ = [n for n, d in zip(names, (low != high).any(dim=1).tolist(), strict=True) if d]
    if differ:
        raise ShardingError(f"the ranks hold different weights before sharding (in {len(differ)} parameter(s), "
                            f"e.g. {differ[0]}): load the same checkpoint and seed LoRA's initialisation alike "
                            "on every rank")


def frozen_copy(model: nn.Module, dtype: torch.dtype | None = None) -> nn.Module:
    """A copy of the *unsharded* model that never trains, optionally cast to `dtype`; shard it
    with `shard_model` as the policy is sharded."""
    import copy

    if is_sharded(model):
        raise ShardingError("copy the model before sharding it: the copy must be sharded the same way, afresh")
    twin = copy.deepcopy(model)
    if dtype is not None:
        twin.to(dtype)
    twin.requires_grad_(False)
    twin.eval()
    return twin


def reshard(model: nn.Module) -> None:
    """Put every FSDP unit of `model` back to its shards (a no-op for an unsharded model): after a
    no-grad forward the root stays gathered, and its parameters are then plain tensors."""
    from torch.distributed.fsdp import FSDPModule

    for m in model.modules():
        if isinstance(m, FSDPModule):
            m.reshard()


def local_shard(t: torch.Tensor) -> torch.Tensor:
    """This rank's part of `t`: its local shard for an FSDP2 DTensor, `t` itself otherwise."""
    from torch.distributed.tensor import DTensor

    return t.to_local() if isinstance(t, DTensor) else t



# -- the step's collectives --------------------------------------------------------------------


def rank() -> int:
    """This process' rank in the process group (0 outside one)."""
    return dist.get_rank() if dist.is_initialized() else 0


def _collective_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def agree_count(n: int) -> int:
    """The largest `n` over all processes (n itself when not distributed): how many micro-batches
    every rank runs, so that a sharded model's forwards and backwards pair up across ranks. A rank
    with fewer pads with passes whose loss mask is empty (zero loss, zero gradient)."""
    if not (dist.is_available() and dist.is_initialized()):
        return n
    t = torch.tensor([n], dtype=torch.long, device=_collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def agree_sum(x: float) -> float:
    """The sum of `x` over all processes (x itself when not distributed): a step's normaliser, such
    as its counted completion tokens, is the whole step's, not one process's."""
    if not (dist.is_available() and dist.is_initialized()):
        return x
    t = torch.tensor([x], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item())


def world_size() -> int:
    """How many processes train together (1 when not distributed). DDP and FSDP2 average gradients
    over them, so a process's loss that is its share of the step's total is scaled by this."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


@contextlib.contextmanager
def gradient_sync(model: nn.Module, enabled: bool) -> Iterator[None]:
    """Within: this backward reduces gradients across ranks only when `enabled` (the last
    micro-batch of a step); otherwise they accumulate locally, unsharded under FSDP2 (its
    `set_requires_gradient_sync`), as DDP's `no_sync` does."""
    if enabled:
        yield
    elif is_sharded(model):
        root = base_model(model)
        root.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            root.set_requires_gradient_sync(True)
    elif hasattr(model, "no_sync"):
        with model.no_sync():
            yield
    else:
        yield


def clip_grad_norm(parameters: Iterable[torch.Tensor], max_norm: float) -> float:
    """Clip the gradients' global norm to `max_norm` and return the norm before clipping, as a float.

    `torch.nn.utils.clip_grad_norm_` handles DTensor gradients itself (each shard's squared norm
    summed across ranks); its result is then a replicated DTensor, made a float here."""
    norm = torch.nn.utils.clip_grad_norm_([p for p in parameters if p.grad is not None], max_norm)
    full = getattr(norm, "full_tensor", None)
    return float(full() if callable(full) else norm)


# -- memory ------------------------------------------------------------------------------------


def local_bytes(model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict[str, int]:
    """Bytes this rank holds for the model's parameters, their gradients and the optimizer's
    state: shards only under FSDP2, about 1/N of DDP's. The model is resharded first (a no-grad
    forward leaves its root gathered); buffers gathered during a forward are not counted."""
    reshard(model)
    seen: set[int] = set()
    params = grads = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        local = local_shard(p.detach())
        params += local.numel() * local.element_size()
        if p.grad is not None:
            g = local_shard(p.grad)
            grads += g.numel() * g.element_size()
    state = 0
    if optimizer is not None:
        for s in optimizer.state.values():
            for v in s.values():
                if isinstance(v, torch.Tensor):
                    lv = local_shard(v)
                    state += lv.numel() * lv.element_size()
    return {"params": params, "grads": grads, "optimizer": state}
