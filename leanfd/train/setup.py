"""Building what a run trains: the memory plan's check, then tokenizer, policy, FD teacher, KL
reference, placed by the chosen strategy (parallel.py), then the one optimizer and schedule (optim.py).

Order matters: the plan is checked before any weight is loaded (a run that cannot fit says so
first); gradient checkpointing and LoRA are applied before the copies are made, so the teacher and
the reference have the policy's exact structure (FSDP2 then shards all three alike and the EMA
update is shard-local); the optimizer is built on the parameters as the strategy leaves them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from leanfd.config import ConfigError
from leanfd.train.config import TrainConfig
from leanfd.train.memory_plan import check_fits, plan_for
from leanfd.train.optim import build_optimizer
from leanfd.train.parallel import FSDP2, check_fsdp2_launch, ddp, place_fsdp2
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
    check_fits(plan_for(config, processes=accelerator.num_processes))


def build(config: TrainConfig, accelerator) -> Built:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    c = config
    check_plan(c, accelerator)
    if c.optim.sharding == "fsdp2":
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
        place_fsdp2(accelerator.device, model, teacher, reference, torch.bfloat16 if c.optim.bf16 else None)
        optimizer, scheduler = build_optimizer(c, model)
        parallel = FSDP2(model, optimizer, scheduler, teacher, reference)
    else:
        optimizer, scheduler = build_optimizer(c, model)
        parallel, optimizer, scheduler = ddp(accelerator, model, optimizer, scheduler, teacher, reference)
        model = parallel.model
    return Built(source, tokenizer, model, teacher, reference, parallel, optimizer, scheduler, pad_id)
