"""One forward pass of a causal LM that stops before the vocabulary: the final hidden states at the
completion positions, and the LM head to apply to them chunk by chunk (losses/chunked.py).

At a real vocabulary one logits tensor is large (4 x 512 completion tokens x V = 151,936 in fp32:
1.16 GB, and a loss makes several of that size); the hidden states are V / H ~ 100 times smaller.
So the model is run with `logits_to_keep=1` (logits for one position per row, which the head check
below reuses) and `output_hidden_states=True`, and only the rows predicting completion tokens are
kept, aligned as `batching.gather_completion` aligns logits: row t predicts completion token t, the
model's output at position `len(prompt) - 1 + t` of the right-padded `prompt + completion`.

The forward goes through the model object's own `__call__`, whatever wraps it: DistributedDataParallel
prepares its gradient reducer in its forward (a forward that bypassed it would leave gradients
un-all-reduced), and PeftModel routes the call to the adapted model. transformers appends the last
decoder layer's output after the final norm as `hidden_states[-1]` (checked for Qwen2 and Llama in
tests/test_chunked_losses.py), which is exactly the head's input.

The head is found on the unwrapped model (`get_output_embeddings()`) and is always called as a
module, never read as a weight, so that LoRA on `lm_head` and FSDP2's unshard hooks apply. Models
that post-process the head's output are reproduced for the two conventions in transformers:
`config.final_logit_softcapping` (Gemma 2/3: c * tanh(z / c)) and `config.logit_scale` (Cohere:
z * s). Any other post-processing is caught by `check_head=True`, which compares the head applied
to the last position with the logits the model itself returned there and raises with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from leanfd.train.batching import completion_targets, gather_completion, pad_sequences


@dataclass(frozen=True)
class LMHead:
    """The model's output layer as a callable (n, H) -> (n, V), with the model's own logit
    post-processing: multiply by `scale` (Cohere's logit_scale), then cap by `softcap` (Gemma's
    final_logit_softcapping) when set."""

    module: nn.Module
    scale: float = 1.0
    softcap: float | None = None

    def __call__(self, hidden: Tensor) -> Tensor:
        logits = self.module(hidden)  # (n, V)
        if self.scale != 1.0:
            logits = logits * self.scale
        if self.softcap is not None:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits


@dataclass(frozen=True)
class CompletionHidden:
    """What `completion_hidden` hands to the chunked losses.

    hidden (B, T, H): the final (normed) hidden state whose head output predicts tokens[:, t];
        with grad when the model's forward had it;
    tokens (B, T): the completion ids, zero-padded; mask (B, T): 1.0 on real completion tokens;
    head: the model's LM head (see LMHead), applied by the losses one chunk of rows at a time.
    """

    hidden: Tensor
    tokens: Tensor
    mask: Tensor
    head: LMHead


def unwrap_model(model: nn.Module) -> nn.Module:
    """The transformers model inside DDP/DataParallel (`.module`), torch.compile (`._orig_mod`) and
    PEFT (`get_base_model()`, the model with its adapter layers in place)."""
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif hasattr(model, "get_base_model"):
            model = model.get_base_model()
        else:
            return model


def lm_head(model: nn.Module) -> LMHead:
    """The LM head of `model` (wrapped or not) with its config's logit post-processing."""
    inner = unwrap_model(model)
    module = inner.get_output_embeddings()
    if module is None:
        raise ValueError(f"{type(inner).__name__} has no output embeddings: not a causal LM with an LM head")
    config = getattr(inner, "config", None)
    scale = getattr(config, "logit_scale", None)
    softcap = getattr(config, "final_logit_softcapping", None)
    return LMHead(module, scale=1.0 if scale is None else float(scale), softcap=softcap)


def _check_head(head: LMHead, last_hidden: Tensor, model_logits: Tensor) -> None:
    """Raise unless head(last position's hidden state) equals the model's own logits there: (B, H), (B, V)."""
    with torch.no_grad():
        ours = head(last_hidden).float()  # (B, V)
        theirs = model_logits.float()  # (B, V)
        if ours.shape != theirs.shape or not torch.allclose(ours, theirs, rtol=1e-3, atol=1e-3):
            gap = (ours - theirs).abs().max().item() if ours.shape == theirs.shape else float("nan")
            raise ValueError(
                f"{type(head.module).__name__} applied to the final hidden state does not give the model's "
                f"logits (max gap {gap:.3g}): the model post-processes its logits in a way leanfd.train.forward "
                "does not reproduce (or LoRA dropout on lm_head is active); use batching.completion_logits"
            )


def completion_hidden(
    model: nn.Module,
    prompts: list[list[int]],
    completions: list[list[int]],
    pad_id: int,
    *,
    check_head: bool = False,
) -> CompletionHidden:
    """Run `model` once on each prompt + completion (right-padded) and keep the final hidden states
    of the rows that predict the completion tokens; see the module docstring.

    check_head: also verify that the head reproduces the model's logits at the last position
    (one extra (B, H) x (H, V) product without grad); for a first step or a new model family.
    """
    device = next(model.parameters()).device
    ids, att, starts = pad_sequences(prompts, completions, pad_id)  # (B, L), (B, L), (B,)
    tokens, mask = completion_targets(completions)  # (B, T), (B, T)
    out = model(
        input_ids=ids.to(device),
        attention_mask=att.to(device),
        output_hidden_states=True,
        logits_to_keep=1,
        use_cache=False,
    )
    last = out.hidden_states[-1]  # (B, L, H), after the final norm
    head = lm_head(model)
    if check_head:
        _check_head(head, last[:, -1], out.logits[:, -1])
    hidden = gather_completion(last, starts, tokens.shape[1])  # (B, T, H)
    del out, last  # the other layers' states: autograd keeps what backward needs, nothing more
    return CompletionHidden(hidden=hidden, tokens=tokens.to(device), mask=mask.to(device), head=head)
