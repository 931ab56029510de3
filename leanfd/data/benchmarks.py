"""Benchmark loaders: every source becomes a list of typed `Problem`s.

Sources (`load_problems` picks one from the string it is given):

- a `.jsonl` file (one record a line; any other suffix is read as JSONL too) or a `.json` file (one
  array of records);
- a directory of `.lean` files, one problem each left to `sorry` (the miniF2F-lean4 layout,
  `MiniF2F/Test/*.lean`, `MiniF2F/Valid/*.lean`), or one such file; `write_lean_dir` writes such a
  directory. The problem is the file's last declaration; what comes before it is the header (imports,
  options, and helper definitions as in ProofNet), except a doc comment right above it, which is the
  informal prefix;
- otherwise a Hugging Face dataset id (`cat-searcher/minif2f-lean4`), through the `datasets` library
  when it is installed (it is not a dependency of leanfd).

Record fields accepted (JSONL lines, JSON array items, Hugging Face rows):

- `formal_statement` (required): the declaration up to `:=`, `:= by` or `:= by sorry`. A trailing
  `sorry` is removed, and a statement ending in `by` gets a final newline, so that every statement
  ends the way DeepSeek-Prover's do and a model's proof can follow it.
- `header`: the imports and options. Without it, what the statement carries before its declaration
  (Goedel-Pset puts imports and options there) is the header when it has an `import`, else it follows
  `DEFAULT_HEADER`.
- `informal_prefix`: a doc comment put before the statement in prompts. Without it, the doc comment
  above the declaration (when there was no `header`), or else the first of `natural_language_statement`,
  `informal_statement`, `informal_stmt`, `problem` wrapped as `/-- ... -/` (LeanWorkbook, Lean 4
  miniF2F on the Hub).
- `name`: else `id`, `problem_id`, `uuid`, `theorem_name`, else the declared name.
- `split`: else the Hugging Face split the row came from, else "".
- `goal`: else `state_before` (LeanWorkbook), else "".
Every other field, aliases included, is kept in `Problem.extra`.

A record that cannot be used is reported as a `BadLine` (file, line, why), logged as a warning, and
skipped; it never stops the rest.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Union

from leanfd.data.errors import DataError
from leanfd.lean.errors import RecordError
from leanfd.lean.records import (
    BadLine,
    CheckRecord,
    Unreadable,
    decode_utf8,
    lean_entries,
    not_text,
    read_lean_file,
    read_lines,
)
from leanfd.lean.syntax import LeanSyntaxError, parse_declaration, split_lean_text, tokenize

logger = logging.getLogger(__name__)

# The header DeepSeek-Prover-V1.5 uses for miniF2F, with the heartbeat limit that Goedel-Prover and
# Kimina use for LeanWorkbook problems (V1.5's own default is 0, unlimited).
DEFAULT_HEADER = (
    "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\n"
    "open BigOperators Real Nat Topology Rat\n\n"
)
NAME_FIELDS = ("name", "id", "problem_id", "uuid", "theorem_name")
INFORMAL_FIELDS = ("natural_language_statement", "informal_statement", "informal_stmt", "problem")
GOAL_FIELDS = ("goal", "state_before")
CANONICAL_FIELDS = ("name", "split", "header", "informal_prefix", "formal_statement", "goal")
# "validation", "val" and "dev" all name the split that DeepSeek's files and miniF2F call "valid".
SPLIT_ALIASES = {"validation": "valid", "val": "valid", "dev": "valid"}
LOCAL_HINT = (
    "Pass a local JSONL file instead (one problem a line with name, split, header, formal_statement, "
    "informal_prefix; e.g. DeepSeek-Prover-V1.5's datasets/minif2f.jsonl) or a directory of .lean files."
)

Item = Union["Problem", BadLine]


@dataclass(frozen=True)
class Problem:
    """One benchmark problem: what to prove and what to show the model.

    `uid` is unique within the source it was loaded from: the name, or `name#k` for the k-th
    record with an already seen name (ProofNet reuses 19 exercise names). Results are keyed by it.
    """

    name: str
    header: str
    formal_statement: str
    informal_prefix: str = ""
    split: str = ""
    goal: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    uid: str = ""

    def __post_init__(self) -> None:
        if not self.uid:
            object.__setattr__(self, "uid", self.name)

    @cached_property
    def declared_name(self) -> str:
        """The name Lean declares (differs from `name` where a benchmark's ids do; "" for `example`)."""
        return normalise_statement(self.formal_statement)[1]

    @staticmethod
    def from_dict(d: Any, split: str = "") -> "Problem":
        """Read one record (fields in the module docstring); `split` is the default split. Raises RecordError."""
        if not isinstance(d, dict):
            raise RecordError(f"a record must be a JSON object, got {type(d).__name__}")
        d = {k: v for k, v in d.items() if v is not None}  # Hub rows carry None for missing columns
        stmt = d.get("formal_statement")
        if not isinstance(stmt, str) or not stmt.strip():
            raise RecordError("field 'formal_statement' is missing or not a non-empty string")
        for key in ("header", "informal_prefix", "split", "goal"):
            if key in d and not isinstance(d[key], str):
                raise RecordError(f"field {key!r} must be a string")
        header, prefix = d.get("header"), d.get("informal_prefix")
        if header is None:
            found_header, found_prefix, rest = split_lean_text(stmt)
            if re.search(r"^[ \t]*import\s", found_header, re.M):
                header = found_header
            else:  # no imports: the default ones, then whatever context the statement brought
                header = DEFAULT_HEADER + found_header.lstrip("\n")
            stmt = found_prefix + rest
            if prefix is None and found_prefix.strip():
                prefix, stmt = found_prefix, rest
        if prefix is None:
            informal = _first(d, INFORMAL_FIELDS)
            prefix = doc_comment(informal) if isinstance(informal, str) and informal.strip() else ""
        stmt, declared = normalise_statement(stmt)
        name = _first(d, NAME_FIELDS)
        if isinstance(name, (int, float)) and not isinstance(name, bool):
            name = str(name)
        if name is None or name == "":
            name = declared
        if not isinstance(name, str) or not name.strip():
            raise RecordError("no name: give 'name' (or 'id') or declare a named theorem")
        goal = _first(d, GOAL_FIELDS)
        extra = {k: v for k, v in d.items() if k not in CANONICAL_FIELDS}
        return Problem(
            name=name, header=header, formal_statement=stmt, informal_prefix=prefix,
            split=d.get("split", split), goal=goal if isinstance(goal, str) else "", extra=extra,
        )

    def to_dict(self) -> dict[str, Any]:
        """The DeepSeek-Prover JSONL shape, then `extra`; `from_dict` reads it back."""
        d = {k: getattr(self, k) for k in CANONICAL_FIELDS}
        return {**d, **self.extra}

    def to_check_record(self, attempt: Mapping[str, str]) -> CheckRecord:
        """The record to verify: this problem's statement with `attempt` (`{"proof": ...}` or
        `{"code": ...}`, as `leanfd.data.prompts.extract_proof` returns it). Named by `uid`."""
        return CheckRecord.from_dict({
            "name": self.uid, "header": self.header, "formal_statement": self.formal_statement,
            "split": self.split, **attempt,
        })


def _first(d: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    return next((d[k] for k in keys if k in d), None)


def doc_comment(text: str) -> str:
    """Wrap natural-language text as a Lean doc comment (the shape of DeepSeek's `informal_prefix`)."""
    return "/-- " + text.strip().replace("-/", "- /") + " -/\n"


def normalise_statement(statement: str) -> tuple[str, str]:
    """Check a formal statement and return it ready for a proof to follow, with its declared name.

    It must declare one thing (`theorem`, `lemma`, `def`, ...: `leanfd.lean.syntax.parse_declaration`,
    the reading the verifier uses too) and end with `:=`, `:= by` or `:= by sorry` (comments aside).
    A trailing `sorry` is cut with the spaces before it; a statement that then ends in `by` gets a
    newline. Raises RecordError.
    """
    try:
        d = parse_declaration(statement)
    except LeanSyntaxError as e:
        raise RecordError(f"formal_statement cannot be read: {e}") from None
    if d.assign is None:
        raise RecordError("formal_statement has no `:=`; it must end with `:=`, `:= by` or `:= by sorry`")
    name = d.name.text if d.name is not None else ""
    tail = d.proof
    if tail and tail[-1].text == "sorry":
        statement = statement[: tail[-1].start].rstrip(" \t")
    if tail and tail[0].text == "by" and statement.rstrip(" \t").endswith("by"):
        statement = statement.rstrip(" \t") + "\n"
    return statement, name


def iter_jsonl(path: str | Path) -> Iterator[Item]:
    """Problems of a JSONL file, and a BadLine for each line that is not one; read line by line."""
    for _, item in read_lines(path, Problem.from_dict):
        yield item


def iter_json(path: str | Path) -> Iterator[Item]:
    """Problems of a JSON file holding one array of records (LeanWorkbook's `lean_workbook.json`).

    A BadLine's `line` is then the 1-based position of the record in the array.
    """
    try:
        text = decode_utf8(Path(path).read_bytes()).removeprefix("\ufeff")
    except ValueError as e:  # one bad byte spoils the whole array
        raise DataError(f"{path}: {e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}); a .json source must "
                        "hold one array of records, a .jsonl source one record a line") from None
    if not isinstance(data, list):
        raise DataError(f"{path}: a .json source must hold an array of records, got {type(data).__name__}")
    for index, d in enumerate(data, start=1):
        try:
            if why := not_text(d):
                raise RecordError(why)
            yield Problem.from_dict(d)
        except RecordError as e:
            yield BadLine(str(path), index, str(e))


# --- directories of .lean files -------------------------------------------------------------------


def problem_from_lean(text: str, split: str = "", stem: str = "") -> Problem | None:
    """Read a `.lean` file whose last declaration is the problem, left to `sorry` (helper definitions
    before it go to the header); None when it declares nothing (a file that only imports others).
    `stem` names an `example`. Raises RecordError."""
    header, prefix, stmt = split_lean_text(text)
    if not stmt:
        return None
    try:
        if any(t.kind == "ident" and t.text == "sorry" for t in tokenize(header)):
            raise RecordError("more than one declaration is left to `sorry`; a file must hold one problem")
    except LeanSyntaxError as e:
        raise RecordError(f"the file cannot be read: {e}") from None
    stmt, name = normalise_statement(stmt)
    return Problem(name=name or stem, header=header, formal_statement=stmt, informal_prefix=prefix, split=split)


def iter_lean_file(path: str | Path, split: str = "") -> Iterator[Item]:
    """The problem of one `.lean` file (nothing when it declares nothing), or a BadLine that points
    at the declaration's line."""
    path = Path(path)
    try:  # stat first: a FIFO or a device named `*.lean` is reported, never opened
        text = read_lean_file(path)
    except Unreadable as e:
        yield BadLine(str(path), 0, str(e))
        return
    except ValueError as e:  # not UTF-8
        yield BadLine(str(path), 0, f"cannot read: {e}")
        return
    try:
        problem = problem_from_lean(text, split=split, stem=path.stem)
    except RecordError as e:
        header, prefix, _ = split_lean_text(text)
        yield BadLine(str(path), header.count("\n") + prefix.count("\n") + 1, str(e))
        return
    if problem is None:
        logger.debug("%s: no declaration, skipped", path)
    else:
        yield problem


def iter_lean_dir(root: str | Path) -> Iterator[Item]:
    """Problems of the `.lean` files under `root`, in path order (see `problem_from_lean`), walked
    as `check DIR` walks (`records.lean_entries`: hidden folders such as `.lake` are not entered).

    A file's split is the name of the folder holding it (`MiniF2F/Test/foo.lean` is in split "Test";
    files directly in `root` have split "").
    """
    root = Path(root)
    for path, why in lean_entries(root):
        if why:
            yield BadLine(str(path), 0, why)
            continue
        rel = path.relative_to(root)
        yield from iter_lean_file(path, split=rel.parts[-2] if len(rel.parts) > 1 else "")


def lean_file_text(problem: Problem) -> str:
    """The `.lean` file of a problem: header, informal prefix, statement, `sorry`."""
    header = problem.header if not problem.header or problem.header.endswith("\n") else problem.header + "\n"
    prefix = problem.informal_prefix
    if prefix and not prefix.endswith("\n"):
        prefix += "\n"
    stmt = problem.formal_statement
    if stmt.endswith("\n"):
        stub = "  sorry\n"
    elif stmt[-1:].isspace():
        stub = "sorry\n"
    else:
        stub = " sorry\n"
    return header + prefix + stmt + stub


def _safe_component(s: str) -> str:
    """A file or folder name for `s`: characters other than letters, digits, `_ - . ' #` become `_`
    (`#` stays so that the uid `name#2` cannot meet a real name)."""
    out = re.sub(r"[^\w.'#-]", "_", s).strip(".")
    return out or "_"


def write_lean_dir(problems: Iterable[Problem], root: str | Path, *, overwrite: bool = False) -> list[Path]:
    """Write one `ROOT/SPLIT/UID.lean` per problem (`ROOT/UID.lean` without a split), ending in `sorry`.

    `iter_lean_dir` reads the directory back: names, headers, informal prefixes, statements and splits
    come back as they were (statements in their normalised form); `goal` and `extra` are not written.
    Nothing is written when a file exists (unless `overwrite`) or two problems would share a file.
    """
    root = Path(root)
    planned: dict[Path, str] = {}
    for p in problems:
        folder = root / _safe_component(p.split) if p.split else root
        path = folder / (_safe_component(p.uid) + ".lean")
        if path in planned:
            raise DataError(f"two problems would be written to {path}: give them distinct uids")
        if path.exists() and not overwrite:
            raise DataError(f"{path} exists; pass overwrite=True to replace it")
        planned[path] = lean_file_text(p)
    for path, text in planned.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(planned)


# --- Hugging Face ---------------------------------------------------------------------------------


def _hf_offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def iter_hf(dataset_id: str) -> Iterator[Item]:
    """Problems of every split of a Hugging Face dataset (a row's own `split` field wins over the
    split it came from). Needs the optional `datasets` library; raises DataError, with the way out,
    when it is missing or the dataset cannot be fetched (no network, offline mode, unknown id)."""
    try:
        import datasets
    except ImportError:
        raise DataError(
            f"{dataset_id!r} is not a local file or directory, and loading it from the Hugging Face Hub "
            f"needs the `datasets` library, which is not installed (pip install datasets). {LOCAL_HINT}"
        ) from None
    try:
        loaded = datasets.load_dataset(dataset_id)
    except Exception as e:  # the library raises many kinds: ConnectionError, OSError, its own errors
        offline = (" Offline mode is on (HF_HUB_OFFLINE or HF_DATASETS_OFFLINE) and the dataset is not "
                   "in the local cache." if _hf_offline() else "")
        raise DataError(
            f"cannot load the Hugging Face dataset {dataset_id!r}: {type(e).__name__}: {e}.{offline} {LOCAL_HINT}"
        ) from e
    splits = loaded.items() if hasattr(loaded, "items") else [("", loaded)]
    for split_name, rows in splits:
        for index, row in enumerate(rows, start=1):
            try:
                yield Problem.from_dict(dict(row), split=str(split_name))
            except RecordError as e:
                yield BadLine(f"{dataset_id}[{split_name}]", index, str(e))


# --- one entry point ------------------------------------------------------------------------------


def split_matches(problem_split: str, wanted: str) -> bool:
    """Compare splits without case, with `validation`, `val` and `dev` meaning `valid`."""
    def key(s: str) -> str:
        return SPLIT_ALIASES.get(s.casefold(), s.casefold())

    return key(problem_split) == key(wanted)


_HF_ID = re.compile(r"[\w.-]+(?:/[\w.-]+)?")


def iter_source(source: str | Path) -> Iterator[Item]:
    """Dispatch on the source: an existing directory (`.lean` files), `.lean` file, `.json` file or
    other file (JSONL), else a Hugging Face dataset id."""
    path = Path(source).expanduser()
    if path.is_dir():
        return iter_lean_dir(path)
    if path.is_file():
        readers = {".lean": iter_lean_file, ".json": iter_json}
        return readers.get(path.suffix, iter_jsonl)(path)
    text = str(source)
    if path.suffix in (".jsonl", ".json", ".lean") or text.startswith(("/", ".", "~")) or not _HF_ID.fullmatch(text):
        raise DataError(f"{source}: no such file or directory")
    return iter_hf(text)


def with_uids(items: Iterable[Item]) -> Iterator[Item]:
    """Give the k-th problem with an already seen name the uid `name#k`."""
    seen: dict[str, int] = {}
    for item in items:
        if isinstance(item, Problem):
            k = seen[item.name] = seen.get(item.name, 0) + 1
            if k > 1:
                item = replace(item, uid=f"{item.name}#{k}")
        yield item


def load_problems(
    source: str | Path,
    split: str | None = None,
    names: str | None = None,
    limit: int | None = None,
    *,
    bad: list[BadLine] | None = None,
) -> list[Problem]:
    """Load problems from a JSONL/JSON file, a directory of `.lean` files or a Hugging Face dataset id.

    Filters apply in this order: `split` (see `split_matches`), `names` (a regular expression
    searched in each name: anchor it with `^...$` for whole names), then `limit` (the first `limit`
    problems left, in source order; reading stops there). Uids are numbered over the whole source,
    so they do not depend on the filters. Each skipped record is logged as a warning and appended to
    `bad` when given. Raises DataError when the source itself cannot be used.
    """
    if limit is not None and limit < 0:
        raise DataError(f"limit must be at least 0, got {limit}")
    try:
        pattern = re.compile(names) if names is not None else None
    except re.error as e:
        raise DataError(f"names is not a valid regular expression ({e}): {names!r}") from None
    out: list[Problem] = []
    if limit == 0:
        return out
    for item in with_uids(iter_source(source)):
        if isinstance(item, BadLine):
            logger.warning("%s:%d: skipped: %s", item.path, item.line, item.error)
            if bad is not None:
                bad.append(item)
            continue
        if split is not None and not split_matches(item.split, split):
            continue
        if pattern is not None and not pattern.search(item.name):
            continue
        out.append(item)
        if limit is not None and len(out) >= limit:
            break
    return out
