"""Building what a run trains: the memory plan's check, then tokenizer, policy, FD teacher, KL
reference, optimizer and schedule, placed by the chosen strategy (parallel.py).

Order matters: the plan is checked before any weight is loaded (a run that cannot fit says so
first); gradient checkpointing and LoRA are applied before the copies are made, so the teacher and
the reference have the policy's exact structure (FSDP2 then shards all three alike and the EMA
update is shard-local); the optimizer is built on the parameters as the strategy leaves them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from leanfd.config import ConfigError
from leanfd.train.config import TrainConfig
from leanfd.train.parallel import DDP
from leanfd.train.sharding import frozen_copy

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class Built:
    source: str  # where the weights were loaded from (a hub id, a path, an --init-from run's model)
    tokenizer: Any
    policy: torch.nn.Module  # as the strategy wraps it
    teacher: torch.nn.Module | None
    reference: torch.nn.Module | None
    parallel: Any  # parallel.DDP or parallel.FSDP2
    optimizer: torch.optim.Optimizer
    scheduler: Any
    pad_id: int


def resolve_init(path: str) -> str:
    """A checkpoint run directory or its `final/`: where the weights to start from lie."""
    p = Path(path)
    if (p / "config.json").is_file() or (p / "adapter_config.json").is_file():
        return str(p)
    if (p / "final" / "config.json").is_file():
        return str(p / "final")
    raise ConfigError(f"--init-from {path}: no model there (expected config.json, or final/config.json)")


def check_plan(config: TrainConfig, accelerator) -> None:
    """Refuse, before loading a model, a run the memory plan says cannot fit on its GPUs. On a
    machine without a GPU the check runs only when the config names the GPU's memory."""
    if accelerator.device.type != "cuda" and config.plan.gpu_memory_gb is None:
        return
    from leanfd.train.memory_plan import check_fits, plan_for

    check_fits(plan_for(config, processes=accelerator.num_processes))


def build(config: TrainConfig, accelerator) -> Built:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    c = config
    check_plan(c, accelerator)
    if c.optim.sharding == "fsdp2":
        from leanfd.train.parallel import check_fsdp2_launch

        check_fsdp2_launch(accelerator)
    source = resolve_init(c.init_from) if c.init_from else c.model
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    if c.optim.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    if c.optim.lora_r > 0:
        from peft import LoraConfig, get_peft_model

        o = c.optim
        model = get_peft_model(model, LoraConfig(r=o.lora_r, lora_alpha=o.lora_alpha, lora_dropout=o.lora_dropout,
                                                 target_modules=o.lora_targets, task_type="CAUSAL_LM"))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    dtype = DTYPES[c.optim.teacher_dtype]
    teacher = frozen_copy(model, dtype) if c.uses_teacher else None
    reference = frozen_copy(model, dtype) if c.uses_reference else None
    if c.optim.sharding == "fsdp2":
        from leanfd.train.parallel import build_fsdp2

        return build_fsdp2(c, accelerator, source, tokenizer, model, teacher, reference, pad_id)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=c.optim.lr,
                                  weight_decay=c.optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(c, step))
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    for twin in (teacher, reference):
        if twin is not None:
            twin.to(accelerator.device)
    if teacher is not None:
        accelerator.register_for_checkpointing(teacher)
    return Built(source, tokenizer, model, teacher, reference, DDP(accelerator, model), optimizer, scheduler, pad_id)


def lr_factor(c: TrainConfig, step: int) -> float:
    """The learning-rate multiplier at `step`: linear warm-up, then constant, linear or cosine decay."""
    o = c.optim
    if o.warmup_steps and step < o.warmup_steps:
        return (step + 1) / o.warmup_steps
    if o.lr_schedule == "constant":
        return 1.0
    frac = min(1.0, (step - o.warmup_steps) / max(1, c.max_steps - o.warmup_steps))
    return 1.0 - frac if o.lr_schedule == "linear" else 0.5 * (1 + math.cos(math.pi * frac))
