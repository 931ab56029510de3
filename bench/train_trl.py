"""The reference: TRL's GRPOTrainer on the same model, problems, group size and lengths as
`bench/train.py`, with leanfd's verifier as its reward function.

TRL is not a dependency of leanfd: run this from an environment that has it, e.g.

    python -m venv /tmp/trl && /tmp/trl/bin/pip install torch==2.13.0
    /tmp/trl/bin/pip install trl -e '.[bundled,train]'
    /tmp/trl/bin/python bench/train_trl.py --steps 4
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
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="tiny")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--micro-batch", type=int, default=8)
    ap.add_argument("--bf16", action="store_true")
    args = ap.parse_args()

    import torch
    import trl
    from datasets import Dataset
    from train import build_model
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from leanfd.data.benchmarks import load_problems
    from leanfd.data.prompts import PromptBuilder, extract_proof
    from leanfd.lean.verifier import Verifier

    problems = {p.uid: p for p in load_problems(str(ROOT / "lean_project" / "toy" / "toy.jsonl"))}
    builder = PromptBuilder()
    data = Dataset.from_list([{"prompt": builder.build(p), "uid": uid} for uid, p in problems.items()])
    verify_s = [0.0]

    with tempfile.TemporaryDirectory() as tmp, Verifier(backend="server", lean="bundled") as verifier:
        model = build_model(args.size, Path(tmp) / "model")

        def proved(completions, uid, **_):
            t = time.monotonic()
            futures = [verifier.submit(problems[u].to_check_record(extract_proof(c, problems[u])))
                       for c, u in zip(completions, uid)]
            rewards = [1.0 if f.result().proved else 0.0 for f in futures]
            verify_s[0] += time.monotonic() - t
            return rewards

        step_times: list[float] = []

        class Timer(TrainerCallback):
            def on_step_begin(self, *a, **k):
                self.t = time.monotonic()

            def on_step_end(self, *a, **k):
                step_times.append(time.monotonic() - self.t)

        config = GRPOConfig(
            output_dir=str(Path(tmp) / "out"), learning_rate=1e-6, max_steps=args.steps,
            per_device_train_batch_size=args.micro_batch, num_generations=args.group,
            # one optimizer step per generation of prompts x group samples, in micro-batches as leanfd does
            gradient_accumulation_steps=args.prompts * args.group // args.micro_batch,
            max_completion_length=args.new_tokens, temperature=1.0, beta=0.0, logging_steps=1,
            report_to="none", use_cpu=not torch.cuda.is_available(), save_strategy="no", bf16=args.bf16,
        )
        trainer = GRPOTrainer(model=str(model), reward_funcs=[proved], args=config, train_dataset=data,
                              callbacks=[Timer()])
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        t = time.monotonic()
        trainer.train()
        wall = time.monotonic() - t
    steady = step_times[1:] or step_times
    lengths = [h["completions/mean_length"] for h in trainer.state.log_history if "completions/mean_length" in h]
    print(json.dumps({
        "trainer": f"trl {trl.__version__} GRPOTrainer", "steps": args.steps, "wall_s": round(wall, 1),
        "step_s": round(sum(steady) / len(steady), 3),
        "completion_tokens_per_step_s": round(args.prompts * args.group * (sum(lengths) / max(1, len(lengths)))
                                             / (sum(steady) / len(steady)), 1),
        "verify_s_total": round(verify_s[0], 2),
        "peak_gpu_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None,
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }))


if __name__ == "__main__":
    main()
