"""`leanfd train`: FD, GRPO or FD then GRPO. Under `accelerate launch -m leanfd train ...` on many GPUs."""

from __future__ import annotations

import argparse
import logging

from leanfd.config import load
from leanfd.train.config import TrainConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    from leanfd.config import add_arguments as add_config

    p.add_argument("--config", metavar="FILE.yaml", help="options as YAML (the command line wins)")
    add_config(p, TrainConfig)


def run(args: argparse.Namespace) -> int:
    overrides = {k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__}
    config = load(TrainConfig, args.config, overrides)
    from leanfd.train.trainer import Trainer

    logging.getLogger("leanfd").setLevel(logging.INFO)
    trainer = Trainer(config)
    final = trainer.train()
    if trainer.accelerator.is_main_process:
        print(f"final model: {final}")
    return 0
