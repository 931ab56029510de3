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
from leanfd.options import opt

__all__ = ["ConfigError", "load", "opt", "section", "to_yaml"]

C = TypeVar("C")


class ConfigError(LeanFDError):
    """A config value is wrong; the message names the field and what to change."""


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


def section(cls: type, help: str, prefix: str = "") -> Any:
    """A nested config section: its own dataclass, a mapping of its own in YAML. Its options keep
    flat flags on the command line (`prefix` + field name, unless the field names its `flag`)."""
    return dataclasses.field(default_factory=cls, metadata={"help": help, "section": True, "prefix": prefix})


@dataclasses.dataclass(frozen=True)
class Leaf:
    """One settable option: where it lives in the nested config and the flag that sets it."""

    path: tuple[str, ...]  # field names from the top config down, e.g. ("fd", "divergence")
    dest: str  # the flag without dashes, also accepted as a flat YAML key: "divergence"
    type: Any
    field: dataclasses.Field

    @property
    def flag(self) -> str:
        return "--" + self.dest.replace("_", "-")

    @property
    def default(self) -> Any:
        f = self.field
        if f.default is not dataclasses.MISSING:
            return f.default
        return f.default_factory() if f.default_factory is not dataclasses.MISSING else None


def _is_section(f: dataclasses.Field, tp: Any) -> bool:
    return bool(f.metadata.get("section")) or (dataclasses.is_dataclass(tp) and isinstance(tp, type))


def leaves(cls: type, path: tuple[str, ...] = (), prefix: str = "") -> list[Leaf]:
    """Every option of `cls`, sections flattened; a flag name used twice is a bug caught here."""
    hints = typing.get_type_hints(cls)
    out: list[Leaf] = []
    for f in dataclasses.fields(cls):
        tp, _ = _base(hints[f.name])
        if not f.metadata.get("cli", True):
            continue  # YAML only
        if _is_section(f, tp):
            out += leaves(tp, (*path, f.name), f.metadata.get("prefix", ""))
        else:
            out.append(Leaf((*path, f.name), f.metadata.get("flag", prefix + f.name), hints[f.name], f))
    if not path:
        seen: dict[str, Leaf] = {}
        for leaf in out:
            if leaf.dest in seen:
                raise AssertionError(f"{cls.__name__}: {leaf.flag} set by {seen[leaf.dest].path} and {leaf.path}")
            seen[leaf.dest] = leaf
    return out


def add_arguments(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One `--flag` per option, default None so that unset flags do not override the YAML file."""
    for leaf in leaves(cls):
        if leaf.dest in skip:
            continue
        tp, _ = _base(leaf.type)
        help_ = f"{leaf.field.metadata.get('help', '')} (default: {leaf.default})"
        if get_origin(tp) is Literal:
            parser.add_argument(leaf.flag, dest=leaf.dest, default=None, choices=get_args(tp), help=help_)
        elif tp is bool:
            parser.add_argument(leaf.flag, dest=leaf.dest, default=None, action=argparse.BooleanOptionalAction,
                                help=help_)
        else:
            parser.add_argument(leaf.flag, dest=leaf.dest, default=None, metavar=leaf.dest.upper(), help=help_)


def _flatten_yaml(cls: type, data: dict[str, Any], where: str,
                  path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """YAML (nested sections, or the flat flag names) -> {path: value}. Unknown keys are errors."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    by_dest = {leaf.dest: leaf.path for leaf in leaves(cls)} if not path else {}
    out: dict[tuple[str, ...], Any] = {}
    unknown = []
    for key, value in data.items():
        name = str(key).replace("-", "_")
        f = fields.get(name)
        if f is not None and _is_section(f, _base(hints[name])[0]) and isinstance(value, dict):
            out.update(_flatten_yaml(_base(hints[name])[0], value, where, (*path, name)))
        elif f is not None and not _is_section(f, _base(hints[name])[0]):
            out[(*path, name)] = value
        elif name in by_dest:
            out[by_dest[name]] = value
        else:
            unknown.append(".".join((*path, name)))
    if unknown:
        raise ConfigError(f"{where}: unknown option(s): {', '.join(sorted(unknown))}; see --help for the list")
    return out


def _build(cls: type, values: dict[tuple[str, ...], Any], path: tuple[str, ...] = ()) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        tp, _ = _base(hints[f.name])
        here = (*path, f.name)
        if _is_section(f, tp):
            if any(p[: len(here)] == here for p in values):
                kwargs[f.name] = _build(tp, values, here)
        elif here in values:
            kwargs[f.name] = _convert(".".join(here), hints[f.name], values[here])
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{'.'.join(path) + ': ' if path else ''}{e}") from None


def load(cls: type[C], yaml_path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> C:
    """Defaults < YAML file < overrides (the command line, by flag name). Unknown keys are errors.

    A YAML file may nest options by section (`fd: {divergence: jsd}`) or give them flat under
    their flag names (`divergence: jsd`)."""
    values: dict[tuple[str, ...], Any] = {}
    if yaml_path:
        try:
            data = yaml.safe_load(Path(yaml_path).read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"cannot read config {yaml_path}: {e}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{yaml_path}: expected a mapping of option: value")
        values.update(_flatten_yaml(cls, data, str(yaml_path)))
    given = {k.replace("-", "_"): v for k, v in (overrides or {}).items() if v is not None}
    if given:
        values.update(_flatten_yaml(cls, given, "command line"))
    return _build(cls, values)


def option_names(cls: type) -> set[str]:
    """The flag names (dest) of every option of `cls`: what a parsed command line may override."""
    return {leaf.dest for leaf in leaves(cls)}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def to_yaml(config: Any) -> str:
    """The config as YAML, sections nested: what `load` reads back."""
    return yaml.safe_dump(_plain(dataclasses.asdict(config)), sort_keys=False)
