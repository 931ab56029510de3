"""Options declared once, as typed dataclasses, for every command: defaults in `--help`, one name per
concept with the older names as aliases, `--version`; `doctor`'s inventory; `check_many` on dicts;
a second Ctrl-C while `check` stops."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, TOY
from test_signals import TAG, checking, run_tag, slow, tagged, write_jsonl  # noqa: F401

from leanfd.cli import COMMANDS, build_parser, main
from leanfd.config import from_args
from leanfd.lean.verifier import Verifier

BLOCK = Path(__file__).parent / "block"


def leanfd(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "leanfd", *args], capture_output=True, text=True, timeout=300,
                          cwd=REPO, env={**os.environ, "LEANFD_LEAN": "bundled", "COLUMNS": "200", **(env or {})})


def parse(*argv: str):
    args = build_parser().parse_args(list(argv))
    return from_args(args._options, args) if args._options is not None else args


def test_version():
    res = leanfd("--version")
    assert res.returncode == 0
    assert re.match(r"leanfd \d+\.\d+\.\d+ \(Python 3\.\d+\.\d+", res.stdout), res.stdout


@pytest.mark.parametrize("command,shown", [
    ("check", ["--verifier-timeout", "(default: 60.0)", "--verifier-memory-mb", "(default: 8192)"]),
    ("feedback", ["--critic-jobs", "(default: 8)", "--max-tokens", "(default: 1024)"]),
    ("prove", ["-k K", "(default: 8)", "--top-p", "(default: 0.95)", "--out", "(default: runs/prove)"]),
    ("report", ["--plot", "(default: pass_at_k.png)"]),
    ("train", ["--save-every", "(default: 50)"]),
])
def test_help_shows_defaults(command, shown, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for words in shown:
        assert words in out, words


def test_every_command_has_help():
    for command in COMMANDS:
        with pytest.raises(SystemExit) as e:
            main([command, "--help"])
        assert e.value.code == 0


def test_old_names_are_aliases_of_one_name_per_concept():
    attempts = str(TOY / "attempts.jsonl")
    old = parse("check", attempts, "--backend", "cli", "--jobs", "3", "--timeout", "5", "--memory", "100")
    new = parse("check", attempts, "--verifier-backend", "cli", "--verifier-jobs", "3", "--verifier-timeout", "5",
                "--verifier-memory-mb", "100")
    assert old == new
    assert (old.verifier.backend, old.verifier.jobs, old.verifier.timeout, old.verifier.memory_mb) == ("cli", 3, 5, 100)
    prove = parse("prove", "--dataset", "d", "--backend", "openai", "--jobs", "4", "--timeout", "9")
    assert (prove.model_backend, prove.verifier.jobs, prove.verifier.timeout) == ("openai", 4, 9)
    feedback = parse("feedback", attempts, "--out", "f.jsonl", "--jobs", "2", "--backend", "cli")
    assert (feedback.critic_jobs, feedback.verifier.backend) == (2, "cli")
    assert parse("lsp", "--backend", "hf").model_backend == "hf"


def test_repeated_option_and_positionals_keep_their_types():
    opts = parse("check", str(TOY / "attempts.jsonl"), str(TOY), "--allow-axiom", "A", "--allow-axiom", "B")
    assert opts.paths == (str(TOY / "attempts.jsonl"), str(TOY)) and opts.allow_axiom == ("A", "B")


def test_check_many_takes_dicts_as_check_does(bundled):
    records = [json.loads(line) for line in (TOY / "attempts.jsonl").read_text().splitlines()[:2]]

    async def go(v):
        return {i: verdict.status async for i, verdict in v.check_many(records)}

    import asyncio

    with Verifier(backend="cli", toolchain=bundled, jobs=2) as v:
        statuses = asyncio.run(go(v))
        assert statuses == {0: v.check(records[0]).status, 1: v.check(records[1]).status}


def test_doctor_lists_extras_keys_and_fixes_never_key_values():
    secret = "sk-test-" + "x" * 24
    env = {"OPENAI_API_KEY": secret, "ANTHROPIC_API_KEY": "", "LEANFD_TEST_BLOCK": "tensorboard,vllm",
           "PYTHONPATH": os.pathsep.join([str(BLOCK), str(REPO), os.environ.get("PYTHONPATH", "")])}
    res = leanfd("doctor", env=env)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert secret not in out + res.stderr
    assert re.search(r"OPENAI_API_KEY +│ set", out) and re.search(r"ANTHROPIC_API_KEY +│ not set", out)
    assert "export ANTHROPIC_API_KEY=" in out
    assert re.search(r"extra \[tensorboard\] +│ missing: tensorboard +│ pip install 'leanfd\[tensorboard\]'", out)
    assert re.search(r"extra \[train\] +│ installed: torch", out)
    for what in ("Lean version", "elan", "lake", "C compiler", "GPUs", "vLLM", "extra [lsp]", "extra [ray]"):
        assert what in out, what


def test_a_second_ctrl_c_does_not_change_how_check_ends(tmp_path, run_tag):  # noqa: F811
    """Users press Ctrl-C twice; the second one must not turn exit 130 into a death by SIGINT."""
    records = [slow(i) for i in range(4)]
    args = ["check", str(write_jsonl(tmp_path / "in.jsonl", records)), "--backend", "cli", "--jobs", "2"]
    env = {**os.environ, "LEANFD_LEAN": "bundled", TAG: run_tag}
    codes = []
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "leanfd", *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not checking(run_tag):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline
                time.sleep(0.02)
            proc.send_signal(signal.SIGINT)
            time.sleep(0.02)
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=30)
        finally:
            proc.kill()
        assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
        codes.append(proc.returncode)
        deadline = time.monotonic() + 3
        while tagged(run_tag):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert codes == [130, 130, 130]


def test_ctrl_c_at_any_moment_of_checks_start_ends_quietly(tmp_path):
    """While modules load, the parser is built, Lean starts and the first checks run: always exit 130 with
    one line, never a traceback from an import or a check task's error logged after the loop stopped."""
    lines = (TOY / "attempts.jsonl").read_text().splitlines()
    records = [{**json.loads(lines[i % len(lines)]), "name": f"r{i}"} for i in range(200)]
    path = write_jsonl(tmp_path / "many.jsonl", records)
    env = {**os.environ, "LEANFD_LEAN": "bundled"}
    # `python -m leanfd check`, once the interpreter itself is up: a Ctrl-C inside Python's own start-up
    # (site, runpy) ends in Python's traceback whatever the program, and a loaded machine makes that last
    # longer than the first delays.
    launch = ("import runpy, sys; sys.stderr.write('started\\n'); sys.stderr.flush(); "
              f"sys.argv = ['leanfd', 'check', {str(path)!r}]; runpy.run_module('leanfd', run_name='__main__')")
    for delay in (0.05, 0.1, 0.15, 0.3, 0.45, 0.6, 0.8, 1.0, 1.3, 1.6):
        proc = subprocess.Popen([sys.executable, "-c", launch], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None and proc.stderr.readline() == "started\n"
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        for noise in ("Traceback", "Exception", "never retrieved", "Event loop is closed"):
            assert noise not in stderr, (delay, stderr)
        assert proc.returncode == 130, (delay, stderr)
        assert stderr.rstrip().endswith("leanfd: stopped by SIGINT")


def test_debug_shows_the_traceback_a_message_otherwise_hides():
    args = ["check", str(TOY / "attempts.jsonl"), "--lean", sys.executable]
    quiet, loud = leanfd(*args), leanfd("--debug", *args)
    assert quiet.returncode == 3 and "Traceback" not in quiet.stderr and "is not Lean" in quiet.stderr
    assert loud.returncode == 1 and "Traceback" in loud.stderr and "LeanNotFound" in loud.stderr
