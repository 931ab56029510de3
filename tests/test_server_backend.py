"""The pooled `server` backend against the real bundled Lean: same messages as one-shot `lean --json`,
fresh diagnostics on every change, deadlines, crashes, recycling and no process left behind."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from leanfd.lean.errors import LeanProcessError
from leanfd.lean.oneshot import OneShotBackend
from leanfd.lean.positions import utf16_to_index
from leanfd.lean.process import MARKER_VAR
from leanfd.lean.run import MAX_MESSAGE_CHARS, MAX_MESSAGES, MAX_RAW_MESSAGE_CHARS, Message
from leanfd.lean.server import ServerBackend, to_messages

PASS = "theorem pass1 : Eq (N.add N.zero N.zero) N.zero := Eq.refl _\n#print axioms pass1\n"
FAIL = "theorem fail1 : Eq N.zero (N.succ N.zero) := Eq.refl N.zero\n#check N\n"
FAIL2 = "#check N.zero\ntheorem fail2 : Eq (N.succ N.zero) N.zero := Eq.refl _\n"
# An astral character before the error: LSP counts UTF-16 units, `lean --json` code points.
ASTRAL = "theorem t𝔸 : Eq N.zero (N.succ N.zero) := Eq.refl N.zero\n"
# Type class search down an infinite chain of ever larger goals, with every limit lifted: it runs
# until killed (over 15 s measured; memory grows slowly, about 0.6 GB after 15 s).
LOOP_DEFS = (
    "class Loops (n : N) : Prop where\n"
    "instance Loops.step (n : N) [Loops (N.succ n)] : Loops n := Loops.mk\n"
    "theorem Loops.use (n : N) [h : Loops n] : Loops n := h\n"
)
LOOP = (
    "set_option synthInstance.maxHeartbeats 0 in\n"
    "set_option synthInstance.maxSize 100000000 in\n"
    "set_option maxHeartbeats 0 in\n"
    "theorem loops : Loops N.zero := Loops.use N.zero\n"
)


def lean_alive(marker: str) -> list[int]:
    """Running processes of a pool, found independently of the backend: environment and state in /proc."""
    needle = f"\0{MARKER_VAR}={marker}/".encode()
    alive = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = b"\0" + f.read()
            with open(f"/proc/{name}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in env and state != "Z":
            alive.append(int(name))
    return alive


def ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def server_pid(pool: ServerBackend) -> int:
    (pid,) = [p for p in pool.pids() if ppid(p) == os.getpid()]
    return pid


def key(m: Message) -> tuple:
    return (m.severity, m.line, m.column, m.end_line, m.end_column, m.text)


async def wait_for_file_worker(pool: ServerBackend, deadline: float = 15.0) -> None:
    """Until the server has started its `--worker` child (the check is then elaborating)."""
    end = time.monotonic() + deadline
    while len(pool.pids()) < 2:
        assert time.monotonic() < end, "lean --server never started its file worker"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)


@pytest.fixture
async def make_pool(bundled):
    pools: list[ServerBackend] = []

    def make(**kw) -> ServerBackend:
        pools.append(ServerBackend(bundled, **kw))
        return pools[-1]

    yield make
    for pool in pools:
        await pool.aclose()
        assert lean_alive(pool.marker) == []


def test_conversion_without_lean():
    assert utf16_to_index("abc", 2) == 2
    assert utf16_to_index("a𝔸b", 3) == 2  # 𝔸 is two UTF-16 units, one code point
    assert utf16_to_index("α→b", 2) == 2  # BMP characters are one unit each
    diags = [
        {"range": {"start": {"line": 0, "character": 3}, "end": {"line": 0, "character": 5}},
         "fullRange": {"start": {"line": 0, "character": 3}, "end": {"line": 2, "character": 1}},
         "severity": 1, "message": "x" * (MAX_RAW_MESSAGE_CHARS + 10)},
        {"range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 1}},
         "severity": 4, "message": "hint"},
    ]
    run = to_messages(diags, "a𝔸bcdef\nx\ny")
    messages = run.messages
    assert run.truncated and not run.dropped  # kept whole up to MAX_RAW_MESSAGE_CHARS, then clipped
    assert key(messages[0]) == ("information", 2, 0, 2, 1, "hint")  # its range ends first
    m = messages[1]
    assert (m.severity, m.line, m.column, m.end_line, m.end_column) == ("error", 1, 2, 3, 1)
    assert m.text.startswith("x" * MAX_RAW_MESSAGE_CHARS) and "truncated 10 characters" in m.text
    # A later command reported first goes back after; messages ending together keep Lean's order.
    span = lambda l0, c0, l1, c1, msg: {"range": {"start": {"line": l0, "character": c0},
                                                  "end": {"line": l1, "character": c1}}, "message": msg}
    later, precise, whole = span(3, 0, 3, 6, "later"), span(1, 4, 1, 9, "precise"), span(0, 0, 1, 9, "whole")
    ordered = to_messages([later, precise, whole], "l0\nl1\nl2\nl3").messages
    assert [m.text for m in ordered] == ["precise", "whole", "later"]
    many = to_messages(diags[1:] * (MAX_MESSAGES + 1), "x\ny")
    assert len(many.messages) == MAX_MESSAGES and many.truncated and many.dropped


async def test_lazy_start_and_messages_match_one_shot(make_pool, bundled, toy_header):
    pool = make_pool(workers=1)
    assert pool.pids() == [] and lean_alive(pool.marker) == []  # the constructor starts nothing
    oneshot = OneShotBackend(bundled, jobs=1)
    for body in (PASS, FAIL, ASTRAL):
        got, want = await pool.run(toy_header, body, 30), await oneshot.run(toy_header, body, 30)
        assert got.outcome == want.outcome == "ok"
        assert [key(m) for m in got.messages] == [key(m) for m in want.messages]
        assert got.messages, body
    header_lines = toy_header.count("\n")
    (info,) = (await pool.run(toy_header, PASS, 30)).messages
    assert (info.severity, info.line) == ("information", header_lines + 2)  # counted from the header's line 1
    assert info.text == "'pass1' does not depend on any axioms"


async def test_body_changes_on_one_worker_are_never_stale(make_pool, toy_header):
    pool = make_pool(workers=1)
    first = await pool.run(toy_header, FAIL, 30)
    server = server_pid(pool)
    second = await pool.run(toy_header, PASS, 30)
    third = await pool.run(toy_header, FAIL2, 30)
    assert server_pid(pool) == server  # one process, one document: incremental re-checks
    n = toy_header.count("\n")
    assert [(m.severity, m.line) for m in first.messages if m.severity == "error"][0] == ("error", n + 1)
    assert [m.text for m in first.messages][-1] == "N : Type"
    assert [m.severity for m in second.messages] == ["information"]
    assert "pass1" in second.messages[0].text
    assert third.messages[0].text == "N.zero : N" and third.messages[0].line == n + 1
    assert any(m.severity == "error" and m.line == n + 2 for m in third.messages)
    assert not any("fail1" in m.text or "pass1" in m.text or m.text == "N : Type" for m in third.messages)


async def test_header_change_reopens(make_pool, toy_header):
    pool = make_pool(workers=1)
    body = "#check extra\n"
    without = await pool.run(toy_header, body, 30)
    assert [m.severity for m in without.messages] == ["error"]
    header = toy_header + "def extra : N := N.zero\n#check extra\n"
    with_extra = await pool.run(header, body, 30)
    n = header.count("\n")
    assert [(m.line, m.text) for m in with_extra.messages] == [(n, "extra : N"), (n + 1, "extra : N")]
    changed = await pool.run(header, "#check N.zero\n", 30)  # the header's message is reported again
    assert [(m.line, m.text) for m in changed.messages] == [(n, "extra : N"), (n + 1, "N.zero : N")]
    again = await pool.run(toy_header, body, 30)  # back to the first header: no leftover of `extra`
    assert [key(m) for m in again.messages] == [key(m) for m in without.messages]


def file_workers(pool: ServerBackend) -> set[str]:
    """The documents the pool's servers have open, one `--worker` process each."""
    return {open(f"/proc/{p}/cmdline").read().split("\0")[-2] for p in pool.pids() if ppid(p) != os.getpid()}


async def test_prefers_the_worker_that_has_the_header(make_pool, toy_header):
    pool = make_pool(workers=2)
    other = toy_header + "def extra : N := N.zero\n"
    await pool.run(toy_header, PASS, 30)
    await pool.run(other, PASS, 30)
    docs = file_workers(pool)
    assert len(docs) == 2
    for header in (other, toy_header, toy_header, other):  # LRU alone would move `other` to worker 0
        assert "pass1" in (await pool.run(header, FAIL2.replace("fail2", "x") + PASS, 30)).messages[-1].text
        assert file_workers(pool) == docs


async def test_cancelled_check_returns_at_once_and_the_warm_worker_is_kept(make_pool, toy_header):
    pool = make_pool(workers=1)
    header = toy_header + LOOP_DEFS
    assert (await pool.run(header, PASS, 30)).outcome == "ok"
    old = set(pool.pids())
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(pool.run(header, LOOP, 30), 1.0)
    assert time.monotonic() - t0 < 2  # the caller does not wait for the recovery
    await asyncio.gather(*list(pool._background))  # Lean drops the cancelled version
    assert set(pool.pids()) == old
    assert (await pool.run(header, PASS, 30)).outcome == "ok"
    assert set(pool.pids()) == old and len(pool._live) == 1


async def test_cancelled_check_of_a_worker_that_does_not_recover_destroys_it(make_pool, toy_header, monkeypatch):
    import leanfd.lean.server as server

    monkeypatch.setattr(server, "RECOVER_TIMEOUT", 0.0)
    pool = make_pool(workers=1)
    header = toy_header + LOOP_DEFS
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(pool.run(header, LOOP, 30), 1.0)
    await asyncio.gather(*list(pool._background))
    assert lean_alive(pool.marker) == []
    assert (await pool.run(header, PASS, 30)).outcome == "ok"


async def test_a_recovered_worker_never_grows_the_pool(make_pool, toy_header):
    """A check started while a cancelled worker recovers gets a new worker; afterwards the pool
    is back to its size."""
    pool = make_pool(workers=1)
    header = toy_header + LOOP_DEFS
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(pool.run(header, LOOP, 30), 1.0)
    assert (await pool.run(header, PASS, 30)).outcome == "ok"
    await asyncio.gather(*list(pool._background))
    assert len(pool._live) == 1 and len(pool._idle) == 1


async def test_timeout_cancels_the_stuck_version_and_keeps_the_warm_worker(make_pool, toy_header):
    """Lean drops the stuck version when the header alone is sent again: the worker, with its
    elaborated header, serves the next check instead of a fresh process re-elaborating it."""
    pool = make_pool(workers=1)
    header = toy_header + LOOP_DEFS
    assert (await pool.run(header, PASS, 30)).outcome == "ok"
    old = pool.pids()
    t0 = time.monotonic()
    run = await pool.run(header, LOOP, 3)
    assert run.outcome == "timeout" and "3 s" in run.detail
    assert 3 <= run.elapsed < 5 and time.monotonic() - t0 < 10
    assert set(pool.pids()) == set(old)  # the same server and file worker
    worker = pool._idle[0]
    withdrawn = set(worker.cancelled)  # the timed-out `waitForDiagnostics`, withdrawn with `$/cancelRequest`
    assert len(withdrawn) == 1
    after = await pool.run(header, FAIL, 30)
    assert after.outcome == "ok" and after.messages[-1].text == "N : Type"
    assert set(pool.pids()) == set(old)
    # Lean 4.35 answers a withdrawn `waitForDiagnostics` only when its file worker ends: an error for
    # exactly that id (cancelled or content modified), never a late result.
    await pool.aclose()
    assert worker.cancel_answers in ([-32800], [-32801]) and not worker.cancelled


async def test_timeout_of_a_worker_that_does_not_recover_replaces_it(make_pool, toy_header, monkeypatch):
    import leanfd.lean.server as server

    monkeypatch.setattr(server, "RECOVER_TIMEOUT", 0.0)  # no time to drop the stuck version
    pool = make_pool(workers=1)
    header = toy_header + LOOP_DEFS
    assert (await pool.run(header, PASS, 30)).outcome == "ok"
    old = pool.pids()
    run = await pool.run(header, LOOP, 3)
    assert run.outcome == "timeout"
    assert not set(old) & set(lean_alive(pool.marker))  # the whole worker is gone
    after = await pool.run(header, FAIL, 30)
    assert after.outcome == "ok" and after.messages[-1].text == "N : Type"


@pytest.mark.parametrize("victim", ["server", "file worker"])
async def test_external_kill_gives_crashed_and_the_pool_recovers(make_pool, toy_header, victim):
    pool = make_pool(workers=1)
    header = toy_header + LOOP_DEFS
    pending = asyncio.create_task(pool.run(header, LOOP, 30))
    await wait_for_file_worker(pool)
    server = server_pid(pool)
    pid = server if victim == "server" else next(p for p in pool.pids() if p != server)
    os.kill(pid, signal.SIGKILL)
    run = await asyncio.wait_for(pending, 10)
    assert run.outcome == "crashed" and run.detail
    if victim == "server":
        assert "SIGKILL" in run.detail
    assert lean_alive(pool.marker) == []  # the orphaned file worker was swept too
    after = await pool.run(header, PASS, 30)
    assert after.outcome == "ok" and "pass1" in after.messages[0].text


async def test_six_checks_over_two_workers(make_pool, toy_header):
    pool = make_pool(workers=2)
    bodies = [f"theorem q{i} : Eq N.zero N.zero := Eq.refl N.zero\n#check q{i}\n" for i in range(5)] + [FAIL]
    runs = await asyncio.gather(*(pool.run(toy_header, b, 30) for b in bodies))
    for i, run in enumerate(runs[:5]):
        assert run.outcome == "ok" and [m.text for m in run.messages] == [f"q{i} : Eq N.zero N.zero"]
    assert runs[5].messages[0].severity == "error" and runs[5].messages[-1].text == "N : Type"
    servers = [p for p in pool.pids() if ppid(p) == os.getpid()]
    assert len(servers) == 2


async def test_huge_output_is_clipped_and_capped(make_pool, toy_header):
    pool = make_pool(workers=1)
    run = await pool.run(toy_header, "#check N.zero\n" * (MAX_MESSAGES + 20), 30)
    assert run.truncated and len(run.messages) == MAX_MESSAGES
    run = await pool.run(toy_header, "#check " + "a" * (MAX_MESSAGE_CHARS + 5000) + "\n", 30)
    (m,) = run.messages  # kept whole: the verifier compares its own outputs in full; verdicts clip
    assert not run.truncated and len(m.text) > MAX_MESSAGE_CHARS + 5000 and "truncated" not in m.text


async def test_recycled_after_max_checks(make_pool, toy_header):
    pool = make_pool(workers=1, max_checks=2)
    await pool.run(toy_header, PASS, 30)
    first = server_pid(pool)
    await pool.run(toy_header, FAIL, 30)
    run = await pool.run(toy_header, PASS, 30)
    assert "pass1" in run.messages[0].text
    assert server_pid(pool) != first
    end = time.monotonic() + 10  # the retired one shuts down cleanly in the background
    while first in lean_alive(pool.marker):
        assert time.monotonic() < end, "the recycled server never exited"
        await asyncio.sleep(0.05)


async def test_memory_budget_kills_the_worker(make_pool, toy_header):
    pool = make_pool(workers=1, memory_mb=400)
    header = toy_header + LOOP_DEFS
    assert (await pool.run(header, PASS, 30)).outcome == "ok"
    run = await pool.run(header, LOOP, 30)
    assert run.outcome == "crashed" and "memory limit exceeded" in run.detail and run.elapsed < 20
    assert (await pool.run(header, PASS, 30)).outcome == "ok"


async def test_aclose_kills_busy_workers_and_leaves_nothing(bundled, toy_header):
    async with ServerBackend(bundled, workers=2) as pool:
        header = toy_header + LOOP_DEFS
        assert (await pool.run(header, FAIL, 30)).outcome == "ok"
        busy = asyncio.create_task(pool.run(header, LOOP, 30))
        await asyncio.sleep(1.0)
        seen = lean_alive(pool.marker)
        assert len(seen) >= 2  # a server and its busy file worker
    run = await asyncio.wait_for(busy, 10)
    assert run.outcome == "crashed" and "closed" in run.detail
    assert lean_alive(pool.marker) == []
    with pytest.raises(LeanProcessError, match="closed"):
        await pool.run(header, PASS, 30)


async def test_oversized_lsp_message_ends_the_worker_not_the_process(make_pool, toy_header, monkeypatch):
    """A message over the cap is never held: the check reports `crashed` and the pool goes on."""
    import leanfd.lean.server as server

    pool = make_pool(workers=1)
    body = "#check " + "a" * 5000 + "\n"  # "Unknown identifier `aaa…`": one 5 kB diagnostic
    monkeypatch.setattr(server, "MAX_MESSAGE_BYTES", 2000)
    run = await pool.run(toy_header, body, 30)
    assert run.outcome == "crashed" and "MB message" in run.detail
    monkeypatch.setattr(server, "MAX_MESSAGE_BYTES", 64 << 20)
    assert (await pool.run(toy_header, body, 30)).outcome == "ok"
