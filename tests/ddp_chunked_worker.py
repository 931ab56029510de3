"""Worker for tests/test_chunked_losses.py's DDP and FSDP2 checks, launched by torch.distributed.run
with 2 processes on gloo: usage `ddp_chunked_worker.py MODEL_DIR OUT_DIR {ddp,fsdp2}`.

Each rank takes different completions and backpropagates GRPO's chunked log-probs.
- ddp: twice, through the unwrapped model (its own gradients, "local") and through the DDP
  wrapper ("ddp").
- fsdp2: the model sharded per decoder layer plus the root (which holds the tied embedding and
  lm_head), gradients of the chunked path ("chunked") and of the full-logit path ("full").
Writes the flattened gradients to OUT_DIR/rank{r}.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from transformers import AutoModelForCausalLM

from leanfd.train.batching import completion_logits, token_logprobs
from leanfd.train.forward import completion_hidden
from leanfd.train.losses import token_logprobs_chunked


def flat_grads(model: torch.nn.Module) -> list[float]:
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    grads = [g.full_tensor() if hasattr(g, "full_tensor") else g for g in grads]  # FSDP2 shards are DTensors
    return torch.cat([g.reshape(-1) for g in grads]).tolist()


def backward_once(model: torch.nn.Module, rank: int, *, chunked: bool = True) -> None:
    prompts = [[5, 6, 7], [8, 9]]
    completions = [[20 + rank, 21, 22 + 3 * rank], [30 + 5 * rank, 31]]
    if chunked:
        ch = completion_hidden(model, prompts, completions, pad_id=0)
        logp, _ = token_logprobs_chunked(ch.hidden, ch.head, ch.tokens, ch.mask, chunk_tokens=2)
        mask = ch.mask
    else:
        logits, tokens, mask = completion_logits(model, prompts, completions, pad_id=0)
        logp = token_logprobs(logits, tokens)
    (logp * mask).sum().backward()


def ddp_grads(model_dir: str, rank: int) -> dict[str, list[float]]:
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float64)
    ddp = DistributedDataParallel(model)
    backward_once(ddp.module, rank)
    local = flat_grads(model)
    model.zero_grad(set_to_none=True)
    backward_once(ddp, rank)
    return {"local": local, "ddp": flat_grads(model)}


def fsdp2_grads(model_dir: str, rank: int) -> dict[str, list[float]]:
    from torch.distributed.fsdp import fully_shard

    out = {}
    for chunked in (True, False):
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float64)
        for layer in model.model.layers:
            fully_shard(layer)
        fully_shard(model)
        backward_once(model, rank, chunked=chunked)
        out["chunked" if chunked else "full"] = flat_grads(model)
    return out


def main(model_dir: str, out_dir: str, mode: str) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    grads = ddp_grads(model_dir, rank) if mode == "ddp" else fsdp2_grads(model_dir, rank)
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(grads))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:4])
