"""How the policy is spread over processes: what the loop and the losses call, whatever the strategy.

`DDP` (the default): accelerate wraps the model in DistributedDataParallel; every process holds the
whole model, gradients are all-reduced on the last micro-batch. `FSDP2` (`--sharding fsdp2`):
torch's `fully_shard` per decoder layer (sharding.py), the teacher and the reference sharded the
same way; accelerate only starts the processes and the process group (its own FSDP plugin falls
back to unsharded on a CPU machine: measured, issue 11).

A strategy places models; it never builds an optimizer: setup.py builds the one optimizer and
schedule (optim.py) on the parameters as `place_*` leaves them, then hands them to the strategy.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from pathlib import Path
from typing import Protocol

import torch

from leanfd.config import ConfigError
from leanfd.train import sharded_checkpoints, sharding, weight_sync


class Parallel(Protocol):
    def no_sync(self) -> contextlib.AbstractContextManager: ...
    def backward(self, loss: torch.Tensor) -> None: ...
    def autocast(self) -> contextlib.AbstractContextManager: ...
    def clip_grad_norm(self, max_norm: float) -> float: ...
    def unwrapped(self) -> torch.nn.Module: ...
    def checksum(self) -> str: ...
    def save_state(self, path: Path) -> None: ...
    def load_state(self, path: Path) -> None: ...
    def export(self, directory: Path, tokenizer) -> None: ...


class DDP:
    """accelerate's DistributedDataParallel (or a single process)."""

    def __init__(self, accelerator, model: torch.nn.Module):
        self.accelerator = accelerator
        self.model = model  # as `accelerator.prepare` returned it

    def no_sync(self) -> contextlib.AbstractContextManager:
        return self.accelerator.no_sync(self.model)

    def backward(self, loss: torch.Tensor) -> None:
        self.accelerator.backward(loss)

    def autocast(self) -> contextlib.AbstractContextManager:
        return self.accelerator.autocast()

    def clip_grad_norm(self, max_norm: float) -> float:
        norm = self.accelerator.clip_grad_norm_(self.model.parameters(), max_norm)
        return float(norm) if norm is not None else 0.0

    def unwrapped(self) -> torch.nn.Module:
        return self.accelerator.unwrap_model(self.model)

    def checksum(self) -> str:
        """This process' replica's weights, hashed: under DDP every process must hold the same."""
        return weight_sync.weights_checksum(self.unwrapped())

    def save_state(self, path: Path) -> None:
        with _tied_head_quiet(self.unwrapped()):
            self.accelerator.save_state(str(path))

    def load_state(self, path: Path) -> None:
        self.accelerator.load_state(str(path))

    def export(self, directory: Path, tokenizer) -> None:
        """A plain transformers model (LoRA merged), written by the main process."""
        if self.accelerator.is_main_process:
            model = self.unwrapped()
            if hasattr(model, "merge_and_unload"):
                model = copy.deepcopy(model).merge_and_unload()
            model.save_pretrained(str(directory))
            tokenizer.save_pretrained(str(directory))


@contextlib.contextmanager
def _tied_head_quiet(model: torch.nn.Module):
    """accelerate 1.16's safetensors save drops every tensor that shares storage with another and logs
    "Removed shared tensor {'lm_head.weight'} ..." at each checkpoint. For a model whose config ties
    the LM head to the embeddings that is the intended layout (loading ties them again), so the warning
    is dropped; any other shared tensor (or an untied model's) still warns."""
    tied = bool(getattr(getattr(model, "config", None), "tie_word_embeddings", False))

    def keep(record: logging.LogRecord) -> bool:
        return not (tied and "Removed shared tensor" in record.getMessage())

    logger = logging.getLogger("accelerate.utils.other")
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


class FSDP2:
    """torch's `fully_shard` (sharding.py): every process holds 1/N of the policy, its gradients,
    its optimizer state, the teacher and the reference. Every forward and backward is a
    collective: the micro-batch count is agreed (`sharding.agree_count`), generation runs with `synced_gpus`,
    and checkpoints and exports are written by all processes together."""

    def __init__(self, model: torch.nn.Module, optimizer, scheduler, teacher: torch.nn.Module | None,
                 reference: torch.nn.Module | None):
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.teacher, self.reference = teacher, reference

    def no_sync(self) -> contextlib.AbstractContextManager:
        return sharding.gradient_sync(self.model, False)

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()
        for twin in (self.teacher, self.reference):  # their roots stay gathered after a no-grad forward
            if twin is not None:
                sharding.reshard(twin)

    def autocast(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()  # the compute dtype is the MixedPrecisionPolicy's

    def clip_grad_norm(self, max_norm: float) -> float:
        return sharding.clip_grad_norm(self.model.parameters(), max_norm)

    def unwrapped(self) -> torch.nn.Module:
        return self.model  # fully_shard changes the model in place: it is still the transformers one

    def checksum(self) -> str:
        return weight_sync.weights_checksum(self.model)

    def save_state(self, path: Path) -> None:
        sharded_checkpoints.save_sharded(path, self.model, self.optimizer, teacher=self.teacher,
                                         scheduler=self.scheduler)

    def load_state(self, path: Path) -> None:
        sharded_checkpoints.load_sharded(path, self.model, self.optimizer, teacher=self.teacher,
                                         scheduler=self.scheduler)

    def export(self, directory: Path, tokenizer) -> None:
        weight_sync.save_full(self.model, directory, tokenizer)


def check_fsdp2_launch(accelerator) -> None:
    """Before any model is loaded: FSDP2 needs the process group of N >= 2 launched processes."""
    if accelerator.num_processes < 2 or not torch.distributed.is_initialized():
        raise ConfigError("--sharding fsdp2 shards over the processes that `accelerate launch --multi_gpu "
                          "--num_processes N` or torchrun start (N >= 2); one process holds the whole model "
                          "anyway: use --sharding ddp")


def ddp(accelerator, model: torch.nn.Module, optimizer, scheduler, teacher: torch.nn.Module | None,
        reference: torch.nn.Module | None) -> tuple[DDP, torch.optim.Optimizer, object]:
    """Hand model, optimizer and schedule to accelerate (DDP, or one process), move the frozen
    copies beside the model, register the teacher for accelerate's checkpoints; return the
    strategy and the prepared optimizer and schedule."""
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    for twin in (teacher, reference):
        if twin is not None:
            twin.to(accelerator.device)
    if teacher is not None:
        accelerator.register_for_checkpointing(teacher)
    return DDP(accelerator, model), optimizer, scheduler


def place_fsdp2(device, model: torch.nn.Module, teacher: torch.nn.Module | None,
                reference: torch.nn.Module | None, compute: torch.dtype | None) -> None:
    """Shard the policy, then the teacher and the reference the same way, in place (setup.py made
    the unsharded copies in --teacher-dtype); the optimizer is built on the shards afterwards."""
    model.to(device)
    sharding.shard_model(model, param_dtype=compute)
    for twin in (teacher, reference):
        if twin is not None:
            twin.to(device)
            sharding.shard_model(twin, param_dtype=compute)
