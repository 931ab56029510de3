"""The loss stage: a `StepBatch` in, gradients accumulated on the policy, the loss and its metrics out.

Both objectives run through `accumulate` (one micro-batching helper): the step's sequences are cut
into micro-batches of `micro_batch`, every process runs the same number of them (a process with
fewer runs empty ones, zero loss and zero gradient: under DDP the last one all-reduces, under FSDP2
every forward is a collective), and gradients are synchronised on the last one only.

The model is run once per micro-batch up to its final hidden states; the LM head and the loss are
applied to the completion tokens only, `loss_chunk` tokens at a time (losses/chunked.py), so the
full (tokens x vocabulary) logits never exist. Log-probabilities are taken at the sampling
temperature (logits / T, as TRL does), the distribution the sampler's log-probs are of, so the
importance ratios compare like with like at any temperature.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from leanfd.train.attempts import Attempt, StepBatch
from leanfd.train.batching import micro_batches, pad_list
from leanfd.train.config import FDConfig, GRPOConfig
from leanfd.train.forward import CompletionHidden, completion_hidden
from leanfd.train.losses import group_advantages, grpo_loss
from leanfd.train.losses.chunked import fd_loss_chunked, token_logprobs_chunked
from leanfd.train.parallel import Parallel
from leanfd.train.reward import episode_rewards
from leanfd.train.sharding import agree_count
from leanfd.train.teacher_feedback import teacher_prompt


@dataclass(frozen=True)
class Models:
    """What the losses run: the policy (as the parallel wrapper holds it), the FD teacher and the
    KL reference (or None), how a prompt becomes ids, and the padding id."""

    policy: torch.nn.Module
    teacher: torch.nn.Module | None
    reference: torch.nn.Module | None
    encode: Callable[[object], list[int]]
    pad_id: int


def accumulate(items: Sequence[Attempt], fallback: Attempt, size: int, parallel: Parallel,
               loss_of: Callable[[list[Attempt], bool, float], torch.Tensor]) -> float:
    """Backward every micro-batch of `items`; returns the summed loss.

    `loss_of(attempts, counted, share)` returns the micro-batch's loss already weighted by its
    `share` of the step; an empty micro-batch runs `fallback` with `counted=False` (mask zero)."""
    batches = micro_batches(list(items), size)
    count = agree_count(max(1, len(batches)))  # at least one pass: every process takes part
    batches += [[] for _ in range(count - len(batches))]
    total = 0.0
    for k, mb in enumerate(batches):
        sync = k == count - 1
        with contextlib.nullcontext() if sync else parallel.no_sync():
            loss = loss_of(mb or [fallback], bool(mb), len(mb) / max(1, len(items)))
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


def fd_backward(batch: StepBatch, models: Models, config: FDConfig, *, temperature: float, micro_batch: int,
                loss_chunk: int, parallel: Parallel) -> tuple[float, dict[str, float]]:
    """FD (arXiv 2605.30861): the student matches, token by token, the teacher that saw the feedback."""
    assert models.teacher is not None
    distilled = [a for a, fb in zip(batch.attempts, batch.feedback) if fb is not None and a.completion_ids]
    feedback = {id(a): fb for a, fb in zip(batch.attempts, batch.feedback)}
    stats = {"fd_divergence": 0.0, "entropy": 0.0, "teacher_entropy": 0.0, "clip_fraction": 0.0,
             "distilled": float(len(distilled))}
    support = "full" if config.topk == 0 else f"{config.topk_from}_topk"

    def loss_of(mb: list[Attempt], counted: bool, share: float) -> torch.Tensor:
        student = _run(models.policy, [list(a.prompt_ids) for a in mb], mb, models.pad_id)
        with torch.no_grad(), parallel.autocast():
            t_prompts = [models.encode(teacher_prompt(a.prompt, feedback.get(id(a)) or "")) for a in mb]
            teacher = _run(models.teacher, t_prompts, mb, models.pad_id)
        mask = student.mask if counted else torch.zeros_like(student.mask)
        old = _old_logprobs(mb, student.tokens.shape[1], student.tokens.device)
        with parallel.autocast():  # the head's matmul in bf16 under --bf16, as the model's own forward
            loss, m = fd_loss_chunked(student.hidden, student.head, teacher.hidden, teacher.head, student.tokens,
                                      mask, divergence=config.divergence, beta=config.jsd_beta, support=support,
                                      top_k=max(config.topk, 1), old_logprobs=old, clip=config.importance_clip,
                                      temperature=temperature, chunk_tokens=loss_chunk)
        for key, name in (("fd_divergence", "divergence"), ("entropy", "student_entropy"),
                          ("teacher_entropy", "teacher_entropy"), ("clip_fraction", "clip_fraction")):
            stats[key] += float(m[name]) * share
        return loss * share  # all-masked: still through the head (chunked.real_rows), zero gradient

    fallback = next((a for a in batch.attempts if a.completion_ids), batch.attempts[0])
    return accumulate(distilled, fallback, micro_batch, parallel, loss_of), stats


def advantages(batch: StepBatch, group_size: int, scale_std: bool) -> tuple[float, ...]:
    """GRPO's group-normalised advantage of each attempt's episode (its best reward), aligned with
    the attempts: the first attempts are laid out problem by problem, `group_size` each."""
    best = episode_rewards(batch.attempts, batch.rewards)
    firsts = [i for i, a in enumerate(batch.attempts) if a.turn == 0]
    adv = group_advantages(torch.tensor([best[i] for i in firsts], dtype=torch.float64), group_size,
                           scale_std=scale_std)
    by_root = {i: float(x) for i, x in zip(firsts, adv)}
    return tuple(by_root[a.root] for a in batch.attempts)


def grpo_backward(batch: StepBatch, models: Models, config: GRPOConfig, *, group_size: int, temperature: float,
                  budget: int, micro_batch: int, loss_chunk: int, parallel: Parallel) -> tuple[float, dict[str, float]]:
    """GRPO (DeepSeekMath; DeepSeek-Prover-V1.5 RL): group-normalised rewards, clipped ratio.
    Dr. GRPO's constant normaliser is the generation budget `budget` (max_new_tokens), as in the paper
    and TRL, so it does not move with the batch's longest completion."""
    adv = advantages(batch, group_size, config.scale_std)
    advantage = {id(a): x for a, x in zip(batch.attempts, adv)}
    items = [a for a in batch.attempts if a.completion_ids]
    stats = {"kl": 0.0, "clip_fraction": 0.0, "entropy": 0.0,
             "advantage_abs": sum(abs(x) for x in adv) / max(1, len(adv))}

    def loss_of(mb: list[Attempt], counted: bool, share: float) -> torch.Tensor:
        prompts = [list(a.prompt_ids) for a in mb]
        out = _run(models.policy, prompts, mb, models.pad_id)
        mask = out.mask if counted else torch.zeros_like(out.mask)
        with parallel.autocast():  # the head's matmul in bf16 under --bf16, as the model's own forward
            logp, entropy = token_logprobs_chunked(out.hidden, out.head, out.tokens, mask, temperature=temperature,
                                                   chunk_tokens=loss_chunk)
        old = _old_logprobs(mb, out.tokens.shape[1], out.tokens.device)
        ref = None
        if models.reference is not None:
            with torch.no_grad(), parallel.autocast():
                r = _run(models.reference, prompts, mb, models.pad_id)
                ref, _ = token_logprobs_chunked(r.hidden, r.head, r.tokens, mask, temperature=temperature,
                                                chunk_tokens=loss_chunk)
        a = torch.tensor([advantage[id(x)] for x in mb], dtype=logp.dtype, device=logp.device)
        loss, m = grpo_loss(logp, logp.detach() if old is None else old, a, mask, eps_low=config.eps_low,
                            eps_high=config.eps_high, ref_logprobs=ref, beta=config.kl_beta,
                            aggregation=config.aggregation, max_tokens=budget)
        stats["kl"] += float(m["kl"]) * share
        stats["clip_fraction"] += float(m["clip_fraction"]) * share
        stats["entropy"] += float((entropy * mask).sum() / mask.sum().clamp(min=1)) * share
        return loss * share

    return accumulate(items, batch.attempts[0], micro_batch, parallel, loss_of), stats
