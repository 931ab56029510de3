"""`opt`: a dataclass field with its help text and bounds. Apart from `leanfd.config` so that configs
inside `leanfd.lean` (which `leanfd.config` imports for its error base) can use it too.

Bounds live beside the field once: the command line checks them as it parses (naming the option the
user typed), and `check_bounds` in a `__post_init__` checks them for Python callers (naming the field).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from leanfd.lean.errors import ConfigError

BOUNDS = ("min", "gt", "max", "lt")


def opt(default: Any, help: str, *, min: float | None = None, gt: float | None = None, max: float | None = None,
        lt: float | None = None, **kw: Any) -> Any:
    """A dataclass field with its help text; `min`/`max` are inclusive bounds, `gt`/`lt` exclusive."""
    meta = {"help": help, **{k: v for k, v in (("min", min), ("gt", gt), ("max", max), ("lt", lt)) if v is not None},
            **kw}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def out_of_bounds(value: Any, meta: Any) -> str | None:
    """Why `value` breaks the bounds in `meta` ("must be at least 1, got 0"), or None when it keeps them."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not any(k in meta for k in BOUNDS):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, got {value}"
    if "min" in meta and value < meta["min"]:
        return f"must be at least {meta['min']}, got {value}"
    if "gt" in meta and value <= meta["gt"]:
        return f"must be greater than {meta['gt']}, got {value}"
    if "max" in meta and value > meta["max"]:
        return f"must be at most {meta['max']}, got {value}"
    if "lt" in meta and value >= meta["lt"]:
        return f"must be less than {meta['lt']}, got {value}"
    return None


def check_bounds(config: Any, name: Callable[[str], str] = str, error: type[ConfigError] = ConfigError) -> None:
    """Raise `error` naming (as `name` spells a field's name) the first field of the dataclass `config`
    outside its bounds."""
    for f in dataclasses.fields(config):
        if why := out_of_bounds(getattr(config, f.name), f.metadata):
            raise error(f"{name(f.name)} {why}")
