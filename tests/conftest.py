"""Shared fixtures. Everything is real: the bundled Lean, tiny models built here, loopback HTTP."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TOY = REPO / "lean_project" / "toy"

# A shell starts a background job (`make test &`) with Ctrl-C ignored, and an ignored signal stays
# ignored in every child: the tests that press Ctrl-C on a `leanfd` process would then see it run on.
# A handled signal is reset to the default in children, so they get Ctrl-C as from a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def toy_module(name: str):
    """A script of lean_project/toy/ (family.py, warm_start.py) imported as a module."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(f"toy_{name}", TOY / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


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
