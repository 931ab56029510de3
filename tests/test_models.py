"""The model backends: hf on a tiny random model built here, openai and anthropic against a real
loopback server (tests/llm_server.py), vllm only for its install hint (it is never installed here)."""

from __future__ import annotations

import importlib.util
import logging
import time
import traceback

import pytest
from llm_server import (  # tests/ is on sys.path (pytest's rootdir conftest)
    Answer,
    ClientError,
    Custom,
    LLMServer,
    Malformed,
    RateLimited,
    ServerError,
    Slow,
    llm_server,  # noqa: F401 (the fixture, imported to be found here)
)

from leanfd.models import (
    BackendNotInstalled,
    Completion,
    ModelError,
    ModelHTTPError,
    ModelResponseError,
    SamplingConfig,
    load_backend,
)

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

LEAN_PROMPT = "theorem add_zero' (n : ℕ) : n + 0 = n := by"
CHAT_PROMPT = [
    {"role": "system", "content": "You are a Lean 4 prover."},
    {"role": "user", "content": "Prove: 1 + 1 = 2"},
]
FAST = dict(backoff_base=0.01, backoff_max=0.05)  # retries in milliseconds, not seconds


# -- hf ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hf(tiny_model_dir):
    return load_backend("hf", str(tiny_model_dir))


def _teacher_forced_logprobs(backend, prompt_ids: list[int], token_ids: list[int], temperature: float = 1.0):
    """log pi(token_t | prompt, tokens<t) by one plain forward pass over the unpadded sequence."""
    ids = torch.tensor([prompt_ids + token_ids])
    with torch.no_grad():
        logits = backend.model(ids).logits[0, len(prompt_ids) - 1 : -1].float()  # (T, V)
    logp = torch.log_softmax(logits / temperature, dim=-1)
    return logp.gather(1, torch.tensor(token_ids)[:, None]).squeeze(1)


def test_hf_batched_sampling_shapes(hf):
    cfg = SamplingConfig(n=3, max_tokens=12, seed=0)
    out = hf.generate([LEAN_PROMPT, CHAT_PROMPT, "example : True := by"], cfg)
    assert [len(samples) for samples in out] == [3, 3, 3]
    for samples in out:
        for c in samples:
            assert isinstance(c, Completion)
            assert 1 <= len(c.token_ids) <= 12
            assert len(c.logprobs) == len(c.token_ids)
            assert all(lp <= 0 and lp > float("-inf") for lp in c.logprobs)
            assert c.finish_reason in ("stop", "length")
            visible = [t for t in c.token_ids if t not in hf.eos_ids]
            assert c.text == hf.tokenizer.decode(visible, skip_special_tokens=True)
            if c.finish_reason == "length":
                assert len(c.token_ids) == 12


def test_hf_seed_reproducible_and_global_rng_untouched(hf):
    cfg = SamplingConfig(n=4, max_tokens=10, seed=123)
    state = torch.get_rng_state()
    first = hf.generate([LEAN_PROMPT, CHAT_PROMPT], cfg)
    assert torch.equal(torch.get_rng_state(), state)
    assert hf.generate([LEAN_PROMPT, CHAT_PROMPT], cfg) == first
    other = hf.generate([LEAN_PROMPT, CHAT_PROMPT], SamplingConfig(n=4, max_tokens=10, seed=124))
    assert other != first
    # n samples of one prompt differ from one another (random weights: near-uniform next tokens)
    assert len({tuple(c.token_ids) for c in first[0]}) > 1


def test_hf_seeds_make_each_prompt_independent_of_its_batch(hf):
    """With `seeds`, a prompt's samples depend on its seed alone: the same whatever else is batched
    with it, padded or not, in any order, and cut into any `batch_size` (a resumed `prove`)."""
    cfg = SamplingConfig(n=2, max_tokens=10, temperature=1.2, top_p=0.95)
    prompts = [LEAN_PROMPT, "by", CHAT_PROMPT]
    def drawn(out: list) -> list:  # the tokens (log-probs differ in the last bits with the padding)
        return [[c.token_ids for c in samples] for samples in out]

    full = hf.generate(prompts, cfg, seeds=[7, 8, 9])
    assert drawn(hf.generate(["by"], cfg, seeds=[8])) == drawn(full[1:2])
    assert drawn(hf.generate([CHAT_PROMPT, LEAN_PROMPT], cfg, seeds=[9, 7])) == drawn([full[2], full[0]])
    small = load_backend("hf", hf.model, tokenizer=hf.tokenizer, batch_size=3)
    assert drawn(small.generate(prompts, cfg, seeds=[7, 8, 9])) == drawn(full)
    assert drawn(hf.generate(["by"], cfg, seeds=[18])) != drawn(full[1:2])
    assert full[0][0].token_ids != full[0][1].token_ids  # sample j draws from seed + j
    for prompt, samples in zip(prompts, full):  # log-probs still the raw model's
        for c in samples:
            expected = _teacher_forced_logprobs(hf, hf.encode_prompt(prompt), c.token_ids)
            assert torch.allclose(torch.tensor(c.logprobs), expected, atol=1e-4)
    with pytest.raises(ModelError, match="one non-negative int per prompt"):
        hf.generate(prompts, cfg, seeds=[1])


def test_openai_sends_each_prompts_own_seed(llm_server):
    llm_server.default = Answer(lambda r: ["x"])
    backend = load_backend("openai", "tiny", base_url=llm_server.openai_url)
    backend.generate(["a", "b"], SamplingConfig(n=1, seed=1), seeds=[40, 50])
    assert sorted((r.body["prompt"], r.body["seed"]) for r in llm_server.requests) == [("a", 40), ("b", 50)]
    backend.close()


def test_hf_logprobs_are_the_raw_models(hf):
    # Prompts of different lengths, so the batch is left-padded; temperature and top-p are on,
    # yet the logprobs are the raw model's (temperature 1, no nucleus), as documented.
    cfg = SamplingConfig(n=2, max_tokens=8, temperature=0.7, top_p=0.9, seed=5)
    prompts = [LEAN_PROMPT, "by"]
    out = hf.generate(prompts, cfg)
    for prompt, samples in zip(prompts, out, strict=True):
        for c in samples:
            expected = _teacher_forced_logprobs(hf, hf.encode_prompt(prompt), c.token_ids)
            assert torch.allclose(torch.tensor(c.logprobs), expected, atol=1e-4)


def test_hf_processed_logprobs_follow_the_sampling_distribution(tiny_model_dir):
    backend = load_backend("hf", str(tiny_model_dir), logprobs_mode="processed")
    (c,) = backend.generate([LEAN_PROMPT], SamplingConfig(max_tokens=8, temperature=0.5, seed=1))[0]
    expected = _teacher_forced_logprobs(backend, backend.encode_prompt(LEAN_PROMPT), c.token_ids, 0.5)
    assert torch.allclose(torch.tensor(c.logprobs), expected, atol=1e-4)


def test_hf_tempered_logprobs_are_at_the_temperature_before_top_p(tiny_model_dir):
    """What the trainer recomputes: log-softmax(logits / T), the nucleus ignored."""
    backend = load_backend("hf", str(tiny_model_dir), logprobs_mode="tempered")
    (c,) = backend.generate([LEAN_PROMPT], SamplingConfig(max_tokens=8, temperature=0.6, top_p=0.8, seed=2))[0]
    expected = _teacher_forced_logprobs(backend, backend.encode_prompt(LEAN_PROMPT), c.token_ids, 0.6)
    assert torch.allclose(torch.tensor(c.logprobs), expected, atol=1e-4)
    raw = _teacher_forced_logprobs(backend, backend.encode_prompt(LEAN_PROMPT), c.token_ids)
    assert not torch.allclose(torch.tensor(c.logprobs), raw, atol=1e-3)


def test_hf_greedy_at_temperature_zero(hf):
    cfg = SamplingConfig(n=2, max_tokens=6, temperature=0)
    a = hf.generate([LEAN_PROMPT], cfg)[0]
    b = hf.generate([LEAN_PROMPT], cfg)[0]
    assert a[0].token_ids == a[1].token_ids == b[0].token_ids
    ids = torch.tensor([hf.encode_prompt(LEAN_PROMPT) + a[0].token_ids])
    with torch.no_grad():
        logits = hf.model(ids).logits[0]
    prompt_len = len(hf.encode_prompt(LEAN_PROMPT))
    argmax = logits[prompt_len - 1 : -1].argmax(-1).tolist()
    assert a[0].token_ids == argmax


def test_hf_stop_strings_cut_text_and_tokens(hf):
    cfg = SamplingConfig(n=3, max_tokens=24, seed=11)
    free = hf.generate([LEAN_PROMPT], cfg)[0]
    # A stop string taken from the middle of the first sample: a token that decodes to plain ASCII.
    stop = None
    for t in free[0].token_ids[3:-3]:
        piece = hf.tokenizer.decode([t])
        if piece.strip() and piece.isascii() and piece.isprintable():
            stop = piece
            break
    assert stop is not None, "the tiny model sampled no ASCII token to stop on"
    stopped = hf.generate([LEAN_PROMPT], SamplingConfig(n=3, max_tokens=24, seed=11, stop=(stop,)))[0]
    assert stop in free[0].text
    for before, after in zip(free, stopped, strict=True):
        if stop in before.text:
            assert after.text == before.text[: before.text.index(stop)]
            assert after.finish_reason == "stop"
            # tokens: what was sampled, up to and including the one that completed the stop string
            assert after.token_ids == before.token_ids[: len(after.token_ids)]
            assert stop in hf.tokenizer.decode(after.token_ids)
            assert stop not in hf.tokenizer.decode(after.token_ids[:-1])
            assert len(after.logprobs) == len(after.token_ids)
        else:
            assert after == before


def test_hf_reports_each_sample_when_its_row_ends(hf):
    """on_sample fires mid-generation for rows that end early, with the text generate returns."""
    prompts = [LEAN_PROMPT, "theorem t : True :="]
    free = hf.generate(prompts, SamplingConfig(n=4, max_tokens=24, seed=5))
    # a stop string sampled in the middle of some rows, so some rows end early and others run on
    stop = next(p for c in free[0] for t in c.token_ids[2:-4]
                if (p := hf.tokenizer.decode([t])).strip() and p.isascii() and p.isprintable())
    cfg = SamplingConfig(n=4, max_tokens=24, seed=5, stop=(stop,))
    reported: dict[tuple[int, int], object] = {}
    returned = []

    def on_sample(i, j, done):
        assert not returned, "reported after generate returned"
        assert (i, j) not in reported
        reported[(i, j)] = done

    outs = hf.generate(prompts, cfg, on_sample=on_sample)
    returned.append(True)
    assert outs == hf.generate(prompts, cfg)  # watching changes nothing
    ended_early = {(i, j): c for i, cs in enumerate(outs) for j, c in enumerate(cs)
                   if c.finish_reason == "stop" and len(c.token_ids) < cfg.max_tokens}
    assert ended_early and len(ended_early) < 8  # some rows ended early, some ran on
    assert set(reported) == set(ended_early)
    for key, c in ended_early.items():
        assert (reported[key].text, reported[key].token_ids) == (c.text, c.token_ids)
        assert reported[key].logprobs is None


def test_hf_chat_prompts_use_the_template(hf):
    rendered = hf.tokenizer.apply_chat_template(CHAT_PROMPT, add_generation_prompt=True, tokenize=False)
    assert rendered.startswith("<|im_start|>system\nYou are a Lean 4 prover.<|im_end|>")
    assert rendered.endswith("<|im_start|>assistant\n")
    assert hf.encode_prompt(CHAT_PROMPT) == hf.tokenizer(rendered, add_special_tokens=False).input_ids
    cfg = SamplingConfig(max_tokens=6, temperature=0)
    assert hf.generate([CHAT_PROMPT], cfg) == hf.generate([rendered], cfg)


def test_hf_accepts_a_live_model_and_leaves_it_as_it_was(tiny_model_dir):
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_model_dir)
    model.train()
    gen_config = model.generation_config
    backend = load_backend("hf", model, tokenizer=tokenizer)
    assert backend.model is model
    out = backend.generate([LEAN_PROMPT], SamplingConfig(n=2, max_tokens=4, seed=0))
    assert len(out[0]) == 2
    assert model.training and model.generation_config is gen_config
    assert tokenizer.padding_side == transformers.AutoTokenizer.from_pretrained(tiny_model_dir).padding_side

    tokenizer.chat_template = None
    with pytest.raises(ModelError, match="no chat template"):
        backend.generate([CHAT_PROMPT])


async def test_hf_async_entry_point(hf):
    out = await hf.agenerate([LEAN_PROMPT], SamplingConfig(max_tokens=3, seed=0))
    assert len(out) == 1 and len(out[0][0].token_ids) <= 3


# -- openai --------------------------------------------------------------------------------------


def test_openai_completions(llm_server):
    # Requests run concurrently: answer by prompt, not by arrival order.
    llm_server.default = Answer(lambda r: ["rfl", "simp", "omega"] if r.body["prompt"] == LEAN_PROMPT else ["norm_num"])
    backend = load_backend("openai", "tiny", base_url=llm_server.url, logprobs=True)  # bare host: /v1 added
    cfg = SamplingConfig(n=3, temperature=0.5, top_p=0.9, max_tokens=64, seed=7, stop=("```",))
    out = backend.generate([LEAN_PROMPT, "example : True := by"], cfg)
    assert [[c.text for c in s] for s in out][0] == ["rfl", "simp", "omega"]
    assert [c.text for c in out[1]] == ["norm_num"] * 3
    for samples in out:
        for c in samples:
            assert c.finish_reason == "stop" and c.token_ids is None
            assert c.logprobs == [-0.5] * len(c.text)
    assert len(llm_server.requests) == 2
    bodies = sorted((r.body for r in llm_server.requests), key=lambda b: b["prompt"])
    assert {r.path for r in llm_server.requests} == {"/v1/completions"}
    assert bodies[1] == {
        "model": "tiny", "prompt": LEAN_PROMPT, "n": 3, "temperature": 0.5, "top_p": 0.9,
        "max_tokens": 64, "seed": 7, "stop": ["```"], "logprobs": 1,
    }
    assert "authorization" not in llm_server.requests[0].headers  # no key set, none sent
    backend.close()


def test_openai_chat(llm_server):
    llm_server.push(Answer(["by decide"], finish_reason="length"))
    backend = load_backend("openai", "tiny", base_url=llm_server.openai_url, logprobs=True)
    (c,) = backend.generate([CHAT_PROMPT])[0]
    assert c == Completion(text="by decide", token_ids=None, logprobs=[-0.5] * 9, finish_reason="length")
    (request,) = llm_server.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["messages"] == CHAT_PROMPT and request.body["logprobs"] is True
    assert "top_p" not in request.body and "seed" not in request.body and "stop" not in request.body
    backend.close()


def test_openai_asks_again_when_a_server_ignores_n(llm_server):
    def one_choice(request):
        body = {"choices": [{"index": 0, "text": f"seed {request.body['seed']}", "finish_reason": "stop"}]}
        return 200, {}, __import__("json").dumps(body).encode()

    llm_server.default = Custom(one_choice)
    backend = load_backend("openai", "tiny", base_url=llm_server.openai_url)
    out = backend.generate(["p"], SamplingConfig(n=3, seed=10))
    assert [c.text for c in out[0]] == ["seed 10", "seed 11", "seed 12"]
    assert [r.body["n"] for r in llm_server.requests] == [3, 2, 1]
    backend.close()


def test_openai_retries_429_honouring_retry_after(llm_server):
    llm_server.push(RateLimited(retry_after=0.3), Answer(["ok"]))
    backend = load_backend("openai", "tiny", base_url=llm_server.openai_url, **FAST)
    assert backend.generate(["p"])[0][0].text == "ok"
    first, second = llm_server.requests
    assert second.received_at - first.received_at >= 0.3  # the server's wait, not the 10 ms back-off
    backend.close()


def test_openai_500s_exhausted_is_a_clear_error(llm_server):
    llm_server.push(*[ServerError(500, "the GPU fell over")] * 3)
    backend = load_backend("openai", "tiny", base_url=llm_server.openai_url, max_retries=2, **FAST)
    with pytest.raises(ModelHTTPError) as info:
        backend.generate(["p"])
    err = info.value
    assert err.status == 500 and err.attempts == 3 and len(llm_server.requests) == 3
    assert "after 3 attempt(s)" in str(err) and "HTTP 500" in str(err) and "the GPU fell over" in str(err)
    backend.close()


def test_openai_timeout_is_retried_then_fails(llm_server):
    llm_server.push(Slow(3.0), Slow(3.0))
    backend = load_backend("openai", "tiny", base_url=llm_server.openai_url, timeout=0.3, max_retries=1, **FAST)
    start = time.monotonic()
    with pytest.raises(ModelHTTPError, match=r"timed out after 0.3 s") as info:
        backend.generate(["p"])
    assert info.value.status is None and info.value.attempts == 2
    assert len(llm_server.requests) == 2 and time.monotonic() - start < 2.5
    backend.close()


def test_openai_timeout_then_success(llm_server):
    llm_server.push(Slow(3.0), Answer(["late but fine"]))
    backend = load_backend("openai", "tiny", base_url=llm_server.openai_url, timeout=0.3, **FAST)
    assert backend.generate(["p"])[0][0].text == "late but fine"
    backend.close()


def test_openai_malformed_json_is_a_clear_error(llm_server):
    llm_server.push(Malformed())
    backend = load_backend("openai", "tiny", base_url=llm_server.openai_url, **FAST)
    with pytest.raises(ModelResponseError, match=r"HTTP 200 with a body that is not JSON: '\{\"choices\"") :
        backend.generate(["p"])
    assert len(llm_server.requests) == 1
    llm_server.push(Custom(lambda r: (200, {}, b'{"object": "text_completion"}')))
    with pytest.raises(ModelResponseError, match="without a 'choices' list"):
        backend.generate(["p"])
    backend.close()


def test_openai_4xx_is_not_retried(llm_server):
    llm_server.push(ClientError(400, "max_tokens is too large: 99999"))
    backend = load_backend("openai", "tiny", base_url=llm_server.openai_url, **FAST)
    with pytest.raises(ModelHTTPError) as info:
        backend.generate(["p"])
    assert info.value.status == 400 and info.value.attempts == 1 and len(llm_server.requests) == 1
    assert "HTTP 400" in str(info.value) and "max_tokens is too large: 99999" in str(info.value)
    backend.close()


def test_openai_concurrency_limit(llm_server):
    llm_server.default = Answer(["x"], delay=0.15)
    backend = load_backend("openai", "tiny", base_url=llm_server.openai_url, max_concurrency=2)
    out = backend.generate([f"p{i}" for i in range(6)])
    assert len(out) == 6 and len(llm_server.requests) == 6
    assert llm_server.max_in_flight == 2
    backend.close()


def test_openai_failure_cancels_the_rest_of_the_batch(llm_server):
    llm_server.push(ClientError(400, "bad"))
    llm_server.default = Answer(["x"], delay=0.3)
    backend = load_backend("openai", "tiny", base_url=llm_server.openai_url, max_concurrency=1)
    start = time.monotonic()
    with pytest.raises(ModelHTTPError):
        backend.generate(["a", "b", "c"])
    assert time.monotonic() - start < 0.3  # raised at once, not after the slow answers
    time.sleep(0.4)
    # The last one waiting for the slot was cancelled before it was sent (the slot's next holder may
    # have been sent in the instant between the failure and the cancellation).
    assert len(llm_server.requests) < 3
    backend.close()


SECRET = "sk-test-SECRET-0123456789"


def test_openai_api_key_is_sent_but_never_shown(llm_server, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    # A server that echoes the key it rejects, after a rate limit that makes the client log a retry.
    llm_server.push(RateLimited(0.01, message=f"slow down, {SECRET}"), ClientError(401, f"Incorrect API key: {SECRET}"))
    backend = load_backend("openai", "tiny", base_url=llm_server.openai_url, **FAST)
    with pytest.raises(ModelHTTPError) as info:
        backend.generate(["p"])
    err = info.value
    assert all(r.headers["authorization"] == f"Bearer {SECRET}" for r in llm_server.requests)
    assert "Incorrect API key: ***" in str(err)
    shown = [str(err), repr(err), err.server_message, caplog.text, repr(backend), str(backend.__dict__),
             "".join(traceback.format_exception(err))]
    assert "retry 1/4" in caplog.text  # the retry was logged ...
    assert not any(SECRET in s for s in shown)  # ... and nothing shows the key
    backend.close()


def test_openai_official_host_needs_a_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ModelError, match="OPENAI_API_KEY"):
        load_backend("openai", "gpt-4o-mini")


async def test_openai_async_and_sync_from_a_running_loop(llm_server):
    llm_server.default = Answer(["a"])
    backend = load_backend("openai", "tiny", base_url=llm_server.openai_url)
    out = await backend.agenerate([CHAT_PROMPT, LEAN_PROMPT], SamplingConfig(n=2))
    assert [[c.text for c in s] for s in out] == [["a", "a"], ["a", "a"]]
    # The sync wrapper works even here, inside a running loop (it drives its own loop thread).
    assert backend.generate(["p"])[0][0].text == "a"
    await backend.aclose()
    backend.close()


# -- anthropic -----------------------------------------------------------------------------------


def test_anthropic_headers_system_and_n_requests(llm_server, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    llm_server.push(Answer(["one"]), Answer(["two"]), Answer(["three"], finish_reason="length"))
    backend = load_backend("anthropic", "claude-test", base_url=llm_server.url, system="Be terse.")
    cfg = SamplingConfig(n=3, temperature=0.2, max_tokens=100, stop=("\n\n",))
    (samples,) = backend.generate([LEAN_PROMPT], cfg)
    assert sorted((c.text, c.finish_reason) for c in samples) == [("one", "stop"), ("three", "length"), ("two", "stop")]
    assert all(c.token_ids is None and c.logprobs is None for c in samples)
    assert len(llm_server.requests) == 3
    for r in llm_server.requests:
        assert r.path == "/v1/messages"
        assert r.headers["x-api-key"] == SECRET and r.headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in r.headers
        assert r.body == {
            "model": "claude-test", "max_tokens": 100, "temperature": 0.2, "system": "Be terse.",
            "messages": [{"role": "user", "content": LEAN_PROMPT}], "stop_sequences": ["\n\n"],
        }
    assert SECRET not in repr(backend)
    backend.close()


def test_anthropic_system_messages_become_the_system_field(llm_server):
    backend = load_backend("anthropic", "claude-test", base_url=llm_server.url + "/v1", system="default")
    backend.generate([CHAT_PROMPT])
    (r,) = llm_server.requests
    assert r.path == "/v1/messages"
    assert r.body["system"] == "You are a Lean 4 prover."
    assert r.body["messages"] == [{"role": "user", "content": "Prove: 1 + 1 = 2"}]
    backend.close()


def test_anthropic_errors_retry_and_redaction(llm_server, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    llm_server.push(ServerError(529, "Overloaded"), RateLimited(0.01), ClientError(400, f"bad key {SECRET}"))
    backend = load_backend("anthropic", "claude-test", base_url=llm_server.url, **FAST)
    with pytest.raises(ModelHTTPError) as info:
        backend.generate(["p"])
    assert info.value.status == 400 and info.value.attempts == 3
    assert "bad key *** (invalid_request_error)" in str(info.value)
    assert SECRET not in caplog.text and "Overloaded" in caplog.text
    backend.close()


def test_anthropic_official_host_needs_a_key(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    with pytest.raises(ModelError, match="ANTHROPIC_API_KEY"):
        load_backend("anthropic", "claude-sonnet-4-5")


# -- vllm, factory, configs ----------------------------------------------------------------------


def test_vllm_absent_gives_the_install_hint():
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    with pytest.raises(BackendNotInstalled, match=r"pip install 'leanfd\[vllm\]'"):
        load_backend("vllm", "some/model")


def test_factory_and_config_errors():
    with pytest.raises(ModelError, match="unknown backend kind 'tgi'"):
        load_backend("tgi", "m")
    with pytest.raises(ModelError, match="base_url is for the HTTP backends"):
        load_backend("hf", "m", base_url="http://x")
    with pytest.raises(ModelError, match="unknown option"):
        load_backend("openai", "m", base_url="http://127.0.0.1:1", retries=3)
    with pytest.raises(ModelError, match="top_p"):
        SamplingConfig(top_p=0)
    with pytest.raises(ModelError, match="temperature"):
        SamplingConfig(temperature=-1)
    assert SamplingConfig(stop="```").stop == ("```",)
    backend = load_backend("openai", "m", base_url="http://127.0.0.1:1")
    with pytest.raises(ModelError, match="wrap a single prompt"):
        backend.generate(CHAT_PROMPT)
    with pytest.raises(ModelError, match="prompt 1, message 0"):
        backend.generate(["ok", [{"role": "tool", "content": "x"}]])
    backend.close()


def test_connection_refused_is_retried_then_clear(llm_server):
    url = llm_server.openai_url
    llm_server.stop()
    backend = load_backend("openai", "tiny", base_url=url, max_retries=1, **FAST)
    with pytest.raises(ModelHTTPError, match="connection failed") as info:
        backend.generate(["p"])
    assert info.value.status is None and info.value.attempts == 2
    backend.close()


def test_server_is_reusable_as_a_context_manager():
    with LLMServer(default=Answer(lambda r: [r.body["messages"][-1]["content"].upper()])) as server:
        backend = load_backend("openai", "tiny", base_url=server.openai_url)
        assert backend.generate([[{"role": "user", "content": "echo"}]])[0][0].text == "ECHO"
        backend.close()
