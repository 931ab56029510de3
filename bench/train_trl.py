"""The reference: TRL's GRPOTrainer on the same model, problems, group size and lengths as
`bench/train.py`, with leanfd's verifier as its reward function.

TRL is not a dependency of leanfd: run this from an environment that has it, e.g.

    python -m venv /tmp/trl && /tmp/trl/bin/pip install torch==2.13.0
    /tmp/trl/bin/pip install trl -e '.[bundled,train]'
    /tmp/trl/bin/python bench/train_trl.py --steps 4

The step split (generate, verify, rest) is measured here, around TRL's `_generate` and the reward
function: TRL's own timings (`profiling_context`) go only to wandb, MLflow or Trackio. The helpers
below are shared with `bench/train_sdpo_trl.py`, the SDPOTrainer twin.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from train import SIZES  # noqa: E402

TOY = ROOT / "lean_project" / "toy" / "toy.jsonl"


def bench_args(description: str) -> argparse.ArgumentParser:
    """The options both TRL twins share with `bench/train.py`, under the same names and defaults."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--size", choices=list(SIZES), default="tiny")
    ap.add_argument("--vocab", type=int, default=None, help="LM-head rows (Qwen2: 151936; default: the tokenizer's)")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--micro-batch", type=int, default=8)
    ap.add_argument("--bf16", action="store_true")
    # TRL's own default is on; off here unless asked, as in bench/train.py, so both sides match
    ap.add_argument("--gradient-checkpointing", action="store_true")
    ap.add_argument("--lean", default="bundled")
    return ap


def config_kwargs(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """What GRPOConfig and SDPOConfig take alike: one optimizer step per generation of prompts x group
    samples, trained in micro-batches as leanfd does, at leanfd's lr, constant schedule, no KL."""
    import torch

    if args.prompts * args.group % args.micro_batch:
        raise SystemExit("--prompts x --group must be a multiple of --micro-batch (TRL accumulates whole ones)")
    return dict(
        output_dir=str(out), learning_rate=1e-6, lr_scheduler_type="constant", max_steps=args.steps,
        per_device_train_batch_size=args.micro_batch, num_generations=args.group,
        gradient_accumulation_steps=args.prompts * args.group // args.micro_batch,
        max_completion_length=args.new_tokens, temperature=1.0, beta=0.0, logging_steps=1,
        report_to="none", use_cpu=not torch.cuda.is_available(), save_strategy="no", bf16=args.bf16,
        gradient_checkpointing=args.gradient_checkpointing,
    )


def toy_problems() -> tuple[dict, list[dict]]:
    """The toy benchmark's problems by uid, and one dataset row (prompt, uid) each, prompts as leanfd builds them."""
    from leanfd.data.benchmarks import load_problems
    from leanfd.data.prompts import PromptBuilder

    problems = {p.uid: p for p in load_problems(str(TOY))}
    builder = PromptBuilder()
    return problems, [{"prompt": builder.build(p), "uid": uid} for uid, p in problems.items()]


def verify(verifier, problems: dict, completions: list[str], uids: list[str]) -> list[tuple[Any, Any]]:
    """(check record, verdict) for each completion, all submitted to Lean's pool before any is awaited."""
    from leanfd.data.prompts import answer_record

    checks = [answer_record(c, problems[u]) for c, u in zip(completions, uids)]
    futures = [verifier.submit(c) for c in checks]
    return [(c, f.result()) for c, f in zip(checks, futures)]


class Timed:
    """Mixin for a TRL trainer: adds the seconds of each `_generate` call to `bench_times["generate"]`."""

    bench_times: dict[str, float]

    def _generate(self, *a, **k):
        t = time.monotonic()
        out = super()._generate(*a, **k)
        self.bench_times["generate"] += time.monotonic() - t
        return out


def step_timer(times: dict[str, float]):
    """A callback that records each optimizer step's seconds and its share of each entry of `times`."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.steps: list[dict[str, float]] = []

        def on_step_begin(self, *a, **k):
            self.t, self.before = time.monotonic(), dict(times)

        def on_step_end(self, *a, **k):
            row = {"step": time.monotonic() - self.t, **{key: times[key] - self.before[key] for key in times}}
            row["rest"] = row["step"] - sum(row[key] for key in times)
            self.steps.append(row)

    return StepTimer()


def train(name: str, args: argparse.Namespace, trainer, timer) -> dict[str, Any]:
    """Train, then the final JSON line: steady-state means (the first step pays for Lean's and the
    model's warm-up), peak memory over the whole run."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t = time.monotonic()
    trainer.train()
    wall = time.monotonic() - t
    steady = timer.steps[1:] or timer.steps
    mean = {k: sum(r[k] for r in steady) / len(steady) for k in steady[0]}
    lengths = [h["completions/mean_length"] for h in trainer.state.log_history if "completions/mean_length" in h]
    return {
        "trainer": name, "steps": args.steps, "wall_s": round(wall, 1), "step_s": round(mean["step"], 3),
        "step_split_s": {k: round(v, 3) for k, v in mean.items() if k != "step"},
        "completion_tokens_per_step_s": round(args.prompts * args.group * (sum(lengths) / max(1, len(lengths)))
                                              / mean["step"], 1),
        "peak_gpu_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None,
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }


def main() -> None:
    args = bench_args(__doc__.split("\n")[0]).parse_args()

    import tempfile

    import trl
    from datasets import Dataset
    from train import build_model
    from trl import GRPOConfig, GRPOTrainer

    from leanfd.lean.verifier import Verifier

    problems, rows = toy_problems()
    times = {"generate": 0.0, "verify": 0.0}

    class TimedGRPO(Timed, GRPOTrainer):
        bench_times = times

    with tempfile.TemporaryDirectory() as tmp, Verifier(backend="server", lean=args.lean) as verifier:
        model = build_model(args.size, Path(tmp) / "model", args.vocab)

        def proved(completions, uid, **_):
            t = time.monotonic()
            rewards = [1.0 if v.proved else 0.0 for _, v in verify(verifier, problems, completions, uid)]
            times["verify"] += time.monotonic() - t
            return rewards

        timer = step_timer(times)
        config = GRPOConfig(**config_kwargs(args, Path(tmp) / "out"))
        trainer = TimedGRPO(model=str(model), reward_funcs=[proved], args=config, train_dataset=Dataset.from_list(rows),
                            callbacks=[timer])
        print(json.dumps(train(f"trl {trl.__version__} GRPOTrainer", args, trainer, timer)))


if __name__ == "__main__":
    main()
