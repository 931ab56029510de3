"""Peak memory and time of the training losses at a real vocabulary, from the final hidden states:
leanfd before (full logits), leanfd after (losses/chunked.py), and TRL 1.16's paths.

    python bench/loss_memory.py [--vocab 151936 102400] [--hidden 1536] [--dtype float32]
                                [--chunks 256 1024] [--frozen-head] [--only TEXT]

Inputs, built before measuring: hidden states (B=4, T=512, H=--hidden: 1536 is Qwen2.5-1.5B, 4096
DeepSeek-Prover-V1.5-7B) for the student (with grad) and the teacher, an lm_head weight (V, H) per
model (the student's with grad unless --frozen-head: a trained head is the full fine-tuning case
with tied embeddings, whose (V, H) gradient is then part of the cost; LoRA with `all-linear` leaves
the head frozen), tokens, a mask of all ones, old log-probs. Hidden states and heads in --dtype
(float32, or bfloat16: the logits then too, the log-probs float32 as in the trainer), CPU. Each
case is the loss's forward and backward in a fresh subprocess; "peak beyond inputs" is the
process's VmHWM after the case minus its VmRSS once the inputs exist, VmHWM having been reset to
the current RSS (`echo 5 > /proc/self/clear_refs`) at that moment. Gradients (.grad) left by the
backward count: they are memory the loss made. Time is wall-clock and the process's CPU time (user
+ system, all threads: less moved by other jobs on a shared machine than the wall-clock). The
case's modules are imported before measuring.

leanfd cases run with the interpreter running this script (the worktree first on sys.path), TRL's
with --trl-python (default /work/trl-venv/bin/python); a TRL case is skipped when TRL is missing.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
B, T = 4, 512
TEMPERATURE = 0.7
TOP_K = 20

# (name, needs TRL). `_loss` dispatches on the name; "leanfd after" cases run once per --chunks value.
CASES = [
    ("leanfd before: fd_loss, full vocab", False),
    ("leanfd before: fd_loss, teacher top-20", False),
    ("leanfd before: GRPO, token_logprobs + mean_entropy", False),
    ("leanfd after: fd_loss_chunked, full vocab", False),
    ("leanfd after: fd_loss_chunked, teacher top-20", False),
    ("leanfd after: fd_loss_chunked, student top-20", False),
    ("leanfd after: GRPO, token_logprobs_chunked", False),
    ("TRL: SDPO full_logits loss", True),
    ("TRL: SDPO topk_logits loss (top-20 + tail)", True),
    ("TRL: GRPO, selective_log_softmax + entropy_from_logits", True),
    ("TRL: GRPO, fused LM head (ChunkedLogProbFunction)", True),
]


# --- inside the subprocess ----------------------------------------------------------------------

_MODULES = {
    "leanfd": ("leanfd.train.losses", "leanfd.train.batching"),
    "TRL": ("leanfd.train.losses", "trl.experimental.sdpo.loss_utils", "trl.trainer.utils", "trl.kernels"),
}


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _inputs(vocab: int, hidden: int, dtype, head_grad: bool):
    import torch

    torch.manual_seed(0)
    s_hidden = torch.randn(B, T, hidden).to(dtype).requires_grad_()
    t_hidden = torch.randn(B, T, hidden).to(dtype)
    weight = torch.randn(vocab, hidden) * hidden**-0.5
    s_weight = weight.to(dtype).requires_grad_(head_grad)
    t_weight = (weight + 0.01 * torch.randn(vocab, hidden)).to(dtype)
    tokens = torch.randint(0, vocab, (B, T))
    mask = torch.ones(B, T)
    old = torch.full((B, T), -12.0)
    adv = torch.randn(B)
    return s_hidden, t_hidden, s_weight, t_weight, tokens, mask, old, adv


def _surrogate(logp, old, adv, mask):
    """The same (B, T) GRPO surrogate for every GRPO case, so only the log-prob path differs."""
    from leanfd.train.losses import grpo_loss

    return grpo_loss(logp, old, adv, mask, eps_high=0.28)[0]


def _run_case(name: str, chunk: int, vocab: int, hidden: int, dtype: str, head_grad: bool) -> None:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    s_hidden, t_hidden, s_weight, t_weight, tokens, mask, old, adv = _inputs(
        vocab, hidden, getattr(torch, dtype), head_grad)
    student = torch.nn.Linear(hidden, vocab, bias=False, device="meta")
    teacher = torch.nn.Linear(hidden, vocab, bias=False, device="meta")
    student.weight, teacher.weight = torch.nn.Parameter(s_weight, requires_grad=head_grad), torch.nn.Parameter(t_weight)
    teacher.requires_grad_(False)

    # The case's modules are imported before measuring: their import time and memory are not the loss's.
    for module in _MODULES["TRL" if name.startswith("TRL") else "leanfd"]:
        importlib.import_module(module)
    baseline = _status_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    start, cpu_start = time.perf_counter(), time.process_time()
    loss = _loss(name, chunk, student, teacher, s_hidden, t_hidden, tokens, mask, old, adv, F)
    loss.backward()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    peak = _status_kb("VmHWM")
    assert s_hidden.grad is not None and (not head_grad or student.weight.grad is not None)
    print(json.dumps({"peak_gb": (peak - baseline) * 1024 / 1e9, "seconds": seconds, "cpu_seconds": cpu_seconds,
                      "loss": float(loss)}))


def _loss(name, chunk, student, teacher, s_hidden, t_hidden, tokens, mask, old, adv, F):
    import torch

    fd_kwargs = dict(old_logprobs=old, clip=2.0, temperature=TEMPERATURE)
    if name.startswith("leanfd before: fd_loss"):
        from leanfd.train.losses import fd_loss

        with torch.no_grad():
            t_logits = teacher(t_hidden)
        support = "teacher_topk" if "top-20" in name else "full"
        return fd_loss(student(s_hidden), t_logits, tokens, mask, support=support, top_k=TOP_K, **fd_kwargs)[0]
    if name.startswith("leanfd before: GRPO"):
        from leanfd.train.batching import mean_entropy, token_logprobs

        logits = student(s_hidden) / TEMPERATURE
        logp = token_logprobs(logits, tokens)
        mean_entropy(logits, mask)
        return _surrogate(logp, old, adv, mask)
    if name.startswith("leanfd after: fd_loss_chunked"):
        from leanfd.train.losses import fd_loss_chunked

        support = "full" if "full vocab" in name else "student_topk" if "student" in name else "teacher_topk"
        return fd_loss_chunked(s_hidden, student, t_hidden, teacher, tokens, mask, support=support, top_k=TOP_K,
                               chunk_tokens=chunk, **fd_kwargs)[0]
    if name.startswith("leanfd after: GRPO"):
        from leanfd.train.losses import token_logprobs_chunked

        logp, ent = token_logprobs_chunked(s_hidden, student, tokens, mask, temperature=TEMPERATURE, chunk_tokens=chunk)
        return _surrogate(logp, old, adv, mask)
    if name.startswith("TRL: SDPO"):
        from trl.experimental.sdpo.loss_utils import (
            apply_importance_sampling_clipping,
            compute_full_logit_self_distillation_loss,
            compute_topk_self_distillation_loss,
        )
        from trl.trainer.utils import selective_log_softmax

        # SDPOTrainer divides both sides' logits by the temperature; alpha=1 is its reverse KL.
        s_logits = student(s_hidden) / TEMPERATURE
        with torch.no_grad():
            t_logits = teacher(t_hidden) / TEMPERATURE
        if "topk" in name:
            per_token = compute_topk_self_distillation_loss(
                s_logits, t_logits, distillation_topk=TOP_K, distillation_alpha=1.0, distillation_add_tail=True)
        else:
            per_token = compute_full_logit_self_distillation_loss(s_logits, t_logits, distillation_alpha=1.0)
        logp = selective_log_softmax(s_logits, tokens)
        per_token = apply_importance_sampling_clipping(per_token, logp, old, 2.0)
        return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    if name.startswith("TRL: GRPO, selective"):
        from trl.trainer.utils import entropy_from_logits, selective_log_softmax

        logits = student(s_hidden) / TEMPERATURE
        logp = selective_log_softmax(logits, tokens)
        with torch.no_grad():
            entropy_from_logits(logits)
        return _surrogate(logp, old, adv, mask)
    if name.startswith("TRL: GRPO, fused"):
        from trl.kernels import ChunkedLogProbFunction
        from trl.trainer.utils import _CHUNKED_LOGPROB_CHUNK_SIZE

        logp, ent, *_ = ChunkedLogProbFunction.apply(
            s_hidden.reshape(-1, s_hidden.shape[-1]), student.weight, None, tokens.reshape(-1), TEMPERATURE,
            _CHUNKED_LOGPROB_CHUNK_SIZE, None, 1.0, ("log_probs", "entropy"))
        return _surrogate(logp.view(B, T), old, adv, mask)
    raise ValueError(f"unknown case {name!r}")


# --- the parent: one subprocess per case ----------------------------------------------------------


def _measure(name: str, chunk: int, vocab: int, hidden: int, dtype: str, head_grad: bool,
             python: str) -> dict | None:
    cmd = [python, __file__, "--case", name, "--chunk", str(chunk), "--vocab", str(vocab),
           "--hidden", str(hidden), "--dtype", dtype]
    if not head_grad:
        cmd.append("--frozen-head")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if run.returncode != 0:
        print(f"  {name}: failed\n{run.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vocab", type=int, nargs="+", default=[151_936, 102_400], help="vocabulary sizes")
    p.add_argument("--hidden", type=int, default=1536, help="hidden size H")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                   help="dtype of the hidden states and heads")
    p.add_argument("--chunks", type=int, nargs="+", default=[256, 1024], help="chunk_tokens for the chunked cases")
    p.add_argument("--frozen-head", action="store_true", help="the student's lm_head weight without grad")
    p.add_argument("--trl-python", default="/work/trl-venv/bin/python", help="an interpreter with trl 1.16")
    p.add_argument("--only", default="", help="run only the cases whose name contains this")
    p.add_argument("--case", help=argparse.SUPPRESS)
    p.add_argument("--chunk", type=int, default=256, help=argparse.SUPPRESS)
    a = p.parse_args()
    head_grad = not a.frozen_head
    if a.case:
        sys.path.insert(0, str(REPO))
        _run_case(a.case, a.chunk, a.vocab[0], a.hidden, a.dtype, head_grad)
        return
    has_trl = Path(a.trl_python).exists()
    print(f"| V | case | chunk_tokens | peak beyond inputs (GB) | time (s) | CPU time (s) | H = {a.hidden}, {a.dtype}, "
          f"head grad: {head_grad} |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | --- |")
    for vocab in a.vocab:
        for name, needs_trl in CASES:
            if a.only not in name or (needs_trl and not has_trl):
                continue
            chunks = a.chunks if name.startswith("leanfd after") else [0]
            for chunk in chunks:
                r = _measure(name, chunk, vocab, a.hidden, a.dtype, head_grad,
                             a.trl_python if needs_trl else sys.executable)
                cell = ("failed | | |" if r is None
                        else f"{r['peak_gb']:.2f} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} |")
                print(f"| {vocab:,} | {name} | {chunk or '-'} | {cell} |", flush=True)


if __name__ == "__main__":
    main()
