"""Checkpoints: save, resume exactly, and export the final model.

`checkpoint-N/` holds the strategy's own state (DDP: accelerate's `save_state`, which keeps model,
optimizer, scheduler, the registered teacher and every process' RNG; FSDP2: a sharded
torch.distributed.checkpoint written by all processes at once, see parallel.py) and
`trainer_state.json`, written last: a checkpoint without it is incomplete and never resumed from.
`final/` is a plain transformers model (LoRA merged, shards gathered) that `prove` and
`--init-from` load, with `leanfd_train.json` recording each process' weight checksum.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leanfd.config import ConfigError, to_yaml
from leanfd.outputs import OutputError, claim, output_target, written
from leanfd.train.config import TrainConfig

if TYPE_CHECKING:  # torch: not loaded before `leanfd train` has claimed --output-dir
    from leanfd.train.parallel import Parallel

log = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"


@dataclass(frozen=True)
class RunState:
    """What a checkpoint reads of a run, and nothing more of the trainer: made at each save."""

    config: TrainConfig
    out: Path  # --output-dir
    step: int  # optimizer steps taken
    accelerator: Any  # for the process' rank and the barriers
    parallel: Parallel  # writes and reads the strategy's own state
    tokenizer: Any  # exported beside the final model


def listed(out: Path) -> list[Path]:
    return sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))


def save(run: RunState, path: Path) -> Path:
    acc = run.accelerator
    acc.wait_for_everyone()
    with saving(path):
        run.parallel.save_state(path)
        if acc.is_main_process:
            write_state(run, path)
    acc.wait_for_everyone()
    return path


# How torch (`PytorchStreamWriter failed writing file`) and safetensors (`IoError(Os { code: 28 ...`)
# word a write the file system refused, under their own exception types.
_WRITE_REFUSED = re.compile(r"fail\w* writ|No space|too large|quota|Read-only|IoError|code: (28|27|30|122)\b", re.I)


@contextlib.contextmanager
def saving(path: Path):
    """A checkpoint or final model the file system refuses (full, over quota, read-only, too large)
    is an OutputError naming --output-dir and the path (exit 2), not an internal error; the
    checkpoints written before it are kept, so the run resumes from the last one."""
    kept = f"the checkpoints before {path.name} are kept and the run resumes from the last of them"
    try:
        with written("--output-dir", path, kept=kept):
            yield
    except OutputError:
        raise
    except Exception as e:  # noqa: BLE001 (torch and safetensors wrap the OS error in their own types)
        if not _WRITE_REFUSED.search(str(e)):
            raise
        reason = str(e).strip().splitlines()[-1][:300]
        raise OutputError(f"--output-dir {path}: cannot write it ({reason}); {kept}: free space on its file system "
                          "or give another --output-dir, then run again") from None


# What a checkpoint's state is shaped by: resuming under other values cannot load it.
SHAPING = (("method",), ("model",), ("init_from",), ("optim", "sharding"), ("optim", "lora_r"),
           ("optim", "lora_targets"), ("optim", "teacher_dtype"), ("fd", "teacher"), ("grpo", "kl_beta"))


def claim_output_dir(out: str | Path) -> AbstractContextManager:
    """`--output-dir` is a directory (or none yet) that one training writes at a time, checked before
    any work. Under `accelerate launch` every process of a run calls this: the lock is the run's, so
    only its main process (RANK 0; no RANK: a single process) takes it, the others check the path
    only. Another run's main process is then refused (naming the holder's pid), and its launcher
    stops that run's other processes when it exits; `check_resumable` alone could not tell a
    finished run's checkpoints from a running one's."""
    if os.environ.get("RANK", "0") != "0":
        output_target(out, "--output-dir", "dir")
        return contextlib.nullcontext()
    return claim(out, "--output-dir", kind="dir")


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


def write_state(run: RunState, path: Path) -> None:
    """The run's own small state beside a checkpoint, written last (main process only); then the
    checkpoints past --keep-checkpoints are removed."""
    c = run.config
    state = {"step": run.step, "method": c.method, "config": dataclasses.asdict(c)}
    (path / STATE_FILE).write_text(json.dumps(state, indent=1, default=list))
    (run.out / "config.yaml").write_text(to_yaml(c))
    for old in listed(run.out)[: -c.log.keep_checkpoints]:
        shutil.rmtree(old, ignore_errors=True)


def resume(parallel: Parallel, out: Path) -> int | None:
    """Load the last complete checkpoint in `out` into the strategy's models; its step, or None."""
    done = [p for p in listed(out) if (p / STATE_FILE).is_file()]
    if not done:
        return None
    last = done[-1]
    parallel.load_state(last)
    step = json.loads((last / STATE_FILE).read_text())["step"]
    log.info("resumed from %s at step %d", last, step)
    return step


def save_final(run: RunState, final: Path) -> Path:
    from accelerate.utils import gather_object

    acc = run.accelerator
    acc.wait_for_everyone()
    checksums = gather_object([run.parallel.checksum()])  # FSDP2: gathered weights, a collective
    if len(set(checksums)) > 1:
        log.error("processes hold different weights after training: %s", checksums)
    if acc.is_main_process:
        final.mkdir(parents=True, exist_ok=True)
    with saving(final):
        run.parallel.export(final, run.tokenizer)  # FSDP2: every process takes part
        if acc.is_main_process:
            info = {"steps": run.step, "method": run.config.method, "processes": acc.num_processes,
                    "sharding": run.config.optim.sharding, "rank_checksums": checksums,
                    "ranks_in_sync": len(set(checksums)) == 1}
            (final / "leanfd_train.json").write_text(json.dumps(info, indent=1))
    acc.wait_for_everyone()
    return final
