"""The loss stage: a `StepBatch` in, gradients accumulated on the policy, the loss and its metrics out.

Both objectives run through `accumulate` (one micro-batching helper): the step's rows are cut into
index ranges of `micro_batch`, every process runs the same number of them (a process with fewer runs
empty ones on a fallback row, zero loss and zero gradient: under DDP the last one all-reduces, under
FSDP2 every forward is a collective), and gradients are synchronised on the last one only.

The step's loss is its aggregation's definition over the whole step, every process included,
however the rows are cut: a micro-batch's own mean is weighted by its rows' share of the step's
normaliser (`row_weights`: counted completion tokens for `token_mean`, sequences for
`sequence_mean` and `dr_grpo`), summed over processes, times the number of processes (DDP and
FSDP2 average gradients). So one micro-batch or many, one process or two with uneven rows, give
the same loss and gradients (tests/test_micro_batches.py). A
micro-batch's loss is a module-level function of frozen rows and a range (`fd_micro_loss`,
`grpo_micro_loss`): every option it reads is in its arguments. The teacher's prompts come made
(`StepBatch.teacher_prompt_ids`, the feedback stage's).

The model is run once per micro-batch up to its final hidden states; the LM head and the loss are
applied to the completion tokens only, `loss_chunk` tokens at a time (losses/chunked.py), so the
full (tokens x vocabulary) logits never exist. Log-probabilities are taken at the sampling
temperature (logits / T, as TRL does), the distribution the sampler's log-probs are of, so the
importance ratios compare like with like at any temperature.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch

from leanfd.train.attempts import Attempt, StepBatch
from leanfd.train.batching import micro_batches, pad_list
from leanfd.train.config import FDConfig, GRPOConfig
from leanfd.train.forward import CompletionHidden, completion_hidden
from leanfd.train.losses import group_advantages, grpo_loss
from leanfd.train.losses.aggregate import Aggregation
from leanfd.train.losses.chunked import fd_loss_chunked, token_logprobs_chunked
from leanfd.train.parallel import Parallel
from leanfd.train.reward import episode_rewards
from leanfd.train.sharding import agree_count, agree_sum, world_size
from leanfd.train.teacher_feedback import teacher_prompt_ids


@dataclass(frozen=True)
class Models:
    """What the losses run: the policy (as the parallel wrapper holds it), the FD teacher and the
    KL reference (or None), how a prompt becomes ids, and the padding id."""

    policy: torch.nn.Module
    teacher: torch.nn.Module | None
    reference: torch.nn.Module | None
    encode: Callable[[object], list[int]]
    pad_id: int


@dataclass(frozen=True)
class LossRun:
    """What every micro-batch of a step reads besides its rows: the models, the strategy, and the
    options both objectives share."""

    models: Models
    parallel: Parallel
    temperature: float  # the sampling temperature: log-probs of logits / T
    loss_chunk: int  # completion tokens per LM-head chunk


@dataclass(frozen=True)
class FDRows:
    """The attempts distilled this step and the teacher's prompt ids of each, aligned; one more row
    at the end, the fallback an empty micro-batch runs (masked out)."""

    attempts: tuple[Attempt, ...]
    teacher_prompts: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class GRPORows:
    """The attempts trained on this step and the advantage of each, aligned; one more row at the
    end, the fallback an empty micro-batch runs (masked out)."""

    attempts: tuple[Attempt, ...]
    advantages: tuple[float, ...]


MicroLoss = Callable[[range, bool], tuple[torch.Tensor, dict[str, float]]]


def row_weights(attempts: tuple[Attempt, ...], aggregation: Aggregation) -> list[float]:
    """Each row's part in the step's normaliser: its completion tokens for a token mean, 1 for the
    per-sequence normalisers (a sequence mean, and Dr. GRPO's B x budget)."""
    if aggregation == "token_mean":
        return [float(len(a.completion_ids)) for a in attempts]
    return [1.0] * len(attempts)


def accumulate(weights: list[float], size: int, parallel: Parallel, loss_of: MicroLoss,
               stats: dict[str, float]) -> float:
    """Backward every micro-batch of the rows 0..len(weights)-1; returns this process's part of the
    step's loss (the parts' mean over processes is the step's loss).

    `loss_of(rows, counted)` returns a micro-batch's loss under its own normaliser and its metrics;
    each is weighted here by the micro-batch's share of the step's normaliser, `weights` summed over
    the rows and over every process, times the number of processes (their gradients are averaged);
    the metrics are added into `stats` the same way. An empty micro-batch runs row `len(weights)`
    (the fallback) with `counted=False` (mask zero)."""
    n = len(weights)
    spans = [range(b[0], b[-1] + 1) for b in micro_batches(list(range(n)), size)]
    count = agree_count(max(1, len(spans)))  # at least one pass: every process takes part
    step_total = agree_sum(sum(weights))
    scale = world_size() / step_total if step_total > 0 else 0.0
    total = 0.0
    for k in range(count):
        span = spans[k] if k < len(spans) else range(0)
        sync = k == count - 1
        with contextlib.nullcontext() if sync else parallel.no_sync():
            share = sum(weights[i] for i in span) * scale
            loss, metrics = loss_of(span or range(n, n + 1), bool(span))
            for key, value in metrics.items():
                stats[key] += value * share
            loss = loss * share
            parallel.backward(loss)
        total += float(loss.detach())
    return total


def _run(model: torch.nn.Module, prompts: list[list[int]], attempts: list[Attempt], pad_id: int) -> CompletionHidden:
    comps = [list(a.completion_ids) or [pad_id] for a in attempts]
    return completion_hidden(model, prompts, comps, pad_id)


def _old_logprobs(attempts: list[Attempt], T: int, device) -> torch.Tensor | None:
    """The sampler's log-probs (B, T), or None when a sampler did not report them."""
    if any(len(a.sampled_logprobs) != len(a.completion_ids) for a in attempts):
        return None
    return pad_list([list(a.sampled_logprobs) for a in attempts], T, device)


FD_METRICS = (("fd_divergence", "divergence"), ("entropy", "student_entropy"),
              ("teacher_entropy", "teacher_entropy"), ("clip_fraction", "clip_fraction"))


def fd_micro_loss(run: LossRun, config: FDConfig, rows: FDRows, span: range,
                  counted: bool) -> tuple[torch.Tensor, dict[str, float]]:
    """One FD micro-batch: the student on its prompts, the teacher on the prompts with feedback,
    the divergence along the student's tokens (all-masked when not `counted`: still through the
    head, chunked.real_rows, zero gradient)."""
    models, parallel = run.models, run.parallel
    mb = [rows.attempts[i] for i in span]
    student = _run(models.policy, [list(a.prompt_ids) for a in mb], mb, models.pad_id)
    with torch.no_grad(), parallel.autocast():
        teacher = _run(models.teacher, [list(rows.teacher_prompts[i]) for i in span], mb, models.pad_id)
    mask = student.mask if counted else torch.zeros_like(student.mask)
    old = _old_logprobs(mb, student.tokens.shape[1], student.tokens.device)
    support = "full" if config.topk == 0 else f"{config.topk_from}_topk"
    with parallel.autocast():  # the head's matmul in bf16 under --bf16, as the model's own forward
        loss, m = fd_loss_chunked(student.hidden, student.head, teacher.hidden, teacher.head, student.tokens,
                                  mask, divergence=config.divergence, beta=config.jsd_beta, support=support,
                                  top_k=max(config.topk, 1), old_logprobs=old, clip=config.importance_clip,
                                  temperature=run.temperature, chunk_tokens=run.loss_chunk)
    return loss, {key: float(m[name]) for key, name in FD_METRICS}


def fd_backward(batch: StepBatch, models: Models, config: FDConfig, *, temperature: float, micro_batch: int,
                loss_chunk: int, parallel: Parallel) -> tuple[float, dict[str, float]]:
    """FD (arXiv 2605.30861): the student matches, token by token, the teacher that saw the feedback.
    A batch without the feedback stage's teacher prompts has them made here, from its feedback."""
    assert models.teacher is not None
    prompts = batch.teacher_prompt_ids
    if prompts is None:
        prompts = teacher_prompt_ids(batch.attempts, batch.feedback, models.encode)
    distilled = [i for i, (a, fb) in enumerate(zip(batch.attempts, batch.feedback))
                 if fb is not None and a.completion_ids]
    fallback = next((i for i, a in enumerate(batch.attempts) if a.completion_ids), 0)
    order = [*distilled, fallback]
    rows = FDRows(tuple(batch.attempts[i] for i in order), tuple(prompts[i] for i in order))
    stats = {"fd_divergence": 0.0, "entropy": 0.0, "teacher_entropy": 0.0, "clip_fraction": 0.0,
             "distilled": float(len(distilled))}
    run = LossRun(models, parallel, temperature, loss_chunk)
    weights = row_weights(rows.attempts[:-1], "token_mean")  # FD's divergence is a token mean
    loss = accumulate(weights, micro_batch, parallel, partial(fd_micro_loss, run, config, rows), stats)
    return loss, stats


def advantages(batch: StepBatch, group_size: int, scale_std: bool) -> tuple[float, ...]:
    """GRPO's group-normalised advantage of each attempt's episode (its best reward), aligned with
    the attempts: the first attempts are laid out problem by problem, `group_size` each."""
    best = episode_rewards(batch.attempts, batch.rewards)
    firsts = [i for i, a in enumerate(batch.attempts) if a.turn == 0]
    adv = group_advantages(torch.tensor([best[i] for i in firsts], dtype=torch.float64), group_size,
                           scale_std=scale_std)
    by_root = {i: float(x) for i, x in zip(firsts, adv)}
    return tuple(by_root[a.root] for a in batch.attempts)


def grpo_micro_loss(run: LossRun, config: GRPOConfig, budget: int, rows: GRPORows, span: range,
                    counted: bool) -> tuple[torch.Tensor, dict[str, float]]:
    """One GRPO micro-batch: the policy's log-probs at the sampling temperature, the clipped ratio
    against the sampler's, the KL to the reference when there is one."""
    models, parallel = run.models, run.parallel
    mb = [rows.attempts[i] for i in span]
    prompts = [list(a.prompt_ids) for a in mb]
    out = _run(models.policy, prompts, mb, models.pad_id)
    mask = out.mask if counted else torch.zeros_like(out.mask)
    with parallel.autocast():  # the head's matmul in bf16 under --bf16, as the model's own forward
        logp, entropy = token_logprobs_chunked(out.hidden, out.head, out.tokens, mask, temperature=run.temperature,
                                               chunk_tokens=run.loss_chunk)
    old = _old_logprobs(mb, out.tokens.shape[1], out.tokens.device)
    ref = None
    if models.reference is not None:
        with torch.no_grad(), parallel.autocast():
            r = _run(models.reference, prompts, mb, models.pad_id)
            ref, _ = token_logprobs_chunked(r.hidden, r.head, r.tokens, mask, temperature=run.temperature,
                                            chunk_tokens=run.loss_chunk)
    a = torch.tensor([rows.advantages[i] for i in span], dtype=logp.dtype, device=logp.device)
    loss, m = grpo_loss(logp, logp.detach() if old is None else old, a, mask, eps_low=config.eps_low,
                        eps_high=config.eps_high, ref_logprobs=ref, beta=config.kl_beta,
                        aggregation=config.aggregation, max_tokens=budget)
    return loss, {"kl": float(m["kl"]), "clip_fraction": float(m["clip_fraction"]),
                  "entropy": float((entropy * mask).sum() / mask.sum().clamp(min=1))}


def grpo_backward(batch: StepBatch, models: Models, config: GRPOConfig, *, group_size: int, temperature: float,
                  budget: int, micro_batch: int, loss_chunk: int, parallel: Parallel) -> tuple[float, dict[str, float]]:
    """GRPO (DeepSeekMath; DeepSeek-Prover-V1.5 RL): group-normalised rewards, clipped ratio.
    Dr. GRPO's constant normaliser is the generation budget `budget` (max_new_tokens), as in the paper
    and TRL, so it does not move with the batch's longest completion."""
    adv = advantages(batch, group_size, config.scale_std)
    order = [*(i for i, a in enumerate(batch.attempts) if a.completion_ids), 0]  # the last: the fallback
    rows = GRPORows(tuple(batch.attempts[i] for i in order), tuple(adv[i] for i in order))
    stats = {"kl": 0.0, "clip_fraction": 0.0, "entropy": 0.0,
             "advantage_abs": sum(abs(x) for x in adv) / max(1, len(adv))}
    run = LossRun(models, parallel, temperature, loss_chunk)
    weights = row_weights(rows.attempts[:-1], config.aggregation)
    loss = accumulate(weights, micro_batch, parallel, partial(grpo_micro_loss, run, config, budget, rows), stats)
    return loss, stats
