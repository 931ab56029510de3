"""Per-step metrics: JSONL (appended, so a resumed run continues the same file), a table on a
terminal (one short line per step elsewhere), and TensorBoard when asked.

The terminal table fits 80 columns: short column names, its header printed once, then one row per
logged step that starts with `step N/M` and ends with the ETA. Rows are printed, not redrawn: a
redrawn (live) table breaks when other output (logging, warnings) lands between two redraws, and
duplicates its header. Piped to a file or a log (or with `live: false`), each step is one line of at
most 80 characters with the same few figures named (`step 3/16 fd loss 0.0123 pass 0.25 ...`);
everything else is in metrics.jsonl.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console


@dataclass(frozen=True)
class Column:
    title: str
    width: int
    value: Callable[[dict[str, Any]], Any]  # the row's value, None when it has none
    fmt: str = "g"  # "g": the most significant digits that fit; "f0", "f1", "f2": fixed decimals; "s": text


# `div` is the method's divergence: FD's (student against teacher) or GRPO's KL to the reference.
COLUMNS = (
    Column("meth", 4, lambda r: r.get("method"), "s"),
    Column("loss", 7, lambda r: r.get("loss")),
    Column("reward", 6, lambda r: r.get("reward"), "f2"),
    Column("pass", 5, lambda r: r.get("pass_rate"), "f2"),
    Column("ent", 6, lambda r: r.get("entropy")),
    Column("div", 7, lambda r: r.get("fd_divergence", r.get("kl"))),
    Column("len", 5, lambda r: r.get("response_length"), "f0"),
    Column("tok/s", 6, lambda r: r.get("tokens_per_s"), "f0"),
    Column("s/step", 6, lambda r: _step_seconds(r), "f1"),
)
WIDTH = 80


def _step_seconds(r: dict[str, Any]) -> float | None:
    parts = [r[k] for k in ("time_generate", "time_verify", "time_feedback", "time_train", "time_sync") if k in r]
    return sum(parts) if parts else None


def fit(value: Any, width: int, fmt: str = "g") -> str:
    """`value` in at most `width` characters: fewer digits first, then a cut."""
    if value is None:
        return ""
    if fmt == "s" or not isinstance(value, (int, float)):
        return str(value)[:width]
    if fmt.startswith("f"):
        text = f"{value:.{int(fmt[1:])}f}"
        if len(text) <= width:
            return text
    for digits in range(4, 0, -1):
        text = f"{value:.{digits}g}"
        if len(text) <= width:
            return text
    return text[:width]


def eta(seconds: float | None) -> str:
    """`12m05s`, `3h07m`, `2d04h`; `-` when unknown."""
    if seconds is None:
        return "-"
    s = max(0, round(seconds))
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def step_width(total: int) -> int:
    return max(len("step"), 2 * len(str(total)) + 1)


def header(total: int) -> str:
    cells = ["step".rjust(step_width(total)), *(c.title.rjust(c.width) for c in COLUMNS), "eta".rjust(6)]
    return " ".join(cells)


# The line printed per step when there is no table: (name, width, value, format), in this order; when
# the line is too long (huge numbers) the last ones go first, the step and the ETA stay.
LINE = (("loss", 8, lambda r: r.get("loss"), "g"), ("pass", 4, lambda r: r.get("pass_rate"), "f2"),
        ("div", 8, lambda r: r.get("fd_divergence", r.get("kl")), "g"), ("ent", 5, lambda r: r.get("entropy"), "g"))


def line(step: int, total: int, metrics: dict[str, Any], seconds_left: float | None) -> str:
    """One step as one line of at most WIDTH characters:
    `step 3/16 fd loss 1.23e-05 pass 0.25 div 0.0123 ent 2.35 97.6s/step eta 1m05s`."""
    head = [f"step {step}/{total}" if total else f"step {step}"]
    if metrics.get("method") is not None:
        head.append(fit(metrics["method"], 4, "s"))
    cells = [f"{name} {fit(v, width, fmt)}" for name, width, value, fmt in LINE if (v := value(metrics)) is not None]
    if (took := _step_seconds(metrics)) is not None:
        cells.append(f"{fit(took, 6, 'f1')}s/step")
    while True:
        text = " ".join([*head, *cells, f"eta {eta(seconds_left)}"])
        if len(text) <= WIDTH or not cells:
            return text[:WIDTH]
        cells.pop()


def row(step: int, total: int, metrics: dict[str, Any], seconds_left: float | None) -> str:
    cells = [f"{step}/{total}".rjust(step_width(total)),
             *(fit(c.value(metrics), c.width, c.fmt).rjust(c.width) for c in COLUMNS), eta(seconds_left).rjust(6)]
    return " ".join(cells)


class MetricsLogger:
    """`total_steps`: the run's last step, for `step N/M` and the ETA (from this process' own pace,
    so a resumed run's ETA is not skewed by the steps it skipped)."""

    def __init__(self, out: Path, enabled: bool = True, live: bool = True, tensorboard: bool = False,
                 total_steps: int = 0):
        self.enabled = enabled
        self.path = out / "metrics.jsonl"
        self.console = Console(stderr=True)
        self.table = live and self.console.is_terminal
        self.total = total_steps
        self._tb = None
        self._first: tuple[int, float] | None = None  # (step, time) of the first step this process logged
        if not enabled:
            return
        out.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as e:
                raise RuntimeError("--tensorboard needs the tensorboard package: pip install tensorboard") from e
            self._tb = SummaryWriter(str(out / "tensorboard"))

    def seconds_left(self, step: int, now: float) -> float | None:
        if self._first is None or step <= self._first[0] or not self.total:
            return None
        first_step, first_time = self._first
        return (now - first_time) / (step - first_step) * max(0, self.total - step)

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        if not self.enabled:
            return
        now = time.time()
        record = {"step": step, "time": round(now, 3), **metrics}
        self._fh.write(json.dumps(record) + "\n")
        self._fh.flush()
        if self._first is None:
            # the pace is measured from the start of this step: those before include loading the model
            took = _step_seconds(metrics)
            self._first = (step - 1, now - took) if took else (step, now)
            if self.table:
                self.console.print(header(self.total), style="bold", highlight=False, soft_wrap=True)
        left = self.seconds_left(step, now)
        if self.table:
            self.console.print(row(step, self.total, metrics, left), highlight=False, soft_wrap=True)
        else:
            self.console.print(line(step, self.total, metrics, left), highlight=False, soft_wrap=True)
        if self._tb is not None:
            for k, v in metrics.items():
                if isinstance(v, (int, float)):
                    self._tb.add_scalar(k, v, step)

    def close(self) -> None:
        if not self.enabled:
            return
        if self._tb is not None:
            self._tb.close()
        self._fh.close()

