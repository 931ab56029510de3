"""From token lists to the tensors the losses take: logits aligned with completion tokens.

A sequence is `prompt_ids + completion_ids`, right-padded. Row t of the returned logits predicts
completion token t, i.e. it is the model's output at position `len(prompt) - 1 + t`.
"""

from __future__ import annotations

import torch


def pad_sequences(prompts: list[list[int]], completions: list[list[int]], pad_id: int):
    """(input_ids (B, L), attention_mask (B, L), starts (B,)) with right padding."""
    seqs = [p + c for p, c in zip(prompts, completions)]
    L = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), L), pad_id, dtype=torch.long)
    att = torch.zeros((len(seqs), L), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        att[i, : len(s)] = 1
    starts = torch.tensor([len(p) for p in prompts], dtype=torch.long)
    return ids, att, starts


def completion_targets(completions: list[list[int]]):
    """(tokens (B, T), mask (B, T)): the completion tokens, zero-padded, and where they are real."""
    T = max(1, max(len(c) for c in completions))
    tokens = torch.zeros((len(completions), T), dtype=torch.long)
    mask = torch.zeros((len(completions), T), dtype=torch.float32)
    for i, c in enumerate(completions):
        tokens[i, : len(c)] = torch.tensor(c, dtype=torch.long)
        mask[i, : len(c)] = 1.0
    return tokens, mask


def gather_completion(logits: torch.Tensor, starts: torch.Tensor, T: int) -> torch.Tensor:
    """(B, L, V) model outputs -> (B, T, V) rows predicting the completion tokens."""
    B, L, V = logits.shape
    pos = (starts.to(logits.device) - 1).unsqueeze(1) + torch.arange(T, device=logits.device)  # (B, T)
    pos = pos.clamp(0, L - 1)
    return logits.gather(1, pos.unsqueeze(-1).expand(B, T, V))


def completion_logits(model, prompts: list[list[int]], completions: list[list[int]], pad_id: int):
    """Run `model` on prompt + completion; return (logits (B, T, V), tokens (B, T), mask (B, T))."""
    device = next(model.parameters()).device
    ids, att, starts = pad_sequences(prompts, completions, pad_id)
    tokens, mask = completion_targets(completions)
    out = model(input_ids=ids.to(device), attention_mask=att.to(device), use_cache=False)
    logits = gather_completion(out.logits, starts, tokens.shape[1])
    return logits, tokens.to(device), mask.to(device)


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """(B, T, V), (B, T) -> (B, T) log-probabilities of the tokens, in fp32."""
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def mean_entropy(logits: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean per-token entropy of the policy over real completion tokens (for the metrics)."""
    with torch.no_grad():
        logp = torch.log_softmax(logits.float(), dim=-1)
        ent = -(logp.exp() * logp).sum(-1)  # (B, T)
        return float((ent * mask).sum() / mask.sum().clamp(min=1))


def pad_list(values: list[list[float]], T: int, device) -> torch.Tensor:
    """(B, T) float64, zero-padded: the losses cast to their own dtype, nothing is rounded before."""
    out = torch.zeros((len(values), T), dtype=torch.float64)
    for i, v in enumerate(values):
        v = v[:T]
        out[i, : len(v)] = torch.tensor(v, dtype=torch.float64)
    return out.to(device)


def micro_batches(items: list, size: int) -> list[list]:
    """`items` cut into consecutive micro-batches of at most `size` (none for no items)."""
    if size < 1:
        raise ValueError(f"micro-batch size must be at least 1, got {size}")
    return [items[i : i + size] for i in range(0, len(items), size)]
