"""Shared fixtures. Everything is real: the bundled Lean, tiny models built here, loopback HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TOY = REPO / "lean_project" / "toy"


@pytest.fixture(scope="session")
def toy_header() -> str:
    """The prelude-only stand-in for `Init` that the bundled Lean can elaborate."""
    return (TOY / "Prelude.lean").read_text()


@pytest.fixture(scope="session")
def toy_records() -> list[dict]:
    return [json.loads(line) for line in (TOY / "toy.jsonl").read_text().splitlines()]


@pytest.fixture(scope="session")
def bundled():
    from leanfd.lean.toolchain import resolve

    return resolve("bundled")


@pytest.fixture(scope="session")
def cli_verifier(bundled):
    from leanfd.lean.verifier import Verifier

    with Verifier(backend="cli", toolchain=bundled, timeout=30) as v:
        yield v


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random Qwen2 causal LM and its Lean-trained tokenizer, saved once per session
    (see tests/tiny_model.py); load it with `AutoModelForCausalLM.from_pretrained(tiny_model_dir)`."""
    from tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny_model"))
