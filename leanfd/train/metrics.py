"""Per-step metrics: JSONL (appended, so a resumed run continues the same file), a rich live
table on a terminal (one line per step elsewhere), and TensorBoard when asked."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

SHOWN = ("method", "loss", "reward", "pass_rate", "entropy", "fd_divergence", "kl", "response_length",
         "tokens_per_s", "time_generate", "time_verify", "time_train")


class MetricsLogger:
    def __init__(self, out: Path, enabled: bool = True, live: bool = True, tensorboard: bool = False):
        self.enabled = enabled
        self.path = out / "metrics.jsonl"
        self.console = Console(stderr=True)
        self._live: Live | None = None
        self._tb = None
        self._rows: list[dict[str, Any]] = []
        if not enabled:
            return
        out.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")
        if live and self.console.is_terminal:
            self._live = Live(self._table(), console=self.console, refresh_per_second=2)
            self._live.start()
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as e:
                raise RuntimeError("--tensorboard needs the tensorboard package: pip install tensorboard") from e
            self._tb = SummaryWriter(str(out / "tensorboard"))

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        if not self.enabled:
            return
        row = {"step": step, "time": round(time.time(), 3), **metrics}
        self._fh.write(json.dumps(row) + "\n")
        self._fh.flush()
        self._rows = (self._rows + [row])[-15:]
        if self._live is not None:
            self._live.update(self._table())
        else:
            self.console.print(" ".join(f"{k}={_fmt(row[k])}" for k in ("step", *SHOWN) if k in row))
        if self._tb is not None:
            for k, v in metrics.items():
                if isinstance(v, (int, float)):
                    self._tb.add_scalar(k, v, step)

    def _table(self) -> Table:
        table = Table(title="leanfd train")
        cols = ["step", *[k for k in SHOWN if any(k in r for r in self._rows)]]
        for k in cols:
            table.add_column(k, justify="right")
        for r in self._rows:
            table.add_row(*(_fmt(r.get(k, "")) for k in cols))
        return table

    def close(self) -> None:
        if not self.enabled:
            return
        if self._live is not None:
            self._live.stop()
        if self._tb is not None:
            self._tb.close()
        self._fh.close()


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
