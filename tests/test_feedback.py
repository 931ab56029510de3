"""Feedback: compiler rendering of real verdicts, LLM critics over loopback HTTP, the cache, the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
from conftest import TOY
from llm_server import Answer, LLMServer, ServerError, llm_server  # noqa: F401 - the fixture

from leanfd.feedback.cache import FeedbackCache
from leanfd.feedback.compiler import RenderOptions, render
from leanfd.feedback.critic import FeedbackConfig, LLMCritic, teacher_feedback
from leanfd.lean.records import CheckRecord
from leanfd.lean.snippet import attempt_text
from leanfd.models import load_backend

STMT = "theorem t_zero_add (n : N) : Eq (N.add N.zero n) n :="
BAD = "\n  -- try reflexivity\n  Eq.refl n"


@pytest.fixture(scope="module")
def failed(cli_verifier, toy_header):
    rec = CheckRecord("t_zero_add", toy_header, STMT, proof=BAD)
    verdict = cli_verifier.check(rec)
    assert verdict.status == "failed"
    return rec, verdict


@pytest.fixture(scope="module")
def proved(cli_verifier, toy_header):
    stmt = "theorem t_add_zero (n : N) : Eq (N.add n N.zero) n :="
    rec = CheckRecord("t_add_zero", toy_header, stmt, proof=" Eq.refl n")
    verdict = cli_verifier.check(rec)
    assert verdict.proved
    return rec, verdict


def test_render_places_lean_message_at_its_line(failed):
    rec, verdict = failed
    text = render(attempt_text(rec), verdict)
    lines = text.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("  3 | "))
    assert lines[at] == "  3 |   Eq.refl n"
    assert ">>> FIRST ERROR at line 3" in lines[at + 1]
    assert "Type mismatch" in text and "Eq (N.zero.add n) n" in text  # Lean's own words
    assert text.startswith("The proof does not check")


def test_render_respects_the_budget_and_keeps_the_first_error(failed):
    rec, verdict = failed
    long_attempt = attempt_text(rec).replace("-- try reflexivity", "\n".join(f"-- filler {i}" for i in range(300)))
    shifted = [m.__class__(**{**m.__dict__, "line": m.line + 299}) for m in verdict.messages]
    v2 = verdict.__class__(**{**verdict.__dict__, "messages": shifted,
                              "first_error": shifted[[m.severity for m in shifted].index("error")]})
    text = render(long_attempt, v2, RenderOptions(max_tokens=300))
    assert len(text) <= 300 * 4 + 40
    assert "FIRST ERROR at line 302" in text and "filler 10 " not in text and "  ..." in text


def test_render_of_other_outcomes(proved, failed):
    assert render(attempt_text(proved[0]), proved[1]).startswith("Lean accepted")
    rec, v = failed
    timeout = v.__class__(**{**v.__dict__, "status": "timeout", "reason": "no answer within 5 s", "messages": []})
    assert "time limit" in render(attempt_text(rec), timeout)


def critic_for(server: LLMServer, kind: str = "openai", cache: FeedbackCache | None = None) -> LLMCritic:
    url = server.openai_url if kind == "openai" else server.url
    backend = load_backend(kind, "critic-model", base_url=url, api_key="sk-test", max_retries=1, backoff_base=0.01)
    return LLMCritic(backend, cache=cache)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_llm_critic_over_http(llm_server, failed, kind):
    rec, verdict = failed
    llm_server.push(Answer(["Reflexivity cannot work: 0 + n is not n by definition. Use N.rec."]))
    fb = asyncio.run(critic_for(llm_server, kind).afeedback(rec.formal_statement, attempt_text(rec), verdict))
    assert fb.source == "llm" and "N.rec" in fb.text and fb.model == "critic-model"
    (req,) = llm_server.requests
    sent = json.dumps(req.body)
    assert "t_zero_add" in sent and "Type mismatch" in sent and "Eq.refl n" in sent
    assert req.path.endswith("/chat/completions" if kind == "openai" else "/messages")


def test_cache_makes_the_second_run_free(llm_server, failed, tmp_path):
    rec, verdict = failed
    llm_server.push(Answer(["Use induction."]))
    cache = FeedbackCache(tmp_path / "fb.sqlite")
    first = asyncio.run(critic_for(llm_server, cache=cache).afeedback(rec.formal_statement, attempt_text(rec), verdict))
    again = asyncio.run(critic_for(llm_server, cache=FeedbackCache(tmp_path / "fb.sqlite"))
                        .afeedback(rec.formal_statement, attempt_text(rec), verdict))
    assert len(llm_server.requests) == 1
    assert again.text == first.text == "Use induction." and again.cached and not first.cached


def test_failing_or_empty_critic_falls_back_to_compiler(llm_server, failed):
    rec, verdict = failed
    llm_server.push(ServerError(500), ServerError(500), Answer(["   "]))
    critic = critic_for(llm_server)
    fb = asyncio.run(critic.afeedback(rec.formal_statement, attempt_text(rec), verdict))
    assert fb.source == "fallback" and "500" in (fb.error or "") and "Type mismatch" in fb.text
    fb = asyncio.run(critic.afeedback(rec.formal_statement, attempt_text(rec), verdict))
    assert fb.source == "fallback" and "empty" in (fb.error or "")


def test_teacher_feedback_options(llm_server, failed, proved):
    rec, verdict = failed
    run = lambda *a, **k: asyncio.run(teacher_feedback(*a, **k))  # noqa: E731
    prec, pverdict = proved
    assert run(prec.formal_statement, attempt_text(prec), pverdict, FeedbackConfig()) == (None, None)
    text, fb = run(prec.formal_statement, attempt_text(prec), pverdict, FeedbackConfig(content="compiler", which="all"))
    assert "Lean accepted" in text and fb.source == "compiler"
    llm_server.push(Answer(["Use N.rec on n."]))
    text, fb = run(rec.formal_statement, attempt_text(rec), verdict, FeedbackConfig(content="both", sibling=True),
                   critic=critic_for(llm_server), sibling="theorem t_zero_add ... := N.rec ...")
    assert "Use N.rec on n." in text and "Type mismatch" in text and "Lean accepted" in text and fb.source == "llm"
    text, fb = run(rec.formal_statement, attempt_text(rec), verdict, FeedbackConfig(content="llm"))
    assert fb.source == "compiler" and "Type mismatch" in text  # no critic: compiler feedback
    with pytest.raises(ValueError):
        FeedbackConfig(content="oracle")  # type: ignore[arg-type]


def test_feedback_cli_with_openai_critic_and_cache(llm_server, tmp_path):
    attempts = tmp_path / "attempts.jsonl"
    attempts.write_text("".join((TOY / "attempts.jsonl").read_text().splitlines(keepends=True)[-3:]))
    verdicts = tmp_path / "verdicts.jsonl"
    env = {**os.environ, "LEANFD_LEAN": "bundled", "LEANFD_CACHE": str(tmp_path / "cache")}
    subprocess.run([sys.executable, "-m", "leanfd", "check", str(attempts), "--backend", "cli", "--out", str(verdicts)],
                   env=env, check=False, timeout=120)
    llm_server.default = Answer(["A hint from the critic."])
    out = tmp_path / "fb.jsonl"
    cmd = [sys.executable, "-m", "leanfd", "feedback", str(verdicts), "--out", str(out), "--critic", "openai",
           "--base-url", llm_server.openai_url, "--model", "critic-model"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["source"] for r in rows] == ["llm"] * 3 and rows[0]["model"] == "critic-model"
    assert {r["status"] for r in rows} == {"failed", "rejected"}
    n = len(llm_server.requests)
    assert n == 3
    kept = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert kept.returncode == 2 and "--overwrite" in kept.stderr  # kept; feedback has no --resume to offer
    assert "--resume" not in kept.stderr, kept.stderr
    subprocess.run([*cmd, "--overwrite"], env=env, capture_output=True, text=True, timeout=120, check=True)
    assert len(llm_server.requests) == n  # all from the cache
    # bare attempts are verified first; compiler feedback needs no model
    res = subprocess.run([sys.executable, "-m", "leanfd", "feedback", str(attempts), "--out", str(out),
                          "--backend", "cli", "--overwrite"], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["source"] for r in rows] == ["compiler"] * 3 and "Type mismatch" in rows[0]["feedback"]
