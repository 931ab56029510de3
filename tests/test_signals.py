"""SIGINT, SIGTERM and SIGHUP to a real `leanfd` command in the middle of its checks: it ends every
Lean process it started, exits 128 + the signal's number without a traceback, and what it already
wrote stays whole.

Each run gets an environment variable of its own, which leanfd and every Lean process it starts
(the `--worker`s of the server backend too) inherit: that is how the test finds them, and all it
ever kills when something is left over.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import REPO, TOY
from test_check_cli import SLOW_PROOF, SLOW_TAIL

from leanfd.outputs import partial_path

TAG = "LEANFD_TEST_RUN"
FAST = json.loads((TOY / "attempts.jsonl").read_text().splitlines()[0])
SLOW_HEADER = (TOY / "Prelude.lean").read_text() + SLOW_TAIL


def tagged(tag: str) -> dict[int, str]:
    """pid -> command line of every live process carrying `TAG=tag`."""
    needle = f"{TAG}={tag}".encode()
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                found[int(entry.name)] = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or a zombie
            continue
    return found


def checking(tag: str) -> bool:
    """A Lean process of the run is elaborating a check (not `lean --version`, not an idle server)."""
    return any("--json" in cmd or "LeanfdCheck" in cmd for cmd in tagged(tag).values())


@pytest.fixture
def run_tag():
    tag = uuid.uuid4().hex
    yield tag
    for pid in tagged(tag):  # only this run's processes, if the test failed with some alive
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def slow(i: int) -> dict:
    return {"name": f"slow{i}", "header": SLOW_HEADER, **SLOW_PROOF}


def command(kind: str, backend: str, tmp: Path) -> tuple[list[str], Path]:
    """The command line and the JSONL file it writes one line to per finished check."""
    records = [FAST] + [slow(i) for i in range(3)]
    if kind == "check":
        out = tmp / "verdicts.jsonl"
        return ["check", str(write_jsonl(tmp / "in.jsonl", records)), "--backend", backend, "--jobs", "2",
                "--out", str(out)], out
    if kind == "prove":
        problems = write_jsonl(tmp / "problems.jsonl", [
            {k: r[k] for k in ("name", "header", "formal_statement")} for r in records])
        proofs = write_jsonl(tmp / "proofs.jsonl", [{"name": r["name"], "proof": r["proof"]} for r in records])
        return ["prove", "--dataset", str(problems), "--proofs", str(proofs), "--verifier-backend", backend,
                "--jobs", "2", "--out", str(tmp / "run")], tmp / "run" / "attempts.jsonl"
    assert kind == "feedback"  # bare attempts are verified first
    return ["feedback", str(write_jsonl(tmp / "in.jsonl", records)), "--backend", backend,
            "--out", str(tmp / "fb.jsonl")], tmp / "fb.jsonl"


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


CASES = [(kind, sig) for kind in ("check", "prove") for sig in ("SIGINT", "SIGTERM", "SIGHUP")]
CASES.append(("feedback", "SIGTERM"))


@pytest.mark.parametrize("backend", ["cli", "server"])
@pytest.mark.parametrize("kind,sig", CASES)
def test_signal_mid_check_leaves_nothing_running(kind, sig, backend, tmp_path, run_tag):
    args, out = command(kind, backend, tmp_path)
    written = partial_path(out) if kind == "check" else out  # check renames its output at the end
    env = {**os.environ, "LEANFD_LEAN": "bundled", TAG: run_tag}
    proc = subprocess.Popen([sys.executable, "-m", "leanfd", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        # check and prove write the fast record's line as soon as it is proved; feedback writes at the end.
        while not (checking(run_tag) and (kind == "feedback" or lines_of(written))):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no check in flight after 60 s"
            time.sleep(0.02)
        proc.send_signal(getattr(signal, sig))
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 128 + getattr(signal, sig), stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert f"leanfd: stopped by {sig}" in stderr
    deadline = time.monotonic() + 3
    while left := tagged(run_tag):
        assert time.monotonic() < deadline, f"still running after {sig}: {left}"
        time.sleep(0.05)
    if kind != "feedback":
        raw = out.read_bytes()
        assert raw.endswith(b"\n")  # no half line
        rows = [json.loads(x) for x in raw.decode().splitlines()]
        assert [(r.get("name", r.get("problem")), r["status"]) for r in rows][:1] == [(FAST["name"], "proved")], rows
        assert all(r["status"] == "proved" for r in rows)  # no check stopped by the signal is reported as done


def lsp_message(payload: dict) -> bytes:
    body = json.dumps(payload).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_language_server_exit_code_on_signal(sig, run_tag):
    """pygls ends quietly on KeyboardInterrupt; the exit code still says which signal stopped it."""
    env = {**os.environ, "LEANFD_LEAN": "bundled", TAG: run_tag}
    proc = subprocess.Popen([sys.executable, "-m", "leanfd", "lsp"], cwd=REPO, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdin and proc.stdout
        proc.stdin.write(lsp_message({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                      "params": {"processId": None, "rootUri": None, "capabilities": {}}}))
        proc.stdin.flush()
        assert proc.stdout.readline().startswith(b"Content-Length")  # answered: the server loop runs
        proc.send_signal(getattr(signal, sig))
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 128 + getattr(signal, sig), stderr
    assert b"Traceback" not in stderr and f"leanfd: stopped by {sig}".encode() in stderr
