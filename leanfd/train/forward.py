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
decoder layer's output after the final norm as `hidden_states[-1]` (checked for each family in
tests/test_model_families.py), which is exactly the head's input.

The head is found on the unwrapped model (`get_output_embeddings()`) and is always called as a
module, never read as a weight, so that LoRA on `lm_head` and FSDP2's unshard hooks apply. What a
model does to the head's output before returning its logits is reproduced by model type
(LOGIT_POST_PROCESSING, read from transformers' source): nothing (Llama, DeepSeek, Mistral, Qwen,
Gemma 1), divide by `config.logits_scaling` (Granite), multiply by `config.logit_scale` (Cohere), cap
by `config.final_logit_softcapping` (Gemma 2 and Gemma 3's text model: c * tanh(z / c)). A model type
the table lacks gets none. `verify_head`, run by the trainer at the first step of every run, compares
the head applied to the last position's hidden state with the logits the model itself returned there
and raises ConfigError (model type, config field, what to do) when they differ beyond the dtype's
rounding (`head_tolerance`); `completion_hidden(check_head=True)` does the same check inline.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from leanfd.lean.errors import ConfigError
from leanfd.train.batching import completion_targets, gather_completion, pad_sequences

PostProcessing = Literal["none", "divide_by_logits_scaling", "multiply_by_logit_scale", "softcap"]

# model_type -> what its causal LM's forward does to `self.lm_head(hidden_states)`, as read in
# transformers 5.25.0 (models/<type>/modeling_<type>.py, the lines after `logits = self.lm_head(...)`).
# The same field name is no guarantee of the same use (HyperCLOVA X multiplies by `logits_scaling`,
# Granite divides), so the table is by model type; one it lacks gets no post-processing, and
# `verify_head` refuses it at the first step when its model does post-process.
LOGIT_POST_PROCESSING: dict[str, PostProcessing] = {
    # logits = lm_head(h). DeepSeek-Prover V1.5 and DeepSeek-Math are `llama`; `gemma3` is
    # Gemma3ForConditionalGeneration (Gemma 3 4B and up), which does not cap, whatever its text_config says.
    **dict.fromkeys(("llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "deepseek_v2",
                     "deepseek_v3", "gemma", "gemma3"), "none"),
    # logits = lm_head(h) / config.logits_scaling
    **dict.fromkeys(("granite", "granitemoe", "granitemoeshared", "granitemoehybrid"), "divide_by_logits_scaling"),
    # logits = lm_head(h) * config.logit_scale (CohereForCausalLM reads it once, when built)
    **dict.fromkeys(("cohere", "cohere2", "cohere2_moe"), "multiply_by_logit_scale"),
    # logits = c * tanh(lm_head(h) / c) with c = config.final_logit_softcapping, when it is set
    **dict.fromkeys(("gemma2", "gemma3_text"), "softcap"),
}
TRANSFORMERS_READ = "5.25.0"  # the transformers whose source LOGIT_POST_PROCESSING was read from

_FIELD: dict[PostProcessing, str] = {
    "divide_by_logits_scaling": "logits_scaling",
    "multiply_by_logit_scale": "logit_scale",
    "softcap": "final_logit_softcapping",
}
_FORMULA: dict[PostProcessing, str] = {
    "none": "logits = lm_head(h)",
    "divide_by_logits_scaling": "logits = lm_head(h) / config.logits_scaling",
    "multiply_by_logit_scale": "logits = lm_head(h) * config.logit_scale",
    "softcap": "logits = c * tanh(lm_head(h) / c), c = config.final_logit_softcapping",
}


def logit_post_processing(config) -> tuple[PostProcessing | None, float, float | None]:
    """(rule, scale, softcap) for a transformers config: its model type's LOGIT_POST_PROCESSING rule
    (None for a type the table lacks) as a factor to multiply lm_head's output by, then a softcap."""
    rule = LOGIT_POST_PROCESSING.get(getattr(config, "model_type", None))
    if rule == "divide_by_logits_scaling":
        return rule, 1.0 / float(config.logits_scaling), None
    if rule == "multiply_by_logit_scale":
        return rule, float(config.logit_scale), None
    if rule == "softcap" and config.final_logit_softcapping is not None:
        return rule, 1.0, float(config.final_logit_softcapping)
    return rule, 1.0, None


@dataclass(frozen=True)
class LMHead:
    """The model's output layer as a callable (n, H) -> (n, V), with the model's own logit
    post-processing: multiply by `scale` (Cohere's logit_scale, 1 / Granite's logits_scaling), then
    cap by `softcap` (Gemma 2's final_logit_softcapping) when set.

    model_type, rule: the config's model type and its LOGIT_POST_PROCESSING rule (None: not listed).
    """

    module: nn.Module
    scale: float = 1.0
    softcap: float | None = None
    model_type: str | None = None
    rule: PostProcessing | None = "none"

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
    rule, scale, softcap = logit_post_processing(config)
    return LMHead(module, scale=scale, softcap=softcap, model_type=getattr(config, "model_type", None), rule=rule)


def head_tolerance(dtype: torch.dtype) -> float:
    """The largest gap (`_head_gap`: relative to the row's largest logit) between the head's logits
    and the model's own that is still the same computation, for logits in `dtype`.

    Both sides multiply the same hidden state by the same weights in the same dtype, then apply the
    same operations; they differ only in the order the matmul kernels accumulate (the model's sees
    (B, 1, H), ours (B, H); on GPU, cuBLAS may also reduce split-K partial sums in bf16) and in where
    each rounds. That moves a logit by a few units in the last place of the row's largest logit,
    hence a tolerance relative to it:
    - 16-bit (bf16, also fp32 weights under bf16 autocast): 4 eps = 2^-5 ~ 0.031 for bf16, 0.0039
      for fp16, i.e. 4 to 8 ulps of the largest logit. The product is rounded to 8 bits, and a
      softcap rounds three more times (/c, tanh, *c); a tighter check would refuse honest models;
    - float32 / float64: 1e-4. The rounding is ~1e-7 per operation; accumulating H products in
      another order moves a sum by ~sqrt(H) eps of the products' magnitudes (TF32 rounds both
      sides' inputs alike).
    Measured on CPU at H = 4096 and 8192, with outlier channels: a bf16 product lies within 3.4e-3
    of the exact one, 8.4e-3 after a softcap of 30; fp32 within 1e-6. Not yet measured on GPU.
    What the check is for is far larger: a missed Granite logits_scaling (8 to 16) is a gap of 7 or
    more, a missed Cohere logit_scale (1/16) one of 15, a missed softcap of 30 on logits near 30 one
    of ~0.24. A post-processing within 1 +- tolerance of the identity would pass in bf16 (a softcap
    on logits under 0.3 of the cap, say) and move log-probs by up to ~tolerance x the largest logit.
    """
    if dtype in (torch.float16, torch.bfloat16):
        return 4 * torch.finfo(dtype).eps
    return 1e-4


def _head_gap(head: LMHead, last_hidden: Tensor, model_logits: Tensor) -> tuple[Tensor, torch.dtype]:
    """(max over rows of max_v |head(h) - logits| / max_v |logits|, the least precise dtype of the
    two sides): (B, H), (B, V) -> () float32, inf when the shapes differ or a value is not finite."""
    ours = head(last_hidden)  # (B, V)
    dtype = max(_computed_in(ours), _computed_in(model_logits), key=head_tolerance)
    ours, theirs = ours.float(), model_logits.float()  # (B, V), (B, V)
    if ours.shape != theirs.shape:
        return torch.tensor(float("inf"), device=theirs.device), dtype
    largest = theirs.abs().amax(-1).clamp_min(torch.finfo(torch.float32).tiny)  # (B,)
    gap = ((ours - theirs).abs().amax(-1) / largest).amax()
    return torch.nan_to_num(gap, nan=float("inf")), dtype


def _computed_in(t: Tensor) -> torch.dtype:
    """`t`'s dtype, or bf16 / fp16 where every value of a wider `t` is exact in it: the logits of a
    bf16 forward that accelerate's mixed precision (convert_outputs_to_fp32) returns as float32."""
    if t.dtype in (torch.float32, torch.float64):
        for narrow in (torch.bfloat16, torch.float16):
            if torch.equal(t, t.to(narrow).to(t.dtype)):
                return narrow
    return t.dtype


_SUSPECT_FIELD = re.compile(r"logit|softcap|multiplier")


def _refusal(head: LMHead, config, gap: float, tolerance: float, dtype: torch.dtype) -> ConfigError:
    """The error for a head that does not reproduce the model's logits: names the model type, the
    config field(s) behind the difference, and what to do."""
    name = head.model_type
    where = f"transformers/models/{name}/modeling_{name}.py"
    found = (f"the LM head applied to the final hidden state is {gap:.3g} (relative to the largest logit) "
             f"away from the logits the model returns (tolerance {tolerance:.2g} in {dtype})")
    if head.rule is None:
        fields = {k: v for k, v in _flat_config(config).items() if _SUSPECT_FIELD.search(k)}
        suspects = ", ".join(f"config.{k} = {v!r}" for k, v in sorted(fields.items())) or "none found"
        return ConfigError(
            f"model_type {name!r} post-processes its logits in a way leanfd does not reproduce: {found}. "
            f"Config fields that may be the reason: {suspects}. leanfd.train.forward.LOGIT_POST_PROCESSING lists "
            f"the model types the chunked losses reproduce; add {name!r} with what its ForCausalLM.forward does "
            f"after `self.lm_head(...)` ({where}), or train a model of a listed type."
        )
    field = _FIELD.get(head.rule)
    value = f" with config.{field} = {getattr(config, field, None)!r}" if field else ""
    installed = _transformers_version()
    why = (f"the installed transformers ({installed}) may compute it otherwise" if installed != TRANSFORMERS_READ
           else "its config was changed after it was built, or its code is not transformers' (trust_remote_code)")
    return ConfigError(
        f"model_type {name!r}: {found}. leanfd.train.forward reproduces {name} as `{_FORMULA[head.rule]}`{value}, "
        f"as transformers {TRANSFORMERS_READ} computes it; this model does otherwise: {why}. Read what its "
        f"ForCausalLM.forward does after `self.lm_head(...)` ({where}, or the checkpoint's own modeling file) and "
        f"correct LOGIT_POST_PROCESSING, or load the model with transformers {TRANSFORMERS_READ}'s code and its "
        "config as saved."
    )


def _flat_config(config) -> dict[str, object]:
    """The config's fields, and those of its sub-configs (text_config...) as `text_config.field`."""
    out: dict[str, object] = {}
    for key, value in (config.to_dict() if hasattr(config, "to_dict") else {}).items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items() if not isinstance(v, dict)})
        else:
            out[key] = value
    return out


def _transformers_version() -> str:
    import transformers

    return transformers.__version__


def _raise_unless_close(model: nn.Module, head: LMHead, gap: Tensor, dtype: torch.dtype) -> float:
    """The gap as a float, or the refusal when it is over `dtype`'s tolerance."""
    value = float(gap)
    if not value <= head_tolerance(dtype):
        raise _refusal(head, getattr(unwrap_model(model), "config", None), value, head_tolerance(dtype), dtype)
    return value


def _forward(model: nn.Module, prompts: list[list[int]], completions: list[list[int]], pad_id: int):
    """model(prompt + completion, right-padded) -> (output with hidden states and the last position's
    logits, starts (B,), tokens (B, T), mask (B, T)); see the module docstring."""
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
    return out, starts, tokens.to(device), mask.to(device)


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

    check_head: also verify that the head reproduces the model's logits at the last position (one
    extra (B, H) x (H, V) product without grad), raising ConfigError if not; with dropout on lm_head
    (LoRA's) only in eval mode. The trainer calls `verify_head`, which sees to that.
    """
    out, starts, tokens, mask = _forward(model, prompts, completions, pad_id)
    last = out.hidden_states[-1]  # (B, L, H), after the final norm
    head = lm_head(model)
    if check_head:
        with torch.no_grad():
            gap, dtype = _head_gap(head, last[:, -1], out.logits[:, -1])
        _raise_unless_close(model, head, gap, dtype)
    hidden = gather_completion(last, starts, tokens.shape[1])  # (B, T, H)
    del out, last  # the other layers' states: autograd keeps what backward needs, nothing more
    return CompletionHidden(hidden=hidden, tokens=tokens, mask=mask, head=head)


def verify_head(
    model: nn.Module,
    prompts: Sequence[Sequence[int]],
    completions: Sequence[Sequence[int]],
    pad_id: int,
) -> float:
    """Check that `lm_head(model)` applied to the final hidden state gives the logits `model` itself
    returns (at the last position of each prompt + completion); return the gap (`_head_gap`, relative
    to the largest logit) or raise ConfigError naming the model type, the config field and what to do.

    For the first step of a run (a resumed one too), on the model as training calls it (wrapped in
    DDP / FSDP2 / PEFT), with a few of the step's prompt and completion ids (at least one), inside
    `parallel.autocast()` as the losses apply the head. The tolerance is that of the least precise
    dtype either side computed in (`head_tolerance`), bf16 also when a bf16 forward's logits come
    back as float32 (accelerate's mixed precision). Collective where the model is (its forward, and
    the gap's all-reduce MAX, so that every rank raises or none does): call it on every rank. Runs
    without grad and in eval mode (LoRA dropout on lm_head would make the two sides differ), then
    puts every module back in its own mode.
    """
    if not prompts or len(prompts) != len(completions):
        raise ValueError(f"verify_head needs as many prompts as completions, at least one: got "
                         f"{len(prompts)} and {len(completions)}")
    prompts = [list(p) for p in prompts]
    completions = [list(c) or [pad_id] for c in completions]  # an empty completion: as objectives runs it
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            out, _, _, _ = _forward(model, prompts, completions, pad_id)
            last = out.hidden_states[-1][:, -1]  # (B, H)
            head = lm_head(model)
            gap, dtype = _head_gap(head, last, out.logits[:, -1])
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.all_reduce(gap, op=torch.distributed.ReduceOp.MAX)
            return _raise_unless_close(model, head, gap, dtype)
    finally:
        for module, training in modes:
            module.training = training
