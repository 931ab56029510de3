"""kimina-client 0.2.1 (Kimina Lean Server's own client, from PyPI, unchanged) against `leanfd serve`
on 127.0.0.1: its sync and async clients, batches, retries and api key succeed, and get leanfd's
verdicts. A false statement "proved" with an `axiom` compiles without error or sorry, so Kimina's
server would call it valid; leanfd's answer carries an error message saying why it is not, and the
client's own `is_valid` is false on it.

kimina-client is imported through `import_kimina` (tests/test_serve_fixtures.py): its models use
`typing.TypedDict`, which pydantic refuses before Python 3.12, so `typing_extensions.TypedDict`
stands in for it during the import only; the client's code is not changed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading

import httpx
import pytest
from conftest import REPO
from test_serve_fixtures import (
    AXIOM_FILE,
    ERROR_FILE,
    PROVED_FILE,
    SLOW,
    SLOW_FILE,
    SORRY_FILE,
    import_kimina,
    serving,
    wait_until,
)

kimina = import_kimina()
from kimina_client.models import SnippetStatus, VerifyResponse, is_valid  # noqa: E402

SNIPPETS = {"proved": PROVED_FILE, "axiom": AXIOM_FILE, "sorry": SORRY_FILE, "error": ERROR_FILE}
EXPECTED = {"proved": SnippetStatus.valid, "axiom": SnippetStatus.lean_error, "sorry": SnippetStatus.sorry,
            "error": SnippetStatus.lean_error}


@pytest.fixture(scope="module")
def server(bundled):
    with serving(bundled, jobs=2) as s:
        yield s


def snippets() -> list:
    return [kimina.Snippet(id=k, code=code) for k, code in SNIPPETS.items()]


def check_results(response) -> None:
    """Every snippet answered once, with leanfd's verdict in Kimina's shape."""
    by_id = {r.id: r for r in response.results}
    assert sorted(by_id) == sorted(SNIPPETS)
    for sid, status in EXPECTED.items():
        assert by_id[sid].analyze().status == status, (sid, by_id[sid])
    assert is_valid(by_id["proved"].response)
    axiom = by_id["axiom"].response
    assert not is_valid(axiom)
    errors = [m["data"] for m in axiom["messages"] if m["severity"] == "error"]
    assert errors == ["leanfd: rejected: `t` uses axioms outside the allowlist or not declared by the header: cheat"]
    assert by_id["sorry"].response["sorries"] and not any(m["severity"] == "error"
                                                          for m in by_id["sorry"].response["messages"])
    error = by_id["error"].response["messages"][0]
    assert error["severity"] == "error" and error["pos"]["line"] == PRELUDE_LINES + 1
    assert error["data"].startswith("Type mismatch")


PRELUDE_LINES = PROVED_FILE.count("\n") - 1


def test_sync_client_batches(server):
    client = kimina.KiminaClient(api_url=server.url, n_retries=1)
    # Batches of 2 over 2 threads: two requests at once, each answered whole.
    check_results(client.check(snippets(), timeout=30, batch_size=2, max_workers=2, show_progress=False))


def test_async_client_batches(server):
    async def main():
        client = kimina.AsyncKiminaClient(api_url=server.url, n_retries=1)
        try:
            return await client.check(snippets(), timeout=30, batch_size=3, max_workers=2, show_progress=False)
        finally:
            await client.close()

    check_results(asyncio.run(main()))


def test_health_and_a_timeout_the_client_reads_as_one(server):
    client = kimina.KiminaClient(api_url=server.url, n_retries=1)
    assert client.health() == {"status": "ok"}
    result = client.check([kimina.Snippet(id="slow", code=SLOW_FILE)], timeout=2, show_progress=False).results[0]
    assert result.analyze().status == SnippetStatus.timeout_error
    assert result.error.startswith("leanfd: timeout: timed out: over the request's timeout of 2 s")


def test_older_verify_endpoint(server):
    body = {"codes": [{"custom_id": 7, "proof": AXIOM_FILE}, {"custom_id": "ok", "code": PROVED_FILE}],
            "timeout": 30}
    r = httpx.post(server.url + "/verify", json=body, timeout=60)
    assert r.status_code == 200, r.text
    results = VerifyResponse.model_validate(r.json()).results
    assert [x["custom_id"] for x in results] == ["7", "ok"]
    assert not is_valid(results[0]["response"]) and is_valid(results[1]["response"])
    assert results[1]["response"]["time"] > 0


def test_api_key_and_retry_after_a_full_queue(bundled):
    """With a token, the client's api key gets in and no key gets 401. With one place in the queue,
    held by a slow check, the client's first tries get 429 and a retry succeeds once it is free."""
    with serving(bundled, jobs=1, token="s3cret", queue=1, max_batch=1) as server:
        assert httpx.get(server.url + "/health").status_code == 401
        with pytest.raises(RuntimeError, match="failed after 1 retries"):
            kimina.KiminaClient(api_url=server.url, api_key="wrong", n_retries=1).health()
        client = kimina.KiminaClient(api_url=server.url, api_key="s3cret", n_retries=5)
        assert client.health() == {"status": "ok"}
        auth = {"Authorization": "Bearer s3cret"}
        holder = threading.Thread(target=server.post, args=("/v1/check", {"records": [SLOW], "timeout": 2}),
                                  kwargs={"headers": auth})
        holder.start()
        wait_until(lambda: server.metrics(headers=auth)["leanfd_checks_running"] == 1, what="the slow check runs")
        result = client.check([kimina.Snippet(id="p", code=PROVED_FILE)], timeout=30, show_progress=False)
        holder.join()
        assert result.results[0].analyze().status == SnippetStatus.valid
        assert server.metrics(headers=auth)['leanfd_requests_refused_total{code="429"}'] >= 1


def test_real_leanfd_serve_with_a_yaml_config_and_a_token_from_the_environment(tmp_path):
    """The command itself: options from YAML (the command line wins), a token in LEANFD_SERVE_TOKEN,
    called by the client's api key."""
    config = tmp_path / "serve.yaml"
    config.write_text("port: 8\nverifier:\n  backend: cli\n  jobs: 1\n")
    env = {**os.environ, "LEANFD_LEAN": "bundled", "LEANFD_SERVE_TOKEN": "tok"}
    proc = subprocess.Popen([sys.executable, "-m", "leanfd", "serve", "--config", str(config), "--port", "0"],
                            cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert "listening on http://127.0.0.1:" in line, line + proc.stderr.read()
        assert "(backend cli, 1 Lean processes)" in line
        url = line.split("listening on ")[1].split(" ")[0]
        client = kimina.KiminaClient(api_url=url, api_key="tok", n_retries=3)
        result = client.check([kimina.Snippet(id="a", code=AXIOM_FILE)], timeout=30, show_progress=False)
        assert result.results[0].analyze().status == SnippetStatus.lean_error
        assert "leanfd: rejected" in result.results[0].response["messages"][-1]["data"]
    finally:
        proc.terminate()
        proc.wait(30)
