"""Bad inputs to every command, as a user types them: each case runs the real `leanfd` in a folder of
its own and must end with the documented exit code, a message naming the user's option or file, no
traceback, and every file that was there before (inputs, and a sentinel output) byte for byte as it was.

Most cases fail while the arguments are parsed; the rest fail before any model is loaded or any
check runs (a program that is not Lean, a header the bundled Lean cannot import, a missing extra).
The cases run several at a time in a thread pool; each assertion then reads its own result.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import REPO, TOY

SENTINEL = b'{"keep": "these bytes"}\n'
ATTEMPT = json.loads((TOY / "attempts.jsonl").read_text().splitlines()[0])
MATHLIB = {"name": "mathlib_one", "header": "import Mathlib\n", "split": "test",
           "formal_statement": "theorem mathlib_one : 1 + 1 = 2 := by"}
# Imports of these modules fail in the child, as on a base install without the extra (see block/sitecustomize.py).
TRAIN_EXTRA = "torch,transformers,peft,accelerate,matplotlib"


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    code: int
    says: tuple[str, ...]  # each must appear in stderr or stdout: the option or file the user gave, the fix
    block: str = ""  # modules made missing in the child
    env: dict[str, str] = field(default_factory=dict)
    root_skips: bool = False  # permissions mean nothing to root

    def __str__(self) -> str:
        return self.id


def C(id: str, argv: str | list[str], code: int, *says: str, **kw) -> Case:
    return Case(id, tuple(argv.split() if isinstance(argv, str) else argv), code, says, **kw)


GOOD_CHECK = "check attempts.jsonl"
GOOD_PROVE = "prove --dataset toy.jsonl --proofs attempts.jsonl --out run"
GOOD_TRAIN = "train --model no-such-model --dataset toy.jsonl --output-dir trained"
GOOD_FEEDBACK = "feedback attempts.jsonl --out new.jsonl"

CASES = [
    # --- check: options out of range or of the wrong type, named as typed; --out untouched
    C("check-jobs-0", f"{GOOD_CHECK} --jobs 0 --out sentinel.jsonl", 2, "--jobs must be at least 1, got 0"),
    C("check-jobs-negative", f"{GOOD_CHECK} --jobs -1 --out sentinel.jsonl", 2, "--jobs", "-1"),
    C("check-verifier-jobs-word", f"{GOOD_CHECK} --verifier-jobs many --out sentinel.jsonl", 2, "--verifier-jobs",
      "many"),
    C("check-jobs-float", f"{GOOD_CHECK} --jobs 2.5 --out sentinel.jsonl", 2, "--jobs", "2.5"),
    C("check-timeout-0", f"{GOOD_CHECK} --timeout 0 --out sentinel.jsonl", 2, "--timeout must be greater than 0"),
    C("check-timeout-negative", f"{GOOD_CHECK} --timeout -5 --out sentinel.jsonl", 2, "--timeout"),
    C("check-timeout-nan", f"{GOOD_CHECK} --timeout nan --out sentinel.jsonl", 2, "--timeout", "finite"),
    C("check-timeout-inf", f"{GOOD_CHECK} --verifier-timeout inf --out sentinel.jsonl", 2, "--verifier-timeout"),
    C("check-memory-0", f"{GOOD_CHECK} --memory 0 --out sentinel.jsonl", 2, "--memory must be at least 1, got 0"),
    C("check-cli-memory-0", f"{GOOD_CHECK} --backend cli --memory 0 --out sentinel.jsonl", 2, "--memory"),
    C("check-memory-mb-negative", f"{GOOD_CHECK} --verifier-memory-mb -3 --out sentinel.jsonl", 2,
      "--verifier-memory-mb"),
    C("check-max-checks-0", f"{GOOD_CHECK} --verifier-max-checks 0 --out sentinel.jsonl", 2, "--verifier-max-checks"),
    C("check-max-attempt-chars-0", f"{GOOD_CHECK} --max-attempt-chars 0 --out sentinel.jsonl", 2,
      "--max-attempt-chars"),
    C("check-backend-unknown", f"{GOOD_CHECK} --backend nope --out sentinel.jsonl", 2, "--backend", "nope"),
    C("check-ray-local-backend-unknown", f"{GOOD_CHECK} --verifier-ray-local-backend ray --out sentinel.jsonl", 2,
      "--verifier-ray-local-backend"),
    C("check-unknown-option", f"{GOOD_CHECK} --bogus 1 --out sentinel.jsonl", 2, "--bogus"),
    C("check-no-path", "check --out sentinel.jsonl", 2, "PATH"),
    C("check-value-missing", f"{GOOD_CHECK} --out sentinel.jsonl --jobs", 2, "--jobs"),
    # --- check: inputs that are not there or not readable
    C("check-missing-input", "check nosuch.jsonl --out sentinel.jsonl", 2, "nosuch.jsonl", "no such file"),
    C("check-second-input-missing", "check attempts.jsonl nosuch.lean --out sentinel.jsonl", 2, "nosuch.lean"),
    C("check-unreadable-input", "check locked.jsonl --out sentinel.jsonl", 2, "locked.jsonl", "permission denied",
      root_skips=True),
    C("check-wrong-suffix", "check notes.txt", 2, "notes.txt", ".jsonl"),
    # --- check: Lean that is not usable (exit 3, before any check)
    C("check-lean-missing", f"{GOOD_CHECK} --lean ./no-such-lean", 3, "no-such-lean"),
    C("check-lean-python", [*GOOD_CHECK.split(), "--lean", sys.executable], 3, "is not Lean", "elan"),
    C("check-lean-script", f"{GOOD_CHECK} --lean ./fake-lean", 3, "fake-lean", "is not Lean"),
    C("check-lean-not-executable", f"{GOOD_CHECK} --lean ./notes.txt", 3, "notes.txt"),
    C("check-lean-directory", f"{GOOD_CHECK} --lean ./folder", 3, "folder"),
    C("check-lean-env-python", GOOD_CHECK, 3, "is not Lean", env={"LEANFD_LEAN": sys.executable}),
    C("check-mathlib-header-bundled", "check mathlib.jsonl", 3, "mathlib.jsonl", "bundled", "elan",
      "lake exe cache get"),
    C("check-mathlib-file-bundled", "check Mathy.lean", 3, "Mathy.lean", "bundled"),
    C("check-mathlib-in-folder-bundled", "check leanfiles", 3, "Mathy.lean", "bundled"),
    # --- feedback
    C("feedback-jobs-0", f"{GOOD_FEEDBACK} --jobs 0", 2, "--jobs must be at least 1, got 0"),
    C("feedback-jobs-negative", f"{GOOD_FEEDBACK} --jobs -1", 2, "--jobs"),
    C("feedback-critic-jobs-0", f"{GOOD_FEEDBACK} --critic-jobs 0", 2, "--critic-jobs"),
    C("feedback-max-tokens-0", f"{GOOD_FEEDBACK} --max-tokens 0", 2, "--max-tokens"),
    C("feedback-timeout-0", f"{GOOD_FEEDBACK} --timeout 0", 2, "--timeout"),
    C("feedback-no-out", "feedback attempts.jsonl", 2, "--out"),
    C("feedback-critic-unknown", f"{GOOD_FEEDBACK} --critic gpt", 2, "--critic", "gpt"),
    C("feedback-critic-without-model", f"{GOOD_FEEDBACK} --critic openai", 2, "--critic openai needs --model"),
    C("feedback-missing-input", "feedback nosuch.jsonl --out new.jsonl", 2, "nosuch.jsonl"),
    C("feedback-input-is-directory", "feedback folder --out new.jsonl", 2, "folder", "is a directory"),
    C("feedback-unreadable-input", "feedback locked.jsonl --out new.jsonl", 2, "locked.jsonl", root_skips=True),
    C("feedback-template-missing", f"{GOOD_FEEDBACK} --template nosuch.txt", 2, "--template nosuch.txt"),
    C("feedback-template-directory", f"{GOOD_FEEDBACK} --template folder", 2, "--template folder", "directory"),
    C("feedback-line-not-object", "feedback not-objects.jsonl --out new.jsonl", 0, "not-objects.jsonl:1",
      "expected a JSON object", "got list"),
    C("feedback-lean-python", [*GOOD_FEEDBACK.split(), "--lean", sys.executable], 3, "is not Lean"),
    C("feedback-mathlib-header-bundled", "feedback mathlib.jsonl --out new.jsonl", 3, "mathlib.jsonl", "bundled"),
    # --- prove: sampling and verifier options named as typed, before Lean starts
    C("prove-no-dataset", "prove --proofs attempts.jsonl", 2, "--dataset"),
    C("prove-k-0", f"{GOOD_PROVE} -k 0", 2, "-k must be at least 1, got 0"),
    C("prove-max-tokens-0", f"{GOOD_PROVE} --max-tokens 0", 2, "--max-tokens must be at least 1"),
    C("prove-top-p-0", f"{GOOD_PROVE} --top-p 0", 2, "--top-p"),
    C("prove-top-p-above-1", f"{GOOD_PROVE} --top-p 1.5", 2, "--top-p must be at most 1"),
    C("prove-temperature-negative", f"{GOOD_PROVE} --temperature -1", 2, "--temperature"),
    C("prove-problems-per-batch-0", f"{GOOD_PROVE} --problems-per-batch 0", 2, "--problems-per-batch"),
    C("prove-limit-0", f"{GOOD_PROVE} --limit 0", 2, "--limit"),
    C("prove-num-few-shot-negative", f"{GOOD_PROVE} --num-few-shot -1", 2, "--num-few-shot"),
    C("prove-jobs-0", f"{GOOD_PROVE} --jobs 0", 2, "--jobs"),
    C("prove-verifier-timeout-0", f"{GOOD_PROVE} --verifier-timeout 0", 2, "--verifier-timeout"),
    C("prove-seed-word", f"{GOOD_PROVE} --seed abc", 2, "--seed", "abc"),
    C("prove-model-backend-unknown", f"{GOOD_PROVE} --backend gpt", 2, "--backend", "gpt"),
    C("prove-proofs-missing", "prove --dataset toy.jsonl --proofs nosuch.jsonl --out run", 2, "--proofs nosuch.jsonl"),
    C("prove-proofs-directory", "prove --dataset toy.jsonl --proofs folder --out run", 2, "--proofs folder"),
    C("prove-few-shot-missing", f"{GOOD_PROVE} --few-shot nosuch.jsonl", 2, "--few-shot nosuch.jsonl"),
    C("prove-no-model-no-proofs", "prove --dataset toy.jsonl --out run", 2, "--model", "--proofs"),
    C("prove-dataset-missing", "prove --dataset nosuch.jsonl --proofs attempts.jsonl --out run", 2, "nosuch.jsonl"),
    C("prove-bad-names-regex", f"{GOOD_PROVE} --names (", 2, "--names"),
    C("prove-split-selects-nothing", f"{GOOD_PROVE} --split nosuch", 2, "--split"),
    C("prove-lean-python", [*GOOD_PROVE.split(), "--lean", sys.executable], 3, "is not Lean"),
    C("prove-mathlib-header-bundled", "prove --dataset mathlib.jsonl --proofs attempts.jsonl --out run", 3,
      "mathlib.jsonl", "bundled"),
    # --- train: options, YAML configs, Lean; all before a model is loaded (its name does not exist)
    C("train-save-every-0", f"{GOOD_TRAIN} --save-every 0", 2, "--save-every"),
    C("train-micro-batch-0", f"{GOOD_TRAIN} --micro-batch 0", 2, "--micro-batch"),
    C("train-max-steps-0", f"{GOOD_TRAIN} --max-steps 0", 2, "--max-steps"),
    C("train-verifier-jobs-0", f"{GOOD_TRAIN} --verifier-jobs 0", 2, "--verifier-jobs must be at least 1"),
    C("train-topk-negative", f"{GOOD_TRAIN} --topk -1", 2, "--topk"),
    C("train-lora-r-negative", f"{GOOD_TRAIN} --lora-r -2", 2, "--lora-r"),
    C("train-lr-word", f"{GOOD_TRAIN} --lr fast", 2, "--lr", "fast"),
    C("train-method-unknown", f"{GOOD_TRAIN} --method ppo", 2, "--method", "ppo"),
    C("train-no-model", "train --dataset toy.jsonl", 2, "--model"),
    C("train-config-missing", f"{GOOD_TRAIN} --config nosuch.yaml", 2, "nosuch.yaml"),
    C("train-config-directory", f"{GOOD_TRAIN} --config folder", 2, "folder"),
    C("train-config-not-yaml", f"{GOOD_TRAIN} --config broken.yaml", 2, "broken.yaml"),
    C("train-config-list", f"{GOOD_TRAIN} --config list.yaml", 2, "list.yaml", "mapping"),
    C("train-config-unknown-key", f"{GOOD_TRAIN} --config unknown.yaml", 2, "unknown.yaml", "warp_drive"),
    C("train-config-wrong-type", f"{GOOD_TRAIN} --config wrongtype.yaml", 2, "max_steps", "lots"),
    C("train-config-out-of-range", f"{GOOD_TRAIN} --config range.yaml", 2, "verifier.jobs must be at least 1"),
    C("train-config-section-not-mapping", f"{GOOD_TRAIN} --config section.yaml", 2, "section.yaml", "verifier"),
    C("train-config-not-utf8", f"{GOOD_TRAIN} --config binary.yaml", 2, "binary.yaml"),
    C("train-lean-python", [*GOOD_TRAIN.split(), "--lean", sys.executable], 3, "is not Lean"),
    C("train-mathlib-header-bundled", "train --model no-such-model --dataset mathlib.jsonl --output-dir trained", 3,
      "mathlib.jsonl", "bundled"),
    C("train-output-dir-is-a-file", "train --model no-such-model --dataset toy.jsonl --output-dir sentinel.jsonl", 2,
      "--output-dir sentinel.jsonl", "directory"),
    C("train-dataset-missing", "train --model no-such-model --dataset nosuch.jsonl", 2, "nosuch.jsonl"),
    C("train-init-from-missing", f"{GOOD_TRAIN} --init-from nosuch", 2, "--init-from nosuch"),
    C("train-names-not-regex", f"{GOOD_TRAIN} --names (", 2, "--names", "regular expression"),
    C("train-config-list-for-string", f"{GOOD_TRAIN} --config liststr.yaml", 2, "split", "expected str"),
    C("train-config-fraction-for-int", f"{GOOD_TRAIN} --config fraction.yaml", 2, "max_steps", "2.5"),
    C("train-config-bool-for-number", f"{GOOD_TRAIN} --config boolnum.yaml", 2, "optim.lr", "expected float"),
    C("train-config-negative-timeout", f"{GOOD_TRAIN} --config timeout.yaml", 2, "verifier.timeout"),
    C("train-config-lean-python", f"{GOOD_TRAIN} --config lean.yaml", 3, "is not Lean"),
    # --- outputs that are directories, empty or odd sources
    C("check-out-is-a-directory", f"{GOOD_CHECK} --out folder", 2, "folder"),
    C("feedback-out-is-a-directory", "feedback attempts.jsonl --out folder", 2, "folder"),
    C("prove-dataset-empty", "prove --dataset empty.jsonl --proofs attempts.jsonl --out run", 2,
      "--dataset empty.jsonl", "no problems"),
    C("prove-dataset-folder-without-lean-files", "prove --dataset folder --proofs attempts.jsonl --out run", 2,
      "--dataset folder"),
    C("prove-dataset-not-json", "prove --dataset notes.txt --proofs attempts.jsonl --out run", 2, "notes.txt"),
    C("lsp-tcp-port-out-of-range", "lsp --tcp 127.0.0.1:99999", 2, "--tcp"),
    # --- report
    C("report-missing-run", "report nosuch --plot plot.png", 2, "nosuch"),
    C("report-run-without-summary", "report folder --plot plot.png", 2, "folder", "summary.json"),
    C("report-no-run", "report", 2, "DIR"),
    # --- lsp (fails before it serves)
    C("lsp-tcp-no-port", "lsp --tcp localhost", 2, "--tcp"),
    C("lsp-samples-0", "lsp --samples 0", 2, "--samples must be at least 1"),
    C("lsp-timeout-negative", "lsp --timeout -1", 2, "--timeout"),
    C("lsp-backend-unknown", "lsp --backend gpt", 2, "--backend", "gpt"),
    C("lsp-lean-python", ["lsp", "--lean", sys.executable], 3, "is not Lean"),
    # --- doctor and the command itself
    C("doctor-lean-python", ["doctor", "--lean", sys.executable], 3, "is not Lean"),
    C("doctor-lean-missing", "doctor --lean ./no-such-lean", 3, "no-such-lean"),
    C("no-command", "", 2, "command"),
    C("unknown-command", "verify attempts.jsonl", 2, "verify"),
    # --- a base install without an extra: the command names it and how to install it
    C("report-without-matplotlib", "report run1 --plot plot.png", 2, "matplotlib", "pip install 'leanfd[train]'",
      block="matplotlib"),
    C("train-without-torch", GOOD_TRAIN, 2, "torch", "pip install", "leanfd[train]", block=TRAIN_EXTRA),
    C("prove-without-torch", "prove --dataset toy.jsonl --model no-such-model --out run", 2, "torch",
      "leanfd[train]", block=TRAIN_EXTRA),
    C("lsp-without-pygls", "lsp", 2, "pygls", "leanfd[lsp]", block="pygls"),
]


def lay_out(root: Path) -> None:
    """The files every case starts from, in its own folder."""
    lines = (TOY / "attempts.jsonl").read_text().splitlines()
    (root / "attempts.jsonl").write_text("\n".join(lines[:3]) + "\n")
    shutil.copy(TOY / "toy.jsonl", root / "toy.jsonl")
    (root / "sentinel.jsonl").write_bytes(SENTINEL)
    (root / "mathlib.jsonl").write_text(json.dumps({**MATHLIB, "proof": "\n  norm_num"}) + "\n")
    (root / "Mathy.lean").write_text("import Mathlib\n\ntheorem t : 1 + 1 = 2 := by norm_num\n")
    (root / "leanfiles").mkdir()
    (root / "leanfiles" / "Mathy.lean").write_text("import Mathlib\n\ntheorem t : 1 + 1 = 2 := by norm_num\n")
    (root / "not-objects.jsonl").write_text("[1, 2]\n")
    (root / "notes.txt").write_text("not a Lean program\n")
    (root / "folder").mkdir()
    (root / "locked.jsonl").write_text(json.dumps(ATTEMPT) + "\n")
    (root / "locked.jsonl").chmod(0)
    fake = root / "fake-lean"
    fake.write_text("#!/bin/sh\necho 'fake-lean 1.0'\n")
    fake.chmod(0o755)
    (root / "broken.yaml").write_text("method: [fd\n  : : :\n")
    (root / "list.yaml").write_text("- method: fd\n")
    (root / "unknown.yaml").write_text("warp_drive: 9\n")
    (root / "wrongtype.yaml").write_text("max_steps: lots\n")
    (root / "range.yaml").write_text("verifier:\n  jobs: 0\n")
    (root / "section.yaml").write_text("verifier: [1, 2]\n")
    (root / "binary.yaml").write_bytes(b"method: \xff\xfe fd\n")
    (root / "liststr.yaml").write_text("split: [a, b]\n")
    (root / "fraction.yaml").write_text("max_steps: 2.5\n")
    (root / "boolnum.yaml").write_text("optim:\n  lr: true\n")
    (root / "timeout.yaml").write_text("verifier:\n  timeout: -1\n")
    (root / "lean.yaml").write_text(f"lean: {sys.executable}\n")
    (root / "empty.jsonl").write_text("")
    (root / "run1").mkdir()
    (root / "run1" / "summary.json").write_text(json.dumps({"problems": 2, "solved": 1, "pass_at_k": {"1": 0.5}}))


def snapshot(root: Path) -> dict[str, bytes]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.name.startswith("locked"):
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


def run_case(case: Case, root: Path) -> tuple[subprocess.CompletedProcess, dict[str, bytes], dict[str, bytes]]:
    lay_out(root)
    before = snapshot(root)
    env = {**os.environ, "LEANFD_LEAN": "bundled", "COLUMNS": "200", **case.env}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    if case.block:
        env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent / "block"), env["PYTHONPATH"]])
        env["LEANFD_TEST_BLOCK"] = case.block
    res = subprocess.run([sys.executable, "-m", "leanfd", *case.argv], cwd=root, env=env, capture_output=True,
                         text=True, timeout=300, stdin=subprocess.DEVNULL)
    return res, before, snapshot(root)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Every case, four at a time (each is mostly Python start-up and argument parsing)."""
    base = tmp_path_factory.mktemp("bad_inputs")
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = {}
        for case in CASES:
            root = base / case.id
            root.mkdir()
            futures[case.id] = pool.submit(run_case, case, root)
        return {k: f.result() for k, f in futures.items()}


def test_the_matrix_is_wide():
    assert len(CASES) >= 60 and len({c.id for c in CASES}) == len(CASES)
    commands = {c.argv[0] for c in CASES if c.argv}
    assert {"check", "feedback", "prove", "train", "report", "lsp", "doctor"} <= commands


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_input(case: Case, results):
    if case.root_skips and os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    res, before, after = results[case.id]
    both = res.stdout + res.stderr
    assert "Traceback" not in both and "Exception ignored" not in both, both
    assert res.returncode == case.code, both
    for words in case.says:
        assert words in both, f"{words!r} not in:\n{both}"
    changed = [name for name, data in before.items() if after.get(name) != data]
    assert not changed, f"changed or removed: {changed}"


def test_a_missing_extra_stops_the_command_before_it_prints_anything(results):
    """`report` without matplotlib: the install hint, not a table and then the hint."""
    res, _, _ = results["report-without-matplotlib"]
    assert res.stdout == "" and "pass@k" not in res.stderr


# --- outputs that are no regular file or directory, refused before any work (issue 24; the FIFOs, devices, links,
# locks and full disks are in tests/test_outputs_safe.py)
CASES += [
    C("check-out-under-a-file", f"{GOOD_CHECK} --out sentinel.jsonl/v.jsonl", 2, "--out sentinel.jsonl/v.jsonl",
      "sentinel.jsonl is a regular file, not a directory"),
    C("feedback-out-under-a-file", "feedback attempts.jsonl --out sentinel.jsonl/f.jsonl", 2,
      "--out sentinel.jsonl/f.jsonl", "not a directory"),
    C("prove-out-is-a-file", "prove --dataset toy.jsonl --proofs attempts.jsonl --out sentinel.jsonl", 2,
      "--out sentinel.jsonl", "a regular file, not a directory"),
    C("report-plot-is-a-directory", "report run1 --plot folder", 2, "--plot folder", "a directory"),
    C("report-plot-unknown-format", "report run1 --plot plot.xyz", 2, "--plot plot.xyz", ".png"),
    C("train-output-dir-under-a-file", f"{GOOD_TRAIN} --output-dir sentinel.jsonl/run", 2,
      "--output-dir sentinel.jsonl/run", "not a directory"),
]
