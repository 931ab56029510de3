"""Worker for tests/test_chunked_losses.py's DDP check, launched by torch.distributed.run with 2
processes on gloo: usage `ddp_chunked_worker.py MODEL_DIR OUT_DIR`.

Each rank takes different completions and backpropagates GRPO's chunked log-probs twice: once
through the unwrapped model (its own gradients, "local"), once through the DDP wrapper ("ddp").
Writes both, flattened, to OUT_DIR/rank{r}.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from transformers import AutoModelForCausalLM

from leanfd.train.forward import completion_hidden
from leanfd.train.losses import token_logprobs_chunked


def flat_grads(model: torch.nn.Module) -> list[float]:
    return torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None]).tolist()


def backward_once(model: torch.nn.Module, rank: int) -> None:
    prompts = [[5, 6, 7], [8, 9]]
    completions = [[20 + rank, 21, 22 + 3 * rank], [30 + 5 * rank, 31]]
    ch = completion_hidden(model, prompts, completions, pad_id=0)
    logp, _ = token_logprobs_chunked(ch.hidden, ch.head, ch.tokens, ch.mask, chunk_tokens=2)
    (logp * ch.mask).sum().backward()


def main(model_dir: str, out_dir: str) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float64)
    ddp = DistributedDataParallel(model)
    backward_once(ddp.module, rank)
    local = flat_grads(model)
    model.zero_grad(set_to_none=True)
    backward_once(ddp, rank)
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps({"local": local, "ddp": flat_grads(model)}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:3])
