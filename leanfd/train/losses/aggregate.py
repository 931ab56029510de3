"""Normalisers that turn a per-token loss (B, T) into one scalar, chosen by name in AGGREGATIONS.

- `token_mean`: sum over the batch's counted tokens / their number. Every token weighs the same
  (DAPO's token-level loss, Yu et al. 2025, arXiv 2503.14476; TRL's "bnpo", SDPO's "token-mean").
- `sequence_mean`: the mean over all B sequences of each sequence's own token mean (GRPO as
  written in DeepSeekMath, Shao et al. 2024, arXiv 2402.03300, eq. 3; TRL's "grpo"). Each sequence
  weighs the same, so a token of a long sequence weighs less: the length bias Dr. GRPO points out.
  A sequence with no counted token contributes 0 and still counts in the B (as in TRL).
- `dr_grpo`: sum / (B * max_tokens), max_tokens a constant (the generation budget; T when not
  given). Dr. GRPO (Liu et al. 2025, arXiv 2503.20783; TRL's "dr_grpo"): no length bias, and the
  scale does not move with how many tokens a batch happens to hold.

Masked positions are replaced by 0 with `torch.where`, never multiplied by the mask, so a NaN or
inf computed at a padding position cannot leak into the sum.
"""

from __future__ import annotations

from typing import Callable, Literal, get_args

import torch
from torch import Tensor

Aggregation = Literal["token_mean", "sequence_mean", "dr_grpo"]
AGGREGATION_NAMES: tuple[str, ...] = get_args(Aggregation)


def token_mean(per_token: Tensor, mask: Tensor, max_tokens: int | None = None) -> Tensor:
    """sum_{b,t} mask * x / sum_{b,t} mask (0 when nothing is counted). `max_tokens` is unused."""
    kept = torch.where(mask, per_token, 0.0)  # (B, T)
    return kept.sum() / mask.sum().clamp(min=1)


def sequence_mean(per_token: Tensor, mask: Tensor, max_tokens: int | None = None) -> Tensor:
    """(1/B) sum_b [sum_t mask * x / sum_t mask]. `max_tokens` is unused."""
    kept = torch.where(mask, per_token, 0.0)  # (B, T)
    per_sequence = kept.sum(-1) / mask.sum(-1).clamp(min=1)  # (B,)
    return per_sequence.mean()


def dr_grpo(per_token: Tensor, mask: Tensor, max_tokens: int | None = None) -> Tensor:
    """sum_{b,t} mask * x / (B * max_tokens), max_tokens defaulting to T."""
    kept = torch.where(mask, per_token, 0.0)  # (B, T)
    budget = per_token.shape[-1] if max_tokens is None else max_tokens
    return kept.sum() / (per_token.shape[0] * budget)


AGGREGATIONS: dict[str, Callable[[Tensor, Tensor, int | None], Tensor]] = {
    "token_mean": token_mean,
    "sequence_mean": sequence_mean,
    "dr_grpo": dr_grpo,
}


def aggregate(per_token: Tensor, mask: Tensor, how: Aggregation, max_tokens: int | None = None) -> Tensor:
    """One scalar from a per-token loss (B, T) and a boolean mask (B, T), by the normaliser `how`."""
    if how not in AGGREGATIONS:
        raise ValueError(f"aggregation {how!r} is not one of {AGGREGATION_NAMES}")
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"max_tokens must be a positive token budget, got {max_tokens}")
    return AGGREGATIONS[how](per_token, mask, max_tokens)
