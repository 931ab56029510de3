"""`opt`: a dataclass field with its help text. Apart from `leanfd.config` so that configs inside
`leanfd.lean` (which `leanfd.config` imports for its error base) can use it too."""

from __future__ import annotations

import dataclasses
from typing import Any


def opt(default: Any, help: str, **kw: Any) -> Any:
    """A dataclass field with its help text."""
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata={"help": help, **kw})
    return dataclasses.field(default=default, metadata={"help": help, **kw})
