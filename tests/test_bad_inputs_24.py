"""Issue 24: work sized before it starts, inputs named before a model loads, no option silently ignored.

Each case runs the real `leanfd` in a folder of its own and must end with its exit code, a message
naming the option, file, line or field, and no traceback; the model cases also within a time bound
(a model that cannot load fails in seconds, offline, before Lean starts or --out is made). The tiny
model of tests/tiny_model.py stands for a real one; no case needs the network (HF_HUB_OFFLINE, or a
hub endpoint that refuses connections).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import REPO, TOY

from leanfd.prove.runner import ProveConfig, Sizing, Tally, check_size, size_run, summarize_run

OFFLINE = {"HF_HUB_OFFLINE": "1"}
NO_HUB = {"HF_HUB_OFFLINE": "", "HF_ENDPOINT": "http://127.0.0.1:9"}  # a port nothing listens on


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    code: int
    says: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    seconds: float | None = None  # the run must end within this beyond `leanfd prove --help`'s time (model cases)
    no_out: str = ""  # this output must not exist afterwards

    def __str__(self) -> str:
        return self.id


def C(id: str, argv: str, code: int, *says: str, **kw) -> Case:
    return Case(id, tuple(argv.split()), code, says, **kw)


PROVE = "prove --dataset toy.jsonl --out run"
PROOFS = "prove --dataset toy.jsonl --proofs attempts.jsonl --out run"
TRAIN = "train --model no-such-model --dataset toy.jsonl --output-dir trained --dry-run"

CASES = [
    # --- prove sizes its work first: an absurd -k is refused before any model loads
    C("prove-k-absurd", f"{PROVE} --model tiny -k 1000000000000 --limit 1", 2, "-k", "--limit", "--out run",
      "1,000,000,000,000 samples", seconds=20, no_out="run"),
    # --- --model validated locally, fast, before Lean starts and before --out exists
    C("model-path-missing", f"{PROVE} --model ./no-such-dir", 2, "--model ./no-such-dir", "no such directory",
      env=OFFLINE, seconds=5, no_out="run"),
    C("model-path-missing-online", f"{PROVE} --model ./no-such-dir", 2, "--model ./no-such-dir", env=NO_HUB,
      seconds=5, no_out="run"),
    C("model-file", f"{PROVE} --model weights.safetensors", 2, "--model weights.safetensors", "a file",
      env=NO_HUB, seconds=5, no_out="run"),
    C("model-folder-not-a-model", f"{PROVE} --model folder", 2, "--model folder", "no config.json", env=NO_HUB,
      seconds=5, no_out="run"),
    C("model-config-without-type", f"{PROVE} --model notype", 2, "--model notype", "model_type", env=NO_HUB,
      seconds=5, no_out="run"),
    C("model-without-tokenizer", f"{PROVE} --model notokenizer", 2, "--model notokenizer", "no tokenizer",
      env=NO_HUB, seconds=5, no_out="run"),
    C("model-without-weights", f"{PROVE} --model noweights", 2, "--model noweights", "no weights", env=NO_HUB,
      seconds=5, no_out="run"),
    C("model-hub-id-offline", f"{PROVE} --model someone/no-such-model", 2, "--model someone/no-such-model",
      "HF_HUB_OFFLINE", env=OFFLINE, seconds=5, no_out="run"),
    C("model-hub-id-unreachable", f"{PROVE} --model someone/no-such-model", 2, "--model someone/no-such-model",
      "cannot be reached", env=NO_HUB, seconds=8, no_out="run"),
    C("chat-without-template", f"{PROVE} --model notemplate --prompt-style chat", 2, "--prompt-style chat",
      "--model notemplate", "chat template", env=NO_HUB, seconds=5, no_out="run"),
    C("feedback-critic-model-missing", "feedback attempts.jsonl --out fb.jsonl --critic hf --model ./no-such-dir", 2,
      "--model ./no-such-dir", env=OFFLINE, seconds=5, no_out="fb.jsonl"),
    # --- options that would have no effect are refused, named, with the reason
    C("prove-proofs-and-model", f"{PROOFS} --model M", 2, "--model", "no effect with --proofs", no_out="run"),
    C("prove-proofs-and-sampling", f"{PROOFS} --temperature 0.5 --max-tokens 9", 2, "--temperature",
      "--max-tokens", "--proofs", no_out="run"),
    C("prove-base-url-local-model", f"{PROVE} --model tiny --base-url http://127.0.0.1:9", 2, "--base-url",
      "--backend hf", no_out="run"),
    C("prove-num-few-shot-alone", f"{PROVE} --model tiny --num-few-shot 2", 2, "--num-few-shot", "--few-shot",
      no_out="run"),
    C("feedback-hf-base-url", "feedback attempts.jsonl --out fb.jsonl --critic hf --model tiny --base-url http://x",
      2, "--base-url", "--critic hf", no_out="fb.jsonl"),
    C("feedback-compiler-model", "feedback attempts.jsonl --out fb.jsonl --model m", 2, "--model",
      "--critic compiler", no_out="fb.jsonl"),
    C("feedback-cache-and-no-cache", "feedback attempts.jsonl --out fb.jsonl --critic openai --model m --cache c.db "
      "--no-cache", 2, "--cache", "--no-cache", no_out="fb.jsonl"),
    C("yaml-flat-and-nested", f"{TRAIN} --config flatnested.yaml", 2, "flatnested.yaml", "`lr`", "optim.lr"),
    C("yaml-key-twice", f"{TRAIN} --config twice.yaml", 2, "twice.yaml:2", "max_steps", "twice"),
    C("yaml-nested-key-twice", f"{TRAIN} --config nestedtwice.yaml", 2, "nestedtwice.yaml:3", "lr"),
    C("yaml-section-twice", f"{TRAIN} --config sectiontwice.yaml", 2, "sectiontwice.yaml:3", "optim"),
    # --- inputs named with file, line and field
    C("report-summary-value-not-a-number", "report badvalue --plot p.png", 2, "badvalue/summary.json",
      "pass_at_k.1"),
    C("report-summary-key-not-a-k", "report badkey --plot p.png", 2, "badkey/summary.json", "pass_at_k", "'one'"),
    C("report-summary-problems-not-a-count", "report badcount --plot p.png", 2, "badcount/summary.json",
      "`problems`"),
    C("check-empty-jsonl", "check empty.jsonl", 2, "empty.jsonl", "no records"),
    C("check-folder-without-lean-files", "check folder", 2, "folder", "no .lean files"),
    C("check-record-without-header", "check noheader.jsonl", 2, "noheader.jsonl:2", "`header`"),
    C("prove-proofs-empty", "prove --dataset toy.jsonl --proofs empty.jsonl --out run", 2, "--proofs empty.jsonl",
      "no attempts", no_out="run"),
]


def lay_out(root: Path, tiny: Path) -> None:
    lines = (TOY / "attempts.jsonl").read_text().splitlines()
    (root / "attempts.jsonl").write_text("\n".join(lines[:3]) + "\n")
    shutil.copy(TOY / "toy.jsonl", root / "toy.jsonl")
    shutil.copytree(tiny, root / "tiny")
    (root / "weights.safetensors").write_bytes(b"\0" * 64)
    (root / "folder").mkdir()
    for name, drop in (("notemplate", "chat_template.jinja"), ("notokenizer", "tokenizer"),
                       ("noweights", "model.safetensors")):
        shutil.copytree(tiny, root / name)
        for f in (root / name).iterdir():
            if f.name.startswith(drop):
                f.unlink()
    (root / "notype").mkdir()
    (root / "notype" / "config.json").write_text("{}")
    (root / "flatnested.yaml").write_text("lr: 1.0e-5\noptim:\n  lr: 2.0e-5\n")
    (root / "twice.yaml").write_text("max_steps: 3\nmax_steps: 4\n")
    (root / "nestedtwice.yaml").write_text("optim:\n  lr: 1.0e-5\n  lr: 2.0e-5\n")
    (root / "sectiontwice.yaml").write_text("optim:\n  lr: 1.0e-5\noptim:\n  lr: 2.0e-5\n")
    for name, summary in (("badvalue", {"problems": 2, "solved": 1, "pass_at_k": {"1": "half"}}),
                          ("badkey", {"problems": 2, "solved": 1, "pass_at_k": {"one": 0.5}}),
                          ("badcount", {"problems": "two", "solved": 1, "pass_at_k": {"1": 0.5}})):
        (root / name).mkdir()
        (root / name / "summary.json").write_text(json.dumps(summary))
    (root / "empty.jsonl").write_text("\n")
    records = [json.loads(x) for x in lines[:2]]
    del records[1]["header"]
    (root / "noheader.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def run_case(case: Case, root: Path, tiny: Path) -> tuple[subprocess.CompletedProcess, float, Path]:
    lay_out(root, tiny)
    env = {**os.environ, "LEANFD_LEAN": "bundled", "COLUMNS": "200", **case.env}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    def timed(argv: list[str]) -> tuple[subprocess.CompletedProcess, float]:
        start = time.monotonic()
        res = subprocess.run([sys.executable, "-m", "leanfd", *argv], cwd=root, env=env, capture_output=True,
                             text=True, timeout=300, stdin=subprocess.DEVNULL)
        return res, time.monotonic() - start

    # Python's and leanfd's start-up, as slow as this machine is now: the bound is on what comes after.
    startup = timed(["prove", "--help"])[1] if case.seconds is not None else 0.0
    res, seconds = timed(list(case.argv))
    return res, seconds - startup, root


@pytest.fixture(scope="module")
def results(tmp_path_factory, tiny_model_dir):
    base = tmp_path_factory.mktemp("bad_inputs_24")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = {}
        for case in CASES:
            (base / case.id).mkdir()
            futures[case.id] = pool.submit(run_case, case, base / case.id, tiny_model_dir)
        return {k: f.result() for k, f in futures.items()}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_issue_24_case(case: Case, results):
    res, seconds, root = results[case.id]
    said = res.stdout + res.stderr
    unsaid = [w for w in case.says if w not in said]
    assert (res.returncode, unsaid) == (case.code, []), said
    assert "Traceback" not in said and "internal error" not in said, said
    if case.seconds is not None:
        assert seconds < case.seconds, f"{seconds:.1f} s after start-up"
    if case.no_out:
        assert not (root / case.no_out).exists(), f"{case.no_out} was made"


# --- sizing, pure: what a run takes, and when it is refused or warned about


def _sizing(**kw) -> Sizing:
    base = dict(samples=10, disk_min=10_000, disk_max=100_000, disk_free=10**9, memory=10**6, memory_free=10**9)
    return Sizing(**{**base, **kw})


def test_a_run_larger_than_the_free_disk_is_refused_naming_the_options(tmp_path):
    from leanfd.lean.errors import ConfigError

    with pytest.raises(ConfigError, match=r"-k .*--limit"):
        check_size(_sizing(disk_min=2 * 10**9), "runs/x", generating=True)
    with pytest.raises(ConfigError, match="memory"):
        check_size(_sizing(memory=2 * 10**9), "runs/x", generating=True)
    assert "--max-tokens" in (check_size(_sizing(disk_max=2 * 10**9), "runs/x", generating=True) or "")
    assert check_size(_sizing(), "runs/x", generating=True) is None


def test_size_run_counts_samples_and_holds_memory_bounded(tmp_path):
    small = size_run(3, ProveConfig(k=4, max_tokens=10), tmp_path)
    assert small.samples == 12 and small.disk_min <= small.disk_max
    huge = size_run(1, ProveConfig(k=10**8, max_tokens=10), tmp_path)
    assert huge.samples == 10**8 and huge.memory < 10**9  # what is held does not grow with k
    assert size_run(3, ProveConfig(k=4), tmp_path, kept=5).samples == 7


def test_the_tally_keeps_counts_not_attempts():
    rows = [{"problem": "a", "sample": s, "status": "proved" if s == 1 else "failed"} for s in range(3)]
    tally = Tally(rows)
    assert len(tally) == 3 and tally.kept == {("a", 0), ("a", 1), ("a", 2)} and tally.solved == {"a"}
    tally.append({"problem": "b", "sample": 0, "status": "failed"})
    assert tally.counts == {"a": [3, 1], "b": [1, 0]} and ("b", 0) not in tally.kept


def test_summaries_from_rows_and_from_a_tally_agree():
    from leanfd.data.benchmarks import Problem

    problems = [Problem(name=n, header="", formal_statement=f"theorem {n} : True := by") for n in ("a", "b")]
    rows = [{"problem": p, "sample": s, "status": st} for p, s, st in
            (("a", 0, "proved"), ("a", 1, "failed"), ("b", 0, "failed"), ("b", 1, "failed"))]
    assert summarize_run(problems, rows, 2, False) == summarize_run(problems, Tally(rows), 2, False)


def test_a_large_k_is_sampled_in_bounded_chunks(monkeypatch, tmp_path, tiny_model_dir):
    """Every generate call holds at most MAX_ROWS_PER_CALL rows, whatever -k; every sample is made once."""
    import leanfd.prove.runner as runner
    from leanfd.data.benchmarks import load_problems
    from leanfd.lean.verifier import Verifier, VerifierConfig
    from leanfd.models import load_backend

    monkeypatch.setenv("LEANFD_LEAN", "bundled")
    monkeypatch.setattr(runner, "MAX_ROWS_PER_CALL", 4)
    monkeypatch.setattr(runner, "MAX_PENDING", 3)
    backend = load_backend("hf", str(tiny_model_dir))
    sizes: list[int] = []
    generate = backend.generate
    monkeypatch.setattr(backend, "generate", lambda prompts, *a, **kw: sizes.append(len(prompts)) or
                        generate(prompts, *a, **kw))
    problems = load_problems(TOY / "toy.jsonl", limit=2)
    with Verifier(VerifierConfig()) as verifier:
        summary = runner.Prover(verifier, tmp_path, runner.ProveConfig(k=5, max_tokens=3), backend=backend).run(
            problems, runner.Tally())
    assert sizes == [4, 4, 2] and summary["samples"] == 10
    rows = [json.loads(x) for x in (tmp_path / "attempts.jsonl").read_text().splitlines()]
    assert sorted((r["problem"], r["sample"]) for r in rows) == sorted((p.uid, s) for p in problems for s in range(5))
