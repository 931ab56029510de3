"""The `snapshot` backend through the bundled Lean: same answers as `cli`, one build per header, and a
cache that never trusts a damaged, stale or foreign snapshot.

Each test has a cache of its own (`LEANFD_CACHE` in a temporary directory); the soundness and
adversarial suites run on this backend too (tests/test_soundness.py, tests/test_adversarial.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from leanfd.lean.owner import owned_pids
from leanfd.lean.records import CheckRecord
from leanfd.lean.snapshot import SnapshotBackend, SnapshotCache, file_sha256, snapshot_key
from leanfd.lean.verifier import Verifier

REPO = Path(__file__).resolve().parents[1]
TOY = REPO / "lean_project" / "toy"
BODY_OK = "theorem s_ok (n : N) : Eq (N.add n N.zero) n := Eq.refl n\n"
BODY_BAD = "theorem s_bad (n : N) : Eq (N.add N.zero n) n := Eq.refl n\n"
# `autoImplicit` decides whether `β` is bound: the option changes what the body means
BODY_AUTO = "theorem s_auto (b : β) : Eq b b := Eq.refl b\n"


@pytest.fixture
def cache(tmp_path, monkeypatch) -> SnapshotCache:
    monkeypatch.setenv("LEANFD_CACHE", str(tmp_path))
    return SnapshotCache(tmp_path / "snapshots")


def backend(bundled, cache: SnapshotCache, **kw) -> SnapshotBackend:
    return SnapshotBackend(bundled, jobs=2, memory_mb=4096, cache=cache, **kw)


def run(b: SnapshotBackend, header: str, body: str, timeout: float = 60):
    """One check on a loop of its own (each Lean process is killed and reaped when its check ends)."""
    return asyncio.run(b.run(header, body, timeout))


def seen(r) -> list[tuple]:
    return [(m.severity, m.line, m.column, m.text) for m in r.messages]


def entry_of(b: SnapshotBackend, cache: SnapshotCache):
    (side,) = [p for p in cache.root.glob("*.json") if not p.name.startswith(".")]
    return cache.entry(side.stem)


def test_same_verdicts_as_cli_on_the_toy_benchmark(bundled, cli_verifier, cache):
    records = [json.loads(line) for line in (TOY / "attempts.jsonl").read_text().splitlines()]
    records += [{**json.loads(line), "proof": " sorry"} for line in (TOY / "toy.jsonl").read_text().splitlines()]
    with Verifier(backend="snapshot", toolchain=bundled, timeout=60, jobs=2) as v:
        futures = [v.submit(CheckRecord.from_dict(r)) for r in records]
        snap = [f.result() for f in futures]
        assert v.backend.builds == 1 and v.backend.fallbacks == 0
    plain = [cli_verifier.check(r) for r in records]
    for s, p in zip(snap, plain):
        assert (s.name, s.status, s.reason, s.sorry, s.axioms) == (p.name, p.status, p.reason, p.sorry, p.axioms)
        assert [m.to_dict() for m in s.messages] == [m.to_dict() for m in p.messages]
        assert s.backend == "snapshot"
    assert {s.status for s in snap} >= {"proved", "failed", "rejected"}


def test_built_once_and_reused_across_backends(bundled, cache, toy_header):
    first = backend(bundled, cache)

    async def several():
        try:
            return [await first.run(toy_header, body, 60) for body in (BODY_OK, BODY_BAD, BODY_OK)]
        finally:
            await first.aclose()

    ok, bad, _ = asyncio.run(several())
    assert first.builds == 1
    assert ok.outcome == "ok" and not seen(ok)
    assert [m.line for m in bad.messages if m.severity == "error"][0] == toy_header.count("\n") + 1
    again = backend(bundled, cache)  # another backend (another process would do the same) finds it
    assert seen(run(again, toy_header, BODY_BAD)) == seen(bad) and again.builds == 0


def test_changed_header_and_changed_option_build_new_snapshots(bundled, cache, toy_header):
    b = backend(bundled, cache)
    r = run(b, toy_header, BODY_AUTO)
    assert r.outcome == "ok" and not seen(r) and b.builds == 1
    other = toy_header + "theorem s_extra : True := True.intro\n"
    assert not seen(run(b, other, BODY_OK)) and b.builds == 2
    strict = backend(bundled, cache, options={"autoImplicit": "false"})
    r = run(strict, toy_header, BODY_AUTO)
    assert strict.builds == 1, "a snapshot saved under other options must not be reused"
    assert any(m.severity == "error" and "autoImplicit" in m.text for m in r.messages)
    assert len(list(cache.root.glob("*.snap"))) == 3


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["truncated", "bit flipped at 10", "bit flipped in the middle",
                                    "bit flipped near the end", "deps missing", "sidecar of another key",
                                    "sidecar with another sha256", "sidecar unreadable", "sidecar missing"])
def test_damaged_or_stale_snapshot_is_rebuilt(bundled, cache, toy_header, damage):
    b = backend(bundled, cache)
    want = seen(run(b, toy_header, BODY_BAD))
    e = entry_of(b, cache)
    size = e.snap.stat().st_size
    side = json.loads(e.sidecar.read_text())
    if damage == "truncated":
        os.truncate(e.snap, size // 2)
    elif damage.startswith("bit flipped"):
        _flip(e.snap, {"at 10": 10, "in the middle": size // 2, "near the end": size - 100}[damage[12:]])
    elif damage == "deps missing":
        e.deps.unlink()
    elif damage == "sidecar of another key":
        e.sidecar.write_text(json.dumps({**side, "key": "0" * 64}))
    elif damage == "sidecar with another sha256":
        e.sidecar.write_text(json.dumps({**side, "snap_sha256": "0" * 64}))
    elif damage == "sidecar unreadable":
        e.sidecar.write_text("{not json")
    else:
        e.sidecar.unlink()
    assert not cache.valid(e)
    again = backend(bundled, cache)
    assert seen(run(again, toy_header, BODY_BAD)) == want
    assert again.builds == 1 and again.fallbacks == 0 and cache.valid(e)


def test_a_snapshot_that_crashes_lean_is_run_plain_and_discarded(bundled, cache, toy_header):
    """A file damaged before its sidecar was written (so the sidecar vouches for it): Lean segfaults
    on it; the check runs plain, and the snapshot is rebuilt for the next check."""
    b = backend(bundled, cache)
    want = seen(run(b, toy_header, BODY_BAD))
    e = entry_of(b, cache)
    os.truncate(e.snap, e.snap.stat().st_size // 2)
    side = json.loads(e.sidecar.read_text())
    e.sidecar.write_text(json.dumps({**side, "snap_size": e.snap.stat().st_size,
                                     "snap_sha256": file_sha256(e.snap)}))
    assert cache.valid(e)
    fooled = backend(bundled, cache)
    assert seen(run(fooled, toy_header, BODY_BAD)) == want
    assert fooled.fallbacks == 1 and fooled.builds == 0 and not cache.valid(e)
    assert seen(run(fooled, toy_header, BODY_BAD)) == want and fooled.builds == 1


def test_a_failed_build_falls_back_to_a_plain_run(bundled, cache, toy_header):
    b = backend(bundled, cache, build_timeout=0.001)
    r = run(b, toy_header, BODY_BAD)
    assert b.fallbacks == 1 and b.builds == 0 and not list(cache.root.glob("*.snap"))
    assert [m.severity for m in r.messages].count("error") >= 1 and r.outcome == "ok"
    assert seen(run(b, toy_header, BODY_BAD)) == seen(r) and b.fallbacks == 2
    assert not list(cache.root.glob(".build-*")), "a failed build leaves nothing behind"


def test_concurrent_first_checks_in_tasks_build_once(bundled, cache, toy_header):
    b = backend(bundled, cache)

    async def many():
        try:
            return await asyncio.gather(*(b.run(toy_header, body, 60) for body in [BODY_OK, BODY_BAD] * 3))
        finally:
            await b.aclose()

    runs = asyncio.run(many())
    assert b.builds == 1 and b.fallbacks == 0
    assert all(seen(r) == seen(runs[i % 2]) for i, r in enumerate(runs))


def test_concurrent_first_checks_in_threads_build_once(bundled, cache, toy_header):
    backends = [backend(bundled, cache) for _ in range(3)]
    out: list = [None] * 3

    def one(i: int) -> None:
        out[i] = run(backends[i], toy_header, BODY_BAD)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(b.builds for b in backends) == 1
    assert seen(out[0]) == seen(out[1]) == seen(out[2]) and out[0].messages


CHILD = """
import asyncio, sys
from leanfd.lean.snapshot import SnapshotBackend, SnapshotCache, file_sha256, snapshot_key
from leanfd.lean.toolchain import resolve
b = SnapshotBackend(resolve("bundled"), jobs=1, cache=SnapshotCache(sys.argv[1]))
header = open(sys.argv[2]).read()
r = asyncio.run(b.run(header, "theorem s_bad (n : N) : Eq (N.add N.zero n) n := Eq.refl n\\n", 120))
print(b.builds, sum(m.severity == "error" for m in r.messages))
"""


def test_concurrent_first_checks_in_processes_build_once(cache, toy_header, tmp_path):
    header = tmp_path / "header.lean"
    header.write_text(toy_header)
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(cache.root), str(header)], stdout=subprocess.PIPE,
                              text=True, cwd=REPO) for _ in range(3)]
    outs = [p.communicate(timeout=300)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert sum(int(o[0]) for o in outs) == 1, outs
    assert all(int(o[1]) >= 1 for o in outs), outs


def test_least_recently_used_snapshot_is_evicted(bundled, tmp_path, monkeypatch, toy_header):
    monkeypatch.setenv("LEANFD_CACHE", str(tmp_path))
    probe = SnapshotCache(tmp_path / "probe")
    run(backend(bundled, probe), toy_header, BODY_OK)
    one = probe.size()
    cache = SnapshotCache(tmp_path / "small", max_bytes=int(one * 2.5))  # room for two
    b = backend(bundled, cache)
    headers = [toy_header + f"theorem s_h{i} : True := True.intro\n" for i in range(4)]
    for h in headers[:2]:
        run(b, h, BODY_OK)
    run(b, headers[0], BODY_OK)  # headers[0] is now more recent than headers[1]
    run(b, headers[2], BODY_OK)  # over the bound: headers[1] goes
    assert b.builds == 3 and len(list(cache.root.glob("*.snap"))) == 2 and cache.size() <= cache.max_bytes
    run(b, headers[0], BODY_OK)
    assert b.builds == 3, "the recently used snapshot was kept"
    run(b, headers[1], BODY_OK)
    assert b.builds == 4, "the least recently used one was evicted"


def test_the_cache_bound_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LEANFD_SNAPSHOT_CACHE_MB", "3")
    assert SnapshotCache(tmp_path).max_bytes == 3 << 20


def test_timeout_kills_the_process(bundled, cache, toy_header):
    slow = "noncomputable def s_p0 : N := N.succ (N.succ N.zero)\n" + "".join(
        f"noncomputable def s_p{k} : N := N.mul s_p{k - 1} s_p{k - 1}\n" for k in range(1, 6))  # 2^32 in unary
    body = (slow + "set_option maxHeartbeats 0 in set_option maxRecDepth 100000000 in\n"
            "theorem s_slow : Eq (N.add s_p5 N.zero) (N.add N.zero s_p5) := Eq.refl _\n")
    b = backend(bundled, cache)
    r = run(b, toy_header, body, timeout=3)
    assert r.outcome == "timeout" and b.builds == 1 and r.elapsed < 30
    assert owned_pids() == []


def test_a_dead_builders_leftovers_are_removed_by_the_next_build(bundled, cache, toy_header):
    key = snapshot_key(bundled.version(), bundled.argv, toy_header, {})
    cache.root.mkdir(parents=True)
    orphan = cache.root / f".build-{key[:16]}-dead"
    orphan.mkdir()
    (orphan / "header.snap").write_bytes(b"half a snapshot")
    (cache.root / f".{key[:16]}-dead.json").write_text("{}")
    b = backend(bundled, cache)
    run(b, toy_header, BODY_OK)
    assert b.builds == 1 and sorted(p.name for p in cache.root.iterdir()) == sorted(
        f"{key}{ext}" for ext in (".json", ".lock", ".snap", ".snap.deps"))
    assert oct(cache.entry(key).sidecar.stat().st_mode & 0o777) == "0o644"
