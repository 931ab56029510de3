"""`leanfd check` end to end: the real command, the bundled Lean, exit codes and output lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import TOY

from leanfd.lean.owner import owned_pids
from leanfd.lean.records import CheckRecord
from leanfd.lean.verifier import Verifier

SLOW_TAIL = (
    "set_option maxHeartbeats 0\nset_option maxRecDepth 100000000\n"
    "noncomputable def two : N := N.succ (N.succ N.zero)\n"
    "noncomputable def d1 : N := N.mul two two\nnoncomputable def d2 : N := N.mul d1 d1\n"
    "noncomputable def d3 : N := N.mul d2 d2\nnoncomputable def d4 : N := N.mul d3 d3\n"
    "noncomputable def d5 : N := N.mul d4 d4\n"
)
# Deciding d5 + 0 = 0 + d5 by unfolding 2^32 in unary: Lean works on it for minutes.
SLOW_PROOF = {"formal_statement": "theorem slow : Eq (N.add d5 N.zero) (N.add N.zero d5) :=", "proof": " Eq.refl _"}


def leanfd(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "leanfd", *args], capture_output=True, text=True, timeout=300,
        cwd=cwd, env={**os.environ, "LEANFD_LEAN": "bundled", **(env or {})},
    )


def test_toy_attempts_with_out_file(tmp_path):
    out = tmp_path / "verdicts.jsonl"
    res = leanfd("check", str(TOY / "attempts.jsonl"), "--backend", "cli", "--jobs", "2", "--out", str(out))
    assert res.returncode == 1, res.stderr  # three attempts are wrong
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 15
    assert list(lines[0])[:2] == ["name", "status"]
    assert sum(x["status"] == "proved" for x in lines) == 12
    assert sorted(x["status"] for x in lines if x["status"] != "proved") == ["failed", "rejected", "rejected"]
    assert all("formal_statement" in x and ("proof" in x or "code" in x) for x in lines)  # input kept
    assert "proved" in res.stdout and "12" in res.stdout


def test_all_proved_exits_zero(tmp_path, toy_header):
    good = [json.loads(x) for x in (TOY / "attempts.jsonl").read_text().splitlines()][:3]
    path = tmp_path / "good.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in good))
    assert leanfd("check", str(path), "--backend", "cli").returncode == 0


def test_malformed_lines_reported_and_rest_checked(tmp_path):
    lines = (TOY / "attempts.jsonl").read_text().splitlines()[:2]
    path = tmp_path / "mixed.jsonl"
    path.write_text(lines[0] + "\n{not json\n" + json.dumps({"name": "x"}) + "\n" + lines[1] + "\n")
    out = tmp_path / "o.jsonl"
    res = leanfd("check", str(path), "--backend", "cli", "--out", str(out))
    assert res.returncode == 1
    assert f"{path}:2" in res.stderr and f"{path}:3" in res.stderr and "formal_statement" in res.stderr
    assert [json.loads(x)["status"] for x in out.read_text().splitlines()] == ["proved", "proved"]


def test_lean_files_and_directories(tmp_path, toy_header):
    d = tmp_path / "proofs"
    (d / "sub").mkdir(parents=True)
    (d / "a.lean").write_text(toy_header + "theorem a (n : N) : Eq (N.add n N.zero) n := Eq.refl n\n")
    (d / "sub" / "b.lean").write_text(toy_header + "theorem b (n : N) : Eq n (N.succ n) := sorry\n")
    out = tmp_path / "o.jsonl"
    res = leanfd("check", str(d), "--backend", "cli", "--out", str(out))
    got = {json.loads(x)["name"]: json.loads(x) for x in out.read_text().splitlines()}
    assert got["a"]["status"] == "proved" and got["sub/b"]["status"] == "failed" and got["sub/b"]["sorry"]
    assert res.returncode == 1
    assert leanfd("check", str(d / "a.lean"), "--backend", "cli").returncode == 0


def test_missing_lean_is_one_actionable_message(tmp_path):
    res = leanfd("check", str(TOY / "attempts.jsonl"), env={"LEANFD_LEAN": str(tmp_path / "nope")})
    assert res.returncode == 3
    assert "LEANFD_LEAN" in res.stderr and "Traceback" not in res.stderr


def test_missing_input_file(tmp_path):
    res = leanfd("check", "does-not-exist.jsonl", "--backend", "cli")
    assert res.returncode == 2 and "no such file" in res.stderr
    res = leanfd("feedback", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "f.jsonl"))
    assert res.returncode == 2 and "none.jsonl" in res.stderr and "Traceback" not in res.stderr


def test_out_directory_is_created(tmp_path):
    out = tmp_path / "new" / "dir" / "v.jsonl"
    leanfd("check", str(TOY / "attempts.jsonl"), "--backend", "cli", "--out", str(out))
    assert len(out.read_text().splitlines()) == 15


def test_timeout_kills_the_process_group(bundled, toy_header):
    r = CheckRecord.from_dict({"name": "slow", "header": toy_header + SLOW_TAIL, **SLOW_PROOF})
    before = lean_pids()
    with Verifier(backend="cli", toolchain=bundled, timeout=3) as v:
        t = time.monotonic()
        verdict = v.check(r)
    assert verdict.status == "timeout" and time.monotonic() - t < 20
    assert lean_pids() == before  # nothing left running


def test_crash_is_a_verdict(bundled, toy_header):
    """Lean killed from outside mid-check: the verdict says crashed, and the next check works."""
    r = CheckRecord.from_dict({"name": "slow", "header": toy_header + SLOW_TAIL, **SLOW_PROOF})
    before = lean_pids()

    def killer() -> None:
        for _ in range(200):
            new = lean_pids() - before
            if new:
                for pid in new:
                    os.kill(pid, 9)
                return
            time.sleep(0.05)

    with Verifier(backend="cli", toolchain=bundled, timeout=60) as v:
        assert "4.35.0" in v.lean_version  # ask now, so the only Lean the killer sees is the check's
        th = threading.Thread(target=killer)
        th.start()
        verdict = v.check(r)
        th.join()
        assert verdict.status == "crashed" and "signal 9" in verdict.reason
        ok = json.loads((TOY / "attempts.jsonl").read_text().splitlines()[0])
        assert v.check(ok).status == "proved"


def lean_pids() -> set[int]:
    """The live Lean processes this test process started (by leanfd's owner marker): never another
    run's, which may share the machine."""
    return set(owned_pids())


@pytest.mark.parametrize("command", ["check", "doctor"])
def test_help(command):
    res = leanfd(command, "--help")
    assert res.returncode == 0 and "--lean" in res.stdout


def test_memory_cap_reaches_lean(bundled, toy_header):
    """`memory_mb` becomes Lean's -M: under a tiny cap the kernel refuses instead of growing."""
    rec = json.loads((TOY / "attempts.jsonl").read_text().splitlines()[0])
    with Verifier(backend="cli", toolchain=bundled, timeout=60, memory_mb=20) as v:
        verdict = v.check(rec)
    assert verdict.status == "failed"
    assert any("excessive memory consumption" in m.text for m in verdict.messages)
