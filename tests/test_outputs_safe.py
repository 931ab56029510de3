"""Outputs are only ever regular files or directories, one writer at a time, and a failure to write names the
user's option and path (issue 24). Every case runs the real `leanfd` with the bundled Lean: an output that is a
FIFO, a device (made here with mknod, never one of /dev), a directory, a link to a device, a broken link or a
path under a file is refused before any work and left as it was; a second run on the same output is refused
naming the first one's pid; a full file system (a real tmpfs) or a write the kernel refuses (RLIMIT_FSIZE: EFBIG)
ends with exit 2 naming the option and the path, and leaves no partial file behind.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, TOY
from test_check_cli import SLOW_PROOF, SLOW_TAIL

ATTEMPTS = TOY / "attempts.jsonl"
SENTINEL = b'{"keep": "these bytes"}\n'


def leanfd(*args: str, cwd: Path, env: dict | None = None, preexec=None, timeout: float = 300):
    env = {**os.environ, "LEANFD_LEAN": "bundled", "COLUMNS": "200", **(env or {})}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "leanfd", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, preexec_fn=preexec)


def kinds(root: Path) -> dict[str, str]:
    """Every entry under `root` (links not followed): its kind, and a regular file's bytes."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        if stat.S_ISREG(st.st_mode):
            out[str(p.relative_to(root))] = "file " + p.read_bytes().hex()[:200]
        elif stat.S_ISLNK(st.st_mode):
            out[str(p.relative_to(root))] = "link " + os.readlink(p)
        else:
            out[str(p.relative_to(root))] = oct(stat.S_IFMT(st.st_mode))
    return out


def lay_out(root: Path) -> Path:
    """Inputs in `root/in` (so the outputs' folder holds only what a case made), outputs in `root/out`."""
    (root / "in").mkdir()
    (root / "in" / "attempts.jsonl").write_text("\n".join(ATTEMPTS.read_text().splitlines()[:3]) + "\n")
    shutil.copy(TOY / "toy.jsonl", root / "in" / "toy.jsonl")
    (root / "in" / "run1").mkdir()
    (root / "in" / "run1" / "summary.json").write_text(
        json.dumps({"problems": 2, "solved": 1, "pass_at_k": {"1": 0.5}}))
    out = root / "out"
    out.mkdir()
    os.mkfifo(out / "fifo")
    (out / "folder").mkdir()
    (out / "file").write_bytes(SENTINEL)
    os.symlink("nowhere/at/all", out / "broken")
    try:
        os.mknod(out / "device", stat.S_IFCHR | 0o666, os.stat("/dev/null").st_rdev)  # a copy of /dev/null's numbers
        os.symlink("device", out / "to-device")
    except PermissionError:
        pass
    return out


def mknod_allowed(tmp_path: Path) -> bool:
    try:
        os.mknod(tmp_path / "probe", stat.S_IFCHR | 0o600, os.stat("/dev/null").st_rdev)
    except PermissionError:
        return False
    (tmp_path / "probe").unlink()
    return True


CHECK = ("check", "../in/attempts.jsonl", "--out")
FEEDBACK = ("feedback", "../in/attempts.jsonl", "--out")
PROVE = ("prove", "--dataset", "../in/toy.jsonl", "--proofs", "../in/attempts.jsonl", "--out")
REPORT = ("report", "../in/run1", "--plot")
TRAIN = ("train", "--model", "no-such-model", "--dataset", "../in/toy.jsonl", "--output-dir")
FILE_WRITERS = {"check": CHECK, "feedback": FEEDBACK, "report": REPORT}
DIR_WRITERS = {"prove": PROVE, "train": TRAIN}
OPTION = {"check": "--out", "feedback": "--out", "report": "--plot", "prove": "--out", "train": "--output-dir"}

# target -> words the message says about it (besides the option and the path)
ODD = {"fifo": "FIFO", "device": "character device", "to-device": "character device", "broken": "broken",
       "file/below": "file is a regular file, not a directory"}


@pytest.mark.parametrize("target", [*ODD, "folder"])
@pytest.mark.parametrize("command", [*FILE_WRITERS, *DIR_WRITERS])
def test_an_output_that_is_no_regular_file_or_directory_is_refused_before_any_work(tmp_path, command, target):
    if target == "folder" and command in DIR_WRITERS:
        pytest.skip("a directory is what these write")
    if "device" in target and not mknod_allowed(tmp_path):
        pytest.skip("mknod is not allowed here")
    out = lay_out(tmp_path)
    before = kinds(tmp_path)
    argv = (FILE_WRITERS | DIR_WRITERS)[command]
    res = leanfd(*argv, target, cwd=out)
    both = res.stdout + res.stderr
    assert res.returncode == 2, both
    assert f"{OPTION[command]} {target}" in res.stderr, both
    assert ODD.get(target, "a directory, not a regular file") in res.stderr, both
    assert "Traceback" not in both and "internal error" not in both
    assert "Lean:" not in both and "pass@k" not in res.stdout, "refused after the work began"
    assert kinds(tmp_path) == before  # nothing replaced, nothing left behind (no lock, no partial, no run.json)


def test_check_writes_through_a_link_to_a_regular_file(tmp_path):
    out = lay_out(tmp_path)
    os.symlink("file", out / "link.jsonl")
    res = leanfd(*CHECK, "link.jsonl", "--overwrite", cwd=out)
    assert res.returncode == 0, res.stderr
    assert (out / "link.jsonl").is_symlink() and os.readlink(out / "link.jsonl") == "file"
    assert [json.loads(x)["status"] for x in (out / "file").read_text().splitlines()] == ["proved"] * 3
    assert (out / "link.jsonl.run.json").is_file()  # the settings beside the name the user gave
    assert not list(out.glob(".*")), "a lock or partial file left behind"


@pytest.mark.parametrize("plot", ["plot.xyz", "plot"])
def test_report_refuses_a_format_it_cannot_write_before_the_table(tmp_path, plot):
    """A name without a suffix once gave matplotlib the format `partial` (the partial file's name)."""
    out = lay_out(tmp_path)
    res = leanfd(*REPORT, plot, cwd=out)
    assert res.returncode == 2 and f"--plot {plot}:" in res.stderr and ".png" in res.stderr, res.stderr
    assert res.stdout == "" and not list(out.glob("*plot*")) and not list(out.glob(".*"))


def test_report_writes_through_a_link(tmp_path):
    out = lay_out(tmp_path)
    (out / "folder" / "real.png").write_bytes(b"old")
    os.symlink("folder/real.png", out / "plot.png")
    res = leanfd(*REPORT, "plot.png", cwd=out)
    assert res.returncode == 0, res.stderr
    assert (out / "plot.png").is_symlink() and (out / "folder" / "real.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(out.glob(".*")) and not list((out / "folder").glob(".*"))


# -- one writer at a time -----------------------------------------------------------------------------

HOLD = """
import sys, time
from pathlib import Path
from leanfd.outputs import claim
with claim(Path(sys.argv[1]), sys.argv[2], sys.argv[3]):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.mark.parametrize("command", [*FILE_WRITERS, *DIR_WRITERS])
def test_an_output_in_use_by_another_process_is_refused_naming_its_pid(tmp_path, command):
    out = lay_out(tmp_path)
    name = "trained" if command == "train" else "run" if command == "prove" else "new.png" if command == "report" \
        else "new.jsonl"
    kind = "dir" if command in DIR_WRITERS else "file"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, name, OPTION[command], kind], cwd=out,
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline() == "held\n"
        before = kinds(tmp_path)
        res = leanfd(*(FILE_WRITERS | DIR_WRITERS)[command], name, cwd=out)
        assert res.returncode == 2, res.stdout + res.stderr
        assert f"{OPTION[command]} {name}" in res.stderr and f"pid {holder.pid}" in res.stderr, res.stderr
        assert kinds(tmp_path) == before
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_writer_leaves_no_lock_that_blocks(tmp_path):
    """flock goes with its process, SIGKILL too: the next run takes the stale file, then removes it."""
    out = lay_out(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, "v.jsonl", "--out", "file"], cwd=out,
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert holder.stdout.readline() == "held\n"
    holder.kill()
    holder.wait()
    assert (out / ".v.jsonl.lock").exists()
    res = leanfd(*CHECK, "v.jsonl", cwd=out)
    assert res.returncode == 0, res.stderr
    assert len((out / "v.jsonl").read_text().splitlines()) == 3 and not list(out.glob(".*"))


def test_train_processes_of_one_run_share_its_output_dir(tmp_path):
    """Under `accelerate launch` only the main process (RANK 0) holds the lock: the others go on (here to the
    model that does not exist) instead of refusing their own run's directory."""
    out = lay_out(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, "trained", "--output-dir", "dir"], cwd=out,
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline() == "held\n"
        res = leanfd(*TRAIN, "trained", cwd=out, env={"RANK": "1", "WORLD_SIZE": "2"})
        assert f"pid {holder.pid}" not in res.stderr and "no-such-model" in res.stdout + res.stderr, res.stderr
    finally:
        holder.kill()
        holder.wait()


def test_two_checks_on_one_out_second_refused_first_intact(tmp_path, toy_header):
    """The testers' case: `check long.jsonl --out two.jsonl &` twice, 0.5 s apart."""
    out = lay_out(tmp_path)
    slow = {"name": "slow", "header": toy_header + SLOW_TAIL, **SLOW_PROOF}
    fast = [json.loads(x) for x in ATTEMPTS.read_text().splitlines()[:4]]
    (tmp_path / "in" / "long.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [slow, *fast]))
    env = {**os.environ, "LEANFD_LEAN": "bundled", "PYTHONPATH": str(REPO)}
    first = subprocess.Popen([sys.executable, "-m", "leanfd", "check", "../in/long.jsonl", "--out", "two.jsonl",
                              "--timeout", "15"], cwd=out, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        deadline = time.monotonic() + 60
        while not (out / ".two.jsonl.partial").exists():  # the first one is at work
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.1)
        time.sleep(0.5)
        second = leanfd("check", "../in/long.jsonl", "--out", "two.jsonl", "--timeout", "15", cwd=out)
        assert second.returncode == 2, second.stderr
        assert "--out two.jsonl" in second.stderr and f"pid {first.pid}" in second.stderr, second.stderr
        assert "Lean:" not in second.stderr  # refused before any work
        _, err = first.communicate(timeout=200)
    finally:
        first.kill()
    assert first.returncode == 1, err  # the slow record times out, the rest are checked
    got = [json.loads(x) for x in (out / "two.jsonl").read_text().splitlines()]
    assert [g["name"] for g in got] == ["slow", *(r["name"] for r in fast)]
    assert not list(out.glob(".two.jsonl*")), "a lock or partial file left behind"
    third = leanfd("check", "../in/attempts.jsonl", "--out", "two.jsonl", "--overwrite", cwd=out)
    assert third.returncode == 0 and len((out / "two.jsonl").read_text().splitlines()) == 3, third.stderr


# -- a full disk, a write the kernel refuses -----------------------------------------------------------


@pytest.fixture
def small_fs(tmp_path):
    """A real 64 KiB tmpfs (needs root and CAP_SYS_ADMIN, else skipped)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.parametrize("command", [*FILE_WRITERS, *DIR_WRITERS])
def test_a_full_file_system_is_refused_before_any_work(tmp_path, small_fs, command):
    lay_out(tmp_path)
    (small_fs / "filler").write_bytes(b"\0" * 40_000)
    before = kinds(small_fs)
    target = str(small_fs / "new")
    res = leanfd(*(FILE_WRITERS | DIR_WRITERS)[command], target, cwd=tmp_path / "out")
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"{OPTION[command]} {target}" in res.stderr and "free" in res.stderr, res.stderr
    assert "Lean:" not in res.stderr and kinds(small_fs) == before


@pytest.mark.parametrize("command", ["check", "prove"])
def test_a_read_only_file_system_is_refused_before_any_work(tmp_path, command):
    lay_out(tmp_path)
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        res = leanfd(*(FILE_WRITERS | DIR_WRITERS)[command], str(mnt / "new"), cwd=tmp_path / "out")
        assert res.returncode == 2, res.stdout + res.stderr
        assert f"--out {mnt / 'new'}: cannot write in {mnt}" in res.stderr and "Read-only" in res.stderr, res.stderr
        assert "Lean:" not in res.stderr and not list(mnt.iterdir())
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def small_files(limit: int):
    def preexec() -> None:  # in the child: any write past `limit` bytes fails with EFBIG (Python ignores SIGXFSZ)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


def test_check_that_cannot_write_names_out_and_keeps_the_old_file(tmp_path):
    out = lay_out(tmp_path)
    res = leanfd("check", str(ATTEMPTS), "--out", "file", "--overwrite", cwd=out, preexec=small_files(8000))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "--out file" in res.stderr and "File too large" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and ".partial" not in res.stderr
    assert (out / "file").read_bytes() == SENTINEL  # the old file as it was
    assert not (out / "file.run.json").exists() and not list(out.glob(".*")), list(out.iterdir())


def test_feedback_that_cannot_write_names_out_and_leaves_nothing(tmp_path):
    out = lay_out(tmp_path)
    res = leanfd("feedback", str(ATTEMPTS), "--out", "fb.jsonl", cwd=out, preexec=small_files(1500))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "--out fb.jsonl" in res.stderr and "File too large" in res.stderr, res.stderr
    assert not (out / "fb.jsonl").exists() and not list(out.glob(".*"))


def test_a_stopped_check_still_keeps_its_verdicts_for_resume(tmp_path, toy_header):
    """What --resume needs survives a SIGTERM: the verdicts, their manifest; the lock goes."""
    import signal

    out = lay_out(tmp_path)
    slow = {"name": "slow", "header": toy_header + SLOW_TAIL, **SLOW_PROOF}
    fast = [json.loads(x) for x in ATTEMPTS.read_text().splitlines()[:2]]
    (tmp_path / "in" / "long.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [*fast, slow]))
    env = {**os.environ, "LEANFD_LEAN": "bundled", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "leanfd", "check", "../in/long.jsonl", "--out", "v.jsonl",
                             "--timeout", "60", "--jobs", "1"], cwd=out, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len((out / ".v.jsonl.partial").read_text().splitlines() if (out / ".v.jsonl.partial").exists() else []) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert len((out / "v.jsonl").read_text().splitlines()) == 2 and (out / "v.jsonl.run.json").exists()
    assert not list(out.glob(".v.jsonl*"))
