"""The small FD/GRPO experiment's parts (bench/fd_small): the hint critic over real HTTP, two steps of
each method on the toy family through `leanfd train`, and readable pass@k axes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, TOY, toy_module

sys.path.insert(0, str(REPO / "bench" / "fd_small"))
sys.path.insert(0, str(TOY))
from hint_critic import HintCritic, hint  # noqa: E402

FAMILY = TOY / "family.jsonl"


def test_hint_says_where_the_attempt_goes_wrong_and_gives_the_corrected_proof():
    ref = " And.intro h.right h.left"
    text = hint(ref, " And.intro h.left h.right")
    assert "after `And.intro`" in text and "a proof has `h.right` there" in text
    assert text.endswith("A proof begins:\n And.intro h.right h.left")  # the proof as written, on its own line
    long = " congrArg (fun y => N.add y i) hx"
    assert hint(long, " congrArg N.succ hx").endswith("A proof begins:\n" + long)  # the whole proof by default
    # the attempt's wrong token is not repeated: a small teacher copies what the hint quotes
    assert "N.succ" not in hint(long, " congrArg N.succ hx")
    text = hint(long, " congrArg N.succ hx", ahead=4)
    assert text.endswith("A proof begins (it goes on):\n congrArg (fun y =>")  # 4 tokens past the mistake
    assert long.strip() not in text
    assert "very start" in hint(" Eq.symm h", "")
    assert "must go" in hint(" Eq.symm h", " Eq.symm h h")


def test_critics_that_quote_differently_have_different_model_names():
    """leanfd caches critic answers by model name and prompt: a critic quoting 4 tokens must not
    answer from the cache of one quoting the whole proof."""
    from hint_critic import model_name

    assert model_name() == "toy-hint-critic-all" and model_name(0) == model_name()
    assert model_name(4) == "toy-hint-critic-4"
    assert HintCritic(FAMILY, ahead=4).model == "toy-hint-critic-4"


def test_the_critic_reads_the_proof_out_of_the_trainers_attempt_text():
    from hint_critic import proof_part

    stmt = "theorem t (h : Eq a b) : Eq b a :="
    assert proof_part(stmt, stmt + " Eq.symm h").strip() == "Eq.symm h"  # leanfd's attempt_text: statement + proof
    assert proof_part(stmt, " Eq.symm h").strip() == "Eq.symm h"


def test_the_critic_serves_while_a_command_runs():
    code = "import sys; print(sys.argv[1].startswith('http://127.0.0.1:'))"
    res = subprocess.run([sys.executable, str(TOY / "hint_critic.py"), "--", sys.executable, "-c", code, "{url}/x"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.startswith("True\n"), res


def test_the_critic_answers_leanfds_critic_prompt_over_http(cli_verifier):
    from leanfd.feedback.critic import LLMCritic
    from leanfd.lean.records import CheckRecord
    from leanfd.models.openai_api import OpenAIBackend

    rec = next(json.loads(line) for line in FAMILY.read_text().splitlines() if '"and_comm"' in line)
    attempt = " And.intro h.left h.right"
    verdict = cli_verifier.check(CheckRecord(name=rec["name"], header=rec["header"],
                                             formal_statement=rec["formal_statement"], proof=attempt))
    assert not verdict.proved
    with HintCritic(FAMILY) as server:
        critic = LLMCritic(OpenAIBackend(server.model, base_url=server.url))
        fb = asyncio.run(critic.afeedback(rec["formal_statement"], attempt, verdict))
        unknown = asyncio.run(critic.afeedback("theorem other : True :=", attempt, verdict))
    assert fb.source == "llm" and "goes wrong after `And.intro`" in fb.text, fb
    assert unknown.source == "fallback"  # a statement it has no reference for: leanfd uses Lean's feedback
    assert server.requests == 2


@pytest.fixture(scope="module")
def tiny_warm_start(tmp_path_factory):
    warm = toy_module("warm_start")
    out = tmp_path_factory.mktemp("warm")
    return warm.warm_start(warm.WarmStartConfig(out=str(out), hidden=32, layers=1, heads=4, steps=2, batch=4,
                                                teacher_pairs=0, measure_samples=0))


@pytest.mark.parametrize("method,expected", [("fd", ["fd", "fd"]), ("grpo", ["grpo", "grpo"]),
                                             ("fd+grpo", ["fd", "grpo"])])
def test_two_steps_of_each_method_on_the_family(method, expected, tiny_warm_start, tmp_path):
    out = tmp_path / "run"
    with HintCritic(FAMILY) as critic:
        res = subprocess.run(
            [sys.executable, "-m", "leanfd", "train", "--config", str(REPO / "lean_project" / "toy" / "train-cpu.yaml"),
             "--model", str(tiny_warm_start), "--method", method, "--max-steps", "2", "--fd-steps", "1",
             "--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "12", "--output-dir", str(out),
             # the critic for the methods with FD steps (a GRPO run refuses options it would not read)
             *(() if method == "grpo" else ("--feedback", "both", "--critic", "openai", "--critic-model", critic.model,
                                            "--critic-base-url", critic.url))],
            capture_output=True, text=True, timeout=300, cwd=REPO,
            env={**os.environ, "LEANFD_CACHE": str(tmp_path / "cache")})  # no critic answer cached by another run
        requests = critic.requests
    assert res.returncode == 0, res.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["method"] for r in rows] == expected
    assert all(r["samples"] == 4 for r in rows)  # the same number of completions a step, whatever the method
    assert (out / "final" / "model.safetensors").is_file()
    # FD steps ask the critic about failed attempts (a 2-step warm start proves nothing); GRPO never does
    assert (requests > 0) == ("fd" in expected) or all(r["pass_rate"] == 1 for r in rows)


def test_pass_at_k_axes_are_readable():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from leanfd.prove.report import pass_at_k_axes

    fig, ax = plt.subplots()
    ax.plot([1, 2, 4, 8, 32], [5, 9, 14, 20, 30])
    pass_at_k_axes(ax, {1, 2, 4, 8, 32})
    fig.canvas.draw()
    assert ax.get_ylim() == (0, 100)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "4", "8", "32"]
    assert list(ax.get_xticks()) == [1, 2, 4, 8, 32]
    plt.close(fig)


def test_experiment_figure_from_results(tmp_path):
    from plot import plot

    def run(method, seed, bump):
        curve = [{"step": s, "entropy": 1.0 - 0.1 * s + bump, "pass@1": 0.1 * s, "near pass@1": 0.05 * s}
                 for s in (0, 2, 4)]
        # the warm start's, drawn in grey
        curve[0]["by_holdout"] = {"train": {"1": 0.05, "2": 0.1, "4": 0.15, "8": 0.2}, "near": {"1": 0.1, "8": 0.4}}
        train = [{"step": s, "reward": 0.1 * s, "response_length": 9 + s} for s in (1, 2, 3, 4)]
        if "fd" in method:  # the teacher's advantage, measured at some FD steps
            train[0]["teacher_advantage"], train[2]["teacher_advantage"] = 0.6 + bump, 0.4
        return {"method": method, "seed": seed, "curve": curve,
                "by_holdout": {"train": {"1": 0.1 + bump, "2": 0.2, "4": 0.3, "8": 0.35},
                               "near": {"1": 0.2, "8": 0.7}},
                "train": train}

    results = {"runs": [run(m, s, 0.01 * s) for m in ("fd", "grpo", "fd+grpo") for s in range(3)]}
    path = plot(results, tmp_path / "fig.png")
    assert path.stat().st_size > 10_000

    import matplotlib.pyplot as plt
    from plot import figure

    fig = figure(results)
    fig.canvas.draw()
    panels = {ax.get_title(): ax for ax in fig.axes}
    assert set(panels) == {"policy entropy, evaluated prompts", "pass@1 on train shapes",
                           "pass@1 on near held-out shapes", "pass@k on train shapes, at the end",
                           "pass@k on near held-out shapes, at the end", "training reward (proved share)",
                           "FD teacher's advantage (teacher - student pass rate)", "response length, training samples"}
    for title in ("pass@k on train shapes, at the end", "pass@k on near held-out shapes, at the end"):
        ax = panels[title]
        assert ax.get_ylim() == (0, 100)
        assert all(t.get_text().isdigit() for t in ax.get_xticklabels())  # integer k
        assert [t.get_text() for t in ax.get_legend().get_texts()] == [
            "fd (n=3)", "grpo (n=3)", "fd+grpo (n=3)", "warm start (n=1)"]
    near = panels["pass@k on near held-out shapes, at the end"]
    assert [list(line.get_ydata()) for line in near.get_lines()][0] == [20.0, 70.0]  # percent, mean over seeds
    length = panels["response length, training samples"]
    assert list(length.get_lines()[0].get_ydata()) == [10, 11, 12, 13]
    adv = panels["FD teacher's advantage (teacher - student pass rate)"]
    # FD and FD then GRPO, at the steps measured, in points; GRPO has no teacher
    assert [t.get_text() for t in adv.get_legend().get_texts()] == ["fd (n=3)", "fd+grpo (n=3)"]
    assert list(adv.get_lines()[1].get_xdata()) == [1, 3] and adv.get_lines()[1].get_ydata()[0] == 61.0
    plt.close(fig)


def test_compare_says_whether_a_rerun_is_within_the_committed_seed_spread():
    from compare import compare

    def run(method, entropy, p1, pk):
        return {"method": method, "curve": [{"step": 20, "entropy": entropy, "pass@1": p1}],
                "pass_at_k": {"1": p1, "32": pk}}

    settings = {"steps": 20, "seeds": 2, "k": 32}
    committed = {"settings": settings, "runs": [run("fd", 1.2, 0.10, 0.30), run("fd", 1.3, 0.12, 0.34)]}
    ok, lines = compare({"settings": settings, "runs": [run("fd", 1.25, 0.11, 0.31), run("fd", 1.26, 0.11, 0.33)]},
                        committed)
    assert ok and len(lines) == 4 and all(line.startswith("ok") for line in lines)
    ok, lines = compare({"settings": settings, "runs": [run("fd", 1.25, 0.11, 0.50)]}, committed)
    assert not ok and [line.split()[:3] for line in lines if line.startswith("OFF")] == [["OFF", "fd", "pass@32"]]
    ok, lines = compare({"settings": {**settings, "steps": 4}, "runs": committed["runs"]}, committed)
    assert not ok and lines == ["not comparable: settings differ (steps)"]


def test_the_experiment_runs_end_to_end_in_small(tmp_path):
    """bench/fd_small/run.py as `make experiment` runs it, cut to one FD step from a 2-step warm start
    on two problems (a train shape and a near held-out one): its results, figure and report."""
    warm = tmp_path / "warm"
    out = tmp_path / "exp"
    res = subprocess.run(
        [sys.executable, str(REPO / "bench" / "fd_small" / "run.py"), "--seeds", "1", "--methods", "fd",
         "--steps", "1", "--eval-every", "1", "-k", "2", "--k-step", "1",
         "--names", "^fam_(and_left|and_left_nested)_0$",
         "--warm-start", str(warm), "--out", str(out), "--train-args", "--prompts-per-step 1 --group-size 2",
         "--warm-start-args", "--hidden 32 --layers 1 --heads 4 --steps 2 --batch 4 --teacher-pairs 0 "
                              "--measure-samples 0"],
        capture_output=True, text=True, timeout=600, cwd=REPO,
        env={**os.environ, "LEANFD_CACHE": str(tmp_path / "cache")})
    assert res.returncode == 0, res.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    (run,) = results["runs"]
    assert run["method"] == "fd" and [c["step"] for c in run["curve"]] == [0, 1]
    assert set(run["by_holdout"]) == {"train", "near"}  # the two kinds evaluated, kept apart
    assert set(run["by_holdout"]["train"]) == {"1", "2"} and run["pass_at_k"] == run["by_holdout"]["train"]
    # measured at the first FD step: a 2-step model proves nothing, so both attempts get feedback
    assert run["train"][0]["teacher_advantage"] is not None
    assert (out / "fd_small.png").stat().st_size > 10_000 and (out / "report.png").is_file()
