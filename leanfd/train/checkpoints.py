"""Checkpoints: save, resume exactly, and export the final model.

`checkpoint-N/` holds the strategy's own state (DDP: accelerate's `save_state`, which keeps model,
optimizer, scheduler, the registered teacher and every process' RNG; FSDP2: a sharded
torch.distributed.checkpoint written by all processes at once, see parallel.py) and
`trainer_state.json`, written last: a checkpoint without it is incomplete and never resumed from.
`final/` is a plain transformers model (LoRA merged, shards gathered) that `prove` and
`--init-from` load, with `leanfd_train.json` recording each process' weight checksum.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from leanfd.config import ConfigError, to_yaml

if TYPE_CHECKING:
    from leanfd.train.trainer import Trainer

log = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"


def listed(out: Path) -> list[Path]:
    return sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))


def save(trainer: Trainer, path: Path) -> Path:
    acc = trainer.accelerator
    acc.wait_for_everyone()
    trainer.parallel.save_state(path)
    if acc.is_main_process:
        write_state(trainer, path)
    acc.wait_for_everyone()
    return path


# What a checkpoint's state is shaped by: resuming under other values cannot load it.
SHAPING = (("method",), ("model",), ("init_from",), ("optim", "sharding"), ("optim", "lora_r"),
           ("optim", "lora_targets"), ("optim", "teacher_dtype"), ("fd", "teacher"), ("grpo", "kl_beta"))


def check_resumable(config, out: Path) -> None:
    """Before a model is loaded: refuse to resume from `out`'s last checkpoint when it was written
    by a run of another shape (another method, model, strategy, LoRA, teacher), naming the difference."""
    done = [p for p in listed(out) if (p / STATE_FILE).is_file()]
    if not done:
        return
    if not config.resume:  # a fresh run here would overwrite and then prune that run's checkpoints
        raise ConfigError(f"--output-dir {out} already holds {done[-1].name}: --no-resume would overwrite it; "
                          "give a new --output-dir (or move those checkpoints away)")
    try:
        saved = json.loads((done[-1] / STATE_FILE).read_text())["config"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"--output-dir {out}: {done[-1] / STATE_FILE} is unreadable; move that checkpoint "
                          "away or give another --output-dir") from None
    now = dataclasses.asdict(config)
    differ = []
    for path in SHAPING:
        a, b = saved, now
        for key in path:
            a = a.get(key) if isinstance(a, dict) else None
            b = b.get(key) if isinstance(b, dict) else None
        if a != b:
            differ.append(f"{'.'.join(path)} {a!r} there, {b!r} now")
    if differ:
        raise ConfigError(f"--output-dir {out} holds {done[-1].name} of another run ({'; '.join(differ)}): "
                          "give another --output-dir")


def write_state(trainer: Trainer, path: Path) -> None:
    """The run's own small state beside a checkpoint, written last (main process only); then the
    checkpoints past --keep-checkpoints are removed."""
    c = trainer.config
    state = {"step": trainer.step, "method": c.method, "config": dataclasses.asdict(c)}
    (path / STATE_FILE).write_text(json.dumps(state, indent=1, default=list))
    (trainer.out / "config.yaml").write_text(to_yaml(c))
    for old in listed(trainer.out)[: -c.log.keep_checkpoints]:
        shutil.rmtree(old, ignore_errors=True)


def resume(trainer: Trainer, out: Path) -> int | None:
    """Load the last complete checkpoint in `out`; the step it was taken at, or None."""
    done = [p for p in listed(out) if (p / STATE_FILE).is_file()]
    if not done:
        return None
    last = done[-1]
    trainer.parallel.load_state(last)
    step = json.loads((last / STATE_FILE).read_text())["step"]
    log.info("resumed from %s at step %d", last, step)
    return step


def save_final(trainer: Trainer, final: Path) -> Path:
    from accelerate.utils import gather_object

    acc = trainer.accelerator
    acc.wait_for_everyone()
    checksums = gather_object([trainer.parallel.checksum()])  # FSDP2: gathered weights, a collective
    if len(set(checksums)) > 1:
        log.error("processes hold different weights after training: %s", checksums)
    if acc.is_main_process:
        final.mkdir(parents=True, exist_ok=True)
    trainer.parallel.export(final, trainer.tokenizer)  # FSDP2: every process takes part
    if acc.is_main_process:
        info = {"steps": trainer.step, "method": trainer.config.method, "processes": acc.num_processes,
                "sharding": trainer.config.optim.sharding, "rank_checksums": checksums,
                "ranks_in_sync": len(set(checksums)) == 1}
        (final / "leanfd_train.json").write_text(json.dumps(info, indent=1))
    acc.wait_for_everyone()
    return final
