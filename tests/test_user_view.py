"""What a user sees (issue 24.6): plots that show their data, a training log that fits a terminal
or a pipe, no library warning at every save, `doctor`'s fixes whole, a `--help` that says what
leanfd is, and feedback whose positions are the verdict's, without Lean's echoes of an error.
Every command runs for real, with the bundled Lean."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys

import pytest
from conftest import REPO, TOY
from rich.console import Console

from leanfd.train.metrics import WIDTH, MetricsLogger


def leanfd(*args: str, env: dict | None = None, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "leanfd", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd, env={**os.environ, "LEANFD_LEAN": "bundled", **(env or {})})


# -- the training log ------------------------------------------------------------------------------

STEP = {"method": "fd", "loss": 9.495e-06, "reward": 0, "pass_rate": 0, "response_length": 50.69,
        "time_generate": 51.5, "time_verify": 2.958, "time_train": 43.14, "fd_divergence": 9.495e-06,
        "entropy": 5.943, "tokens_per_s": 31.49, "teacher_pass_rate": 0.0, "grad_norm": 1.5, "lr": 1e-4}


@pytest.mark.parametrize("terminal,live", [(False, True), (True, False)])
def test_piped_or_not_live_training_prints_one_short_line_a_step(tmp_path, terminal, live):
    log = MetricsLogger(tmp_path, live=live, total_steps=16)
    buf = io.StringIO()
    log.console = Console(file=buf, width=200, force_terminal=terminal, color_system=None)
    log.table = live and log.console.is_terminal
    for step in (1, 2, 3):
        log.log(step, {**STEP, "loss": STEP["loss"] * 10 ** (3 * step)})
    log.close()
    text = buf.getvalue().splitlines()
    assert len(text) == 3, text  # no header, no key=value dump
    for i, line in enumerate(text, start=1):
        assert len(line) <= WIDTH and line.startswith(f"step {i}/16 fd loss ") and " eta " in line, line
        assert "=" not in line and "pass 0.00" in line
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 3  # every figure is still there


def test_saving_a_tied_model_does_not_warn_and_other_sharing_still_does(tmp_path, tiny_model_dir, caplog):
    from accelerate import Accelerator
    from transformers import AutoModelForCausalLM

    from leanfd.train.parallel import DDP

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert model.config.tie_word_embeddings and model.lm_head.weight is model.model.embed_tokens.weight
    accelerator = Accelerator(cpu=True)
    parallel = DDP(accelerator, accelerator.prepare(model))
    with caplog.at_level(logging.WARNING):
        parallel.save_state(tmp_path / "tied")
    assert not [r for r in caplog.records if "shared tensor" in r.getMessage()]
    parallel.load_state(tmp_path / "tied")  # and the checkpoint loads back, the head tied as before
    assert model.lm_head.weight is model.model.embed_tokens.weight
    model.config.tie_word_embeddings = False  # tensors that share storage against the config: worth a warning
    with caplog.at_level(logging.WARNING):
        parallel.save_state(tmp_path / "untied")
    assert [r for r in caplog.records if "Removed shared tensor" in r.getMessage()]


# -- doctor and --help -----------------------------------------------------------------------------


@pytest.mark.parametrize("columns", ["80", "40"])
def test_doctor_prints_every_fix_whole_when_piped(columns):
    from leanfd.commands.doctor import MATHLIB_FIX

    res = leanfd("doctor", "--lean", "bundled", env={"COLUMNS": columns})
    assert res.returncode == 0, res.stderr
    out = res.stdout.splitlines()
    assert "…" not in res.stdout
    for command in MATHLIB_FIX.split("\n"):  # the bundled runtime cannot import Mathlib: its fix is shown
        assert any(command in line for line in out), command
    for n in re.findall(r"\[(\d+)\] below", res.stdout):
        fix = next(line for line in out if line.startswith(f"[{n}] "))
        assert "…" not in fix and len(fix) > len(f"[{n}] ")


def test_help_says_what_leanfd_is():
    res = leanfd("--help")
    assert res.returncode == 0
    about = res.stdout.split("positional arguments")[0]
    assert "Lean 4" in about and "pass@k" in about and "leanfd doctor" in about
    assert "thin" not in about and "packages below" not in about


# -- feedback --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy_feedback(tmp_path_factory):
    d = tmp_path_factory.mktemp("feedback")
    res = leanfd("check", str(TOY / "attempts.jsonl"), "--backend", "cli", "--out", str(d / "v.jsonl"))
    assert res.returncode == 1, res.stderr
    res = leanfd("feedback", str(d / "v.jsonl"), "--out", str(d / "f.jsonl"))
    assert res.returncode == 0, res.stderr
    verdicts = [json.loads(x) for x in (d / "v.jsonl").read_text().splitlines()]
    feedback = [json.loads(x) for x in (d / "f.jsonl").read_text().splitlines()]
    return [(v, f) for v, f in zip(verdicts, feedback) if v["status"] != "proved"]


def test_feedback_positions_are_the_verdicts(toy_feedback):
    from leanfd.lean.records import CheckRecord
    from leanfd.lean.snippet import attempt_text

    placed = 0
    for verdict, fb in toy_feedback:
        attempt = attempt_text(CheckRecord.from_dict({k: verdict[k] for k in
                                                      ("name", "header", "formal_statement", "proof", "code")
                                                      if k in verdict})).split("\n")
        for line, column in re.findall(r"at line (\d+), column (\d+)\]", fb["feedback"]):
            line, column = int(line), int(column)
            assert any((m["line"], m["column"]) == (line, column) for m in verdict["messages"]), fb["feedback"]
            placed += 1
        first = verdict["first_error"]
        if first and first["region"] == "attempt":
            assert f"FIRST ERROR at line {first['line']}, column {first['column']}]" in fb["feedback"]
            # the column points at the term Lean complains about (Lean counts columns from 0)
            assert attempt[first["line"] - 1][first["column"]:].startswith("Eq.refl n")
    assert placed >= 1


def test_feedback_leaves_out_lean_echoes_of_an_error_the_verdict_keeps_them(toy_feedback):
    echoes = 0
    for verdict, fb in toy_feedback:
        texts = [m["text"] for m in verdict["messages"]]
        echoes += "internal exception #3" in texts
        assert "internal exception" not in fb["feedback"], fb["feedback"]
        assert "unknown constant" not in fb["feedback"]  # our kernel check of a theorem Lean never added
        if verdict["status"] == "failed":
            assert "(1 error)" in fb["feedback"]
        if verdict["status"] == "rejected" and verdict["first_error"]:  # the reason is quoted once, not twice
            assert fb["feedback"].count(verdict["first_error"]["text"]) == 1
    assert echoes >= 2  # Lean said it (for a failed theorem and for the failed kernel check): kept in the verdict


def test_a_lone_internal_exception_is_shown(cli_verifier, toy_header):
    from leanfd.feedback.compiler import render
    from leanfd.lean.records import CheckRecord
    from leanfd.lean.snippet import attempt_text

    rec = CheckRecord("t", toy_header, "theorem t : Eq N.zero N.zero :=", proof=" sorry")
    verdict = cli_verifier.check(rec)
    assert verdict.status != "proved"
    errors = [m for m in verdict.messages if m.severity == "error" and m.region == "attempt"]
    assert [m.text for m in errors] == ["internal exception #3"]  # Lean 4.35's only word on it: it matters
    assert "internal exception #3" in render(attempt_text(rec), verdict)


# -- the pass@k plot -------------------------------------------------------------------------------


def _prove_run(d, pass_at_k: dict[str, float], problems: int = 44, source: str = "lean_project/toy/family.jsonl"):
    d.mkdir()
    (d / "summary.json").write_text(json.dumps({"problems": problems, "solved": 2, "k": 8, "pass_at_k": pass_at_k}))
    (d / "run.json").write_text(json.dumps({"leanfd": "0", "inputs": {"dataset": {"source": source}}, "settings": {}}))
    return d


def test_the_pass_at_k_plot_shows_its_data_and_says_what_it_is(tmp_path):
    import matplotlib.pyplot as plt

    from leanfd.prove.report import load_summary, pass_at_k_figure, plot_title, run_dataset

    warm = {"1": 0.0125, "2": 0.017, "4": 0.021, "8": 0.023}  # the demo's 2.3% and 4.5% curves
    fd = {"1": 0.02, "2": 0.03, "4": 0.04, "8": 0.045}
    runs = [_prove_run(tmp_path / "warm_start", warm), _prove_run(tmp_path / "fd_16_steps", fd)]
    res = leanfd("report", *map(str, runs), "--plot", str(tmp_path / "p.png"))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    title = plot_title({r.name: (run_dataset(r), load_summary(r)) for r in runs})
    assert title == "pass@k on family.jsonl (n = 44 problems, k = 1-8)"
    fig = pass_at_k_figure({"warm_start": warm, "fd_16_steps": fd}, title)
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    ys = [y for line in ax.get_lines() for y in line.get_ydata()]
    assert lo <= min(ys) and max(ys) <= hi  # every point is drawn
    assert hi - lo < 10  # ... on an axis fitted to them, not 0-100: 2.3% and 4.5% are apart
    assert abs(ax.transData.transform((8, 4.5))[1] - ax.transData.transform((8, 2.3))[1]) > 50  # pixels apart
    assert ax.get_title() == title
    plt.close(fig)


def test_report_of_a_training_run_says_how_to_get_its_pass_at_k(tmp_path):
    train = tmp_path / "fd"
    (train / "final").mkdir(parents=True)
    (train / "metrics.jsonl").write_text('{"step": 1}\n')
    res = leanfd("report", str(train), "--plot", str(tmp_path / "p.png"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "`leanfd train` run" in res.stderr and f"--model {train / 'final'}" in res.stderr
