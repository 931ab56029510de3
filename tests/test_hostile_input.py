"""Hostile input: bytes that are not UTF-8, lone surrogates, oversized attempts. One bad line or
record is a malformed line or a `rejected` verdict, never the end of the run."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import TOY

from leanfd.data.benchmarks import iter_json, load_problems
from leanfd.lean.policy import scan
from leanfd.lean.records import BadLine, CheckRecord, JsonlWriter, LeanFile, read_lines
from leanfd.lean.verifier import Verifier
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
    every `r` copied the rest of the text; eight times the text must now take about eight times as
    long (it took over forty). Interleaved, best of three: other work on the machine only slows."""
    texts = {n: "r x 'a' (h : r') -- c\n" * (n // 22) for n in (25_000, 200_000)}
    best = dict.fromkeys(texts, float("inf"))
    for _ in range(3):
        for n, text in texts.items():
            t = time.perf_counter()
            scan(text)
            best[n] = min(best[n], time.perf_counter() - t)
    assert best[200_000] < 20 * best[25_000], best


def test_oversized_attempt_is_rejected_unread(cli_verifier, toy_header):
    v = cli_verifier
    assert v.config.max_attempt_chars == 1_000_000
    v.lean_version  # asked once per verifier; not part of what is timed
    proof = " Eq.refl _" + " " * 2_000_000
    t = time.perf_counter()
    verdict = v.check({"name": "huge", "header": toy_header, "formal_statement": GOOD[0]["formal_statement"],
                       "proof": proof})
    assert time.perf_counter() - t < 0.5  # no scan, no Lean
    assert verdict.status == "rejected"
    assert verdict.reason == ("the proof has 2,000,010 characters, over the limit of 1,000,000 "
                              "(max_attempt_chars, --max-attempt-chars)")


def test_size_limit_and_lone_surrogates_for_every_kind_of_input(bundled, toy_header):
    with Verifier(backend="cli", toolchain=bundled, max_attempt_chars=200) as v:
        code = v.check({"name": "c", "header": toy_header, "formal_statement": "theorem t : T :=", "code": "x" * 201})
        assert code.status == "rejected"
        assert code.reason.startswith("the code has 201 characters, over the limit of 200")
        file = v.check(LeanFile("f", "prelude\n" + "-" * 300))
        assert file.status == "rejected" and file.reason.startswith("the file has 308 characters")
        # A lone surrogate that came another way than a file (a model's text over HTTP): refused, not a crash.
        lone = v.check(CheckRecord("s", toy_header, GOOD[0]["formal_statement"], proof=" Eq.refl \ud800"))
        assert lone.status == "rejected" and "field 'proof' holds a lone surrogate \\ud800" in lone.reason
        assert v.check(GOOD[0]).status == "proved"  # the limit leaves ordinary attempts alone


async def test_a_big_attempt_being_scanned_stalls_no_other_check(bundled, monkeypatch):
    """Scanning a big attempt takes a good part of a second: it runs in a worker thread, never on the
    event loop, so the other check goes on meanwhile. (Asserted by where the scan runs, not by timing
    the loop's gaps: a pure-Python scan holds the GIL, and how long the loop then waits for it at each
    system call depends on the machine's load, which made such a timing flaky on 2 busy cores.)"""
    import threading

    import leanfd.lean.verifier as verifier_module

    big = "x " * 150_000 + "axiom"  # under the limit; rejected by the policy only after a full scan
    where: list[int] = []

    def recording_scan(*args, **kw):
        where.append(threading.get_ident())
        return scan(*args, **kw)

    monkeypatch.setattr(verifier_module, "scan", recording_scan)
    async with Verifier(backend="cli", toolchain=bundled, timeout=60) as v:
        v.lean_version
        loop_thread = threading.get_ident()
        rejected, proved = await asyncio.gather(
            v.acheck(CheckRecord("big", GOOD[0]["header"], GOOD[0]["formal_statement"], proof=big)),
            v.acheck(CheckRecord.from_dict(GOOD[1])))
    assert rejected.status == "rejected" and "`axiom` declares an axiom" in rejected.reason
    assert proved.status == "proved"
    assert len(where) == 2 and loop_thread not in where


def test_max_attempt_chars_option(tmp_path):
    out = tmp_path / "o.jsonl"
    res = subprocess.run([sys.executable, "-m", "leanfd", "check", str(TOY / "attempts.jsonl"), "--backend", "cli",
                          "--max-attempt-chars", "5", "--out", str(out)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "LEANFD_LEAN": "bundled"})
    assert res.returncode == 1, res.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 15 and {r["status"] for r in rows} == {"rejected"}
    assert all("over the limit of 5 (max_attempt_chars, --max-attempt-chars)" in r["reason"] for r in rows)
    res = subprocess.run([sys.executable, "-m", "leanfd", "check", str(TOY / "attempts.jsonl"),
                          "--max-attempt-chars", "0"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "--max-attempt-chars must be at least 1, got 0" in res.stderr
