"""Resumable FSDP2 checkpoints: `torch.distributed.checkpoint` (DCP) directories written by every rank.

Each rank writes its own shards of model, optimizer and teacher; the scheduler and the RNG states,
a few bytes, go to one small `rank{r}.pt` per rank (each rank's RNG differs: its sampling seed is
offset by its rank). What a DDP run saves is accelerate's `save_state` (parallel.DDP).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from leanfd.train.sharding import ShardingError, rank, reshard

MODEL_KEY, OPTIM_KEY, TEACHER_KEY = "model", "optimizer", "teacher"


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
    torch.save(rank_state, path / f"rank{rank()}.pt")
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
    rank_file = path / f"rank{rank()}.pt"
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
