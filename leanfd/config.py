"""Typed configs shared by the CLI and YAML files: one dataclass per entry point.

Each field carries its help text once (`field(metadata={"help": ...})`); `--help` and the YAML keys
come from the dataclass. `Literal` fields are checked at start-up, so a typo fails before step 1.
The command line wins over the YAML file, which wins over the defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

from leanfd.lean.errors import ConfigError
from leanfd.options import opt, out_of_bounds

__all__ = ["ConfigError", "add_arguments", "from_args", "load", "opt", "section", "to_yaml"]

C = TypeVar("C")


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
        if isinstance(value, (bool, list, tuple, dict)) or (base is int and isinstance(value, float)
                                                              and not value.is_integer()):
            raise ConfigError(f"{name}: expected {base.__name__}, got {value!r}")
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
        return self.field.metadata.get("names", ("--" + self.dest.replace("_", "-"),))[0]

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


class _Checked(argparse.Action):
    """Stores the option's value converted to its field's type and inside its bounds, as argparse
    parses it: a bad value stops the parse (exit 2) with a message naming the option as typed."""

    def __init__(self, option_strings: list[str], dest: str, leaf: Leaf, repeat: bool = False, **kw: Any) -> None:
        self.leaf, self.repeat = leaf, repeat
        super().__init__(option_strings, dest, **kw)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        name = option_string or str(self.metavar)
        tp = self.leaf.type
        if self.repeat:  # one item each time the option is given
            tp = get_args(_base(tp)[0])[0] if get_args(_base(tp)[0]) else str
        try:
            value = checked(name, tp, values, self.leaf.field.metadata)
        except ConfigError as e:
            parser.error(str(e))
        if self.repeat:
            so_far = tuple(getattr(namespace, self.dest, None) or ())
            value = (list if get_origin(_base(self.leaf.type)[0]) is list else tuple)((*so_far, value))
        setattr(namespace, self.dest, value)


def checked(name: str, tp: Any, value: Any, meta: Any) -> Any:
    """`value` converted to `tp`, its bounds, path kind (metadata `path`) and `regex` checked; errors name `name`."""
    value = _convert(name, tp, value)
    for v in value if isinstance(value, (list, tuple)) else [value]:
        if why := out_of_bounds(v, meta):
            raise ConfigError(f"{name} {why}")
        if meta.get("path") and v is not None:
            _check_path(name, str(v), meta["path"])
        if meta.get("regex") and v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ConfigError(f"{name} {v!r} is not a regular expression: {e}") from None
    return value


def _check_path(name: str, value: str, kind: str) -> None:
    """An input path must exist and be readable: "file", a regular file; "any", a file or a directory."""
    path = Path(value)
    label = f"{name} {value}" if name.startswith("-") else value
    if not path.exists():
        raise ConfigError(f"{label}: no such file or directory")
    if kind == "file" and path.is_dir():
        raise ConfigError(f"{label}: is a directory; give a file")
    if not os.access(path, os.R_OK) or (path.is_dir() and not os.access(path, os.X_OK)):
        raise ConfigError(f"{label}: permission denied")


def _metavar(leaf: Leaf) -> str:
    tp = _base(leaf.type)[0]
    return leaf.field.metadata.get("metavar") or {int: "N", float: "NUM"}.get(tp, leaf.dest.upper())


def add_arguments(parser: argparse.ArgumentParser, cls: type, *, aliases: dict[str, tuple[str, ...]] | None = None,
                  defaults: bool = False) -> None:
    """One `--flag` per option of `cls` (a positional argument for a field marked `positional`).

    `aliases` adds option strings per dest (`{"verifier_jobs": ("--jobs",)}`: older or shorter names
    a command keeps). With `defaults` the parsed namespace holds every option's default; without, unset
    options stay None so that they do not override a YAML file."""
    for leaf in leaves(cls):
        meta = leaf.field.metadata
        tp, _ = _base(leaf.type)
        default = leaf.default if defaults else None
        shown = f" (default: {leaf.default})" if leaf.default not in (None, False, (), [], "") else ""
        kw: dict[str, Any] = {"help": meta.get("help", "") + shown, "default": default}
        if meta.get("positional"):
            nargs = "+" if get_origin(tp) in (list, tuple) else None
            parser.add_argument(leaf.dest, action=_Checked, leaf=leaf, nargs=nargs, metavar=_metavar(leaf),
                                help=kw["help"])
            continue
        names = [*meta.get("names", (leaf.flag,)), *(aliases or {}).get(leaf.dest, ())]
        if meta.get("required"):
            kw["required"] = True
        if get_origin(tp) is Literal:
            parser.add_argument(*names, dest=leaf.dest, choices=get_args(tp), **kw)
        elif tp is bool:
            action = "store_true" if meta.get("store_true") else argparse.BooleanOptionalAction
            parser.add_argument(*names, dest=leaf.dest, action=action, **kw)
        else:
            repeat = bool(meta.get("repeat"))
            parser.add_argument(*names, dest=leaf.dest, action=_Checked, leaf=leaf, repeat=repeat,
                                metavar=_metavar(leaf), **kw)


def from_args(cls: type[C], args: argparse.Namespace) -> C:
    """The config `cls` from a namespace parsed by `add_arguments(..., defaults=True)`; cross-field
    checks (`__post_init__`) raise ConfigError."""
    return _build(cls, {leaf.path: getattr(args, leaf.dest) for leaf in leaves(cls) if hasattr(args, leaf.dest)},
                  converted=True)


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
        if f is not None and _is_section(f, _base(hints[name])[0]):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: {'.'.join((*path, name))} is a section: give a mapping of option: value, "
                                  f"not {type(value).__name__}")
            for leaf_path, v in _flatten_yaml(_base(hints[name])[0], value, where, (*path, name)).items():
                flat = next((d for d, lp in by_dest.items() if lp == leaf_path), leaf_path[-1])
                _once(out, leaf_path, flat, where)
                out[leaf_path] = v
        elif f is not None and not _is_section(f, _base(hints[name])[0]):
            out[(*path, name)] = value
        elif name in by_dest:
            _once(out, by_dest[name], name, where)
            out[by_dest[name]] = value
        else:
            unknown.append(".".join((*path, name)))
    if unknown:
        raise ConfigError(f"{where}: unknown option(s): {', '.join(sorted(unknown))}; see --help for the list")
    return out


def _once(out: dict[tuple[str, ...], Any], path: tuple[str, ...], flat: str, where: str) -> None:
    """One option set twice in one file (flat under its flag name and nested in its section) would
    leave one value silently unused: refused, naming both spellings."""
    if path in out:
        dotted = ".".join(path)
        raise ConfigError(f"{where}: `{flat}` (at the top) and `{dotted}` (in the {path[0]} section) are one option "
                          "given twice: keep one")


class DuplicateKey(yaml.YAMLError):
    """A mapping of a YAML file gives one key twice: `line` is the second one's (1-based)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message, self.line = message, line


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, refusing a key given twice in one mapping (PyYAML keeps the last silently).
    Written here: a `construct_mapping` that checks each key against those already read."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)  # merge keys (`<<:`) first, as SafeLoader does
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key: SafeLoader's own error says so below
                continue
            if first != key_node.start_mark.line + 1:
                raise DuplicateKey(f"`{key}` is given twice (first at line {first}): keep one",
                                   key_node.start_mark.line + 1)
        return super().construct_mapping(node, deep=deep)


def _build(cls: type, values: dict[tuple[str, ...], Any], path: tuple[str, ...] = (), converted: bool = False,
           names: dict[tuple[str, ...], str] | None = None) -> Any:
    """`cls` from {path: value}; an unconverted value is checked under its name in `names` (the flag
    of a command-line override), else its dotted path (`verifier.jobs`, as a YAML file nests it)."""
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        tp, _ = _base(hints[f.name])
        here = (*path, f.name)
        if _is_section(f, tp):
            if any(p[: len(here)] == here for p in values):
                kwargs[f.name] = _build(tp, values, here, converted, names)
        elif here in values:
            value = values[here]
            name = (names or {}).get(here, ".".join(here))
            kwargs[f.name] = value if converted else checked(name, hints[f.name], value, f.metadata)
    try:
        return cls(**kwargs)
    except ConfigError:  # a cross-field check: its message names the options already
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{'.'.join(path) + ': ' if path else ''}{e}") from None


def load(cls: type[C], yaml_path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> C:
    """Defaults < YAML file < overrides (the command line, by flag name). Unknown keys are errors.

    A YAML file may nest options by section (`fd: {divergence: jsd}`) or give them flat under
    their flag names (`divergence: jsd`)."""
    values: dict[tuple[str, ...], Any] = {}
    if yaml_path:
        try:
            data = yaml.load(Path(yaml_path).read_text(), Loader=UniqueKeyLoader) or {}
        except DuplicateKey as e:
            raise ConfigError(f"{yaml_path}:{e.line}: {e.message}") from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise ConfigError(f"cannot read config {yaml_path}: {e}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{yaml_path}: expected a mapping of option: value")
        values.update(_flatten_yaml(cls, data, str(yaml_path)))
    given = {k.replace("-", "_"): v for k, v in (overrides or {}).items() if v is not None}
    names: dict[tuple[str, ...], str] = {}
    if given:
        from_command_line = _flatten_yaml(cls, given, "command line")
        values.update(from_command_line)
        names = {leaf.path: leaf.flag for leaf in leaves(cls) if leaf.path in from_command_line}
    return _build(cls, values, names=names)


def given(cls: type, args: argparse.Namespace, dests: list[str] | tuple[str, ...]) -> list[str]:
    """The flags, among `dests`, whose value in `args` (parsed with defaults) differs from the default."""
    by_dest = {leaf.dest: leaf for leaf in leaves(cls)}
    return [by_dest[d].flag for d in dests if getattr(args, d, None) not in (None, by_dest[d].default)]


def refuse_unused(cls: type, args: argparse.Namespace, dests: list[str] | tuple[str, ...], why: str) -> None:
    """Refuse options that have no effect in the combination given (an option silently ignored is a
    run that is not the one asked for): ConfigError naming each one given, and `why` ("with --proofs")."""
    if flags := given(cls, args, dests):
        raise no_effect(flags, why)


def no_effect(flags: list[str], why: str) -> ConfigError:
    """The error for options that would be silently ignored: `--a, --b have no effect WHY: drop them`."""
    verb, them = ("has", "it") if len(flags) == 1 else ("have", "them")
    return ConfigError(f"{', '.join(flags)} {verb} no effect {why}: drop {them}")


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
