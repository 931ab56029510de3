"""GRPO: group-normalised advantages and the clipped surrogate loss.

GRPO as in DeepSeekMath (Shao et al. 2024, arXiv 2402.03300) and DeepSeek-Prover-V1.5's RL stage
(Xin et al. 2024, arXiv 2408.08152): G completions per theorem, each completion's reward compared
with its group's, PPO's clipped ratio (Schulman et al. 2017) on every token, and an optional KL to
a reference policy with the k3 estimator. Options from later work: DAPO's clip-higher
(eps_high > eps_low, Yu et al. 2025, arXiv 2503.14476) and Dr. GRPO's unscaled advantages and
constant normaliser (Liu et al. 2025, arXiv 2503.20783).
"""

from __future__ import annotations

import torch
from torch import Tensor

from leanfd.train.losses.aggregate import Aggregation, aggregate, token_mean


def group_advantages(rewards: Tensor, group_size: int, *, scale_std: bool = True, eps: float = 1e-4) -> Tensor:
    """Advantages (B,) from rewards (B,) laid out as B / G consecutive groups of G completions of
    the same prompt (TRL's layout).

    scale_std=True (GRPO): (r - mean_g) / (std_g + eps), with std_g the SAMPLE standard deviation
    (Bessel's n - 1, `torch.std`'s default, as TRL and verl use), so G must be >= 2.
    scale_std=False (Dr. GRPO): r - mean_g.
    A group whose rewards are all equal gets advantages 0 (0 / eps), never NaN.
    """
    if rewards.ndim != 1:
        raise ValueError(f"rewards must be (B,), got {tuple(rewards.shape)}")
    if group_size < 1 or rewards.shape[0] % group_size:
        raise ValueError(f"B = {rewards.shape[0]} rewards do not split into groups of {group_size}")
    if scale_std and group_size < 2:
        raise ValueError("the sample std of a group of 1 is undefined: use group_size >= 2 or scale_std=False")
    dtype = torch.promote_types(rewards.dtype, torch.float32)
    grouped = rewards.to(dtype).view(-1, group_size)  # (B / G, G)
    centred = grouped - grouped.mean(-1, keepdim=True)  # (B / G, G)
    if scale_std:
        centred = centred / (grouped.std(-1, keepdim=True) + eps)  # sample std (n - 1)
    return centred.reshape(-1)  # (B,)


def clipped_surrogate(log_ratio: Tensor, advantages: Tensor, eps_low: float, eps_high: float) -> Tensor:
    """PPO's per-token loss -min(r A, clip(r, 1 - eps_low, 1 + eps_high) A), r = exp(log_ratio):
    (B, T), (B, 1) -> (B, T). The gradient is 0 where the clipped term is the smaller one."""
    ratio = log_ratio.exp()  # (B, T)
    clipped = ratio.clamp(1.0 - eps_low, 1.0 + eps_high)  # (B, T)
    return -torch.min(ratio * advantages, clipped * advantages)


def k3_kl(logprobs: Tensor, ref_logprobs: Tensor) -> Tensor:
    """Schulman's k3 estimator of KL(pi || pi_ref) on the sampled tokens (DeepSeekMath eq. 4):
    exp(ref - logp) - (ref - logp) - 1, >= 0, 0 where ref == logp. (B, T) -> (B, T)."""
    delta = ref_logprobs - logprobs  # (B, T)
    return delta.exp() - delta - 1.0


def grpo_loss(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    eps_low: float = 0.2,
    eps_high: float = 0.2,
    ref_logprobs: Tensor | None = None,
    beta: float = 0.0,
    aggregation: Aggregation = "token_mean",
    max_tokens: int | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """GRPO loss and its metrics.

    logprobs (B, T), with grad: the sampled tokens' log-probs under the current policy;
    old_logprobs (B, T): the same under the policy that sampled them (detached here);
    advantages (B,): one per completion (see `group_advantages`);
    mask (B, T): nonzero on the completion tokens that count;
    eps_low, eps_high: the ratio's clip range [1 - eps_low, 1 + eps_high] (DAPO: eps_high 0.28);
    ref_logprobs (B, T), beta: adds beta * k3 KL to the reference (detached) on every token;
    aggregation, max_tokens: the normaliser (aggregate.py): "token_mean" = sum / #mask tokens
        (DAPO), "sequence_mean" = mean over B of per-sequence token means (DeepSeekMath),
        "dr_grpo" = sum / (B * max_tokens), max_tokens defaulting to T (Dr. GRPO).

    Returns the scalar loss and detached 0-dim metrics, token means over the mask:
    "clip_fraction" (tokens whose gradient the clip zeroes: r < 1 - eps_low with A < 0, or
    r > 1 + eps_high with A > 0), "clip_low_fraction", "clip_high_fraction", "ratio" (mean r),
    "kl" (mean k3; 0 without a reference).
    """
    _check_grpo_args(logprobs, old_logprobs, advantages, mask, ref_logprobs, eps_low, eps_high, beta)
    mask = mask.bool()
    dtype = torch.promote_types(logprobs.dtype, torch.float32)
    logprobs = logprobs.to(dtype)
    adv = advantages.detach().to(dtype).unsqueeze(-1)  # (B, 1)
    # Masked positions get log-ratio 0 before exp: padding values cannot overflow into inf * 0.
    log_ratio = torch.where(mask, logprobs - old_logprobs.detach().to(dtype), 0.0)  # (B, T)
    per_token = clipped_surrogate(log_ratio, adv, eps_low, eps_high)  # (B, T)
    if ref_logprobs is not None:
        safe_ref = torch.where(mask, ref_logprobs.detach().to(dtype), logprobs.detach())  # (B, T)
        kl = k3_kl(logprobs, safe_ref)  # (B, T)
        if beta != 0.0:
            per_token = per_token + beta * kl
    else:
        kl = torch.zeros_like(per_token)  # (B, T)

    loss = aggregate(per_token, mask, aggregation, max_tokens)
    with torch.no_grad():
        ratio = log_ratio.exp()  # (B, T)
        low = (ratio < 1.0 - eps_low) & (adv < 0)  # (B, T)
        high = (ratio > 1.0 + eps_high) & (adv > 0)  # (B, T)
        metrics = {
            "clip_fraction": token_mean((low | high).to(dtype), mask),
            "clip_low_fraction": token_mean(low.to(dtype), mask),
            "clip_high_fraction": token_mean(high.to(dtype), mask),
            "ratio": token_mean(ratio, mask),
            "kl": token_mean(kl, mask),
        }
    return loss, {k: v.detach() for k, v in metrics.items()}


def _check_grpo_args(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    mask: Tensor,
    ref_logprobs: Tensor | None,
    eps_low: float,
    eps_high: float,
    beta: float,
) -> None:
    if logprobs.ndim != 2:
        raise ValueError(f"logprobs must be (B, T), got {tuple(logprobs.shape)}")
    for name, t in (("old_logprobs", old_logprobs), ("mask", mask), ("ref_logprobs", ref_logprobs)):
        if t is not None and t.shape != logprobs.shape:
            raise ValueError(f"{name} must be (B, T) = {tuple(logprobs.shape)}, got {tuple(t.shape)}")
    if advantages.shape != logprobs.shape[:1]:
        raise ValueError(f"advantages must be (B,) = ({logprobs.shape[0]},), got {tuple(advantages.shape)}")
    if not (0.0 <= eps_low < 1.0 and eps_high >= 0.0):
        raise ValueError(f"need 0 <= eps_low < 1 and eps_high >= 0, got eps_low={eps_low}, eps_high={eps_high}")
    if beta < 0.0:
        raise ValueError(f"beta weighs a KL penalty and must be >= 0, got {beta}")
    if beta > 0.0 and ref_logprobs is None:
        raise ValueError("beta > 0 needs ref_logprobs: the KL penalty is to a reference policy")
