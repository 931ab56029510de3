"""The GRPO and FD losses' per-token terms computed from hidden states and the LM head, one chunk of
token rows at a time, so that no more than `chunk_tokens` x V logits exist at once, in forward or
backward.

At V = 151,936 (Qwen2.5) one (4 x 512, V) fp32 logits tensor is 1.16 GB and the full-logit losses
(fd.py, and `batching.token_logprobs` / `mean_entropy` for GRPO) hold several such tensors at their
peak (bench/README.md, "Loss memory"). Here the real (mask) tokens are flattened to (N, H) rows,
split into chunks of `chunk_tokens` rows, and each chunk runs: head -> logits (n, V) -> log-probs
at `temperature` -> its per-token terms (n,). Padding rows are never computed.

Why `torch.utils.checkpoint(..., use_reentrant=False)` per chunk rather than a custom autograd
Function with a hand-written backward (Liger-Kernel's fused linear cross-entropy, Hsu et al. 2024,
arXiv 2410.10989; TRL's `ChunkedLogProbFunction`): the head stays a module call, recomputed in the
backward through the same `__call__`, so LoRA on lm_head, dropout (checkpoint replays the RNG) and
FSDP2's unshard hooks all apply, and the gradients reach the head's parameters through autograd's
own engine, where DDP's reducer hooks see them. A hand-written backward would have to read the
head's weight, and one per divergence x support. The cost: the head's matmul runs twice per chunk
(forward, then the recompute in backward; the teacher's too, under no_grad), and a trained head's
weight gradient (V x H) is held twice for a moment while the chunks' contributions are summed
(a fused kernel accumulates it in place, chunked by vocabulary).

The results equal the full-logit functions' (tests/test_chunked_losses.py: values and gradients).
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from leanfd.train.losses.aggregate import Aggregation, aggregate, token_mean
from leanfd.train.losses.fd import (
    DIVERGENCES,
    SUPPORTS,
    DivergenceName,
    Support,
    _check_fd_args,
    entropy,
    importance_weights,
    jsd,
    log_probs,
)

Head = Callable[[Tensor], Tensor]  # (n, H) -> (n, V): an nn.Module or forward.LMHead

# 256 rows x 151,936 fp32 logits = 156 MB per chunk-sized tensor; a chunk holds a few of them.
DEFAULT_CHUNK_TOKENS = 256


# --- rows: (B, T) <-> (N,) real tokens ------------------------------------------------------------


def real_rows(mask: Tensor) -> Tensor:
    """Flat indices (N,) into B * T of the mask's real tokens. When there is none, the index of
    row 0 alone: the loss is then still computed from the model (a zero gradient everywhere, through
    the aggregation's `torch.where`), so every DDP process takes part in the all-reduce."""
    rows = mask.reshape(-1).nonzero().squeeze(-1)  # (N,)
    return rows if rows.numel() else torch.zeros(1, dtype=torch.long, device=mask.device)


def scatter_rows(values: Tensor, rows: Tensor, shape: torch.Size) -> Tensor:
    """(N,) values at flat `rows` -> (B, T), zeros elsewhere; differentiable w.r.t. `values`."""
    out = values.new_zeros(shape.numel())  # (B * T,)
    return out.index_copy(0, rows, values).view(shape)


def _chunks(n: int, chunk_tokens: int) -> list[slice]:
    if chunk_tokens < 1:
        raise ValueError(f"chunk_tokens must be >= 1, got {chunk_tokens}")
    return [slice(i, min(i + chunk_tokens, n)) for i in range(0, n, chunk_tokens)]


def _map_chunks(
    fn: Callable[..., tuple[Tensor, ...]], rows: Tensor, chunk_tokens: int, *flat: Tensor
) -> list[Tensor]:
    """Apply `fn` to each chunk of the (N, ...) tensors in `flat`, under activation checkpointing,
    and concatenate each of its (n,) outputs to (N,)."""
    pieces = [checkpoint(fn, *(t[s] for t in flat), use_reentrant=False) for s in _chunks(rows.numel(), chunk_tokens)]
    return [torch.cat(parts) for parts in zip(*pieces)]


def _flat(hidden: Tensor, rows: Tensor) -> Tensor:
    """(B, T, H) -> (N, H): the real rows."""
    return hidden.reshape(-1, hidden.shape[-1]).index_select(0, rows)


def _flat_tokens(tokens: Tensor, mask: Tensor, rows: Tensor) -> Tensor:
    """(B, T) -> (N,) ids of the real rows; a padding id (-100, ...) in the all-masked fallback row
    is replaced by 0, never gathered."""
    return torch.where(mask.bool(), tokens, 0).reshape(-1)[rows].long()


# --- GRPO -----------------------------------------------------------------------------------------


def _logprob_entropy_chunk(head: Head, temperature: float, hidden: Tensor, tokens: Tensor) -> tuple[Tensor, Tensor]:
    """(n, H), (n,) -> the tokens' log-probs (n,), with grad, and the entropy (n,), without."""
    logp = log_probs(head(hidden), temperature)  # (n, V)
    token_logp = logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)  # (n,)
    with torch.no_grad():
        ent = entropy(logp)  # (n,)
    return token_logp, ent


def token_logprobs_chunked(
    hidden: Tensor,
    head: Head,
    tokens: Tensor,
    mask: Tensor,
    *,
    temperature: float = 1.0,
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
) -> tuple[Tensor, Tensor]:
    """GRPO's inputs from one pass over the vocabulary: the sampled tokens' log-probs and the policy's
    entropy, both (B, T), from hidden (B, T, H), tokens (B, T) and mask (B, T).

    Log-probs are of softmax(logits / temperature) (TRL divides by the sampling temperature, so the
    ratio compares the same distribution the sampler drew from), float32, with grad; the entropy is
    at the same temperature and detached (a metric). Both are 0 at masked positions, which
    `grpo_loss` and `token_mean` never read.
    """
    if hidden.ndim != 3 or tokens.shape != hidden.shape[:2] or mask.shape != tokens.shape:
        raise ValueError(
            f"need hidden (B, T, H), tokens and mask (B, T); got {tuple(hidden.shape)}, "
            f"{tuple(tokens.shape)}, {tuple(mask.shape)}"
        )
    if temperature <= 0.0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    rows = real_rows(mask)  # (N,)
    fn = partial(_logprob_entropy_chunk, head, temperature)
    token_logp, ent = _map_chunks(fn, rows, chunk_tokens, _flat(hidden, rows), _flat_tokens(tokens, mask, rows))
    return scatter_rows(token_logp, rows, tokens.shape), scatter_rows(ent, rows, tokens.shape)


# --- FD -------------------------------------------------------------------------------------------


def _fd_chunk(
    student_head: Head,
    teacher_head: Head,
    divergence: Callable[[Tensor, Tensor], Tensor],
    support: Support,
    top_k: int,
    temperature: float,
    student_hidden: Tensor,
    teacher_hidden: Tensor,
    tokens: Tensor,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(n, H), (n, H), (n,) -> per-token divergence (n,) with grad, and the student's token log-probs,
    the student's and the teacher's entropies (n,) without."""
    student_logp = log_probs(student_head(student_hidden), temperature)  # (n, V)
    with torch.no_grad():
        teacher_logp = log_probs(teacher_head(teacher_hidden), temperature)  # (n, V)
    if teacher_logp.shape != student_logp.shape:
        raise ValueError(
            f"student and teacher heads disagree on V: {student_logp.shape[-1]} vs {teacher_logp.shape[-1]}"
        )
    if support != "full" and top_k > student_logp.shape[-1]:
        raise ValueError(f"top_k must be in [1, V={student_logp.shape[-1]}], got {top_k}")
    student_sup, teacher_sup = SUPPORTS[support](student_logp, teacher_logp, top_k)  # (n, K)
    per_token = divergence(student_sup, teacher_sup)  # (n,)
    with torch.no_grad():
        token_logp = student_logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)  # (n,)
        student_ent, teacher_ent = entropy(student_logp), entropy(teacher_logp)  # (n,), (n,)
    return per_token, token_logp, student_ent, teacher_ent


def fd_terms_chunked(
    student_hidden: Tensor,
    student_head: Head,
    teacher_hidden: Tensor,
    teacher_head: Head,
    tokens: Tensor,
    mask: Tensor,
    *,
    divergence: DivergenceName = "reverse_kl",
    beta: float = 0.5,
    support: Support = "full",
    top_k: int = 20,
    temperature: float = 1.0,
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """FD's per-token terms, each (B, T) and 0 at masked positions: the divergence D(pi_t, pi_bar_t)
    (with grad to the student's hidden states and head), the student's log-prob of tokens[:, t]
    (for the importance weights), the student's and the teacher's entropies (full vocabulary).

    student_hidden, teacher_hidden (B, T, H): each model's final hidden states aligned with the
    completion tokens (forward.completion_hidden on (x, y) and on (x, f, y)); the teacher's logits
    are computed per chunk under no_grad. The divergences and supports are fd.py's, applied to each
    chunk's (n, V) log-probs, so the semantics are `fd_loss`'s.
    """
    rows = real_rows(mask)  # (N,)
    div_fn = partial(jsd, beta=beta) if divergence == "jsd" else DIVERGENCES[divergence]
    fn = partial(_fd_chunk, student_head, teacher_head, div_fn, support, top_k, temperature)
    student, teacher = _flat(student_hidden, rows), _flat(teacher_hidden.detach(), rows)  # (N, H) x 2
    terms = _map_chunks(fn, rows, chunk_tokens, student, teacher, _flat_tokens(tokens, mask, rows))
    return tuple(scatter_rows(t, rows, tokens.shape) for t in terms)  # type: ignore[return-value]


def fd_loss_chunked(
    student_hidden: Tensor,
    student_head: Head,
    teacher_hidden: Tensor,
    teacher_head: Head,
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
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
) -> tuple[Tensor, dict[str, Tensor]]:
    """`fd.fd_loss` (Feedback Distillation, arXiv 2605.30861) from hidden states and heads instead of
    logits: the same arguments, weights (SDPO's clipped importance ratio), normalisers and metrics
    ("divergence", "student_entropy", "teacher_entropy", "clip_fraction"), the same values; at most
    `chunk_tokens` x V logits at a time. Hidden states are (B, T, H), tokens and mask (B, T)."""
    if student_hidden.ndim != 3 or teacher_hidden.shape[:2] != student_hidden.shape[:2]:
        raise ValueError(
            f"student and teacher hidden states must be (B, T, H) with the same B, T; got "
            f"{tuple(student_hidden.shape)} and {tuple(teacher_hidden.shape)}"
        )
    # fd.py's checks of names and ranges, on stand-in logits whose V admits any top_k (the real V
    # is checked on the first chunk's logits).
    stand_in = torch.empty((*student_hidden.shape[:2], max(top_k, 1)), device="meta")
    _check_fd_args(stand_in, stand_in, tokens, mask, divergence, beta, support, top_k, clip, temperature)
    mask = mask.bool()
    per_token, token_logp, student_ent, teacher_ent = fd_terms_chunked(
        student_hidden, student_head, teacher_hidden, teacher_head, tokens, mask,
        divergence=divergence, beta=beta, support=support, top_k=top_k, temperature=temperature,
        chunk_tokens=chunk_tokens,
    )  # (B, T) x 4
    if old_logprobs is None:
        weights = torch.ones_like(per_token)  # (B, T)
        clipped = torch.zeros_like(mask)  # (B, T)
    else:
        weights, clipped = importance_weights(token_logp, old_logprobs, mask, clip)
    loss = aggregate(weights * per_token, mask, aggregation, max_tokens)
    with torch.no_grad():
        metrics = {
            "divergence": token_mean(per_token, mask),
            "student_entropy": token_mean(student_ent, mask),
            "teacher_entropy": token_mean(teacher_ent, mask),
            "clip_fraction": token_mean(clipped.to(per_token.dtype), mask),
        }
    return loss, {k: v.detach() for k, v in metrics.items()}
