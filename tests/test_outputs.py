"""Nothing lost: outputs written at once, never over an input, never over results without
--resume/--overwrite; resumes that refuse other settings; check's order and progress; report's keys;
the train table at 80 columns. The commands run for real, with the bundled Lean."""

from __future__ import annotations

import io
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
from rich.console import Console
from test_check_cli import SLOW_PROOF, SLOW_TAIL

from leanfd.commands.check import count_inputs, iter_inputs
from leanfd.manifest import Manifest, check_resumable, differences
from leanfd.manifest import write as write_manifest
from leanfd.outputs import (
    AtomicJsonl,
    InOrder,
    OutputError,
    atomic_write_text,
    partial_path,
    refuse_clobber,
    refuse_same,
)
from leanfd.prove.report import run_labels
from leanfd.train.metrics import WIDTH, MetricsLogger, header, row

ATTEMPTS = TOY / "attempts.jsonl"
TOY_SET = str(TOY / "toy.jsonl")


def leanfd(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "leanfd", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env={**os.environ, "LEANFD_LEAN": "bundled"})


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().split("\n")[:-1]]  # newlines only: text may hold U+2028


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- the pieces ---------------------------------------------------------------------------------------


def test_atomic_jsonl_replaces_only_at_close(tmp_path):
    out = tmp_path / "v.jsonl"
    out.write_text("old\n")
    w = AtomicJsonl(out)
    w.write({"a": 1})
    assert out.read_text() == "old\n" and partial_path(out).exists()  # a reader still sees the old file
    w.close()
    assert out.read_text() == '{"a": 1}\n' and not partial_path(out).exists()


def test_atomic_jsonl_failure_with_nothing_written_keeps_the_old_file(tmp_path):
    out = tmp_path / "v.jsonl"
    out.write_text("old\n")
    with pytest.raises(RuntimeError), AtomicJsonl(out):
        raise RuntimeError("input broke")
    assert out.read_text() == "old\n" and not partial_path(out).exists()
    with pytest.raises(KeyboardInterrupt), AtomicJsonl(out) as w:  # stopped after some work: the work is kept
        w.write({"a": 1})
        raise KeyboardInterrupt
    assert out.read_text() == '{"a": 1}\n'


def test_atomic_write_text(tmp_path):
    p = tmp_path / "s.json"
    atomic_write_text(p, "1")
    atomic_write_text(p, "2")
    assert p.read_text() == "2" and [x.name for x in tmp_path.iterdir()] == ["s.json"]


def test_refuse_same_by_path_and_by_inode(tmp_path):
    f = tmp_path / "in.jsonl"
    f.write_text("x\n")
    with pytest.raises(OutputError, match="PATH .*in.jsonl is also the output --out"):
        refuse_same([("PATH", str(f))], [("--out", tmp_path / "sub" / ".." / "in.jsonl")])
    os.link(f, tmp_path / "hard.jsonl")
    with pytest.raises(OutputError, match="hard.jsonl"):
        refuse_same([("PATH", str(f))], [("--out", tmp_path / "hard.jsonl")])
    (tmp_path / "sym.jsonl").symlink_to(f)
    with pytest.raises(OutputError):
        refuse_same([("PATH", str(tmp_path / "sym.jsonl"))], [("--out", f)])
    refuse_same([("PATH", str(f)), ("--proofs", None)], [("--out", tmp_path / "other.jsonl")])


def test_refuse_clobber(tmp_path):
    d = tmp_path / "run"
    refuse_clobber(d, "--out", False, False)  # absent
    d.mkdir()
    refuse_clobber(d, "--out", False, False)  # empty
    (d / "x").write_text("")
    with pytest.raises(OutputError, match=r"--out .*run: the directory already holds results.*--resume.*--overwrite"):
        refuse_clobber(d, "--out", False, False)
    refuse_clobber(d, "--out", True, False)
    refuse_clobber(d, "--out", False, True)
    with pytest.raises(OutputError, match="give one of them"):
        refuse_clobber(d, "--out", True, True)


def test_manifest_names_each_difference(tmp_path):
    path = tmp_path / "run.json"
    write_manifest(path, Manifest({"dataset": {"sha256": "a", "problems": 3}}, {"k": 8, "model": {"name": "m"}}))
    check_resumable(path, Manifest({"dataset": {"sha256": "a", "problems": 3}}, {"k": 8, "model": {"name": "m"}}),
                    "the run", "--out")
    with pytest.raises(OutputError) as e:
        check_resumable(path, Manifest({"dataset": {"sha256": "b", "problems": 3}}, {"k": 4, "model": {"name": "m"}}),
                        "the run", "--out")
    assert "inputs.dataset.sha256" in str(e.value) and "settings.k: 8 recorded, 4 now" in str(e.value)
    assert "model" not in str(e.value)
    with pytest.raises(OutputError, match="no record"):
        check_resumable(tmp_path / "none.json", Manifest({}, {}), "the run", "--out")
    assert differences({"a": [1, 2]}, {"a": [1, 2]}) == []


def test_in_order_writes_a_prefix_and_flushes_the_rest(tmp_path):
    out = AtomicJsonl(tmp_path / "o.jsonl")
    order = InOrder(out)
    order.put(2, {"i": 2})
    order.put(1, None)  # a malformed input: a place, no line
    assert out.lines == 0
    order.put(0, {"i": 0})
    assert out.lines == 2
    order.put(4, b'{"i": 4}\n')
    order.flush()  # a stopped run: 3 never came
    out.close()
    assert [x["i"] for x in lines(tmp_path / "o.jsonl")] == [0, 2, 4]


def test_count_inputs_matches_what_is_read(tmp_path, toy_header):
    d = tmp_path / "files"
    (d / "sub").mkdir(parents=True)
    (d / "a.lean").write_text(toy_header)
    (d / "sub" / "b.lean").write_bytes(b"\xff")  # not UTF-8: a malformed item, counted
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(ATTEMPTS.read_text() + "\n\n{broken\n[1, 2]\n")
    paths = [str(mixed), str(d), str(d / "a.lean")]
    assert count_inputs(paths) == len(list(iter_inputs(paths))) == 15 + 2 + 2 + 1


def test_run_labels_keep_runs_with_one_folder_name_apart():
    labels = run_labels(["runs/a/p1", "runs/b/p1", "runs/c", "runs/a/p1/"])
    assert labels == {"runs/a/p1": "a/p1", "runs/b/p1": "b/p1", "runs/c": "c"}


# -- the train table ------------------------------------------------------------------------------------

METRICS = {"method": "grpo", "loss": -1.2345678e-05, "reward": 0.25, "pass_rate": 0.125, "entropy": 2.34567,
           "kl": 0.0123, "response_length": 512.3, "tokens_per_s": 12345.6, "time_generate": 12.3,
           "time_verify": 1.0, "time_train": 3.2, "grad_norm": 1.0, "lr": 1e-6}


def test_train_table_fits_80_columns():
    head = header(1000)
    assert len(head) <= WIDTH and head.split() == [
        "step", "meth", "loss", "reward", "pass", "ent", "div", "len", "tok/s", "s/step", "eta"]
    line = row(7, 1000, METRICS, 3725)
    assert len(line) <= WIDTH and line.split()[0] == "7/1000" and line.split()[-1] == "1h02m"
    for big in ({**METRICS, "loss": -123456789.123, "tokens_per_s": 1e9}, {"method": "fd", "fd_divergence": 1e-9}):
        assert len(row(99999, 99999, big, 1e7)) <= WIDTH


def test_train_logger_prints_one_header_and_step_n_of_m(tmp_path, monkeypatch):
    clock = iter([1000.0, 1016.5, 1033.0])
    monkeypatch.setattr("leanfd.train.metrics.time.time", lambda: next(clock))
    log = MetricsLogger(tmp_path, total_steps=10)
    buf = io.StringIO()
    log.console, log.table = Console(file=buf, width=WIDTH, force_terminal=True, color_system=None), True
    for step in (1, 2, 3):
        log.log(step, METRICS)
    log.close()
    text = buf.getvalue().splitlines()
    assert len(text) == 4 and sum("meth" in x for x in text) == 1 and all(len(x) <= WIDTH for x in text)
    assert [x.split()[0] for x in text[1:]] == ["1/10", "2/10", "3/10"]
    assert text[1].split()[-1] == "2m28s"  # 16.5 s a step (the first step's own time), 9 to go
    assert text[3].split()[-1] == "1m56s"
    assert len(lines(tmp_path / "metrics.jsonl")) == 3


# -- check ----------------------------------------------------------------------------------------------


def test_check_missing_input_leaves_the_output_alone(tmp_path):
    keep = tmp_path / "keep.jsonl"
    keep.write_text('{"kept": 1}\n')
    res = leanfd("check", str(tmp_path / "nosuch.jsonl"), "--out", str(keep), "--backend", "cli")
    assert res.returncode == 2 and "nosuch.jsonl" in res.stderr and "Traceback" not in res.stderr
    assert keep.read_text() == '{"kept": 1}\n'


@pytest.mark.parametrize("how", ["same", "dotted", "hardlink"])
def test_check_refuses_an_input_that_is_the_output(tmp_path, how):
    src = tmp_path / "same.jsonl"
    shutil.copy(ATTEMPTS, src)
    out = {"same": src, "dotted": tmp_path / "." / "x" / ".." / "same.jsonl", "hardlink": tmp_path / "link.jsonl"}[how]
    if how == "hardlink":
        os.link(src, out)
    res = leanfd("check", str(src), "--out", str(out), "--backend", "cli")
    assert res.returncode == 2 and "also the output --out" in res.stderr, res.stderr
    assert src.read_bytes() == ATTEMPTS.read_bytes()


def test_check_refuses_to_replace_results(tmp_path):
    out = tmp_path / "v.jsonl"
    assert leanfd("check", str(ATTEMPTS), "--out", str(out), "--backend", "cli").returncode == 1
    before = out.read_bytes()
    res = leanfd("check", str(ATTEMPTS), "--out", str(out), "--backend", "cli")
    assert res.returncode == 2 and str(out) in res.stderr and "--resume" in res.stderr and "--overwrite" in res.stderr
    assert out.read_bytes() == before
    res = leanfd("check", str(ATTEMPTS), "--out", str(out), "--backend", "cli", "--overwrite")
    assert res.returncode == 1 and len(lines(out)) == 15
    res = leanfd("check", str(ATTEMPTS), "--out", str(out), "--backend", "cli", "--resume")  # all kept
    assert res.returncode == 1 and "15 verdicts kept" in res.stderr and len(lines(out)) == 15
    res = leanfd("check", str(ATTEMPTS), "--out", str(out), "--backend", "cli", "--resume", "--timeout", "30")
    assert res.returncode == 2 and "timeout: 60.0 recorded, 30.0 now" in res.stderr


def slow_input(tmp_path: Path, toy_header: str) -> tuple[Path, list[str]]:
    """The slow record first, then the toy attempts: the slow one finishes last."""
    rows = [{"name": "slow", "header": toy_header + SLOW_TAIL, **SLOW_PROOF}] + \
        [json.loads(x) for x in ATTEMPTS.read_text().splitlines()[:6]]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, [r["name"] for r in rows]


def test_check_writes_verdicts_in_input_order(tmp_path, toy_header):
    path, names = slow_input(tmp_path, toy_header)
    out = tmp_path / "v.jsonl"
    res = leanfd("check", str(path), "--out", str(out), "--backend", "cli", "--jobs", "2", "--timeout", "4")
    assert res.returncode == 1, res.stderr
    got = lines(out)
    assert [x["name"] for x in got] == names and got[0]["status"] == "timeout"


def test_check_stopped_then_resumed_loses_nothing(tmp_path, toy_header):
    rows = [json.loads(x) for x in ATTEMPTS.read_text().splitlines()[:6]] + \
        [{"name": f"slow{i}", "header": toy_header + SLOW_TAIL, **SLOW_PROOF} for i in range(3)]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    names = [r["name"] for r in rows]
    out = tmp_path / "v.jsonl"
    args = ["check", str(path), "--out", str(out), "--backend", "cli", "--jobs", "2", "--timeout", "5"]
    proc = subprocess.Popen([sys.executable, "-m", "leanfd", *args], cwd=REPO, text=True,
                            env={**os.environ, "LEANFD_LEAN": "bundled"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(partial_path(out).read_text().splitlines() if partial_path(out).exists() else []) < 6:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # the slow ones are running: the third cannot have started
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    kept = lines(out)
    assert 6 <= len(kept) < 9 and [x["name"] for x in kept] == names[: len(kept)], stderr
    assert "add --resume" in stderr
    assert leanfd(*args).returncode == 2  # without --resume: refused, nothing replaced
    assert lines(out) == kept
    res = leanfd(*args, "--resume")
    assert res.returncode == 1, res.stderr
    assert f"{len(kept)} verdicts kept" in res.stderr
    done = lines(out)
    assert [x["name"] for x in done] == names and done[: len(kept)] == kept
    assert [x["status"] for x in done[6:]] == ["timeout"] * 3


def test_check_resume_checks_crashed_verdicts_again(tmp_path):
    """A crash is the machinery failing, not Lean's answer: --resume keeps every other verdict, checks
    the crashed record again, and the new verdict takes its place."""
    out = tmp_path / "v.jsonl"
    args = ["check", str(ATTEMPTS), "--out", str(out), "--backend", "cli", "--jobs", "2"]
    assert leanfd(*args).returncode == 1
    before = lines(out)
    victim = next(i for i, x in enumerate(before) if x["status"] == "proved")
    crashed = {**before[victim], "status": "crashed", "reason": "Lean killed by signal 9"}
    out.write_text("".join(json.dumps(x) + "\n" for x in before[:victim] + [crashed] + before[victim + 1:]))
    res = leanfd(*args, "--resume")
    assert res.returncode == 1, res.stderr
    assert f"{len(before) - 1} verdicts kept" in res.stderr
    after = lines(out)
    assert [x["name"] for x in after] == [x["name"] for x in before]
    assert after[victim]["status"] == "proved" and after[victim]["record_key"] == before[victim]["record_key"]


def test_check_progress_has_its_total_from_the_start(tmp_path):
    res = subprocess.run([sys.executable, "-m", "leanfd", "check", str(ATTEMPTS), "--backend", "cli", "--jobs", "1"],
                         capture_output=True, text=True, timeout=300, cwd=REPO,
                         env={**os.environ, "LEANFD_LEAN": "bundled", "FORCE_COLOR": "0", "TTY_COMPATIBLE": "1",
                              "TTY_INTERACTIVE": "1", "COLUMNS": "100"})
    frames = [f for f in res.stderr.replace("\r", "\n").splitlines() if "checking" in f]
    assert frames, res.stderr
    assert all("/15" in f for f in frames), frames  # never 3/4, 8/9 ...: the total is known at once


# -- prove and report -----------------------------------------------------------------------------------


def prove_args(out: Path, *extra: str) -> list[str]:
    return ["prove", "--dataset", TOY_SET, "--proofs", str(ATTEMPTS), "--out", str(out), "--verifier-backend", "cli",
            "--jobs", "2", *extra]


def test_prove_refuses_a_run_directory_with_results(tmp_path):
    out = tmp_path / "run"
    assert leanfd(*prove_args(out)).returncode == 0
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["inputs"]["dataset"]["problems"] == 12 and len(manifest["inputs"]["dataset"]["sha256"]) == 64
    assert manifest["inputs"]["proofs"]["sha256"] and manifest["settings"]["verifier"]["timeout"] == 60.0
    before = snapshot(out)
    res = leanfd(*prove_args(out))
    assert res.returncode == 2 and str(out) in res.stderr and "--resume" in res.stderr and "--overwrite" in res.stderr
    assert snapshot(out) == before
    res = leanfd(*prove_args(out, "--limit", "3", "--resume"))  # another dataset selection
    assert res.returncode == 2 and "inputs.dataset.problems: 12 recorded, 3 now" in res.stderr
    res = leanfd(*prove_args(out, "--timeout", "20", "--resume"))
    assert res.returncode == 2 and "settings.verifier.timeout" in res.stderr
    assert snapshot(out) == before
    (out / "notes.txt").write_text("mine")
    res = leanfd(*prove_args(out, "--limit", "3", "--overwrite"))
    assert res.returncode == 0 and (out / "notes.txt").exists()
    assert len({r["problem"] for r in lines(out / "attempts.jsonl")}) == 3


def test_prove_refuses_its_input_as_output(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    proofs = out / "attempts.jsonl"
    shutil.copy(ATTEMPTS, proofs)
    res = leanfd("prove", "--dataset", TOY_SET, "--proofs", str(proofs), "--out", str(out), "--overwrite")
    assert res.returncode == 2 and "--proofs" in res.stderr and "also the output" in res.stderr
    assert proofs.read_bytes() == ATTEMPTS.read_bytes()


def test_report_keys_runs_by_path(tmp_path):
    for run, solved in (("a", 3), ("b", 7)):
        d = tmp_path / run / "p1"
        d.mkdir(parents=True)
        (d / "summary.json").write_text(json.dumps({"problems": 10, "solved": solved, "pass_at_k": {"1": solved / 10}}))
    res = leanfd("report", str(tmp_path / "a" / "p1"), str(tmp_path / "b" / "p1"), "--json",
                 "--plot", str(tmp_path / "c.png"))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {"a/p1": {"1": 0.3}, "b/p1": {"1": 0.7}}


def test_report_refuses_to_plot_over_a_summary(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    summary = d / "summary.json"
    summary.write_text(json.dumps({"problems": 1, "solved": 1, "pass_at_k": {"1": 1.0}}))
    res = leanfd("report", str(d), "--plot", str(summary))
    assert res.returncode == 2 and "--plot" in res.stderr and json.loads(summary.read_text())["solved"] == 1
