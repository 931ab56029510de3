"""The `ray` backend on a real 2-node Ray cluster on 127.0.0.1 (tests/ray_cluster.py): the same verdicts
as `cli`, runs spread over both nodes, a node lost mid-batch, and the errors that say what is missing."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time

import pytest
from conftest import TOY
from ray_cluster import free_port, ray_cluster  # noqa: F401

from leanfd.lean.ray_backend import RAY_MISSING, RayBackend, RayUnavailable, pick_actor, preferred, split_address
from leanfd.lean.records import CheckRecord
from leanfd.lean.verifier import Verifier


def toy_batch() -> list[CheckRecord]:
    """The toy benchmark's attempts, then every toy problem with `sorry` (Lean's answer: failed)."""
    attempts = [json.loads(line) for line in (TOY / "attempts.jsonl").read_text().splitlines()]
    problems = [json.loads(line) for line in (TOY / "toy.jsonl").read_text().splitlines()]
    return ([CheckRecord.from_dict(d) for d in attempts]
            + [CheckRecord(d["name"], d["header"], d["formal_statement"], proof=" sorry") for d in problems])


def key(v) -> tuple:
    return v.name, v.status, v.reason, v.sorry, v.axioms


async def collect(verifier: Verifier, records) -> dict[int, object]:
    got: dict[int, object] = {}
    async for i, v in verifier.check_many(records):
        assert i not in got, f"record {i} answered twice"
        got[i] = v
    return got


@pytest.fixture(scope="module")
def cli_verdicts(cli_verifier):
    records = toy_batch()
    return [key(cli_verifier.check(r)) for r in records]


def test_header_routing_is_stable_and_overflows_when_full():
    h = "prelude\ninductive N : Type\n"
    assert preferred(h, 3) == preferred(h, 3) and 0 <= preferred(h, 3) < 3
    first = preferred(h, 2)
    assert pick_actor(h, [(0, 1), (0, 1)]) == first  # free: the header's own node
    full = [(1, 1), (1, 1)]
    full[1 - first] = (0, 1)
    assert pick_actor(h, full) == 1 - first  # its node full: the one with a free slot
    assert pick_actor(h, [(2, 1), (2, 1)]) == first  # all full alike: stay with the warm header
    assert split_address("127.0.0.1:6379") == ("127.0.0.1", 6379)
    assert split_address("ray://head:10001") is None and split_address("auto") is None
    with pytest.raises(RayUnavailable, match="HOST:PORT"):
        split_address("nowhere")


def test_without_ray_installed_the_error_says_how(monkeypatch, bundled):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    backend = RayBackend(bundled, "127.0.0.1:1")
    with pytest.raises(RayUnavailable) as e:
        asyncio.run(backend.run("prelude\n", "", 10))
    assert str(e.value) == RAY_MISSING and "pip install 'leanfd[ray]'" in RAY_MISSING


def test_no_address_and_no_cluster_answering_are_refused(monkeypatch, bundled, toy_header):
    pytest.importorskip("ray")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    rec = CheckRecord("t", toy_header, "theorem t : True :=", proof=" True.intro")
    with Verifier(backend="ray", toolchain=bundled) as v, pytest.raises(RayUnavailable, match="--ray-address"):
        v.check(rec)
    start = time.monotonic()
    nobody = f"127.0.0.1:{free_port()}"
    with Verifier(backend="ray", ray_address=nobody, toolchain=bundled) as v:
        with pytest.raises(RayUnavailable, match=f"no Ray cluster answers at {nobody}"):
            v.check(rec)
    assert time.monotonic() - start < 10


def test_toy_verdicts_equal_cli_and_both_nodes_answer(ray_cluster, bundled, cli_verdicts):
    records = toy_batch()
    with Verifier(backend="ray", ray_address=ray_cluster.address, toolchain=bundled, timeout=30, jobs=1) as v:
        got = v._run_sync(collect(v, records))
        answered = dict(v.backend.answered)
    assert sorted(got) == list(range(len(records)))
    assert [key(got[i]) for i in range(len(records))] == cli_verdicts
    assert all(got[i].backend == "ray" for i in got)
    to_lean = sum(not got[i].reason.startswith("policy:") for i in got)  # the rest were refused unread
    assert len(answered) == 2 and sum(answered.values()) == to_lean, answered


def test_server_pools_on_the_nodes_give_the_same_verdicts(ray_cluster, bundled, cli_verdicts):
    records = toy_batch()[:15]  # the attempts
    with Verifier(backend="ray", ray_address=ray_cluster.address, ray_local_backend="server", toolchain=bundled,
                  timeout=30, jobs=1) as v:
        got = v._run_sync(collect(v, records))
        assert len(v.backend.answered) == 2
    assert [key(got[i]) for i in range(len(records))] == cli_verdicts[:15]


def test_a_node_lost_mid_batch_loses_no_record(ray_cluster, bundled, cli_verdicts):
    """SIGKILL the worker node's raylet once both nodes are busy: its runs go to the head, every
    record is answered once, with the verdict `cli` gives; then a fresh worker node joins again."""
    records = toy_batch()
    with Verifier(backend="ray", ray_address=ray_cluster.address, toolchain=bundled, timeout=30, jobs=1) as v:
        backend = v.backend
        killed = threading.Event()

        def kill_when_busy() -> None:
            while not killed.is_set():
                actors = getattr(backend, "_pool").actors
                if len(backend.answered) == 2 and all(a.in_flight for a in actors):
                    ray_cluster.kill_node(1)
                    killed.set()
                time.sleep(0.01)

        t = threading.Thread(target=kill_when_busy, daemon=True)
        t.start()
        got = v._run_sync(collect(v, records))
        killed.set()
        t.join()
        assert ray_cluster.raylet_pid(1) is None
        assert backend.resent >= 1, "the kill came when the worker node had nothing in flight"
        assert sorted(got) == list(range(len(records)))
        assert [key(got[i]) for i in range(len(records))] == cli_verdicts
        assert len(backend._pool.actors) == 1  # the head's; the dead node got no replacement
    ray_cluster.add_node()
