"""Typed configs shared by the CLI and YAML files: one dataclass per entry point.

Each field carries its help text once (`field(metadata={"help": ...})`); `--help` and the YAML keys
come from the dataclass. `Literal` fields are checked at start-up, so a typo fails before step 1.
The command line wins over the YAML file, which wins over the defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

from leanfd.lean.errors import LeanFDError

C = TypeVar("C")


class ConfigError(LeanFDError):
    """A config value is wrong; the message names the field and what to change."""


def opt(default: Any, help: str, **kw: Any) -> Any:
    """A dataclass field with its help text."""
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata={"help": help, **kw})
    return dataclasses.field(default=default, metadata={"help": help, **kw})


def _base(tp: Any) -> tuple[Any, bool]:
    """(type without Optional, whether None is allowed)."""
    if get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        return (args[0] if len(args) == 1 else tp), type(None) in get_args(tp)
    return tp, False


def _convert(name: str, tp: Any, value: Any) -> Any:
    base, nullable = _base(tp)
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null") and nullable):
        if nullable:
            return None
        raise ConfigError(f"{name}: a value is required")
    if get_origin(base) is Literal:
        choices = get_args(base)
        if value not in choices:
            raise ConfigError(f"{name}: {value!r} is not one of {', '.join(map(str, choices))}")
        return value
    if base is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}: expected true or false, got {value!r}")
    if base in (int, float, str):
        try:
            return base(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: expected {base.__name__}, got {value!r}") from None
    if get_origin(base) in (list, tuple):
        items = value.split(",") if isinstance(value, str) else list(value)
        inner = get_args(base)[0] if get_args(base) else str
        conv = [_convert(name, inner, v) for v in items]
        return tuple(conv) if get_origin(base) is tuple else conv
    return value


def add_arguments(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One `--flag` per field, default None so that unset flags do not override the YAML file."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        tp, _ = _base(hints[f.name])
        help_ = f.metadata.get("help", "")
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        if get_origin(tp) is Literal:
            parser.add_argument(flag, dest=f.name, default=None, choices=get_args(tp),
                                help=f"{help_} (default: {default})")
        elif tp is bool:
            parser.add_argument(flag, dest=f.name, default=None, action=argparse.BooleanOptionalAction,
                                help=f"{help_} (default: {default})")
        else:
            parser.add_argument(flag, dest=f.name, default=None, metavar=f.name.upper(),
                                help=f"{help_} (default: {default})")


def load(cls: type[C], yaml_path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> C:
    """Defaults < YAML file < overrides (the command line). Unknown keys are errors."""
    values: dict[str, Any] = {}
    if yaml_path:
        try:
            data = yaml.safe_load(Path(yaml_path).read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"cannot read config {yaml_path}: {e}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{yaml_path}: expected a mapping of option: value")
        values.update({k.replace("-", "_"): v for k, v in data.items()})
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"unknown option(s): {', '.join(unknown)}; see --help for the list")
    hints = typing.get_type_hints(cls)
    converted = {k: _convert(k, hints[k], v) for k, v in values.items()}
    try:
        return cls(**converted)
    except (TypeError, ValueError) as e:
        raise ConfigError(str(e)) from None


def to_yaml(config: Any) -> str:
    return yaml.safe_dump(dataclasses.asdict(config), sort_keys=False)
