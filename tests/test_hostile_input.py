"""Hostile input: bytes that are not UTF-8, lone surrogates, oversized attempts. One bad line or
record is a malformed line or a `rejected` verdict, never the end of the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import TOY

from leanfd.data.benchmarks import iter_json, load_problems
from leanfd.lean.policy import scan
from leanfd.lean.records import BadLine, JsonlWriter, read_lines
from leanfd.prove.runner import read_attempts

GOOD = [json.loads(x) for x in (TOY / "attempts.jsonl").read_text().splitlines()][:2]
BAD_BYTE = b'{"name": "latin1", "formal_statement": "theorem t : T :=", "proof": "caf\xe9"}'
SURROGATE = b'{"name": "lone", "formal_statement": "theorem t : T :=", "proof": " by \\ud800"}'


def hostile_file(path: Path) -> Path:
    """Line 1 good, 2 not UTF-8, 3 a lone surrogate, 4 good."""
    lines = [json.dumps(GOOD[0]).encode(), BAD_BYTE, SURROGATE, json.dumps(GOOD[1], ensure_ascii=False).encode()]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_read_lines_decodes_each_line_on_its_own(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n' + BAD_BYTE + b"\n" + SURROGATE + b"\n"
                     b'{"pair": "\\ud83d\\ude00"}\n\n{"deep": {"k": ["x", "\\uDC00"]}}\r\n'
                     b'{"sep": "a\xe2\x80\xa8b\\r"}\n{"torn": "ab')
    got = dict(read_lines(path, lambda v: v))
    assert got[1] == {"a": 1}  # the byte order mark is not part of the line
    assert isinstance(got[2], BadLine)
    assert f"not valid UTF-8: byte 0xe9 at byte {BAD_BYTE.index(0xe9) + 1}" in got[2].error
    assert isinstance(got[3], BadLine) and "field 'proof' holds a lone surrogate \\ud800" in got[3].error
    assert got[4] == {"pair": "\U0001F600"}  # a surrogate pair is one character
    assert isinstance(got[6], BadLine) and "'deep.k[1]'" in got[6].error
    assert got[7] == {"sep": "a\u2028b\r"}  # U+2028 does not end a JSON line
    assert isinstance(got[8], BadLine) and "not valid JSON" in got[8].error


def test_writer_never_fails_and_lines_read_back(tmp_path):
    path = tmp_path / "out.jsonl"
    with JsonlWriter(path) as out:
        out.write({"name": "a", "text": "caf\u00e9 \u2028 \U0001F600"})
        out.write({"name": "b", "text": "lone \ud800"})  # e.g. a model's completion over HTTP
    raw = path.read_bytes()
    assert raw.decode("utf-8").count("\n") == 2 and "café".encode() in raw
    rows = read_attempts(path)  # the resume reader: the surrogate line is reported, not a crash
    assert [r["name"] for r in rows] == ["a"]


def test_check_reports_undecodable_lines_and_checks_the_rest(tmp_path):
    path = hostile_file(tmp_path / "hostile.jsonl")
    lean = tmp_path / "latin1.lean"
    lean.write_bytes(b"prelude\n-- caf\xe9\n")
    out = tmp_path / "o.jsonl"
    res = subprocess.run([sys.executable, "-m", "leanfd", "check", str(path), str(lean), "--backend", "cli",
                          "--out", str(out)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "LEANFD_LEAN": "bundled", "COLUMNS": "200"})
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert f"{path}:2: not valid UTF-8" in res.stderr and f"{path}:3: field 'proof' holds a lone" in res.stderr
    assert f"{lean}:0: not valid UTF-8" in res.stderr
    assert [json.loads(x)["status"] for x in out.read_text().splitlines()] == ["proved", "proved"]
    assert "malformed" in res.stdout


def test_feedback_and_loaders_skip_the_same_lines(tmp_path):
    path = hostile_file(tmp_path / "verdicts.jsonl")
    out = tmp_path / "fb.jsonl"
    # Records with verdicts need no Lean: the compiler critic renders them.
    rows = [{**r, "status": "failed", "messages": []} for r in GOOD]
    lines = [json.dumps(rows[0]).encode(), BAD_BYTE, SURROGATE, json.dumps(rows[1]).encode()]
    path.write_bytes(b"\n".join(lines) + b"\n")
    res = subprocess.run([sys.executable, "-m", "leanfd", "feedback", str(path), "--out", str(out)],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert res.returncode == 0, res.stderr
    assert f"{path}:2" in res.stderr and f"{path}:3" in res.stderr
    assert len(out.read_text().splitlines()) == 2

    problems = tmp_path / "problems.jsonl"
    first = (TOY / "toy.jsonl").read_bytes().splitlines()[0]
    problems.write_bytes(b"\n".join([first, b'{"name": "x\xff"}', SURROGATE]) + b"\n")
    bad: list[BadLine] = []
    assert len(load_problems(str(problems), bad=bad)) == 1
    assert [b.line for b in bad] == [2, 3]

    array = tmp_path / "problems.json"
    array.write_text('[{"name": "x", "formal_statement": "theorem x : T := sorry", "note": "\\udfff"}]')
    [item] = list(iter_json(array))
    assert isinstance(item, BadLine) and "field 'note'" in item.error


def test_policy_scan_is_linear_in_the_text():
    """A megabyte of attempt took 52 s to scan when every token counted the lines before it and
    every `r` copied the rest of the text; four times the text must now take about four times as long."""
    def seconds(n: int) -> float:
        text = "r x 'a' (h : r') -- c\n" * (n // 22)
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            scan(text)
            best = min(best, time.perf_counter() - t)
        return best

    small, large = seconds(50_000), seconds(200_000)
    assert large < 8 * small, (small, large)
