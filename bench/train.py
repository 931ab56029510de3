"""FD and GRPO step cost: tokens/s, the generate/verify/feedback/train split, peak memory.

A random-weight Qwen2 model of the chosen size (a byte-level tokenizer trained on Lean text, as in
the tests), the toy benchmark, real verification by the Lean that leanfd finds. On a GPU the size
is 0.5B-class (bf16); on CPU a tiny config, so the same script runs everywhere.

    python bench/train.py --size tiny --steps 3            # CPU
    python bench/train.py --size 0.5b --steps 5 --bf16     # GPU
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

SIZES = {  # hidden, layers, heads, kv heads, intermediate
    "tiny": (64, 2, 4, 2, 128),
    "0.5b": (896, 24, 14, 2, 4864),
    "1.5b": (1536, 28, 12, 2, 8960),
}


def build_model(size: str, out: Path, vocab: int | None = None) -> Path:
    """The model directory for `size`: the tests' tokenizer with a random model of that shape.

    `vocab` sets the embedding and LM-head rows (e.g. Qwen2's 151936) beyond the tokenizer's 388 tokens:
    ids past the tokenizer decode to nothing, so only the cost (the logits, the softmax) is realistic."""
    from tiny_model import make_tiny_model
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    make_tiny_model(out)  # the tokenizer (and a tiny model we replace unless size is tiny and vocab unset)
    if size != "tiny" or vocab:
        tok = AutoTokenizer.from_pretrained(out)
        h, L, heads, kv, inter = SIZES[size]
        cfg = Qwen2Config(vocab_size=vocab or len(tok), hidden_size=h, num_hidden_layers=L, num_attention_heads=heads,
                          num_key_value_heads=kv, intermediate_size=inter, max_position_embeddings=4096,
                          eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=True)
        Qwen2ForCausalLM(cfg).save_pretrained(out)
    return out


def run(method: str, model: Path, steps: int, args: argparse.Namespace, workdir: Path) -> dict:
    import torch

    from leanfd.config import load
    from leanfd.train.config import TrainConfig
    from leanfd.train.trainer import Trainer

    out = workdir / method
    # by flag name, so the call survives options moving between the config's sections
    cfg = load(TrainConfig, overrides={
        "method": method, "model": str(model), "dataset": str(ROOT / "lean_project" / "toy" / "toy.jsonl"),
        "output_dir": str(out), "max_steps": steps, "prompts_per_step": args.prompts, "group_size": args.group,
        "max_new_tokens": args.new_tokens, "verifier_backend": "server", "lean": args.lean, "bf16": args.bf16,
        "micro_batch": args.micro_batch, "save_every": 10**9, "live": False, "lr": 1e-6, "resume": False,
        "gen_chunks": args.gen_chunks, "gradient_checkpointing": args.gradient_checkpointing,
        # FD as TRL's SDPOTrainer: its support (student top-20 + tail; leanfd's default is now the full
        # vocabulary), and no teacher-advantage sampling, which TRL does not do
        **({"topk": 20, "teacher_eval_every": 0} if method == "fd" else {})})
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t = time.monotonic()
    Trainer(cfg).train()
    wall = time.monotonic() - t
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    steady = rows[1:] or rows  # the first step pays for starting Lean and warming caches
    mean = lambda k: sum(r[k] for r in steady) / len(steady)  # noqa: E731
    completion_tokens = mean("samples") * mean("response_length")
    sequence_tokens = mean("samples") * (mean("response_length") + mean("prompt_length"))
    return {
        "method": method, "steps": steps, "wall_s": round(wall, 1),
        "gen_tokens_per_s": round(mean("tokens_per_s"), 1),
        # the train step reads whole sequences (prompt + completion; FD's teacher a longer prompt)
        "train_seq_tokens_per_s": round(sequence_tokens / mean("time_train"), 1),
        "train_completion_tokens_per_s": round(completion_tokens / mean("time_train"), 1),
        "step_split_s": {k: round(mean(f"time_{k}"), 3) for k in ("generate", "verify", "feedback", "train")},
        "verified_early": round(mean("verified_early"), 3),  # share of attempts sent to Lean mid-generation
        "peak_gpu_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None,
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", choices=list(SIZES), default="tiny")
    ap.add_argument("--vocab", type=int, default=None, help="LM-head rows (Qwen2: 151936; default: the tokenizer's)")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--micro-batch", type=int, default=8)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--gen-chunks", type=int, default=1)
    ap.add_argument("--gradient-checkpointing", action="store_true", help="as TRL's GRPOTrainer does by default")
    ap.add_argument("--methods", default="fd,grpo")
    ap.add_argument("--lean", default=None)
    args = ap.parse_args()
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        model = build_model(args.size, Path(tmp) / "model", args.vocab)
        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
        print(json.dumps({"size": args.size, "vocab": args.vocab, "device": device, "torch": torch.__version__,
                          "prompts_x_group": f"{args.prompts}x{args.group}", "new_tokens": args.new_tokens}))
        for method in args.methods.split(","):
            print(json.dumps(run(method, model, args.steps, args, Path(tmp))), flush=True)


if __name__ == "__main__":
    main()
