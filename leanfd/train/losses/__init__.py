"""Training losses as pure functions over tensors: Feedback Distillation (`fd_loss`), GRPO
(`group_advantages`, `grpo_loss`) and the normalisers they share (`aggregate`).

    loss, metrics = fd_loss(student_logits, teacher_logits, tokens, mask, divergence="jsd", beta=0.5)
    loss, metrics = fd_loss_chunked(s_hidden, s_head, t_hidden, t_head, tokens, mask, chunk_tokens=256)
    logp, entropy = token_logprobs_chunked(hidden, head, tokens, mask, temperature=1.0)
    adv = group_advantages(rewards, group_size=8)
    loss, metrics = grpo_loss(logprobs, old_logprobs, adv, mask, eps_high=0.28, aggregation="dr_grpo")
"""

from leanfd.train.losses.aggregate import AGGREGATION_NAMES, AGGREGATIONS, Aggregation, aggregate
from leanfd.train.losses.chunked import DEFAULT_CHUNK_TOKENS, fd_loss_chunked, fd_terms_chunked, token_logprobs_chunked
from leanfd.train.losses.fd import (
    DIVERGENCE_NAMES,
    DIVERGENCES,
    SUPPORT_NAMES,
    SUPPORTS,
    DivergenceName,
    Support,
    fd_loss,
    forward_kl,
    jsd,
    reverse_kl,
    topk_with_tail,
)
from leanfd.train.losses.grpo import clipped_surrogate, group_advantages, grpo_loss, k3_kl

__all__ = [
    "AGGREGATIONS",
    "AGGREGATION_NAMES",
    "DEFAULT_CHUNK_TOKENS",
    "DIVERGENCES",
    "DIVERGENCE_NAMES",
    "SUPPORTS",
    "SUPPORT_NAMES",
    "Aggregation",
    "DivergenceName",
    "Support",
    "aggregate",
    "clipped_surrogate",
    "fd_loss",
    "fd_loss_chunked",
    "fd_terms_chunked",
    "forward_kl",
    "group_advantages",
    "grpo_loss",
    "jsd",
    "k3_kl",
    "reverse_kl",
    "token_logprobs_chunked",
    "topk_with_tail",
]
