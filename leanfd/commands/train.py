"""`leanfd train`: FD, GRPO or FD then GRPO. Under `accelerate launch -m leanfd train ...` on many GPUs.

`--dry-run` prints the per-GPU memory plan of the config and exits: 0 when it fits, 2 when it does
not (saying what to change), without loading a model.
"""

from __future__ import annotations

import argparse
import logging

from leanfd.commands import usable_lean
from leanfd.config import load, no_effect, option_names
from leanfd.outputs import written
from leanfd.train.config import TrainConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    from leanfd.config import add_arguments as add_config

    p.add_argument("--config", metavar="FILE.yaml", help="options as YAML (the command line wins)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the per-GPU memory plan (weights, gradients, optimizer, teacher, reference, "
                        "activations, logits, vLLM) and exit: 0 if it fits, 2 if not")
    add_config(p, TrainConfig)


def run(args: argparse.Namespace) -> int:
    names = option_names(TrainConfig)
    config = load(TrainConfig, args.config, {k: v for k, v in vars(args).items() if k in names})
    refuse_unused(config, {k for k, v in vars(args).items() if k in names and v is not None})
    if args.dry_run:
        from leanfd.train.memory_plan import check_fits, format_plan, plan_for

        plan = plan_for(config)
        print(format_plan(plan))
        check_fits(plan)  # a ConfigError: exit code 2 and what to change
        return 0
    from leanfd.train.checkpoints import claim_output_dir

    with claim_output_dir(config.output_dir), written("--output-dir", config.output_dir,
                                                      "its complete checkpoints are kept (a rerun resumes)"):
        return _train(config)


def _train(config: TrainConfig) -> int:
    from leanfd.data.benchmarks import load_problems

    problems = load_problems(config.dataset, split=config.split, names=config.names, limit=config.limit)
    usable_lean(config.verifier.lean, problems, config.dataset)  # exit 3 before the model is loaded

    from leanfd.train.trainer import Trainer

    logging.getLogger("leanfd").setLevel(logging.INFO)
    trainer = Trainer(config)
    final = trainer.train()
    if trainer.accelerator.is_main_process:
        print(f"final model: {final}")
    return 0


def refuse_unused(config: TrainConfig, given: set[str]) -> None:
    """Options the run would never read: refused when given on the command line (exit 2, named),
    a warning when a YAML file sets them (a config may serve several methods)."""
    unused, why = config.unused_options()
    on_cli = [f for f in unused if f[2:].replace("-", "_") in given]
    if on_cli:
        raise no_effect(on_cli, why)
    if unused:
        logging.getLogger("leanfd").warning("the config sets %s, which %s no effect %s", ", ".join(unused),
                                            "has" if len(unused) == 1 else "have", why)
