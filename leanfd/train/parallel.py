"""How the policy is spread over processes: what the loop and the losses call, whatever the strategy.

`DDP` (the default): accelerate wraps the model in DistributedDataParallel; every process holds the
whole model, gradients are all-reduced on the last micro-batch. `FSDP2` (`--sharding fsdp2`):
torch's `fully_shard` per decoder layer (sharding.py), the teacher and the reference sharded the
same way; accelerate only starts the processes and the process group (its own FSDP plugin falls
back to unsharded on a CPU machine: measured, issue 11).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import torch


class Parallel(Protocol):
    def agree_max(self, n: int) -> int: ...
    def no_sync(self) -> contextlib.AbstractContextManager: ...
    def backward(self, loss: torch.Tensor) -> None: ...
    def autocast(self) -> contextlib.AbstractContextManager: ...
    def clip_grad_norm(self, max_norm: float) -> float: ...


def agree_max(n: int, device: torch.device) -> int:
    """The largest `n` over all processes (itself when not distributed)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return n
    t = torch.tensor([n], dtype=torch.long, device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return int(t.item())


class DDP:
    """accelerate's DistributedDataParallel (or a single process)."""

    def __init__(self, accelerator, model: torch.nn.Module):
        self.accelerator = accelerator
        self.model = model  # as `accelerator.prepare` returned it

    def agree_max(self, n: int) -> int:
        return agree_max(n, self.accelerator.device)

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

    @contextlib.contextmanager
    def full_weights(self) -> Iterator[torch.nn.Module]:
        """The whole (unwrapped) model, for export."""
        yield self.unwrapped()

    def checksum(self) -> str:
        """This process' replica's weights, hashed: under DDP every process must hold the same."""
        from leanfd.train.checkpoints import checksum

        return checksum(self.unwrapped())

    def save_state(self, path: Path) -> None:
        self.accelerator.save_state(str(path))

    def load_state(self, path: Path) -> None:
        self.accelerator.load_state(str(path))
