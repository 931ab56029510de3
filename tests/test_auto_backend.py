"""The default `auto` backend: each header goes to the backend measured fastest for its length, and the
verdicts are those of the backend it picked (the soundness suites run on `server` and `snapshot` themselves)."""

from __future__ import annotations

import pytest

from leanfd.lean.auto_backend import SNAPSHOT_MIN_LINES, kind_for
from leanfd.lean.server import ServerBackend
from leanfd.lean.snapshot import SnapshotBackend
from leanfd.lean.verifier import Verifier, VerifierConfig


def test_the_threshold_is_the_header_length():
    assert kind_for("prelude\n" * (SNAPSHOT_MIN_LINES - 2) + "x") == "server"  # 199 lines
    assert kind_for("prelude\n" * (SNAPSHOT_MIN_LINES - 1) + "x") == "snapshot"  # 200 lines
    assert kind_for("import Mathlib\nopen Nat\n") == "server"


def test_auto_is_the_default():
    assert VerifierConfig().backend == "auto"
    with pytest.raises(ValueError, match="auto, cli, server, snapshot, ray"):
        VerifierConfig(backend="fast")  # type: ignore[arg-type]


def test_short_and_long_headers_go_to_server_and_snapshot(bundled, toy_records, monkeypatch, tmp_path):
    monkeypatch.setenv("LEANFD_CACHE", str(tmp_path))  # the snapshot built here stays in tmp_path
    short = dict(toy_records[0], proof="N.rec (Eq.refl N.zero) (fun n ih => congrArg N.succ ih) n")
    filler = "".join(f"def leanfd_pad{i} : N := N.zero\n" for i in range(SNAPSHOT_MIN_LINES))
    long = dict(short, header=short["header"].rstrip("\n") + "\n" + filler)
    wrong = dict(long, proof="Eq.refl N.zero")
    with Verifier(toolchain=bundled, timeout=60) as v:
        first = v.check(short)
        assert first.status == "proved" and first.backend == "server"
        assert list(v.backend._backends) == ["server"]
        second = v.check(long)
        assert second.status == "proved" and second.backend == "snapshot"
        assert v.check(wrong).status == "failed"
        assert set(v.backend._backends) == {"server", "snapshot"}
        assert isinstance(v.backend._backends["server"], ServerBackend)
        snap = v.backend._backends["snapshot"]
        assert isinstance(snap, SnapshotBackend) and snap.builds == 1 and snap.fallbacks == 0
    assert list((tmp_path / "snapshots").glob("*.snap"))
