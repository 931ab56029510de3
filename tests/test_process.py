"""The one owner of Lean processes (leanfd/lean/process.py), as every backend uses it: the same memory
scheme (RLIMIT_DATA backstop, watched resident budget), spawn errors as LeanProcessError, nothing left."""

from __future__ import annotations

import asyncio
import dataclasses
import os

import pytest
from test_server_backend import LOOP, LOOP_DEFS, PASS, lean_alive

from leanfd.lean.errors import LeanNotFound, LeanProcessError
from leanfd.lean.oneshot import OneShotBackend
from leanfd.lean.owner import owned_pids
from leanfd.lean.process import LeanProcess, data_limit_mb, new_marker
from leanfd.lean.server import ServerBackend
from leanfd.lean.snapshot import SnapshotBackend, SnapshotCache


def limits_of(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/limits") as f:
        return {line[:26].strip(): line[26:].split()[0] for line in f.readlines()[1:]}


@pytest.mark.parametrize("kind", ["cli", "snapshot"])
async def test_one_shot_backends_enforce_the_resident_budget(bundled, toy_header, tmp_path, kind):
    """The cli and snapshot backends kill a check whose Lean goes over the budget, as the server does."""
    make = {"cli": lambda: OneShotBackend(bundled, jobs=1, memory_mb=400),
            "snapshot": lambda: SnapshotBackend(bundled, jobs=1, memory_mb=400, cache=SnapshotCache(tmp_path))}
    backend = make[kind]()
    header = toy_header + LOOP_DEFS
    try:
        assert (await backend.run(header, PASS, 60)).outcome == "ok"
        run = await backend.run(header, LOOP, 60)
        assert run.outcome == "crashed" and "memory limit exceeded" in run.detail and "> 400 MB" in run.detail
        assert run.elapsed < 40
        assert (await backend.run(header, PASS, 60)).outcome == "ok"
    finally:
        await backend.aclose()
    assert owned_pids() == []


async def test_every_lean_gets_the_same_data_backstop(bundled, toy_header):
    """One scheme: a one-shot Lean, a server and its file worker all run under RLIMIT_DATA = budget + reserve."""
    want = str(data_limit_mb(3000) * 2**20)
    cli = OneShotBackend(bundled, jobs=1, memory_mb=3000)
    pool = ServerBackend(bundled, workers=1, memory_mb=3000)
    header = toy_header + LOOP_DEFS
    try:
        busy = asyncio.create_task(cli.run(header, LOOP, 3))
        await asyncio.sleep(1.0)
        [lean] = cli._running.values()
        assert limits_of(lean.pid)["Max data size"] == want
        assert limits_of(lean.pid)["Max address space"] == "unlimited"  # not the budget: Lean reserves GBs
        assert (await busy).outcome == "timeout"

        busy = asyncio.create_task(pool.run(header, LOOP, 3))
        await asyncio.sleep(1.5)
        pids = lean_alive(pool.marker)
        assert len(pids) == 2  # the server and its file worker, in another session
        assert {limits_of(p)["Max data size"] for p in pids} == {want}
        await busy
    finally:
        await cli.aclose()
        await pool.aclose()
    assert owned_pids() == []


@pytest.mark.parametrize("kind", ["cli", "server", "snapshot"])
async def test_a_lean_that_cannot_start_is_a_process_error(bundled, toy_header, tmp_path, kind):
    missing = dataclasses.replace(bundled, argv=(str(tmp_path / "no-such-lean"),))
    backend = {"cli": lambda: OneShotBackend(missing, jobs=1),
               "server": lambda: ServerBackend(missing, workers=1),
               "snapshot": lambda: SnapshotBackend(missing, jobs=1, cache=SnapshotCache(tmp_path))}[kind]()
    try:
        # cli and server spawn it: LeanProcessError; snapshot first asks its version: LeanNotFound (exit 3)
        error = LeanNotFound if kind == "snapshot" else LeanProcessError
        with pytest.raises(error, match="(could not start|cannot run) .*no-such-lean"):
            await backend.run(toy_header, PASS, 10)
    finally:
        await backend.aclose()


async def test_kill_and_reap_leave_nothing(bundled, toy_header):
    lean = await LeanProcess.spawn(bundled, ["--stdin"], marker=new_marker(), memory_mb=300)
    assert lean.pids() == [lean.pid] and lean.resident_mb() > 0
    lean.kill()
    assert await lean.reap() == []
    assert lean.proc.returncode == -9 and lean.pids() == []


CHILD = """
import asyncio, sys
sys.path.insert(0, {tests!r})
from test_server_backend import LOOP, LOOP_DEFS
from leanfd.lean.owner import owner_token
from leanfd.lean.oneshot import OneShotBackend
from leanfd.lean.server import ServerBackend
from leanfd.lean.toolchain import resolve

async def main():
    lean, header = resolve("bundled"), open({prelude!r}).read() + LOOP_DEFS
    cli, pool = OneShotBackend(lean, jobs=1), ServerBackend(lean, workers=1)
    runs = [asyncio.create_task(b.run(header, LOOP, 600)) for b in (cli, pool)]
    await asyncio.sleep(3)
    print(owner_token(), flush=True)
    await asyncio.gather(*runs)

asyncio.run(main())
"""


def test_a_leanfd_killed_outright_leaves_no_lean(toy_header):
    """SIGKILL cannot be caught: the Leans it started (one-shot, server, the server's file worker) die
    with it instead of running their endless check to no end."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from conftest import TOY

    from leanfd.lean.owner import OWNER_VAR, pids_with_env

    code = CHILD.format(tests=str(Path(__file__).parent), prelude=str(TOY / "Prelude.lean"))
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    token = child.stdout.readline().strip()
    assert token, "the child did not start its checks"
    owned = pids_with_env(OWNER_VAR, token)
    assert len(owned) == 3  # the one-shot lean, the server and its file worker
    child.send_signal(signal.SIGKILL)
    child.wait()
    end = time.monotonic() + 10
    while left := pids_with_env(OWNER_VAR, token):
        if time.monotonic() > end:
            for pid in left:  # do not leave them to the next test
                os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"Lean processes {left} outlived their owner")
        time.sleep(0.1)
