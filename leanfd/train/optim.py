"""The optimizer and its learning-rate schedule, built in this one place for every strategy.

Built on the parameters as the strategy leaves them (FSDP2: the shards), after LoRA froze the base.
"""

from __future__ import annotations

import math

import torch

from leanfd.train.config import TrainConfig


def build_optimizer(c: TrainConfig, model: torch.nn.Module):
    """AdamW over the trained parameters, and its LambdaLR schedule (`lr_factor`)."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=c.optim.lr,
                                  weight_decay=c.optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(c, step))
    return optimizer, scheduler


def lr_factor(c: TrainConfig, step: int) -> float:
    """The learning-rate multiplier at `step`: linear warm-up, then constant, linear or cosine decay."""
    o = c.optim
    if o.warmup_steps and step < o.warmup_steps:
        return (step + 1) / o.warmup_steps
    if o.lr_schedule == "constant":
        return 1.0
    frac = min(1.0, (step - o.warmup_steps) / max(1, c.max_steps - o.warmup_steps))
    return 1.0 - frac if o.lr_schedule == "linear" else 0.5 * (1 + math.cos(math.pi * frac))
