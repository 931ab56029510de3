"""The language server's settings: one typed config, filled from CLI flags, then `initializationOptions`,
then `workspace/configuration` (section "leanfd"), each later source overriding the keys it sets.

Editors send camelCase keys (`baseUrl`, `maxTokens`); the fields below are their snake_case twins.
A key set to null or "" leaves the current value; an unknown key is logged and ignored (an editor may
send keys of a newer extension); a bad value raises `SettingsError`, whose message names the key.
An empty list stands for an empty object wherever settings arrive: Lua has one empty table, and
Neovim encodes `settings = { leanfd = {} }` as `{"leanfd": []}`.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass, fields
from typing import Any, get_args

from leanfd.lean.errors import ConfigError
from leanfd.models import BACKEND_KINDS, BackendKind
from leanfd.options import check_bounds, opt

log = logging.getLogger(__name__)


class SettingsError(ConfigError):
    """A setting has a value of the wrong type or out of range; the message names the key."""


@dataclass(frozen=True)
class Settings:
    backend: BackendKind = opt("openai", "model backend: " + ", ".join(BACKEND_KINDS))
    model: str | None = opt(None, "hub id or path (hf, vllm), or the server's model name (openai, anthropic)")
    base_url: str | None = opt(None, "URL of the openai/anthropic server (e.g. http://127.0.0.1:8000/v1)")
    samples: int = opt(8, "candidates sampled per search", min=1)
    timeout: float = opt(60.0, "seconds one search may take: generation and every Lean check", gt=0)
    max_tokens: int = opt(256, "most new tokens per candidate", min=1)
    temperature: float = opt(0.8, "sampling temperature (0: greedy)", min=0)
    lean: str | None = opt(None, "path to `lean`, or 'bundled'; default: leanfd's resolution order")
    lean_jobs: int = opt(2, "Lean server processes checking candidates at once", min=1)
    inline_timeout: float = opt(5.0, "seconds of the quick search behind inline completion; 0: cache only", min=0)
    max_file_chars: int = opt(1_000_000, "documents longer than this get no suggestions", min=1)

    def __post_init__(self) -> None:
        if self.backend not in get_args(BackendKind):
            raise SettingsError(f"backend must be one of {', '.join(BACKEND_KINDS)}, not {self.backend!r}")
        check_bounds(self, camel, SettingsError)  # named by the key an editor sends

    def merge(self, values: Any) -> Settings:
        """These settings updated with an editor's object (camelCase or snake_case keys)."""
        values = _object(values)
        if values is None:
            return self
        if not isinstance(values, dict):
            raise SettingsError(f"leanfd settings must be an object, got {type(values).__name__}")
        known = {f.name: f for f in fields(self)}
        changes: dict[str, Any] = {}
        for key, value in values.items():
            name = snake(str(key))
            if name not in known:
                log.info("ignoring unknown setting %r", key)
                continue
            if value is None or value == "":
                continue
            changes[name] = _coerce(key, value, known[name].default)
        return dataclasses.replace(self, **changes) if changes else self

    @property
    def model_key(self) -> tuple[Any, ...]:
        """What a cached result depends on besides the document: the model, how it samples, and Lean."""
        return (self.backend, self.model, self.base_url, self.samples, self.max_tokens, self.temperature, self.lean)


def from_editor(options: Any) -> Any:
    """The leanfd object in `initializationOptions` or a configuration answer: under "leanfd", or top-level."""
    options = _object(options)
    if isinstance(options, dict) and "leanfd" in options:
        return _object(options["leanfd"])
    return options


def _object(value: Any) -> Any:
    """`[]` as `{}` (Lua's empty table, see the module's doc); anything else unchanged."""
    return {} if isinstance(value, list) and not value else value


def snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _coerce(key: str, value: Any, default: Any) -> Any:
    """The value as the field's type (taken from its default; None defaults are strings)."""
    if isinstance(default, bool) or default is None or isinstance(default, str):
        if not isinstance(value, str):
            raise SettingsError(f"{key} must be a string, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise SettingsError(f"{key} must be an integer, got {value!r}")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SettingsError(f"{key} must be a number, got {value!r}")
        return float(value)
    return value
