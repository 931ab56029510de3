"""leanfd's reward for other trainers (leanfd/rewards.py): TRL's reward function and verl's
compute_score, on verdicts of the bundled Lean, and a two-step TRL GRPOTrainer run that uses it."""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from leanfd.lean.verifier import Verifier
from leanfd.rewards import LeanReward, RewardError, close_shared_verifiers, compute_score, compute_score_batch

STATEMENT = "theorem toy_add_zero (n : N) : Eq (N.add n N.zero) n :="
# What a model may write after the statement (completion prompts) or as a whole ```lean4 answer.
PROOF = " Eq.refl n"
WRONG = " Eq.refl N.zero"
SORRY = " sorryAx _ Bool.false"  # the toy prelude's `sorry`: Lean reads it whole, without an error
OTHER = "```lean4\ntheorem toy_add_zero (n : N) : Eq (N.add N.zero n) n := sorryAx _ Bool.false\n```"
AXIOM = "```lean4\naxiom cheat : False\ntheorem toy_add_zero (n : N) : Eq (N.add n N.zero) n := False.elim cheat\n```"
WHOLE = f"```lean4\n{STATEMENT}{PROOF}\n```"


@pytest.fixture(scope="module")
def verifier(bundled):
    with Verifier(backend="server", jobs=2, timeout=30, toolchain=bundled) as v:
        yield v


def columns(toy_header: str, n: int) -> dict[str, list[str]]:
    """The dataset columns TRL passes a reward function, one entry per completion."""
    return {"name": ["toy_add_zero"] * n, "header": [toy_header] * n, "formal_statement": [STATEMENT] * n}


def test_trl_reward_scores_lean_verdicts(verifier, toy_header):
    reward = LeanReward(verifier)
    completions = [PROOF, WRONG, SORRY, OTHER, AXIOM, WHOLE]
    scores = reward(prompts=["p"] * 6, completions=completions, completion_ids=[[1]] * 6,
                    **columns(toy_header, 6), trainer_state=None)
    assert scores == [1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    statuses = [v.status for v in reward.last_verdicts]
    assert statuses == ["proved", "failed", "failed", "rejected", "rejected", "proved"], \
        [v.reason for v in reward.last_verdicts]
    assert all(v.lean_version for v in reward.last_verdicts)  # Lean's own answers


def test_format_reward_pays_sorry_and_never_another_statement(verifier, toy_header):
    reward = LeanReward(verifier, format_reward=0.25)
    scores = reward(prompts=["p"] * 3, completions=[SORRY, OTHER, AXIOM], **columns(toy_header, 3))
    assert scores == [0.25, 0.0, 0.0]


def test_conversational_completions(verifier, toy_header):
    chat = [[{"role": "assistant", "content": WHOLE}], [{"role": "assistant", "content": WRONG}]]
    assert LeanReward(verifier)(prompts=[[{"role": "user", "content": "prove"}]] * 2, completions=chat,
                                **columns(toy_header, 2)) == [1.0, 0.0]


def test_a_row_without_a_statement_is_named():
    with pytest.raises(RewardError, match="dataset row 0 is not a leanfd problem.*formal_statement"):
        LeanReward()(prompts=["p"], completions=[PROOF], name=["x"])


@pytest.fixture
def shared_bundled(monkeypatch):
    """compute_score's process-wide verifier, on the bundled Lean, closed after the test."""
    monkeypatch.setenv("LEANFD_LEAN", "bundled")
    monkeypatch.delenv("LEANFD_REWARD_URL", raising=False)
    yield
    close_shared_verifiers()


def test_verl_compute_score(shared_bundled, toy_header):
    extra = {"name": "toy_add_zero", "header": toy_header, "index": 3}
    assert compute_score("leanfd/toy", PROOF, STATEMENT, extra) == 1.0
    assert compute_score("leanfd/toy", WRONG, STATEMENT, extra) == 0.0
    assert compute_score("leanfd/toy", SORRY, STATEMENT, extra, format_reward=0.5) == 0.5
    truth = {"formal_statement": STATEMENT, "header": toy_header}  # all in ground_truth; the name is declared
    assert compute_score_batch(["leanfd/toy"] * 4, [PROOF, WHOLE, OTHER, AXIOM], [truth] * 4, None) \
        == [1.0, 1.0, 0.0, 0.0]


# --- a server: errors name the URL; the real `leanfd serve` ----------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_server_is_a_clear_error(toy_header):
    url = f"http://127.0.0.1:{free_port()}"
    reward = LeanReward(url=url, retries=1)
    with pytest.raises(RewardError, match=f"cannot reach leanfd serve at {url}") as e:
        reward(prompts=["p"], completions=[PROOF], **columns(toy_header, 1))
    assert e.value.__cause__ is None and e.value.__suppress_context__  # no traceback deep in httpx
    zero = LeanReward(url=url, retries=1, on_error="zero")
    assert zero(prompts=["p"] * 2, completions=[PROOF, PROOF], **columns(toy_header, 2)) == [0.0, 0.0]


class _Answer(http.server.BaseHTTPRequestHandler):
    """A loopback HTTP server that answers every POST with the status and body it was given: what a
    failing proxy or a broken server sends (no Lean involved, so nothing of Lean is imitated)."""

    statuses, body, seen = [500], b"", []

    def do_POST(self):
        self.seen.append((self.path, self.headers.get("Authorization"),
                          json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
        status = self.statuses[min(len(self.seen), len(self.statuses)) - 1]  # the last one repeats
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if status == 429:
            self.send_header("Retry-After", "0.2")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *a):
        pass


@pytest.mark.parametrize(("statuses", "body", "message", "posts"), [
    ([500], b'{"detail": "pool exhausted"}', r"answered POST /v1/check with HTTP 500: pool exhausted", 2),
    ([401], b'{"detail": "wrong token"}', r"refused the request \(HTTP 401: wrong token\); give token=", 1),
    ([429, 429, 401], b'{"detail": "wrong token"}', r"refused the request \(HTTP 401", 3),  # busy: waited for
    ([200], b'{"nothing": 1}', r"answered 200 without verdicts", 1),
    ([200], b'{"verdicts": []}', r"answered 0 verdicts for 1 records", 1),
])
def test_server_errors_are_clear(toy_header, statuses, body, message, posts):
    handler = type("Handler", (_Answer,), {"statuses": statuses, "body": body, "seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(RewardError, match=f"leanfd serve at {url} {message}"):
            LeanReward(url=url, token="s3cret", retries=2, timeout=7)(
                prompts=["p"], completions=[PROOF], **columns(toy_header, 1), other_column=[1])
    finally:
        server.shutdown()
        server.server_close()
    path, auth, sent = handler.seen[0]
    assert (path, auth) == ("/v1/check", "Bearer s3cret")
    assert sent == {"timeout": 7, "records": [{"name": "toy_add_zero", "header": toy_header,
                                                "formal_statement": STATEMENT, "proof": PROOF}]}
    assert len(handler.seen) == posts  # a 5xx is tried again (retries=2), a 429 waited out, the rest are not


SERVE = Path(__file__).resolve().parents[1] / "leanfd" / "commands" / "serve.py"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A real `leanfd serve` on 127.0.0.1 (server backend, bundled Lean) that wants a token; its URL."""
    if not SERVE.exists():
        pytest.skip("`leanfd serve` (leanfd/commands/serve.py) is not in this tree yet")
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "LEANFD_SERVE_TOKEN": "s3cret", "LEANFD_LEAN": "bundled"}
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "leanfd", "serve", "--host", "127.0.0.1", "--port", str(port),
                                 "--verifier-backend", "server", "--verifier-jobs", "2", "--lean", "bundled"],
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"leanfd serve exited {proc.returncode}: {log.read_text()[-2000:]}"
            try:
                httpx.get(url + "/health", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, f"leanfd serve not up in 60 s: {log.read_text()[-2000:]}"
                time.sleep(0.2)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # its own process group: the server and its Lean processes
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_url_mode_against_leanfd_serve(served, verifier, toy_header, monkeypatch):
    completions = [PROOF, WRONG, SORRY, OTHER, AXIOM, WHOLE]
    here = LeanReward(verifier, format_reward=0.25)
    there = LeanReward(url=served, token="s3cret", format_reward=0.25, chunk=4)  # two requests at once
    assert there(prompts=["p"] * 6, completions=completions, **columns(toy_header, 6)) \
        == here(prompts=["p"] * 6, completions=completions, **columns(toy_header, 6)) \
        == [1.0, 0.0, 0.25, 0.0, 0.0, 1.0]
    assert [v.status for v in there.last_verdicts] == [v.status for v in here.last_verdicts]
    with pytest.raises(RewardError, match=f"leanfd serve at {served} refused the request \\(HTTP 401"):
        LeanReward(url=served, token="wrong")(prompts=["p"], completions=[PROOF], **columns(toy_header, 1))
    monkeypatch.setenv("LEANFD_REWARD_URL", served)
    monkeypatch.setenv("LEANFD_REWARD_TOKEN", "s3cret")
    assert compute_score("leanfd/toy", PROOF, STATEMENT, {"header": toy_header}) == 1.0


# --- TRL: a two-step GRPOTrainer run with LeanReward -------------------------------------------------

def test_trl_grpo_trainer_two_steps(tiny_model_dir, toy_records, verifier, tmp_path):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    rows = [{"prompt": r["formal_statement"], "name": r["name"], "header": r["header"],
             "formal_statement": r["formal_statement"]} for r in toy_records[:4]]
    reward = LeanReward(verifier)
    config = GRPOConfig(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4, num_generations=2,
                        max_completion_length=8, learning_rate=1e-5, logging_steps=1, report_to="none",
                        use_cpu=True, save_strategy="no", bf16=False, seed=0)
    trainer = GRPOTrainer(model=str(tiny_model_dir), reward_funcs=reward, args=config,
                          train_dataset=Dataset.from_list(rows))
    trainer.train()

    assert trainer.state.global_step == 2
    assert reward.calls == 2  # one batch of 4 completions per step, each checked by Lean
    assert len(reward.last_verdicts) == 4 and all(v.lean_version for v in reward.last_verdicts)
    logged = [h for h in trainer.state.log_history if "rewards/lean_reward/mean" in h]
    assert len(logged) == 2 and all("leanfd/proved" in h for h in logged)
    # a random tiny model proves nothing: its reward is Lean's 0, not a made-up one
    assert [h["rewards/lean_reward/mean"] for h in logged] == [0.0, 0.0]
