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
communication. Every forward and backward of a sharded model is a collective: every rank must
run the same number of them (`agree_count`, `HFBackend.synced_gpus`).

Checkpoints are `torch.distributed.checkpoint` (DCP) directories: each rank writes its own shards
of model, optimizer and teacher; the scheduler and the RNG states, a few bytes, go to one small
`rank{r}.pt` per rank (each rank's RNG differs: its sampling seed is offset by its rank).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from leanfd.lean.errors import LeanFDError

log = logging.getLogger(__name__)

MODEL_KEY, OPTIM_KEY, TEACHER_KEY = "model", "optimizer", "teacher"


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


def sharded_copy(model: nn.Module, *, compute_dtype: torch.dtype | None = None,
                 store_dtype: torch.dtype | None = None, mesh=None) -> nn.Module:
    """The teacher or the reference: a frozen copy of the *unsharded* `model`, its shards stored in
    `store_dtype` (default: the model's, fp32), gathered and computed in `compute_dtype`, sharded
    as `shard_model` shards the policy. An EMA teacher keeps fp32 shards whatever it computes in
    (see `ema_update`); a copy that never changes may be stored in bf16."""
    return shard_model(frozen_copy(model, store_dtype), param_dtype=compute_dtype, mesh=mesh)


def reshard(model: nn.Module) -> None:
    """Put every FSDP unit of `model` back to its shards (a no-op for an unsharded model): after a
    no-grad forward the root stays gathered, and its parameters are then plain tensors."""
    from torch.distributed.fsdp import FSDPModule

    for m in model.modules():
        if isinstance(m, FSDPModule):
            m.reshard()


# -- EMA -----------------------------------------------------------------------------------------


def _local(t: torch.Tensor) -> torch.Tensor:
    from torch.distributed.tensor import DTensor

    return t.to_local() if isinstance(t, DTensor) else t


def stochastic_round_bf16(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """fp32 -> bf16 rounded up or down at random, with the probability that makes it unbiased:
    E[round(x)] = x. bf16 keeps an fp32's top 16 bits; adding a uniform 16-bit integer to the
    bit pattern before dropping the low 16 carries into the kept bits with probability (dropped
    part) / 2^16 (sign-magnitude: the same holds for negative numbers). (Zamirai et al. 2020,
    arXiv 2010.06192, on bf16 training with stochastic rounding.)"""
    bits = x.contiguous().view(torch.int32)
    noise = torch.randint(0, 1 << 16, x.shape, dtype=torch.int32, device=x.device, generator=generator)
    return ((bits + noise) & -65536).view(torch.float32).to(torch.bfloat16)  # -65536 = 0xFFFF0000: exact in bf16


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, rate: float, *, seed: int = 0) -> None:
    """teacher <- (1 - rate) * teacher + rate * student, over the student's trained parameters.

    Plain tensors or FSDP2 DTensors: each local shard is updated from the student's shard of the
    same placement, with no communication (both were sharded by `shard_model` from the same
    unsharded model; the placements and local shapes are checked).

    A bf16 teacher would lose, under round-to-nearest, every update smaller than half of bf16's
    spacing, 2^-9 to 2^-8 (0.2-0.4%) of the weight. Measured on 1e5 N(0, 1) weights at rate 0.05:
    a student 1% away (student = teacher * 1.01) moved none of them, 5% away 35%, 8% away 98%;
    a step of AdamW at lr 1e-6..1e-5 moves a weight far less than 1%, so such a teacher would stay
    frozen at its start. So a bf16 teacher is updated in fp32 and rounded stochastically
    (`stochastic_round_bf16`, drawn from `seed`: give each step its own, the same on every rank):
    each weight moves by the update in expectation, at half the memory of an fp32 teacher.
    tests/test_sharding.py checks both: round-to-nearest freezes, this one tracks the fp32 EMA.
    """
    reshard(teacher)
    reshard(student)
    t_params = dict(teacher.named_parameters())
    generators: dict[torch.device, torch.Generator] = {}
    for name, p in student.named_parameters():
        if not p.requires_grad:
            continue
        t = t_params[name]
        if getattr(t, "placements", None) != getattr(p, "placements", None):
            raise ShardingError(f"{name}: teacher placements {getattr(t, 'placements', None)} != student "
                                f"{getattr(p, 'placements', None)}: shard both with shard_model")
        tl, pl = _local(t), _local(p.detach())
        if tl.shape != pl.shape:
            raise ShardingError(f"{name}: teacher shard {tuple(tl.shape)} != student shard {tuple(pl.shape)}")
        if tl.dtype == torch.bfloat16:
            if tl.device not in generators:
                generators[tl.device] = torch.Generator(device=tl.device).manual_seed(seed)
            tl.copy_(stochastic_round_bf16(tl.float().lerp_(pl.float(), rate), generators[tl.device]))
        else:
            tl.lerp_(pl.to(tl.dtype), rate)


# -- the step's collectives --------------------------------------------------------------------


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


# -- checkpoints -------------------------------------------------------------------------------


def _rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def _dcp_state(model: nn.Module, optimizer: torch.optim.Optimizer, teacher: nn.Module | None) -> dict[str, Any]:
    """What a DCP checkpoint holds, as sharded state dicts of this rank's shards (parameter names,
    not optimizer indices, key the optimizer's state)."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_state_dict

    for m in (model, teacher):
        if m is not None:
            reshard(m)
    model_sd, optim_sd = get_state_dict(model, optimizer)
    state: dict[str, Any] = {MODEL_KEY: model_sd, OPTIM_KEY: optim_sd}
    if teacher is not None:
        state[TEACHER_KEY] = get_model_state_dict(teacher)
    return state


def save_sharded(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer, *,
                 teacher: nn.Module | None = None, scheduler: Any = None) -> None:
    """Write a resumable checkpoint to the directory `path`, from every rank (a collective).

    Model, optimizer and teacher: one DCP checkpoint, each rank writing its own shards (LoRA:
    the frozen base is written too, so a checkpoint stands alone). Scheduler and RNG states:
    `path/rank{r}.pt`, one per rank."""
    import torch.distributed.checkpoint as dcp

    path = Path(path)
    dcp.save(_dcp_state(model, optimizer, teacher), checkpoint_id=str(path))
    rank_state = {"rng": rng_state(), "scheduler": scheduler.state_dict() if scheduler is not None else None}
    torch.save(rank_state, path / f"rank{_rank()}.pt")
    if dist.is_initialized():
        dist.barrier()


def load_sharded(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer, *,
                 teacher: nn.Module | None = None, scheduler: Any = None) -> None:
    """Restore what `save_sharded` wrote into a model, optimizer (and teacher, scheduler) built
    and sharded as they were at save time, on the same number of ranks (a collective). Restores
    this rank's RNG states too, so the run continues as if never stopped."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_state_dict

    path = Path(path)
    state = _dcp_state(model, optimizer, teacher)
    dcp.load(state, checkpoint_id=str(path))  # in place, into this rank's shards
    set_state_dict(model, optimizer, model_state_dict=state[MODEL_KEY], optim_state_dict=state[OPTIM_KEY])
    if teacher is not None:
        set_model_state_dict(teacher, state[TEACHER_KEY])
    rank_file = path / f"rank{_rank()}.pt"
    if not rank_file.is_file():
        raise ShardingError(f"{rank_file} is missing: was the checkpoint written by as many processes?")
    rank_state = torch.load(rank_file, weights_only=False)
    if scheduler is not None and rank_state["scheduler"] is not None:
        scheduler.load_state_dict(rank_state["scheduler"])
    set_rng_state(rank_state["rng"])


def rng_state() -> dict[str, Any]:
    import numpy as np

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# -- full weights ------------------------------------------------------------------------------


def save_full(model: nn.Module, directory: str | Path, tokenizer: Any = None) -> None:
    """Write the policy as a plain transformers model (LoRA merged) to `directory` from rank 0.

    A collective: every rank gathers the weights one tensor at a time (`iter_policy_weights`);
    only rank 0 keeps a CPU copy, so rank 0 needs the model's full size in host memory once."""
    from transformers import AutoModelForCausalLM

    from leanfd.train.weight_sync import iter_policy_weights

    rank0 = _rank() == 0
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
    from leanfd.train.weight_sync import iter_policy_weights

    h = hashlib.sha256()
    for name, tensor in iter_policy_weights(model):  # one full tensor at a time, in parameter order
        h.update(name.encode())
        h.update(tensor.detach().to(torch.float32).cpu().numpy().tobytes())
    return h.hexdigest()


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
        local = _local(p.detach())
        params += local.numel() * local.element_size()
        if p.grad is not None:
            g = _local(p.grad)
            grads += g.numel() * g.element_size()
    state = 0
    if optimizer is not None:
        for s in optimizer.state.values():
            for v in s.values():
                if isinstance(v, torch.Tensor):
                    lv = _local(v)
                    state += lv.numel() * lv.element_size()
    return {"params": params, "grads": grads, "optimizer": state}
