"""Feedback Distillation loss (Narozniak, Biau, Munos, Rammal, Marion 2026, arXiv 2605.30861).

At each position t of the student's own sample y for theorem x, a divergence between the
student's next-token distribution pi(.|x, y<t) and the EMA teacher's pi_bar(.|x, f, y<t), the
teacher having seen the feedback f on the attempt:

    loss = aggregate_t  w_t * D(pi_t, pi_bar_t)

- D, by name in DIVERGENCES: "reverse_kl" KL(pi || pi_bar) (default), "forward_kl"
  KL(pi_bar || pi), "jsd" the generalised Jensen-Shannon divergence with TRL GKD's / SDPO's beta.
- The support D is computed on, by name in SUPPORTS: the full vocabulary (default), or the
  teacher's top-k token ids plus one tail category holding the rest of the mass (SDPO, Hubotter
  et al. 2026, arXiv 2601.20802, k 20-100), or the student's top-k ids likewise.
- w_t = min(pi(y_t) / pi_old(y_t), clip), detached, when the samples came from an older policy
  (off-policy reuse; SDPO's clip 2); w_t = 1 when `old_logprobs` is None.
- The normaliser, by name in aggregate.AGGREGATIONS: token mean over the mask (default), sequence
  mean, or Dr. GRPO's constant B * max_tokens.

The method's paper does not publish the KL direction or a top-k; the defaults follow SDPO's
documented settings (reverse KL, clip 2). Full vocabulary is the default support: this function
receives full logits anyway, so top-k saves no memory here and only approximates.

Gradients reach `student_logits` only: the teacher's logits and the weights are detached. Both
distributions are computed in float32 (float64 stays float64) whatever the input dtype: in bf16
the small log-probability differences a KL is made of would round away.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Callable, Literal, get_args

import torch
from torch import Tensor

from leanfd.train.losses.aggregate import Aggregation, aggregate, token_mean

DivergenceName = Literal["reverse_kl", "forward_kl", "jsd"]
Support = Literal["full", "teacher_topk", "student_topk"]
DIVERGENCE_NAMES: tuple[str, ...] = get_args(DivergenceName)
SUPPORT_NAMES: tuple[str, ...] = get_args(Support)

# SDPO clamps the importance log-ratio to +-20 before exp: exp(20) ~ 5e8 is far past any clip.
_MAX_LOG_RATIO = 20.0


# --- divergences over log-probabilities: (..., K), (..., K) -> (...) ----------------------------


def _kl(p_logp: Tensor, q_logp: Tensor) -> Tensor:
    """KL(p || q) = sum_v p_v (log p_v - log q_v) over the last dimension."""
    return (p_logp.exp() * (p_logp - q_logp)).sum(-1)


def reverse_kl(student_logp: Tensor, teacher_logp: Tensor) -> Tensor:
    """KL(pi || pi_bar): mode-seeking, the student drops what the teacher rules out (SDPO's choice
    with rich feedback). Gradient w.r.t. student logit z_i: pi_i (log pi_i/pi_bar_i - KL)."""
    return _kl(student_logp, teacher_logp)


def forward_kl(student_logp: Tensor, teacher_logp: Tensor) -> Tensor:
    """KL(pi_bar || pi): mass-covering, classic distillation. Gradient w.r.t. z_i: pi_i - pi_bar_i."""
    return _kl(teacher_logp, student_logp)


def jsd(student_logp: Tensor, teacher_logp: Tensor, beta: float = 0.5) -> Tensor:
    """Generalised Jensen-Shannon divergence as in TRL's GKD (Agarwal et al. 2024) and SDPO's alpha:

        m = beta * pi_bar + (1 - beta) * pi
        JSD_beta = beta * KL(pi_bar || m) + (1 - beta) * KL(pi || m)

    The endpoints are TRL's convention, not the formula's values (which are 0 at both):
    beta = 0 returns forward_kl KL(pi_bar || pi) and beta = 1 returns reverse_kl KL(pi || pi_bar).
    They are the scaled limits: JSD_beta / beta -> KL(pi_bar || pi) as beta -> 0 and
    JSD_beta / (1 - beta) -> KL(pi || pi_bar) as beta -> 1. beta = 0.5 is the symmetric JSD
    (OPSD's setting, arXiv 2601.18734). Gradient w.r.t. z_i: (1 - beta) pi_i (log pi_i/m_i - KL(pi||m)).
    """
    if beta == 0.0:
        return forward_kl(student_logp, teacher_logp)
    if beta == 1.0:
        return reverse_kl(student_logp, teacher_logp)
    mixed = torch.stack([teacher_logp + math.log(beta), student_logp + math.log1p(-beta)])  # (2, ..., K)
    log_m = torch.logsumexp(mixed, dim=0)  # (..., K)
    return beta * _kl(teacher_logp, log_m) + (1.0 - beta) * _kl(student_logp, log_m)


DIVERGENCES: dict[str, Callable[..., Tensor]] = {
    "reverse_kl": reverse_kl,
    "forward_kl": forward_kl,
    "jsd": jsd,
}


# --- supports: full log-probs (B, T, V) x 2 -> log-probs over K categories (B, T, K) x 2 ----------


def topk_with_tail(logp: Tensor, ids: Tensor) -> Tensor:
    """Log-probs on the ids (..., k), plus one tail category: log of the remaining mass
    1 - sum_k p. Returns (..., k + 1), still a distribution.

    The tail is the logsumexp of the other log-probs, not log1p(-sum): no cancellation when
    the top-k hold nearly all the mass. The taken ids are filled with the dtype's most negative
    finite value rather than -inf, so an empty rest (k = V) gives a tail of ~0 probability with
    finite gradients instead of logsumexp's NaN gradient on all -inf.
    """
    head = logp.gather(-1, ids)  # (..., k)
    rest = logp.scatter(-1, ids, torch.finfo(logp.dtype).min)  # (..., V): top-k taken out
    tail = rest.logsumexp(-1, keepdim=True)  # (..., 1)
    return torch.cat([head, tail], dim=-1)  # (..., k + 1)


def full_support(student_logp: Tensor, teacher_logp: Tensor, top_k: int) -> tuple[Tensor, Tensor]:
    """The whole vocabulary: exact. `top_k` is unused."""
    return student_logp, teacher_logp


def teacher_topk_support(student_logp: Tensor, teacher_logp: Tensor, top_k: int) -> tuple[Tensor, Tensor]:
    """Both distributions on the teacher's top-k ids plus a tail bucket (SDPO-style)."""
    ids = teacher_logp.topk(top_k, dim=-1).indices  # (B, T, k)
    return topk_with_tail(student_logp, ids), topk_with_tail(teacher_logp, ids)


def student_topk_support(student_logp: Tensor, teacher_logp: Tensor, top_k: int) -> tuple[Tensor, Tensor]:
    """Both distributions on the student's top-k ids plus a tail bucket."""
    ids = student_logp.detach().topk(top_k, dim=-1).indices  # (B, T, k)
    return topk_with_tail(student_logp, ids), topk_with_tail(teacher_logp, ids)


SUPPORTS: dict[str, Callable[[Tensor, Tensor, int], tuple[Tensor, Tensor]]] = {
    "full": full_support,
    "teacher_topk": teacher_topk_support,
    "student_topk": student_topk_support,
}


# --- pieces -------------------------------------------------------------------------------------


def log_probs(logits: Tensor, temperature: float = 1.0) -> Tensor:
    """log_softmax(logits / temperature) in float32 (float64 kept): (B, T, V) -> (B, T, V).

    Floored at the dtype's most negative finite value, so -inf logits (a masked vocabulary) give
    0 * finite rather than 0 * (-inf + inf) = NaN in the divergences.
    """
    dtype = torch.promote_types(logits.dtype, torch.float32)
    logp = torch.log_softmax(logits.to(dtype) / temperature, dim=-1)
    return logp.clamp(min=torch.finfo(dtype).min)


def entropy(logp: Tensor) -> Tensor:
    """-sum_v p log p over the last dimension: (..., V) -> (...)."""
    return -(logp.exp() * logp).sum(-1)


def importance_weights(token_logp: Tensor, old_logprobs: Tensor, mask: Tensor, clip: float) -> tuple[Tensor, Tensor]:
    """SDPO's per-token weight min(exp(logp_now - logp_old), clip), detached: (B, T) -> (B, T) weights
    and the (B, T) boolean "was clipped". Masked positions get a log-ratio of 0 (weight 1)."""
    log_ratio = torch.where(mask, token_logp.detach() - old_logprobs.to(token_logp.dtype), 0.0)  # (B, T)
    ratio = log_ratio.clamp(-_MAX_LOG_RATIO, _MAX_LOG_RATIO).exp()  # (B, T)
    return ratio.clamp(max=clip), ratio > clip


def fd_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    tokens: Tensor,
    mask: Tensor,
    *,
    divergence: DivergenceName = "reverse_kl",
    beta: float = 0.5,
    support: Support = "full",
    top_k: int = 20,
    old_logprobs: Tensor | None = None,
    clip: float = 2.0,
    temperature: float = 1.0,
    aggregation: Aggregation = "token_mean",
    max_tokens: int | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Feedback Distillation loss (arXiv 2605.30861) and its metrics.

    student_logits (B, T, V), with grad: row t is the distribution of tokens[:, t] (the caller
        shifts); teacher_logits (B, T, V): the EMA teacher on (x, f, y), aligned the same way;
    tokens (B, T): the student's sampled ids (used for the importance weights only);
    mask (B, T): nonzero on the completion tokens that count;
    divergence: a DIVERGENCES name; beta: the JSD mixture weight (see `jsd` for its endpoints);
    support: a SUPPORTS name; top_k: k for the top-k supports (1 <= k <= V);
    old_logprobs (B, T): log-probs of `tokens` under the sampling policy, at `temperature`;
        None for on-policy (weights 1);
    clip: the importance weight's cap; temperature: divides both sides' logits;
    aggregation, max_tokens: the normaliser (aggregate.py): "token_mean" = sum / #mask tokens,
        "sequence_mean" = mean over B of per-sequence token means, "dr_grpo" = sum / (B * max_tokens).

    Returns the scalar loss and detached 0-dim metrics, token means over the mask:
    "divergence" (unweighted D), "student_entropy" and "teacher_entropy" (full vocabulary, at
    `temperature`), "clip_fraction" (tokens whose weight was capped; 0 when on-policy).
    """
    _check_fd_args(student_logits, teacher_logits, tokens, mask, divergence, beta, support, top_k, clip, temperature)
    mask = mask.bool()
    student_logp = log_probs(student_logits, temperature)  # (B, T, V)
    teacher_logp = log_probs(teacher_logits.detach(), temperature)  # (B, T, V)
    student_sup, teacher_sup = SUPPORTS[support](student_logp, teacher_logp, top_k)  # (B, T, K)
    div_fn = partial(jsd, beta=beta) if divergence == "jsd" else DIVERGENCES[divergence]
    per_token = div_fn(student_sup, teacher_sup)  # (B, T)

    if old_logprobs is None:
        weights = torch.ones_like(per_token)  # (B, T)
        clipped = torch.zeros_like(mask)  # (B, T)
    else:
        safe_tokens = torch.where(mask, tokens, 0)  # (B, T): padding ids (-100, ...) never gathered
        token_logp = student_logp.gather(-1, safe_tokens.unsqueeze(-1).long()).squeeze(-1)  # (B, T)
        weights, clipped = importance_weights(token_logp, old_logprobs, mask, clip)

    loss = aggregate(weights * per_token, mask, aggregation, max_tokens)
    with torch.no_grad():
        metrics = {
            "divergence": token_mean(per_token, mask),
            "student_entropy": token_mean(entropy(student_logp), mask),
            "teacher_entropy": token_mean(entropy(teacher_logp), mask),
            "clip_fraction": token_mean(clipped.to(per_token.dtype), mask),
        }
    return loss, {k: v.detach() for k, v in metrics.items()}


def _check_fd_args(
    student_logits: Tensor,
    teacher_logits: Tensor,
    tokens: Tensor,
    mask: Tensor,
    divergence: str,
    beta: float,
    support: str,
    top_k: int,
    clip: float,
    temperature: float,
) -> None:
    if student_logits.ndim != 3 or student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student and teacher logits must both be (B, T, V); got {tuple(student_logits.shape)} "
            f"and {tuple(teacher_logits.shape)}"
        )
    if tokens.shape != student_logits.shape[:2] or mask.shape != student_logits.shape[:2]:
        raise ValueError(
            f"tokens {tuple(tokens.shape)} and mask {tuple(mask.shape)} must be (B, T) = "
            f"{tuple(student_logits.shape[:2])}"
        )
    if divergence not in DIVERGENCES:
        raise ValueError(f"divergence {divergence!r} is not one of {DIVERGENCE_NAMES}")
    if support not in SUPPORTS:
        raise ValueError(f"support {support!r} is not one of {SUPPORT_NAMES}")
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta is a mixture weight in [0, 1], got {beta}")
    if support != "full" and not 1 <= top_k <= student_logits.shape[-1]:
        raise ValueError(f"top_k must be in [1, V={student_logits.shape[-1]}], got {top_k}")
    if clip <= 0.0:
        raise ValueError(f"clip caps a probability ratio and must be > 0, got {clip}")
    if temperature <= 0.0:
        raise ValueError(f"temperature must be > 0, got {temperature}")

