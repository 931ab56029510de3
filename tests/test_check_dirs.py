"""`leanfd check DIR/`: no single entry stops the run. Every .lean file gets its own verdict (one whose
header Lean cannot elaborate too, with Lean's message); an entry named `*.lean` that is not a regular
file leanfd can read is reported, counted as skipped and never opened; a FIFO neither hangs the run nor
keeps SIGTERM from stopping it.

The runs are real `leanfd` processes on the bundled Lean, each under a timeout (a FIFO that is opened
waits for a writer forever), and each tagged like those of test_signals.py, so that whatever a failed
run leaves behind is killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from conftest import REPO, TOY
from test_check_cli import SLOW_PROOF, SLOW_TAIL
from test_signals import TAG, checking, tagged

from leanfd.commands.check import count_inputs, iter_inputs

PRELUDE = (TOY / "Prelude.lean").read_text()
BODY = PRELUDE.removeprefix("prelude\n")  # the toy prelude after its first line
HONEST = "theorem {} (n : N) : Eq (N.add n N.zero) n := Eq.refl n\n"


def kill_tagged(tag: str) -> None:
    for pid in tagged(tag):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:  # gone meanwhile
            pass


def run_leanfd(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The real command under a timeout; whatever it started is killed when it ends, however it ends."""
    tag = uuid.uuid4().hex
    env = {**os.environ, "LEANFD_LEAN": "bundled", "COLUMNS": "200", TAG: tag}
    proc = subprocess.Popen([sys.executable, "-m", "leanfd", *args], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"`leanfd {' '.join(args)}` still running after {timeout:g} s")
    finally:
        proc.kill()
        kill_tagged(tag)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def honest_directory(root: Path) -> Path:
    d = root / "proofs"
    (d / "sub").mkdir(parents=True)
    (d / "a.lean").write_text(PRELUDE + HONEST.format("a"))
    (d / "sub" / "b.lean").write_text(PRELUDE + HONEST.format("b"))
    return d


# Each entry that stopped a whole directory's run before (exit 3, exit 2, or a hang): how to make it,
# and what it now gives: a verdict (status, what Lean or the reason says) or a skipped line.
ENTRIES = {
    "bom": (lambda p: p.write_bytes(b"\xef\xbb\xbf" + (PRELUDE + HONEST.format("c")).encode()),
            ("rejected", "byte order mark")),  # Lean 4.35 reads the mark as text: see the test below
    "imports": (lambda p: p.write_text("prelude\nimport Nonexistent.Module\n" + BODY + HONEST.format("d")),
                ("failed", "unknown module prefix 'Nonexistent'")),
    # An error on a line the header splitter counts as header (Lean 4.35's grammar, but not outside a module).
    "header": (lambda p: p.write_text("prelude\npublic import Foo\n" + BODY + HONEST.format("e")),
               ("failed", "cannot use `public import` without `module`")),
    "folder": (lambda p: p.mkdir(), "a directory, not a regular file: not opened"),
    "broken": (lambda p: p.symlink_to(p.with_name("nowhere.lean")), "a broken symbolic link"),
    "loop": (lambda p: p.symlink_to(p), "a symbolic link loop"),
    "pipe": (os.mkfifo, "a FIFO (named pipe), not a regular file: not opened"),
}


def bad_directory(root: Path, names=tuple(ENTRIES)) -> Path:
    """Two honest files beside the entries `names`, and a link loop among folders (never followed)."""
    d = honest_directory(root)
    (d / "sub" / "up").symlink_to(d)
    for name in names:
        ENTRIES[name][0](d / f"{name}.lean")
    return d


def assert_entry(name: str, d: Path, res: subprocess.CompletedProcess, verdicts: dict) -> None:
    expected = ENTRIES[name][1]
    if isinstance(expected, str):
        assert f"skipped {d / name}.lean: {expected}" in res.stderr, res.stderr
        assert name not in verdicts
        return
    status, says = expected
    v = verdicts[name]
    assert v["status"] == status, v
    if status == "rejected":
        assert says in v["reason"], v
        return
    header = [m for m in v["messages"] if m["severity"] == "error" and m["region"] == "header"]
    assert header and says in header[0]["text"], v  # Lean's own message
    assert f"{d / name}.lean: Lean cannot elaborate its header" in res.stderr, res.stderr


def check_dir(d: Path, out: Path) -> tuple[subprocess.CompletedProcess, dict]:
    res = run_leanfd("check", str(d), "--backend", "cli", "--jobs", "2", "--out", str(out))
    both = res.stdout + res.stderr
    assert "Traceback" not in both, both
    assert res.returncode == 1, both  # some entry not proved: the documented exit code, not 2 or 3
    verdicts = {v["name"]: v for v in map(json.loads, out.read_text().splitlines())}
    assert verdicts["a"]["status"] == verdicts["sub/b"]["status"] == "proved", verdicts
    return res, verdicts


@pytest.mark.parametrize("name", ENTRIES)
def test_one_entry_beside_honest_files(name, tmp_path):
    d = bad_directory(tmp_path, (name,))
    res, verdicts = check_dir(d, tmp_path / "verdicts.jsonl")
    assert_entry(name, d, res, verdicts)


def release(fifo: Path) -> None:
    """Let a reader blocked on `fifo` go on (it sees an empty file): only code that opens it needs this."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:  # no reader waiting
        pass


def test_no_entry_stops_a_directory(tmp_path):
    d = bad_directory(tmp_path)
    res, verdicts = check_dir(d, tmp_path / "verdicts.jsonl")
    assert sorted(verdicts) == ["a", "bom", "header", "imports", "sub/b"]
    for name in ENTRIES:
        assert_entry(name, d, res, verdicts)
    table = {line.split()[1]: line.split()[3] for line in res.stdout.splitlines() if line.count("│") == 3}
    assert (table["proved"], table["failed"], table["rejected"], table["skipped"], table["total"]) == \
        ("2", "2", "1", "4", "9"), res.stdout


def test_lean_reads_a_leading_byte_order_mark_as_text(bundled, tmp_path):
    """What the verdict above rests on: `lean` on a file that begins with a byte order mark does not see
    its `prelude` (so it imports `Init`, which the bundled runtime lacks); without the mark it elaborates."""
    text = PRELUDE + HONEST.format("t")
    for name, data, errors in (("plain.lean", text.encode(), []),
                               ("bom.lean", b"\xef\xbb\xbf" + text.encode(), ["unknown module prefix 'Init'"])):
        (tmp_path / name).write_bytes(data)
        res = subprocess.run(bundled.command("--json", name), cwd=tmp_path, capture_output=True, text=True, timeout=120)
        said = [json.loads(line) for line in res.stdout.splitlines()]
        assert [m["data"].splitlines()[0] for m in said if m["severity"] == "error"] == errors, said


def test_progress_total_counts_what_is_read(tmp_path):
    d = bad_directory(tmp_path)
    got: list = []
    reader = threading.Thread(target=lambda: got.append(list(iter_inputs([str(d)]))), daemon=True)
    reader.start()
    reader.join(60)
    if reader.is_alive():  # it opened the FIFO and waits for a writer
        release(d / "pipe.lean")
        pytest.fail("reading the directory opened its FIFO")
    assert count_inputs([str(d)]) == len(got[0]) == 9


def test_a_fifo_given_as_input_is_refused_unopened(tmp_path):
    os.mkfifo(tmp_path / "pipe.lean")
    res = run_leanfd("check", str(tmp_path / "pipe.lean"), "--backend", "cli", timeout=60)
    assert res.returncode == 2 and f"{tmp_path / 'pipe.lean'}: a FIFO" in res.stderr, res.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and lists whatever the mode says")
def test_unreadable_file_and_folder_are_skipped(tmp_path):
    d = tmp_path / "proofs"
    (d / "closed").mkdir(parents=True)
    (d / "a.lean").write_text(PRELUDE + HONEST.format("a"))
    (d / "locked.lean").write_text(PRELUDE + HONEST.format("l"))
    (d / "closed" / "c.lean").write_text(PRELUDE + HONEST.format("c"))
    (d / "locked.lean").chmod(0)
    (d / "closed").chmod(0)
    try:
        res = run_leanfd("check", str(d), "--backend", "cli")
    finally:
        (d / "closed").chmod(0o755)
    assert res.returncode == 1, res.stderr
    assert f"skipped {d / 'locked.lean'}: cannot open: Permission denied" in res.stderr
    assert f"skipped {d / 'closed'}: a folder that cannot be listed" in res.stderr


def test_sigterm_stops_a_directory_run_with_a_fifo(tmp_path):
    """The FIFO sorts after a slow proof: once that check is in flight, SIGTERM ends the run."""
    d = tmp_path / "proofs"
    d.mkdir()
    (d / "a_slow.lean").write_text(PRELUDE + SLOW_TAIL + SLOW_PROOF["formal_statement"].replace(
        "theorem slow", "theorem a_slow") + SLOW_PROOF["proof"] + "\n")
    os.mkfifo(d / "b_pipe.lean")
    tag = uuid.uuid4().hex
    env = {**os.environ, "LEANFD_LEAN": "bundled", TAG: tag}
    proc = subprocess.Popen([sys.executable, "-m", "leanfd", "check", str(d), "--backend", "cli"], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not checking(tag):
            assert proc.poll() is None, proc.communicate()
            if time.monotonic() > deadline:
                release(d / "b_pipe.lean")
                pytest.fail("no check in flight after 60 s")
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        try:
            _, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("SIGTERM did not stop the run")
    finally:
        proc.kill()
        kill_tagged(tag)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "leanfd: stopped by SIGTERM" in stderr and "Traceback" not in stderr


def test_hidden_folders_are_not_walked_by_check_or_prove(tmp_path):
    """`.lake` holds a Lean project's dependencies (all of Mathlib's sources) and `.git` its history:
    `check DIR` and `prove --dataset DIR` share one walk, and neither enters them."""
    from leanfd.data.benchmarks import iter_lean_dir

    d = honest_directory(tmp_path)
    for hidden in (".lake/packages/mathlib", ".git", "sub/.cache"):
        (d / hidden).mkdir(parents=True)
        (d / hidden / "dep.lean").write_text(PRELUDE + HONEST.format("dep"))
    (d / ".hidden_file.lean").write_text(PRELUDE + HONEST.format("h"))  # a file, not a folder: read
    names = sorted(item.name for item in iter_inputs([str(d)]))
    assert names == [".hidden_file", "a", "sub/b"] and count_inputs([str(d)]) == 3
    # a dataset's files hold statements (`:= sorry`): these proofs are reported, which shows each was read
    read = sorted(Path(bad.path).relative_to(d).as_posix() for bad in iter_lean_dir(d))
    assert read == [".hidden_file.lean", "a.lean", "sub/b.lean"], read
