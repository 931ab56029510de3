"""`leanfd prove` and `leanfd report` end to end, with the bundled Lean on the toy benchmark."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, TOY

from leanfd.prove.runner import summarize_run

TOY_SET = str(TOY / "toy.jsonl")


def leanfd(*args: str, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "leanfd", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env={**os.environ, "LEANFD_LEAN": "bundled", **kw.pop("env", {})}, **kw)


@pytest.fixture(scope="module")
def proofs(tmp_path_factory) -> Path:
    """Two attempts per toy problem: the right proof (from attempts.jsonl) and a wrong one."""
    rows = [json.loads(x) for x in (TOY / "attempts.jsonl").read_text().splitlines()][:12]
    path = tmp_path_factory.mktemp("proofs") / "proofs.jsonl"
    lines = []
    for r in rows:
        lines.append({"name": r["name"], "proof": r["proof"]})
        lines.append({"name": r["name"], "proof": " Eq.refl N.zero"})  # wrong everywhere but by accident
    lines.append({"name": "no_such_problem", "proof": " x"})
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + "{broken\n")
    return path


def test_prove_proofs_end_to_end(proofs, tmp_path):
    out = tmp_path / "run"
    res = leanfd("prove", "--dataset", TOY_SET, "--proofs", str(proofs), "--out", str(out),
                 "--verifier-backend", "cli", "--jobs", "2")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(x) for x in (out / "attempts.jsonl").read_text().splitlines()]
    assert len(rows) == 24 and {r["sample"] for r in rows} == {0, 1}
    assert all({"problem", "sample", "status", "attempt", "verdict", "seconds"} <= set(r) for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["problems"] == 12 and summary["solved"] == 12
    assert summary["pass_at_k"] == {"1": 0.5, "2": 1.0}
    assert summary["per_problem"]["toy_zero_add"] == {"n": 2, "c": 1}
    assert (out / "pass_at_k.png").stat().st_size > 1000
    assert "proofs.jsonl:26" in res.stderr  # the broken line, reported with its number


def test_a_repeated_attempt_is_checked_once_and_gets_its_twins_verdict(tmp_path):
    """Sampling repeats itself; a repeat of (problem, text) shares one Lean check, never across problems."""
    rows = [json.loads(x) for x in (TOY / "attempts.jsonl").read_text().splitlines()][:2]
    wrong = " Eq.refl N.zero"
    lines = [{"name": r["name"], "proof": p} for r in rows for p in (r["proof"], wrong, r["proof"], wrong, r["proof"])]
    proofs = tmp_path / "repeats.jsonl"
    proofs.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "run"
    res = leanfd("prove", "--dataset", TOY_SET, "--proofs", str(proofs), "--out", str(out), "--verifier-backend", "cli")
    assert res.returncode == 0, res.stderr
    assert "10 attempts, 4 distinct ones checked by Lean" in " ".join((res.stdout + res.stderr).split()), res.stderr
    got = [json.loads(x) for x in (out / "attempts.jsonl").read_text().splitlines()]
    by = {(r["problem"], r["sample"]): r for r in got}
    for r in rows:
        assert [by[(r["name"], s)]["status"] for s in range(5)] == ["proved", "failed", "proved", "failed", "proved"]
        assert all(by[(r["name"], s)]["verdict"]["name"] == r["name"] for s in range(5))


def test_prove_with_a_tiny_model(tiny_model_dir, tmp_path):
    out = tmp_path / "model_run"
    res = leanfd("prove", "--dataset", TOY_SET, "--model", str(tiny_model_dir), "-k", "2", "--max-tokens", "8",
                 "--limit", "3", "--out", str(out), "--verifier-backend", "cli", "--problems-per-batch", "2")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(x) for x in (out / "attempts.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and all(r["completion"] is not None and r["tokens"] for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["pass_at_k"]) == {"1", "2"} and summary["attempted"] == 3


def test_stop_at_first_success(proofs, tmp_path, tiny_model_dir):
    out = tmp_path / "first"
    res = leanfd("prove", "--dataset", TOY_SET, "--model", str(tiny_model_dir), "-k", "2", "--max-tokens", "4",
                 "--limit", "2", "--out", str(out), "--verifier-backend", "cli", "--stop-at-first")
    assert res.returncode == 0, res.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stop_at_first"] and list(summary["pass_at_k"]) == ["2"]


def jsonl_lines(path: Path) -> list[str]:
    """Lines split on newlines only: a model's text may hold U+2028 and the like, which JSON keeps raw."""
    return path.read_text().split("\n")[:-1]


def completions(run: Path) -> dict[tuple[str, int], str]:
    return {(r["problem"], r["sample"]): r["completion"]
            for r in map(json.loads, jsonl_lines(run / "attempts.jsonl"))}


MODEL_RUN = ["--dataset", TOY_SET, "-k", "3", "--max-tokens", "8", "--limit", "5", "--verifier-backend", "cli",
             "--problems-per-batch", "2", "--seed", "3", "--temperature", "1.5"]


@pytest.fixture(scope="module")
def full_run(tiny_model_dir, tmp_path_factory) -> Path:
    full = tmp_path_factory.mktemp("full") / "run"
    res = leanfd("prove", "--model", str(tiny_model_dir), *MODEL_RUN, "--out", str(full))
    assert res.returncode == 0, res.stderr
    return full


def test_resume_draws_what_the_uninterrupted_run_drew(tiny_model_dir, full_run, tmp_path):
    """Any subset of the attempts kept (here every other one, so each resumed batch is cut unlike
    the first run's), the resumed run ends with the same completions, sample by sample."""
    part = tmp_path / "part"
    part.mkdir()
    shutil.copy(full_run / "run.json", part / "run.json")
    kept = jsonl_lines(full_run / "attempts.jsonl")[::2]
    (part / "attempts.jsonl").write_text("".join(x + "\n" for x in kept))
    res = leanfd("prove", "--model", str(tiny_model_dir), *MODEL_RUN, "--out", str(part), "--resume")
    assert res.returncode == 0, res.stderr
    want = completions(full_run)
    assert len(want) == 15 and len(set(want.values())) > 5  # sampled, not one greedy string
    assert completions(part) == want
    assert json.loads((part / "summary.json").read_text()) == json.loads((full_run / "summary.json").read_text())


def test_ctrl_c_then_resume_loses_no_attempt(tiny_model_dir, full_run, tmp_path):
    run = tmp_path / "stopped"
    args = ["prove", "--model", str(tiny_model_dir), *MODEL_RUN, "--out", str(run)]
    proc = subprocess.Popen([sys.executable, "-m", "leanfd", *args], cwd=REPO,
                            env={**os.environ, "LEANFD_LEAN": "bundled"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    attempts = run / "attempts.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and (not attempts.exists() or len(jsonl_lines(attempts)) < 4):
        assert proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    written = attempts.read_text()
    assert 4 <= len(jsonl_lines(attempts)) < 15
    res = leanfd(*args)  # without --resume: refused, the attempts stay
    assert res.returncode == 2 and "--resume" in res.stderr and attempts.read_text() == written
    res = leanfd(*args, "--resume")
    assert res.returncode == 0, res.stderr
    assert attempts.read_text().startswith(written)
    assert completions(run) == completions(full_run)
    res = leanfd(*args[:-2], "--out", str(run), "--resume", "--temperature", "0.7")
    assert res.returncode == 2 and "settings.temperature: 1.5 recorded, 0.7 now" in res.stderr


def test_report_compares_runs(tmp_path):
    for name, curve in (("fd", {"1": 0.3, "2": 0.45, "4": 0.6}), ("grpo", {"1": 0.35, "2": 0.42, "4": 0.5})):
        d = tmp_path / name
        d.mkdir()
        (d / "summary.json").write_text(json.dumps({"problems": 10, "solved": 6, "pass_at_k": curve}))
    plot = tmp_path / "cmp.png"
    res = leanfd("report", str(tmp_path / "fd"), str(tmp_path / "grpo"), "--plot", str(plot))
    assert res.returncode == 0, res.stderr
    assert "pass@4" in res.stdout and "60.0%" in res.stdout and "50.0%" in res.stdout
    assert plot.stat().st_size > 1000
    res = leanfd("report", str(tmp_path / "missing"))
    assert res.returncode == 2 and "summary.json" in res.stderr


def test_report_groups_seeds_into_one_curve_with_its_spread(tmp_path):
    runs = {"fd-s0": (0.2, 0.5), "fd-s1": (0.4, 0.7), "fd-s2": (0.3, 0.6), "grpo-s0": (0.1, 0.2), "warm": (0.05, 0.1)}
    for name, (p1, p4) in runs.items():
        d = tmp_path / name
        d.mkdir()
        (d / "summary.json").write_text(json.dumps({"problems": 10, "solved": round(10 * p4),
                                                    "pass_at_k": {"1": p1, "2": (p1 + p4) / 2, "4": p4}}))
    dirs = [str(tmp_path / n) for n in runs]
    res = leanfd("report", *dirs, "--group", "(.*)-s[0-9]+$", "--json", "--plot", str(tmp_path / "g.png"))
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert list(got) == ["fd", "grpo", "warm"]  # a run the pattern does not match stays alone
    assert got["fd"]["runs"] == ["fd-s0", "fd-s1", "fd-s2"]
    assert got["fd"]["pass_at_k"]["4"] == pytest.approx(0.6) and got["fd"]["min"]["4"] == 0.5
    assert got["fd"]["max"]["1"] == 0.4 and got["grpo"]["pass_at_k"]["1"] == 0.1
    res = leanfd("report", *dirs, "--group", "(.*)-s[0-9]+$", "--plot", str(tmp_path / "g.png"))
    assert "fd (n=3)" in res.stdout and "5-7" in res.stdout  # solved: min-max over the seeds
    res = leanfd("report", *dirs, "--group", "(unclosed")
    assert res.returncode == 2 and "--group '(unclosed' is not a regular expression" in res.stderr
    assert "Traceback" not in res.stderr


def test_grouped_plot_draws_a_band_per_group(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from leanfd.prove.report import plot_curves

    calls = []
    real = plt.Axes.fill_between
    monkeypatch.setattr(plt.Axes, "fill_between", lambda self, *a, **k: calls.append(a) or real(self, *a, **k))
    plot_curves({"fd": {"1": 0.3, "4": 0.6}, "warm": {"1": 0.1, "4": 0.2}}, tmp_path / "b.png",
                bands={"fd": ({"1": 0.2, "4": 0.5}, {"1": 0.4, "4": 0.7})})
    assert calls == [([1, 4], [20.0, 50.0], [40.0, 70.0])]


def test_summary_counts_and_edges():
    from leanfd.data.benchmarks import Problem

    ps = [Problem("a", "", "theorem a : True :="), Problem("b", "", "theorem b : True :=")]
    rows = [{"problem": "a", "status": s} for s in ("proved", "failed", "failed", "failed")] + \
           [{"problem": "b", "status": "failed"}] * 4
    s = summarize_run(ps, rows, 4, stop_at_first=False)
    assert s["pass_at_k"]["1"] == pytest.approx(0.125) and s["pass_at_k"]["4"] == pytest.approx(0.5)
    assert summarize_run(ps, [], 4, False)["pass_at_k"] == {}
