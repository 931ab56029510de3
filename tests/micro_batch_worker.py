"""The step of tests/test_micro_batches.py, as one process of a step runs it; launched by
torch.distributed.run with 2 processes on gloo (`micro_batch_worker.py MODEL_DIR OUT_DIR`), each
rank running its part of the step under DDP and writing its loss and the reduced gradients.

The step: two problems of a group of 2 each, the completions of different lengths, the teacher a
second model. Rank 0 takes problem 0 (two rows), rank 1 problem 1, whose second attempt sampled
nothing (one row): uneven rows, as a step with failed or empty attempts has.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import torch

from leanfd.data.benchmarks import Problem
from leanfd.lean.records import Verdict
from leanfd.models.base import encode_with_tokenizer
from leanfd.train.attempts import Attempt, StepBatch
from leanfd.train.batching import completion_logits
from leanfd.train.config import FDConfig, GRPOConfig
from leanfd.train.objectives import Models, fd_backward, grpo_backward

PROBLEM = Problem(name="toy_true", header="prelude\n", formal_statement="theorem toy_true : True :=", split="train")
LENGTHS = ((5, 2), (3, 0))  # completion tokens of each problem's two attempts
REWARDS = ((1.0, 0.0), (0.0, 1.0))
FEEDBACK = "Use True.intro."
T = 0.8


class Serial:
    """One process's strategy, and under DDP the wrapper's no_sync."""

    def __init__(self, model=None):
        self.model = model

    def no_sync(self):
        return self.model.no_sync() if self.model is not None else contextlib.nullcontext()

    def backward(self, loss):
        loss.backward()

    def autocast(self):
        return contextlib.nullcontext()


def attempts_of(problems: list[int], tok, model) -> tuple[Attempt, ...]:
    """The attempts of `problems`, with the sampler's log-probs taken from `model` at T (ratio 1)."""
    prompt = encode_with_tokenizer(tok, PROBLEM.formal_statement, "tiny")
    gen = torch.Generator().manual_seed(0)
    every = [[torch.randint(4, len(tok), (n,), generator=gen).tolist() for n in LENGTHS[p]] for p in range(2)]
    out = []
    for group, p in enumerate(problems):
        for j, comp in enumerate(every[p]):
            logp = []
            if comp:
                with torch.no_grad():
                    logits, tokens, _ = completion_logits(model, [prompt], [comp], tok.pad_token_id)
                    logp = torch.log_softmax(logits / T, -1).gather(-1, tokens.unsqueeze(-1))[0, :, 0].tolist()
            verdict = Verdict(name=PROBLEM.name, status="proved" if REWARDS[p][j] else "failed")
            out.append(Attempt(problem=PROBLEM, group=group, turn=0, prompt=PROBLEM.formal_statement,
                               prompt_ids=tuple(prompt), completion_ids=tuple(comp), sampled_logprobs=tuple(logp),
                               text="", finish_reason="stop", check=PROBLEM.to_check_record({"proof": " x"}),
                               verdict=verdict, root=len(out)))
    return tuple(out)


def step(method: str, aggregation: str, problems: list[int], policy, teacher, tok, parallel, micro_batch: int):
    """One step's loss and the gradients of `policy`'s parameters on `problems`, through the
    trainer's own backward (`policy`: the model, or its DDP wrapper)."""
    model = getattr(policy, "module", policy)
    attempts = attempts_of(problems, tok, model)
    rewards = tuple(REWARDS[p][j] for p in problems for j in range(2))
    batch = StepBatch(attempts, rewards, (FEEDBACK,) * len(attempts))
    encode = lambda p: encode_with_tokenizer(tok, p, "tiny")  # noqa: E731
    models = Models(policy, teacher, None, encode, tok.pad_token_id)
    model.zero_grad(set_to_none=True)
    if method == "fd":
        loss, _ = fd_backward(batch, models, FDConfig(topk=0), temperature=T, micro_batch=micro_batch,
                              loss_chunk=3, parallel=parallel)
    else:
        loss, _ = grpo_backward(batch, models, GRPOConfig(aggregation=aggregation), group_size=2, temperature=T,
                                budget=8, micro_batch=micro_batch, loss_chunk=3, parallel=parallel)
    grads = torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None])
    return loss, grads


CASES = (("fd", "token_mean"), ("grpo", "token_mean"), ("grpo", "sequence_mean"), ("grpo", "dr_grpo"))


def load(model_dir: str):
    """The policy, a teacher that differs from it (FD's divergence is then not zero), the tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float64)
    teacher = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float64).requires_grad_(False)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in teacher.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return model, teacher, tok


def main(model_dir: str, out_dir: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    model, teacher, tok = load(model_dir)
    ddp = DistributedDataParallel(model)
    result = {}
    for method, aggregation in CASES:
        loss, grads = step(method, aggregation, [rank], ddp, teacher, tok, Serial(ddp), micro_batch=1)
        result[f"{method}/{aggregation}"] = {"loss": loss, "grads": grads.tolist()}
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(result))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:3])
