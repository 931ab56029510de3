"""The trainer's loss is its aggregation's definition over the whole step, however the step is cut
(issue 23, item 5): one micro-batch or many, one process or two with uneven rows, give the same loss
and gradients, for FD and for GRPO under each of its three aggregations. Before, each micro-batch's
token mean was weighted by its share of *sequences*, which is no token mean (on a 2 + 1 split of
rows, -0.158 against -0.201 measured).

The models are the tiny Qwen2 of tests/tiny_model.py in float64; the step is
tests/micro_batch_worker.py's, also run there by two real processes on gloo under DDP.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from micro_batch_worker import CASES, FEEDBACK, REWARDS, Serial, T, attempts_of, load, step

from leanfd.train.batching import completion_logits
from leanfd.train.losses import fd_loss, group_advantages, grpo_loss


@pytest.fixture(scope="module")
def models(tiny_model_dir):
    return load(str(tiny_model_dir))


def definition(method: str, aggregation: str, model, teacher, tok) -> tuple[float, torch.Tensor]:
    """The step's loss written out on full logits, all rows in one batch: the reference."""
    attempts = [a for a in attempts_of([0, 1], tok, model)]
    rows = [a for a in attempts if a.completion_ids]
    prompts, comps = [list(a.prompt_ids) for a in rows], [list(a.completion_ids) for a in rows]
    model.zero_grad(set_to_none=True)
    logits, tokens, mask = completion_logits(model, prompts, comps, tok.pad_token_id)
    width = tokens.shape[1]
    old = torch.tensor([list(a.sampled_logprobs) + [0.0] * (width - len(a.sampled_logprobs)) for a in rows],
                       dtype=torch.float64)
    if method == "fd":
        from leanfd.models.base import encode_with_tokenizer
        from leanfd.train.teacher_feedback import teacher_prompt

        t_prompt = encode_with_tokenizer(tok, teacher_prompt(rows[0].prompt, FEEDBACK), "tiny")
        with torch.no_grad():
            t_logits, _, _ = completion_logits(teacher, [t_prompt] * len(rows), comps, tok.pad_token_id)
        loss, _ = fd_loss(logits, t_logits, tokens, mask, support="full", old_logprobs=old, temperature=T)
    else:
        rewards = torch.tensor([r for pair in REWARDS for r in pair], dtype=torch.float64)
        adv = group_advantages(rewards, 2)
        adv = adv[[i for i, a in enumerate(attempts) if a.completion_ids]]
        logp = torch.log_softmax(logits / T, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
        loss, _ = grpo_loss(logp, old, adv, mask, aggregation=aggregation, max_tokens=8)
    loss.backward()
    return float(loss.detach()), torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None])


@pytest.mark.parametrize("method,aggregation", CASES)
def test_one_micro_batch_or_many_give_the_steps_definition(models, method, aggregation):
    model, teacher, tok = models
    want_loss, want_grads = definition(method, aggregation, model, teacher, tok)
    for micro_batch in (1, 2, 3):
        loss, grads = step(method, aggregation, [0, 1], model, teacher, tok, Serial(), micro_batch)
        assert loss == pytest.approx(want_loss, rel=1e-9, abs=1e-12), micro_batch
        torch.testing.assert_close(grads, want_grads, rtol=1e-8, atol=1e-11)
    assert float(want_grads.abs().max()) > 1e-6  # the step has a gradient to compare


def test_two_processes_with_uneven_rows_give_the_one_process_step(models, tiny_model_dir, tmp_path):
    """Rank 0 holds two rows, rank 1 one (its other attempt is empty): the mean of the ranks' losses
    and DDP's averaged gradients are the one-process step's."""
    model, teacher, tok = models
    worker = Path(__file__).with_name("micro_batch_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[1]), str(Path(__file__).parent)])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(worker), str(tiny_model_dir), str(tmp_path)]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for method, aggregation in CASES:
        key = f"{method}/{aggregation}"
        want_loss, want_grads = step(method, aggregation, [0, 1], model, teacher, tok, Serial(), micro_batch=3)
        got = [torch.tensor(r[key]["grads"], dtype=torch.float64) for r in ranks]
        torch.testing.assert_close(got[0], got[1], rtol=1e-10, atol=1e-13)  # DDP reduced them
        torch.testing.assert_close(got[0], want_grads, rtol=1e-8, atol=1e-11, msg=key)
        assert (ranks[0][key]["loss"] + ranks[1][key]["loss"]) / 2 == pytest.approx(want_loss, rel=1e-9), key
