"""Finding Lean: explicit path, `lake env lean` in a Lake project, PATH, the bundled runtime."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import TOY

from leanfd.lean import toolchain
from leanfd.lean.errors import LeanNotFound
from leanfd.lean.oneshot import OneShotBackend
from leanfd.lean.run import MAX_MESSAGES, clip
from leanfd.lean.verifier import Verifier


def test_bundled_launcher_is_built_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LEANFD_CACHE", str(tmp_path))
    tc = toolchain.resolve("bundled")
    assert tc.bundled and tc.argv[0].startswith(str(tmp_path))
    assert "version 4.35.0" in tc.version()
    mtime = os.stat(tc.argv[0]).st_mtime_ns
    assert toolchain.resolve("bundled").argv == tc.argv and os.stat(tc.argv[0]).st_mtime_ns == mtime


def test_resolution_order(tmp_path, monkeypatch, bundled):
    real = bundled.argv[0]
    monkeypatch.delenv("LEANFD_LEAN", raising=False)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "lean").symlink_to(real)
    # `lake env lean ARGS` runs lean with the project's paths; this lake forwards to the real Lean.
    (bin_dir / "lake").write_text(f'#!/bin/sh\n[ "$1" = env ] && shift && shift && exec {real} "$@"\nexit 9\n')
    (bin_dir / "lake").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    plain = tmp_path / "plain"
    plain.mkdir()
    assert toolchain.resolve(cwd=plain).source == "path"
    project = tmp_path / "proj"
    (project / "src").mkdir(parents=True)
    (project / "lakefile.lean").write_text("import Lake\n")
    tc = toolchain.resolve(cwd=project / "src")
    assert tc.source == "lake" and tc.argv[1:] == ("env", "lean") and tc.cwd == str(project)
    assert "4.35.0" in tc.version()
    assert toolchain.resolve(real, cwd=project).source == "explicit"
    monkeypatch.setenv("LEANFD_LEAN", real)
    assert toolchain.resolve(cwd=project).source == "explicit"
    with Verifier(backend="cli", toolchain=tc) as v:  # a check through `lake env lean`
        line = (TOY / "attempts.jsonl").read_text().splitlines()[0]
        import json

        assert v.check(json.loads(line)).proved


def test_no_lean_anywhere_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("LEANFD_LEAN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(toolchain, "bundled_library", lambda: None)
    with pytest.raises(LeanNotFound, match="elan") as e:
        toolchain.resolve(cwd=tmp_path)
    assert "leanfd[bundled]" in str(e.value)
    with pytest.raises(LeanNotFound, match="not an executable"):
        toolchain.resolve(str(tmp_path / "missing"))


def test_doctor_reports_the_bundled_lean():
    res = subprocess.run([sys.executable, "-m", "leanfd", "doctor", "--lean", "bundled"], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert res.returncode == 0, res.stderr
    assert "4.35.0" in res.stdout and "bundled" in res.stdout
    assert re.search(r"elaborates a prelude file +│ yes", res.stdout)
    assert "cli: yes, server: yes" in res.stdout  # both backends really ran a check


async def test_output_is_bounded(bundled, toy_header):
    """600 messages: the first MAX_MESSAGES are kept and the run says it was truncated."""
    body = "".join("#check N.zero\n" for _ in range(600))
    run = await OneShotBackend(bundled, jobs=1).run(toy_header, body, timeout=60)
    assert run.outcome == "ok" and len(run.messages) == MAX_MESSAGES and run.truncated
    assert clip("x" * 30_000).endswith("[truncated 10000 characters]")


async def test_overlong_output_line_is_skipped_not_held():
    """A line longer than the reader's limit is discarded to its end; the next lines still arrive."""
    import asyncio

    from leanfd.lean.oneshot import read_line
    from leanfd.lean.run import LeanRun

    stream = asyncio.StreamReader(limit=1024)
    stream.feed_data(b'{"a": 1}\n' + b"x" * 5000 + b"\n" + b'{"b": 2}\n' + b"tail")
    stream.feed_eof()
    run = LeanRun("ok")
    lines = []
    while line := await read_line(stream, run):
        lines.append(line)
    assert lines == [b'{"a": 1}\n', b'{"b": 2}\n', b"tail"] and run.truncated
