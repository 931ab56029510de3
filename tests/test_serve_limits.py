"""`leanfd serve` under load and abuse (issue 25, item 4), each a real request to a real server:
the bearer token (401; required off loopback), body and batch limits (413 naming the limit), the
bounded queue (429 with Retry-After, never a backlog), a client that leaves (its checks withdrawn,
their Lean processes ended), per-request timeouts as verdicts, hostile and malformed bodies (4xx
with a message, never a 500 or a traceback), and SIGTERM (no new work, requests in flight answered
within the drain, every Lean process ended, exit 143)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest
from conftest import REPO
from test_serve_fixtures import FAST, SLOW, serving, wait_until
from test_signals import TAG, checking, tagged

from leanfd.lean.owner import owned_pids
from leanfd.serve.config import ServeConfig, is_loopback, read_token

# ---------------------------------------------------------------------------------------------- token


def test_token_is_required_when_set(bundled):
    with serving(bundled, jobs=1, token="t0k") as s:
        body = {"records": [FAST]}
        r = s.post("/v1/check", body)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
        assert "Authorization: Bearer" in r.json()["detail"]
        assert s.post("/v1/check", body, headers={"Authorization": "Bearer nope"}).status_code == 401
        assert httpx.get(s.url + "/metrics").status_code == 401
        for headers in ({"Authorization": "Bearer t0k"}, {"X-Auth-Token": "t0k"}):  # kimina-client's, Kimina's
            r = s.post("/v1/check", body, headers=headers)
            assert r.status_code == 200 and r.json()["verdicts"][0]["status"] == "proved"
        assert httpx.get(s.url + "/v1/health").status_code == 200  # liveness needs no token


def test_token_from_env_or_file_and_required_off_loopback(tmp_path, monkeypatch):
    monkeypatch.delenv("LEANFD_SERVE_TOKEN", raising=False)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1") and not is_loopback("example.org")
    assert read_token(ServeConfig()) is None
    with pytest.raises(ValueError, match="LEANFD_SERVE_TOKEN"):
        read_token(ServeConfig(host="0.0.0.0"))
    monkeypatch.setenv("LEANFD_SERVE_TOKEN", "from-env")
    assert read_token(ServeConfig(host="0.0.0.0")) == "from-env"
    f = tmp_path / "token"
    f.write_text("from-file\n")
    assert read_token(ServeConfig(host="0.0.0.0", token_file=str(f))) == "from-file"
    f.write_text("\n")
    with pytest.raises(ValueError, match="first line is empty"):
        read_token(ServeConfig(token_file=str(f)))


def test_command_refuses_a_public_host_without_a_token():
    env = {k: v for k, v in os.environ.items() if k != "LEANFD_SERVE_TOKEN"}
    res = subprocess.run([sys.executable, "-m", "leanfd", "serve", "--host", "0.0.0.0", "--port", "0"], cwd=REPO,
                         env={**env, "LEANFD_LEAN": "bundled"}, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "--host 0.0.0.0 is not loopback" in res.stderr and "LEANFD_SERVE_TOKEN" in res.stderr
    res = subprocess.run([sys.executable, "-m", "leanfd", "serve", "--max-batch", "10", "--queue", "5"], cwd=REPO,
                         env={**env, "LEANFD_LEAN": "bundled"}, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "--max-batch (10) must not exceed --queue (5)" in res.stderr


# --------------------------------------------------------------------------------------- size, batch


def test_body_and_batch_limits_name_the_limit(bundled):
    with serving(bundled, jobs=1, max_body_mb=0.01, max_batch=2, queue=4, max_stream_batch=3) as s:
        big = {"records": [{**FAST, "proof": " " * 20_000}]}
        r = s.post("/v1/check", big)  # with a Content-Length: refused before it is read
        assert r.status_code == 413 and "--max-body-mb 0.01" in r.json()["detail"]

        def chunks():  # no Content-Length: refused as it arrives
            yield b'{"records": ['
            for _ in range(100):
                yield b" " * 1000

        r = s.post("/v1/check", content=chunks())
        assert r.status_code == 413 and "over the limit of 10000 bytes" in r.json()["detail"]
        r = s.post("/v1/check", {"records": [FAST] * 3})
        assert r.status_code == 413 and "over the limit of 2 (--max-batch)" in r.json()["detail"]
        r = s.post("/api/check", {"snippets": [{"id": str(i), "code": "prelude\n"} for i in range(3)]})
        assert r.status_code == 413 and "(--max-batch)" in r.json()["detail"]
        r = s.post("/v1/check/stream", {"records": [FAST] * 4})
        assert r.status_code == 413 and "over the limit of 3 (--max-stream-batch)" in r.json()["detail"]
        r = s.post("/v1/check/stream", {"records": [FAST] * 3})  # within it, though over --max-batch
        assert r.status_code == 200 and len(r.text.splitlines()) == 3
        assert s.metrics()['leanfd_requests_refused_total{code="413"}'] == 5


# ------------------------------------------------------------------------------------ queue and 429


def test_full_queue_gets_429_with_retry_after_and_no_backlog(bundled):
    with serving(bundled, jobs=1, queue=2, max_batch=2) as s:
        holders = [threading.Thread(target=s.post, args=("/v1/check", {"records": [SLOW], "timeout": 3}))
                   for _ in range(2)]
        for t in holders:
            t.start()
        wait_until(lambda: s.metrics()["leanfd_queue_depth"] == 2, what="two slow checks admitted")
        m = s.metrics()
        assert m["leanfd_checks_running"] == 1 and m["leanfd_lanes"] == 1  # one runs, one waits for a lane
        r = s.post("/v1/check", {"records": [FAST]})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert "the queue is full (2 of 2 checks admitted" in r.json()["detail"]
        r = s.post("/v1/check/stream", {"records": [FAST]})
        assert r.status_code == 429
        assert s.metrics()["leanfd_queue_depth"] == 2  # nothing of the refused requests was kept
        for t in holders:
            t.join()
        r = s.post("/v1/check", {"records": [FAST]})
        assert r.status_code == 200 and r.json()["verdicts"][0]["status"] == "proved"


# ---------------------------------------------------------------------------------------- timeouts


def test_request_timeout_is_a_verdict_and_ends_lean(bundled):
    with serving(bundled, jobs=2, timeout=60) as s:
        before = set(owned_pids())
        t = time.monotonic()
        r = s.post("/v1/check", {"records": [SLOW, FAST], "timeout": 2})
        took = time.monotonic() - t
        slow, fast = r.json()["verdicts"]
        assert slow["status"] == "timeout" and slow["reason"] == "timed out: over the request's timeout of 2 s"
        assert slow["name"] == "slow" and slow["elapsed"] == 2 and fast["status"] == "proved"
        assert took < 20
        wait_until(lambda: set(owned_pids()) <= before, 10, "the timed-out check's Lean ended")
        assert s.metrics()['leanfd_checks_total{status="timeout"}'] == 1


# -------------------------------------------------------------------------------------- disconnect


def test_client_that_leaves_has_its_checks_withdrawn(bundled):
    with serving(bundled, jobs=2) as s:
        before = set(owned_pids())
        with pytest.raises(httpx.ReadTimeout):  # the client gives up and closes its connection
            s.post("/v1/check", {"records": [SLOW, SLOW]}, timeout=3)
        wait_until(lambda: s.metrics()["leanfd_checks_withdrawn_total"] == 2, 10, "both checks withdrawn")
        wait_until(lambda: set(owned_pids()) <= before, 10, "their Lean processes ended")
        m = s.metrics()
        assert m["leanfd_queue_depth"] == 0 and m["leanfd_queue_held"] == 0 and m["leanfd_checks_running"] == 0
        # The stream: the first line read, then the client leaves; the rest is withdrawn.
        with httpx.stream("POST", s.url + "/v1/check/stream", json={"records": [FAST, SLOW, SLOW, SLOW]},
                          timeout=60) as r:
            first = json.loads(next(r.iter_lines()))
            assert first["index"] == 0 and first["verdict"]["status"] == "proved"
        wait_until(lambda: s.metrics()["leanfd_checks_withdrawn_total"] == 5, 10, "the stream's checks withdrawn")
        wait_until(lambda: set(owned_pids()) <= before, 10, "their Lean processes ended")
        assert s.metrics()["leanfd_queue_held"] == 0
        r = s.post("/v1/check", {"records": [FAST]})  # and the server goes on
        assert r.json()["verdicts"][0]["status"] == "proved"


# ------------------------------------------------------------------------------------ hostile input

DEEP = b"[" * 100_000 + b"]" * 100_000
HOSTILE = [
    ("/v1/check", b"", "empty"),
    ("/v1/check", b"{", "not valid JSON"),
    ("/v1/check", b"\xff\xfe\x00{", "not"),
    ("/v1/check", b'{"records": [], "timeout": NaN}', "NaN is not a JSON number"),
    ("/v1/check", b'{"records": [], "timeout": 1e999}', "positive number of seconds"),
    ("/v1/check", b'{"records": [], "timeout": -1}', "positive number of seconds"),
    ("/v1/check", b'{"records": [], "timeout": true}', "number of seconds, not a boolean"),
    ("/v1/check", b'{"records": [], "timeout": ' + b"9" * 5000 + b"}", "not valid JSON"),
    ("/v1/check", DEEP, "nested too deeply"),
    ("/v1/check", b'"records"', "must be a JSON object"),
    ("/v1/check", b'{"records": {}}', "`records` must be an array"),
    ("/v1/check", b'{"records": [1]}', "records[0]: a record must be a JSON object"),
    ("/v1/check", b'{"records": [{"name": "x", "formal_statement": "theorem x : True :="}]}', "records[0]: a record"
                                                                                               " needs 'proof'"),
    ("/v1/check", b'{"records": [], "timout": 3}', "unknown field(s) 'timout'"),
    ("/v1/check", b'{"records": [{"name": "\\ud800", "formal_statement": "t", "proof": ""}]}', "lone surrogate"),
    ("/v1/check/stream", b"[1, 2]", "must be a JSON object"),
    ("/api/check", b'{"snippets": []}', "`snippets` is empty"),
    ("/api/check", b'{"snippets": [{"id": "a"}]}', "snippets[0].code must be a string, not null"),
    ("/api/check", b'{"snippets": [{"id": "a", "code": "x"}], "debug": "yes"}', "`debug` must be true or false"),
    ("/verify", b'{"codes": [{"custom_id": true, "proof": "x"}]}', "custom_id must be a string or an integer"),
    ("/verify", b'{"codes": [{"custom_id": 1}]}', "needs `proof`"),
]


@pytest.fixture(scope="module")
def quiet_server(bundled):
    with serving(bundled, jobs=1) as s:
        yield s


@pytest.mark.parametrize("path,body,says", HOSTILE, ids=[f"{p}-{i}" for i, (p, _, _) in enumerate(HOSTILE)])
def test_malformed_and_hostile_bodies_get_400_with_a_message(quiet_server, path, body, says):
    r = quiet_server.post(path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert says in r.json()["detail"] and "Traceback" not in r.text


def test_wrong_method_path_and_headers_are_4xx(quiet_server):
    s = quiet_server
    for r, code in [(httpx.get(s.url + "/v1/check"), 405), (httpx.get(s.url + "/nowhere"), 404),
                    (httpx.delete(s.url + "/metrics"), 405)]:
        assert r.status_code == code and "detail" in r.json(), r.text


def test_raw_socket_garbage_never_gets_a_500(quiet_server):
    """Below HTTP: a bad request line, a lying Content-Length, a connection closed mid-body. The server
    answers 4xx or closes the connection, and keeps serving."""
    host, port = quiet_server.url.removeprefix("http://").split(":")
    for raw in [b"NONSENSE\r\n\r\n", b"POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
                b"POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{}",
                b"POST /v1/check HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]:
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
            got = b""
            try:
                while chunk := sock.recv(65536):
                    got += chunk
            except TimeoutError:
                pass
        assert not got or got.split(b" ")[1].startswith(b"4"), got[:200]
    assert quiet_server.post("/v1/check", {"records": [FAST]}).json()["verdicts"][0]["status"] == "proved"


# ---------------------------------------------------------------------------------------------- drain


def test_sigterm_drains_then_ends_every_lean_process(tmp_path):
    """A real `leanfd serve`: SIGTERM while two requests run. No new work is taken; the request that
    finishes within the drain (its own 3 s timeout) gets its verdict, the one that would not is
    answered `crashed` at the drain's end (5 s); then every Lean process is gone and it exits 143."""
    tag = uuid.uuid4().hex
    env = {**os.environ, "LEANFD_LEAN": "bundled", TAG: tag}
    proc = subprocess.Popen([sys.executable, "-m", "leanfd", "serve", "--port", "0", "--verifier-backend", "cli",
                             "--verifier-jobs", "2", "--drain-seconds", "5"], cwd=REPO, env=env,
                            stderr=subprocess.PIPE, text=True)
    answers: dict[str, httpx.Response] = {}
    try:
        line = proc.stderr.readline()
        assert "listening on" in line, line + proc.stderr.read()
        url = line.split("listening on ")[1].split(" ")[0]

        def ask(key: str, body: dict) -> None:
            answers[key] = httpx.post(url + "/v1/check", json=body, timeout=60)

        clients = [threading.Thread(target=ask, args=("short", {"records": [SLOW], "timeout": 3})),
                   threading.Thread(target=ask, args=("long", {"records": [SLOW]}))]
        for c in clients:
            c.start()
        wait_until(lambda: sum("--json" in cmd for cmd in tagged(tag).values()) >= 2, 30, "two checks running")
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        wait_until(lambda: not _accepts(url), 5, "the server stops taking connections")
        for c in clients:
            c.join(30)
        _, stderr = proc.communicate(timeout=30)
        ended = time.monotonic() - sent
    finally:
        proc.kill()
        for pid in tagged(tag):
            os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr and "leanfd: stopped by SIGTERM" in stderr
    assert answers["short"].json()["verdicts"][0]["status"] == "timeout"
    long = answers["long"].json()["verdicts"][0]
    assert long["status"] == "crashed" and "the server stopped before the check finished" in long["reason"]
    assert 5 <= ended < 20
    assert not checking(tag) and not tagged(tag), tagged(tag)


def _accepts(url: str) -> bool:
    """Whether a new request is taken (a refused connection, or 503 while stopping, is not)."""
    try:
        return httpx.post(url + "/v1/check", json={"records": [FAST]}, timeout=5).status_code == 200
    except httpx.TransportError:
        return False
