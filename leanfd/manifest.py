"""What a run's results depend on, recorded beside them, so that `--resume` never mixes two runs.

A manifest is JSON: `inputs` (each with its path and a content hash) and `settings` (every option
that changes the results: model, sampling, seed, prompt, verifier). `--resume` compares both with
the run being started and refuses, naming each difference, when they differ. `leanfd` (the
version that wrote it) is recorded and not compared.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leanfd import __version__
from leanfd.outputs import OutputError, atomic_write_text


def sha256_json(value: Any) -> str:
    """A content hash of JSON-able `value` that does not depend on key order."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_items(items: Iterable[Any]) -> str:
    """A content hash of a stream of JSON-able items, one at a time (never all in memory)."""
    h = hashlib.sha256()
    for item in items:
        h.update(json.dumps(item, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n")
    return h.hexdigest()


@dataclass(frozen=True)
class Manifest:
    inputs: dict[str, Any]
    settings: dict[str, Any]
    leanfd: str = field(default=__version__, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"leanfd": self.leanfd, "inputs": self.inputs, "settings": self.settings}

    @staticmethod
    def from_dict(d: Any) -> Manifest:
        if not isinstance(d, dict) or not isinstance(d.get("inputs"), dict) or not isinstance(d.get("settings"), dict):
            raise ValueError("not a leanfd run manifest")
        return Manifest(inputs=d["inputs"], settings=d["settings"], leanfd=str(d.get("leanfd", "")))


def differences(recorded: Any, now: Any, where: str = "") -> list[str]:
    """One line per leaf that differs: `where: recorded -> now`."""
    if isinstance(recorded, dict) and isinstance(now, dict):
        out = []
        for k in sorted(set(recorded) | set(now), key=str):
            place = f"{where}.{k}" if where else str(k)
            out += differences(recorded.get(k), now.get(k), place)
        return out
    if recorded == now:
        return []
    return [f"{where}: {json.dumps(recorded, ensure_ascii=False)} recorded, {json.dumps(now, ensure_ascii=False)} now"]


def write(path: Path, manifest: Manifest, option: str | None = None) -> None:
    """All at once beside the results; with `option` (the results' own), a failed write names it."""
    atomic_write_text(path, json.dumps(manifest.to_dict(), indent=1, ensure_ascii=False) + "\n", option)


def check_resumable(path: Path, now: Manifest, results: str, option: str) -> None:
    """Raise unless the manifest at `path` records the same inputs and settings as `now`.

    `results` names what would be resumed (for the message); `option` is the user's output option.
    """
    try:
        recorded = Manifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise OutputError(f"--resume: {results} has no record of the inputs and settings that made it ({path} is "
                          f"missing), so new results could not be told apart from old ones; use another {option} "
                          f"or --overwrite") from None
    except (ValueError, OSError) as e:
        raise OutputError(f"--resume: {path} cannot be read ({e}); use another {option} or --overwrite") from None
    diff = differences({"inputs": recorded.inputs, "settings": recorded.settings},
                       json.loads(json.dumps({"inputs": now.inputs, "settings": now.settings})))
    if diff:
        raise OutputError(f"--resume: {results} was made with other inputs or settings, and mixing them would "
                          "give wrong results:\n  " + "\n  ".join(diff) +
                          f"\nrerun with the recorded ones, or use another {option}, or --overwrite")


def verifier_settings(config: Any, lean_version: str) -> dict[str, Any]:
    """The parts of a `VerifierConfig` that change verdicts (not the backend or how many processes)."""
    return {"lean": lean_version, "timeout": config.timeout, "memory_mb": config.memory_mb,
            "max_attempt_chars": config.max_attempt_chars, "allowed_axioms": list(config.policy.allowed_axioms),
            "allowed_options": list(config.policy.allowed_options)}
