"""The EMA teacher: it follows the student after every optimizer step, shard by shard under FSDP2.

Its own module because the update is neither sharding nor checkpointing: it pairs each student
parameter (a plain tensor or an FSDP2 shard placed by `sharding.shard_model`) with the teacher's,
locally, with no communication.
"""

from __future__ import annotations

import torch
from torch import nn

from leanfd.train.sharding import ShardingError, local_shard, reshard


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
        tl, pl = local_shard(t), local_shard(p.detach())
        if tl.shape != pl.shape:
            raise ShardingError(f"{name}: teacher shard {tuple(tl.shape)} != student shard {tuple(pl.shape)}")
        if tl.dtype == torch.bfloat16:
            if tl.device not in generators:
                generators[tl.device] = torch.Generator(device=tl.device).manual_seed(seed)
            tl.copy_(stochastic_round_bf16(tl.float().lerp_(pl.float(), rate), generators[tl.device]))
        else:
            tl.lerp_(pl.to(tl.dtype), rate)
