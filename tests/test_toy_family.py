"""The toy theorem family (lean_project/toy/family.py): every reference proof checked by the bundled
Lean, the split holding out whole shapes, and the committed file equal to what the generator writes."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from conftest import TOY, toy_module

family = toy_module("family")


@pytest.fixture(scope="module")
def recs() -> list[dict]:
    return [json.loads(line) for line in (TOY / "family.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def snapshot_verifier(bundled):
    from leanfd.lean.verifier import Verifier

    with Verifier(backend="snapshot", toolchain=bundled, timeout=60, jobs=2) as v:
        yield v


def test_committed_file_is_what_the_generator_writes(recs):
    assert recs == family.records(seed=0, per_shape=12)
    assert family.records(seed=1, per_shape=12) != recs  # the seed changes names and numerals
    assert family.records(seed=1, per_shape=12) == family.records(seed=1, per_shape=12)


def test_hundreds_of_theorems_in_tiers_with_unique_names(recs):
    assert len(recs) >= 300
    assert len({r["name"] for r in recs}) == len(recs)
    assert len({r["formal_statement"].split(" ", 2)[2] for r in recs}) == len(recs)  # no repeated statement
    assert set(Counter(r["tier"] for r in recs)) == {1, 2, 3, 4, 5}


def test_split_holds_out_whole_shapes(recs):
    shapes = {split: {r["shape"] for r in recs if r["split"] == split} for split in ("train", "test")}
    assert shapes["train"] and shapes["test"]
    assert not shapes["train"] & shapes["test"]
    assert {r["split"] for r in recs} == {"train", "test"}
    # every tier is tested on a shape it was not trained on
    for tier in range(1, 6):
        assert {r["shape"] for r in recs if r["tier"] == tier and r["split"] == "test"}, tier
    # no reference proof of a test theorem is a train theorem's proof up to names: the shapes really differ
    train_shapes = {_skeleton(r) for r in recs if r["split"] == "train"}
    assert not any(_skeleton(r) in train_shapes for r in recs if r["split"] == "test")


GLOBALS = {"Eq", "And", "Or", "N", "False", "Exists", "congrArg", "fun", "motive", "_"}


def test_near_held_out_shapes_reuse_a_train_proof_far_ones_do_not(recs):
    """`holdout` says which kind a test shape is, and says it truthfully: a near shape's proof is a
    train shape's proof up to names (only its statement is new); a far shape's proof is new."""
    import re

    def proof(r: dict) -> str:
        """Tokens, motives dropped, numerals as #, local names numbered by first use (`h.left` -> `v0.left`)."""
        names: dict[str, str] = {}
        text = r["formal_proof"]
        while "(motive :=" in text:  # a motive restates the goal: drop it, up to its closing parenthesis
            start = text.index("(motive :=")
            depth, end = 0, start
            for end, ch in enumerate(text[start:], start):
                depth += {"(": 1, ")": -1}.get(ch, 0)
                if depth == 0:
                    break
            text = text[:start] + text[end + 1:]
        while (closed := re.sub(r"N\.succ \(#\)|N\.succ N\.zero|N\.zero", "#", text)) != text:  # numerals
            text = closed
        tokens = re.findall(r"[\w.#]+|[^\s\w#]+", text.replace("(", " ").replace(")", " "))
        out = []
        for t in tokens:
            head, dot, rest = t.partition(".")
            if head in GLOBALS or not head[0].isalpha():
                out.append(t)
            else:
                out.append(names.setdefault(head, f"v{len(names)}") + dot + rest)
        return " ".join(out)

    assert {r["holdout"] for r in recs if r["split"] == "train"} == {""}
    assert {r["holdout"] for r in recs if r["split"] == "test"} == {"near", "far"}
    train_proofs = {proof(r) for r in recs if r["split"] == "train"}
    for r in recs:
        if r["holdout"] == "near":
            assert proof(r) in train_proofs, (r["name"], r["formal_proof"])
        elif r["holdout"] == "far":
            assert proof(r) not in train_proofs, (r["name"], r["formal_proof"])


def _skeleton(r: dict) -> str:
    """Binders, statement and proof with the short local names numbered by first use (alpha-equivalence)
    and numerals blanked: two instances of one shape have the same skeleton."""
    import re

    text = r["formal_statement"].split(" ", 2)[2] + r["formal_proof"]
    text = re.sub(r"N\.succ|N\.zero|[()]", "", text)
    names: dict[str, str] = {}
    return re.sub(r"(?<![\w.])[a-zA-Z]\w?(?![\w.])", lambda m: names.setdefault(m.group(0), f"v{len(names)}"), text)


def test_the_loaders_read_it(recs):
    from leanfd.data.benchmarks import load_problems

    train = load_problems(str(TOY / "family.jsonl"), split="train")
    test = load_problems(str(TOY / "family.jsonl"), split="test")
    assert len(train) + len(test) == len(recs)
    assert train[0].extra["formal_proof"] == recs[0]["formal_proof"]


def test_every_reference_proof_elaborates(recs, snapshot_verifier):
    """All theorems in one Lean file (one run, a second or two): no message at all."""
    header = recs[0]["header"]
    assert all(r["header"] == header for r in recs)
    body = "\n" + "\n".join(r["formal_statement"] + r["formal_proof"] for r in recs) + "\n"
    run = snapshot_verifier.run_raw(header, body)
    assert run.outcome == "ok"
    assert run.messages == []


def test_a_wrong_proof_in_the_batch_is_caught(recs, snapshot_verifier):
    """The batch check above can fail: a proof of another shape gives an error on its own line."""
    header = recs[0]["header"]
    lines = [r["formal_statement"] + r["formal_proof"] for r in recs[:40]]
    wrong = next(i for i, r in enumerate(recs[:40]) if r["shape"] == "and_intro")
    lines[wrong] = recs[wrong]["formal_statement"] + " Eq.refl _"
    run = snapshot_verifier.run_raw(header, "\n" + "\n".join(lines) + "\n")
    errors = [m for m in run.messages if m.severity == "error"]
    assert errors and {m.line for m in errors} == {header.count("\n") + 2 + wrong}


def test_one_theorem_per_shape_is_proved_by_the_verifier(recs, snapshot_verifier):
    """Through the whole judge (axioms, policy) as `leanfd prove` checks attempts."""
    from leanfd.lean.records import CheckRecord

    firsts = {}
    for r in recs:
        firsts.setdefault(r["shape"], r)
    assert len(firsts) == len(family.SHAPES)

    futures = [snapshot_verifier.submit(CheckRecord(name=r["name"], header=r["header"], proof=r["formal_proof"],
                                                    formal_statement=r["formal_statement"]))
               for r in firsts.values()]
    verdicts = [f.result(timeout=120) for f in futures]
    assert all(v.proved for v in verdicts), [v.reason for v in verdicts if not v.proved]
