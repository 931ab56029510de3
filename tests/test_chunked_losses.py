"""The chunked losses (leanfd/train/losses/chunked.py) and the hidden-state forward
(leanfd/train/forward.py) against the full-logit reference functions: values and gradients, memory
bounded by the chunk, and DDP still all-reducing through the model's own forward."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from leanfd.train.batching import completion_logits, mean_entropy, token_logprobs
from leanfd.train.forward import LMHead, completion_hidden, lm_head, unwrap_model
from leanfd.train.losses import fd_loss, fd_loss_chunked, token_logprobs_chunked
from leanfd.train.losses.aggregate import token_mean
from leanfd.train.losses.fd import DIVERGENCE_NAMES, SUPPORT_NAMES

B, T, H, V = 3, 5, 8, 11
TEMPERATURE = 0.7
FP32 = dict(rtol=1e-5, atol=1e-5)  # batching.token_logprobs computes in float32 whatever the input dtype


@pytest.fixture
def batch():
    """float64 hidden states with grad, two heads, tokens, a mask with padding and an all-masked row."""
    gen = torch.Generator().manual_seed(0)
    student = torch.nn.Linear(H, V, bias=True, dtype=torch.float64)
    teacher = torch.nn.Linear(H, V, bias=False, dtype=torch.float64)
    with torch.no_grad():
        for p in (*student.parameters(), *teacher.parameters()):
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
    s_hidden = torch.randn(B, T, H, generator=gen, dtype=torch.float64, requires_grad=True)
    t_hidden = torch.randn(B, T, H, generator=gen, dtype=torch.float64)
    tokens = torch.randint(0, V, (B, T), generator=gen)
    mask = torch.tensor([[1, 1, 1, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.float64)
    tokens[0, 3:] = -100  # padding ids the loss must never gather
    old = 3.0 * torch.randn(B, T, generator=gen, dtype=torch.float64) - 5.0  # some ratios past the clip, some not
    return student, teacher, s_hidden, t_hidden, tokens, mask, old


def _grads(loss, *tensors):
    return torch.autograd.grad(loss, tensors, allow_unused=True)


@pytest.mark.parametrize("chunk_tokens", [1, 3, 100])
@pytest.mark.parametrize("support", SUPPORT_NAMES)
@pytest.mark.parametrize("divergence", DIVERGENCE_NAMES)
def test_fd_loss_chunked_equals_fd_loss(batch, divergence, support, chunk_tokens):
    student, teacher, s_hidden, t_hidden, tokens, mask, old = batch
    kwargs = dict(divergence=divergence, beta=0.3, support=support, top_k=4, old_logprobs=old, clip=1.5,
                  temperature=TEMPERATURE, aggregation="sequence_mean")
    want, want_m = fd_loss(student(s_hidden), teacher(t_hidden), tokens, mask, **kwargs)
    got, got_m = fd_loss_chunked(s_hidden, student, t_hidden, teacher, tokens, mask,
                                 chunk_tokens=chunk_tokens, **kwargs)
    torch.testing.assert_close(got, want)
    for name in want_m:
        torch.testing.assert_close(got_m[name], want_m[name], msg=name)
    assert want_m["clip_fraction"] > 0  # the weights are exercised, not all 1
    params = (s_hidden, student.weight, student.bias)
    for g, w in zip(_grads(got, *params), _grads(want, *params)):
        torch.testing.assert_close(g, w)


@pytest.mark.parametrize("aggregation", ["token_mean", "dr_grpo"])
def test_fd_loss_chunked_on_policy_and_other_normalisers(batch, aggregation):
    student, teacher, s_hidden, t_hidden, tokens, mask, _ = batch
    kwargs = dict(aggregation=aggregation, max_tokens=7)
    want, want_m = fd_loss(student(s_hidden), teacher(t_hidden), tokens, mask, **kwargs)
    got, got_m = fd_loss_chunked(s_hidden, student, t_hidden, teacher, tokens, mask, chunk_tokens=2, **kwargs)
    torch.testing.assert_close(got, want)
    assert float(got_m["clip_fraction"]) == 0.0
    torch.testing.assert_close(_grads(got, s_hidden)[0], _grads(want, s_hidden)[0])


def test_fd_loss_chunked_all_masked_gives_zero_loss_and_zero_gradient(batch):
    student, teacher, s_hidden, t_hidden, tokens, mask, _ = batch
    loss, _ = fd_loss_chunked(s_hidden, student, t_hidden, teacher, tokens, torch.zeros_like(mask))
    assert float(loss.detach()) == 0.0
    grad_h, grad_w = _grads(loss, s_hidden, student.weight)
    assert grad_h is not None and grad_w is not None  # still connected: DDP sees every parameter
    assert grad_h.abs().max() == 0 and grad_w.abs().max() == 0


def test_fd_loss_chunked_rejects_what_fd_loss_rejects(batch):
    student, teacher, s_hidden, t_hidden, tokens, mask, _ = batch
    with pytest.raises(ValueError, match="divergence"):
        fd_loss_chunked(s_hidden, student, t_hidden, teacher, tokens, mask, divergence="kl")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="top_k"):
        fd_loss_chunked(s_hidden, student, t_hidden, teacher, tokens, mask, support="teacher_topk", top_k=V + 1)
    with pytest.raises(ValueError, match="chunk_tokens"):
        fd_loss_chunked(s_hidden, student, t_hidden, teacher, tokens, mask, chunk_tokens=0)


@pytest.mark.parametrize("temperature", [1.0, TEMPERATURE])
@pytest.mark.parametrize("chunk_tokens", [1, 4, 100])
def test_token_logprobs_chunked_equals_token_logprobs_and_mean_entropy(batch, chunk_tokens, temperature):
    head, _, hidden, _, tokens, mask, old = batch
    tokens = torch.where(mask.bool(), tokens, 0)
    logits = head(hidden) / temperature  # (B, T, V): the reference at the same temperature
    want = token_logprobs(logits, tokens)
    got, ent = token_logprobs_chunked(hidden, head, tokens, mask, temperature=temperature, chunk_tokens=chunk_tokens)
    real = mask.bool()
    assert got.dtype == torch.float64  # token_logprobs rounds to float32; the chunked path keeps float64
    torch.testing.assert_close(got[real], want[real], check_dtype=False, **FP32)
    assert not ent.requires_grad
    with torch.no_grad():  # the reference model's log-probs (GRPO's KL): no graph, same values
        ref, _ = token_logprobs_chunked(hidden, head, tokens, mask, temperature=temperature, chunk_tokens=chunk_tokens)
    assert not ref.requires_grad and torch.equal(ref, got.detach())
    assert float(token_mean(ent, real)) == pytest.approx(mean_entropy(logits, mask), rel=1e-5)
    weights = torch.where(real, old, 0.0)  # any linear function of the log-probs over the mask
    params = (hidden, head.weight, head.bias)
    for g, w in zip(_grads((weights * got).sum(), *params), _grads((weights * want).sum(), *params)):
        torch.testing.assert_close(g, w, **FP32)


class _RowRecorder:
    """Forward hook recording how many rows each call of a head returned, and whether grad was on."""

    def __init__(self, module: torch.nn.Module):
        self.calls: list[tuple[int, bool]] = []
        module.register_forward_hook(lambda _m, _i, out: self.calls.append((out.shape[0], torch.is_grad_enabled())))


def test_no_more_than_one_chunk_of_logits_in_forward_or_backward():
    chunk, n_rows, vocab = 4, 37, 50
    gen = torch.Generator().manual_seed(1)
    student, teacher = torch.nn.Linear(H, vocab), torch.nn.Linear(H, vocab)
    s_rec, t_rec = _RowRecorder(student), _RowRecorder(teacher)
    hidden = torch.randn(1, n_rows, H, generator=gen, requires_grad=True)
    tokens = torch.randint(0, vocab, (1, n_rows), generator=gen)
    mask = torch.ones(1, n_rows)
    largest_saved = []

    def pack(t):
        largest_saved.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss, _ = fd_loss_chunked(hidden, student, hidden.detach(), teacher, tokens, mask, chunk_tokens=chunk)
    forward_calls = len(s_rec.calls)
    loss.backward()
    n_chunks = -(-n_rows // chunk)
    assert forward_calls == n_chunks
    assert len(s_rec.calls) == 2 * n_chunks  # the backward recomputed each chunk ...
    assert max(rows for rows, _ in s_rec.calls + t_rec.calls) <= chunk  # ... never more than a chunk at once
    assert not any(grad for _, grad in t_rec.calls)  # the teacher's head never builds a graph
    assert max(largest_saved) < chunk * vocab  # nothing of logits' size is kept between forward and backward
    assert student.weight.grad is not None and hidden.grad is not None


# --- through a real model: tiny Qwen2 and Llama, with and without LoRA ---------------------------

PROMPTS = [[5, 6, 7, 8], [9, 10], [11, 12, 13]]
COMPLETIONS = [[20, 21, 22], [23, 24, 25, 26, 27], [28]]


def _model(tiny_model_dir, kind: str):
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    if kind == "llama":
        config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
        return LlamaForCausalLM(config).to(torch.float64)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float64)
    if kind == "lora":
        from peft import LoraConfig, get_peft_model

        # init_lora_weights=False: B != 0, so the adapters (lm_head's included) change the outputs.
        config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj", "lm_head"],
                            task_type="CAUSAL_LM", init_lora_weights=False)
        model = get_peft_model(model, config)
    return model


@pytest.mark.parametrize("kind", ["qwen2", "lora", "llama"])
def test_completion_hidden_then_chunked_logprobs_equal_completion_logits(tiny_model_dir, kind):
    model = _model(tiny_model_dir, kind)
    params = [p for p in model.parameters() if p.requires_grad]
    weights = torch.linspace(-1.0, 1.0, 5, dtype=torch.float64)  # (T,): any linear function of the log-probs

    logits, tokens, mask = completion_logits(model, PROMPTS, COMPLETIONS, pad_id=0)
    want = token_logprobs(logits, tokens)
    want_grads = torch.autograd.grad((weights * mask * want).sum(), params)

    ch = completion_hidden(model, PROMPTS, COMPLETIONS, pad_id=0, check_head=True)
    assert ch.hidden.shape == (3, 5, model.config.hidden_size)
    torch.testing.assert_close(ch.tokens, tokens)
    got, _ = token_logprobs_chunked(ch.hidden, ch.head, ch.tokens, ch.mask, chunk_tokens=2)
    real = mask.bool()
    torch.testing.assert_close(got[real], want[real], check_dtype=False, **FP32)
    got_grads = torch.autograd.grad((weights * mask * got).sum(), params)
    for g, w in zip(got_grads, want_grads):
        torch.testing.assert_close(g, w, **FP32)
    if kind == "lora":
        from peft.tuners.lora import Linear as LoraLinear

        assert isinstance(ch.head.module, LoraLinear)  # the adapted head is the one called


def test_lm_head_unwraps_and_reproduces_logit_post_processing(tiny_model_dir):
    model = _model(tiny_model_dir, "lora")
    assert unwrap_model(model) is model.get_base_model()
    assert lm_head(model).scale == 1.0 and lm_head(model).softcap is None
    ch = completion_hidden(model, PROMPTS, COMPLETIONS, pad_id=0, check_head=True)
    capped = LMHead(ch.head.module, scale=2.0, softcap=3.0)
    z = ch.head.module(ch.hidden)
    torch.testing.assert_close(capped(ch.hidden), 3.0 * torch.tanh(2.0 * z / 3.0))
    # Read by model type, not by field name: Qwen2ForCausalLM ignores a logit_scale, and so does its head.
    # (A model whose logits the head does not reproduce is refused: tests/test_model_families.py.)
    unwrap_model(model).config.logit_scale = 2.0
    assert lm_head(model).scale == 1.0
    completion_hidden(model, PROMPTS, COMPLETIONS, pad_id=0, check_head=True)


def test_softcapped_model_matches_through_check_head():
    from transformers import Gemma2Config, Gemma2ForCausalLM

    torch.manual_seed(0)
    config = Gemma2Config(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, head_dim=4, final_logit_softcapping=0.5)
    model = Gemma2ForCausalLM(config).to(torch.float64)
    ch = completion_hidden(model, PROMPTS, COMPLETIONS, pad_id=0, check_head=True)
    assert ch.head.softcap == 0.5
    logits, tokens, mask = completion_logits(model, PROMPTS, COMPLETIONS, pad_id=0)
    got, _ = token_logprobs_chunked(ch.hidden, ch.head, ch.tokens, ch.mask, chunk_tokens=3)
    torch.testing.assert_close(got[mask.bool()], token_logprobs(logits, tokens)[mask.bool()], check_dtype=False, **FP32)


# --- DDP: gradients through completion_hidden are all-reduced --------------------------------------


def _two_ranks(model_dir: Path, out: Path, mode: str) -> list[dict[str, list[float]]]:
    worker = Path(__file__).with_name("ddp_chunked_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(worker), str(model_dir), str(out), mode]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


def test_ddp_gradients_through_completion_hidden_are_all_reduced(tiny_model_dir, tmp_path):
    ranks = _two_ranks(tiny_model_dir, tmp_path, "ddp")
    # Different data on each rank; after backward through DDP's forward, the same gradients ...
    assert ranks[0]["ddp"] == pytest.approx(ranks[1]["ddp"], rel=1e-10, abs=1e-12)
    # ... which are the mean of each rank's own (un-reduced) gradients, and those differ.
    assert ranks[0]["local"] != pytest.approx(ranks[1]["local"], rel=1e-6)
    mean = [(a + b) / 2 for a, b in zip(ranks[0]["local"], ranks[1]["local"])]
    assert ranks[0]["ddp"] == pytest.approx(mean, rel=1e-8, abs=1e-12)


def test_fsdp2_gradients_through_completion_hidden_equal_the_full_logit_path(tiny_model_dir, tmp_path):
    """FSDP2 (fully_shard per decoder layer + root; the tied embedding/lm_head in the root): the head
    called once per chunk and again in backward's recompute gives the full-logit path's gradients."""
    ranks = _two_ranks(tiny_model_dir, tmp_path, "fsdp2")
    for r in ranks:
        # token_logprobs (the full path) rounds to float32, hence the tolerance (gradients are ~1e-3).
        assert r["chunked"] == pytest.approx(r["full"], rel=1e-4, abs=1e-6)
        assert max(abs(g) for g in r["chunked"]) > 0
    assert ranks[0]["chunked"] == pytest.approx(ranks[1]["chunked"], rel=1e-10, abs=1e-12)  # reduced
