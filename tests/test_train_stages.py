"""The training step's stages one by one: rewards from real verdicts, advantages, and the two losses
as the trainer runs them, each checked against its definition (issue 11's fixes a-d).

Attempts carry verdicts of the bundled Lean on real checks; the models are the tiny Qwen2 of
tests/tiny_model.py, run on CPU in float64 where a comparison must be exact.
"""

from __future__ import annotations

import contextlib

import pytest
import torch

from leanfd.config import load
from leanfd.data.benchmarks import Problem
from leanfd.models.base import encode_with_tokenizer
from leanfd.train.attempts import Attempt, StepBatch
from leanfd.train.batching import completion_logits
from leanfd.train.config import FDConfig, GRPOConfig, TrainConfig
from leanfd.train.losses import fd_loss, group_advantages, grpo_loss
from leanfd.train.objectives import Models, advantages, fd_backward, grpo_backward
from leanfd.train.reward import attempt_reward, elaborated_without_error, episode_rewards, step_rewards

PROOFS = {  # proof -> what Lean says of it with the toy prelude
    " True.intro": "proved",
    " sorryAx True Bool.false": "failed, no error (a sorry is a warning)",
    " False.elim": "failed with an error",
}


@pytest.fixture(scope="module")
def problem(toy_header) -> Problem:
    return Problem(name="toy_true", header=toy_header, formal_statement="theorem toy_true : True :=", split="test")


@pytest.fixture(scope="module")
def verdicts(problem, cli_verifier):
    return {proof: cli_verifier.check(problem.to_check_record({"proof": proof})) for proof in PROOFS}


def make_attempt(problem, verdict, *, prompt_ids, completion_ids, logprobs=(), group=0, turn=0, root=0) -> Attempt:
    return Attempt(problem=problem, group=group, turn=turn, prompt="theorem toy_true : True :=",
                   prompt_ids=tuple(prompt_ids), completion_ids=tuple(completion_ids),
                   sampled_logprobs=tuple(logprobs), text="", finish_reason="stop",
                   check=problem.to_check_record({"proof": " True.intro"}), verdict=verdict, root=root)


class Serial:
    """The one-process strategy: what parallel.DDP does without other processes."""

    def no_sync(self):
        return contextlib.nullcontext()

    def backward(self, loss):
        loss.backward()

    def autocast(self):
        return contextlib.nullcontext()


# -- (d) rewards ---------------------------------------------------------------------------------


def test_format_reward_is_paid_only_for_an_attempt_that_elaborates_without_error(verdicts):
    proved, sorry, wrong = (verdicts[p] for p in PROOFS)
    assert proved.proved and not sorry.proved and not wrong.proved
    assert elaborated_without_error(sorry) and not elaborated_without_error(wrong)
    assert [attempt_reward(v, 0.25) for v in (proved, sorry, wrong)] == [1.0, 0.25, 0.0]
    assert attempt_reward(sorry) == 0.0  # no format reward by default


def test_an_episode_earns_its_best_attempt(problem, verdicts):
    proved, sorry, wrong = (verdicts[p] for p in PROOFS)
    a = [make_attempt(problem, wrong, prompt_ids=[1], completion_ids=[2], root=0),
         make_attempt(problem, wrong, prompt_ids=[1], completion_ids=[2], root=1),
         make_attempt(problem, proved, prompt_ids=[1], completion_ids=[2], turn=1, root=0)]
    rewards = step_rewards(tuple(a))
    assert rewards == (0.0, 0.0, 1.0) and episode_rewards(tuple(a), rewards) == (1.0, 0.0, 1.0)


def test_advantages_follow_the_first_attempts_groups(problem, verdicts):
    proved, _, wrong = (verdicts[p] for p in PROOFS)
    vs = [proved, wrong, wrong, wrong]
    a = tuple(make_attempt(problem, v, prompt_ids=[1], completion_ids=[2], root=i) for i, v in enumerate(vs))
    batch = StepBatch(a, step_rewards(a), (None,) * 4)
    expected = group_advantages(torch.tensor([1.0, 0, 0, 0]), 4)
    assert torch.allclose(torch.tensor(advantages(batch, 4, True), dtype=torch.float64), expected.double())


# -- the losses as the trainer runs them -------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float64)
    return model, tok


def _batch(problem, verdict, tok, model, lengths=(5, 3), temperature=1.0, feedback="Use True.intro."):
    """Attempts sampled from the model itself (greedy-free: fixed ids), with the sampler's log-probs
    taken at `temperature` so that on-policy the importance ratio is 1."""
    prompt = encode_with_tokenizer(tok, "theorem toy_true : True :=", "tiny")
    gen = torch.Generator().manual_seed(0)
    comps = [torch.randint(4, len(tok), (n,), generator=gen).tolist() for n in lengths]
    with torch.no_grad():
        logits, tokens, mask = completion_logits(model, [prompt] * len(comps), comps, tok.pad_token_id)
        logp = torch.log_softmax(logits / temperature, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    attempts = tuple(make_attempt(problem, verdict, prompt_ids=prompt, completion_ids=c,
                                  logprobs=logp[i, : len(c)].tolist(), root=i) for i, c in enumerate(comps))
    return StepBatch(attempts, (0.0,) * len(comps), (feedback,) * len(comps)), prompt, comps


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_grpo_dr_grpo_divides_by_the_generation_budget_at_the_sampling_temperature(problem, verdicts, tiny):
    """(a) the Dr. GRPO constant is max_new_tokens, not the batch's longest completion; (c) log-probs
    at logits / T."""
    model, tok = tiny
    T, budget = 0.7, 16
    batch, prompt, comps = _batch(problem, verdicts[" False.elim"], tok, model, temperature=T)
    batch = StepBatch(batch.attempts, (1.0, 0.0), batch.feedback)
    models = Models(model, None, None, lambda p: encode_with_tokenizer(tok, p, "tiny"), tok.pad_token_id)
    config = GRPOConfig(aggregation="dr_grpo")
    model.zero_grad()
    loss, stats = grpo_backward(batch, models, config, group_size=2, temperature=T, budget=budget, micro_batch=1,
                                loss_chunk=2, parallel=Serial())
    ours = _grads(model)

    model.zero_grad()
    logits, tokens, mask = completion_logits(model, [prompt] * 2, comps, tok.pad_token_id)
    logp = torch.log_softmax(logits / T, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    old = torch.tensor([list(a.sampled_logprobs) + [0.0] * (tokens.shape[1] - len(a.sampled_logprobs))
                        for a in batch.attempts], dtype=torch.float64)
    adv = group_advantages(torch.tensor([1.0, 0.0], dtype=torch.float64), 2)
    ref_loss, m = grpo_loss(logp, old, adv, mask, aggregation="dr_grpo", max_tokens=budget)
    ref_loss.backward()
    assert loss == pytest.approx(float(ref_loss), rel=1e-9, abs=1e-12)
    assert float(m["ratio"]) == pytest.approx(1.0)  # the sampler's log-probs are at the same temperature
    for n, g in _grads(model).items():
        assert torch.allclose(ours[n], g, atol=1e-10), n
    # the budget, not the longest completion (5): the same batch with budget 5 gives 16/5 times the loss
    model.zero_grad()
    loss5, _ = grpo_backward(batch, models, config, group_size=2, temperature=T, budget=5, micro_batch=2,
                             loss_chunk=64, parallel=Serial())
    assert loss5 == pytest.approx(loss * budget / 5, rel=1e-9)


def test_fd_takes_the_students_top_k_at_the_sampling_temperature(problem, verdicts, tiny):
    """(b) the top-k support is the student's ids by default (SDPO); (c) both sides at logits / T; the
    trainer's micro-batched, chunked loss equals fd_loss on full logits, gradients too."""
    model, tok = tiny
    from transformers import AutoModelForCausalLM

    teacher = AutoModelForCausalLM.from_config(model.config).to(torch.float64).requires_grad_(False)  # another model
    T = 0.8
    batch, prompt, comps = _batch(problem, verdicts[" False.elim"], tok, model, temperature=T)
    encode = lambda p: encode_with_tokenizer(tok, p, "tiny")  # noqa: E731
    models = Models(model, teacher, None, encode, tok.pad_token_id)
    config = FDConfig(topk=5)
    assert config.topk_from == "student"
    model.zero_grad()
    loss, stats = fd_backward(batch, models, config, temperature=T, micro_batch=1, loss_chunk=3, parallel=Serial())
    ours = _grads(model)

    from leanfd.train.teacher_feedback import teacher_prompt

    model.zero_grad()
    s_logits, tokens, mask = completion_logits(model, [prompt] * 2, comps, tok.pad_token_id)
    t_prompt = encode(teacher_prompt(batch.attempts[0].prompt, batch.feedback[0]))
    with torch.no_grad():
        t_logits, _, _ = completion_logits(teacher, [t_prompt] * 2, comps, tok.pad_token_id)
    old = torch.tensor([list(a.sampled_logprobs) + [0.0] * (tokens.shape[1] - len(a.sampled_logprobs))
                        for a in batch.attempts], dtype=torch.float64)
    # two micro-batches of one sequence: the step's token mean, the same as one batch of both
    total, _ = fd_loss(s_logits, t_logits, tokens, mask, support="student_topk", top_k=5, old_logprobs=old,
                       temperature=T)
    total.backward()
    assert loss == pytest.approx(float(total), rel=1e-9)
    for n, g in _grads(model).items():
        assert torch.allclose(ours[n], g, atol=1e-10), n
    teacher_support, _ = fd_loss(s_logits, t_logits, tokens, mask, support="teacher_topk", top_k=5, temperature=T,
                                 old_logprobs=old)
    assert float(teacher_support) != pytest.approx(float(total), rel=1e-6)  # the choice is visible
    assert stats["clip_fraction"] == 0.0 and stats["distilled"] == 2


def test_a_process_with_nothing_to_distil_still_gives_every_parameter_a_gradient(problem, verdicts, tiny):
    """DDP waits for every parameter's gradient: the empty micro-batch passes through the head."""
    model, tok = tiny
    batch, _, _ = _batch(problem, verdicts[" True.intro"], tok, model)
    batch = StepBatch(batch.attempts, batch.rewards, (None, None))  # proved: nothing distilled
    models = Models(model, model, None, lambda p: encode_with_tokenizer(tok, p, "tiny"), tok.pad_token_id)
    model.zero_grad()
    loss, stats = fd_backward(batch, models, FDConfig(), temperature=1.0, micro_batch=4, loss_chunk=8,
                              parallel=Serial())
    grads = _grads(model)
    assert loss == 0.0 and stats["distilled"] == 0
    assert set(grads) == {n for n, p in model.named_parameters() if p.requires_grad}
    assert all(float(g.abs().max()) == 0.0 for g in grads.values())


def test_train_config_sections_from_flat_flags_and_nested_yaml(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("model: m\ndataset: d\nfd:\n  divergence: jsd\n  topk: 0\noptim: {sharding: fsdp2}\n"
                 "verifier: {backend: cli}\nmax_new_tokens: 7\n")
    c = load(TrainConfig, y, {"jsd_beta": 0.3, "verifier_timeout": 5})
    assert (c.fd.divergence, c.fd.topk, c.fd.jsd_beta) == ("jsd", 0, 0.3)
    assert c.optim.sharding == "fsdp2" and c.rollout.max_new_tokens == 7
    assert c.verifier.backend == "cli" and c.verifier.timeout == 5
    from leanfd.config import ConfigError

    bad = tmp_path / "b.yaml"
    bad.write_text("model: m\ndataset: d\nfd: {divergense: jsd}\n")
    with pytest.raises(ConfigError, match="fd.divergense"):
        load(TrainConfig, bad)
    with pytest.raises(ConfigError, match="--temperature"):
        load(TrainConfig, overrides={"model": "m", "dataset": "d", "temperature": 0})


def test_lean_feedback_is_rendered_once_for_the_revision_and_the_teacher(problem, cli_verifier, tiny_model_dir):
    """The verify stage renders each verdict once, at --feedback-tokens; the next turn's prompt and
    the FD teacher's compiler feedback quote that text, not a second rendering with other options."""
    from leanfd.data.prompts import PromptBuilder
    from leanfd.feedback.compiler import RenderOptions, render
    from leanfd.feedback.critic import FeedbackConfig
    from leanfd.lean.snippet import attempt_text
    from leanfd.models import load_backend
    from leanfd.models.base import SamplingConfig
    from leanfd.train.rollout import RolloutEngine
    from leanfd.train.teacher_feedback import TeacherFeedback

    policy = load_backend("hf", str(tiny_model_dir))
    opts = RenderOptions(max_tokens=80)
    engine = RolloutEngine(policy, cli_verifier, PromptBuilder(num_few_shot=0),
                           SamplingConfig(n=2, temperature=1.0, max_tokens=12, stop=("```",)), turns=2, feedback=opts)
    attempts, _ = engine.collect([problem], seed=3)
    first = [a for a in attempts if a.turn == 0]
    revised = [a for a in attempts if a.turn == 1]
    assert len(first) == 2 and len(revised) == sum(not a.proved for a in first) > 0  # a random model fails
    for a in attempts:
        assert a.compiler_feedback == render(attempt_text(a.check), a.verdict, opts)
    for r in revised:
        assert attempts[r.root].compiler_feedback in r.prompt  # the student reads the stage's text
    # the teacher's budget (FeedbackConfig.max_tokens, 1024 here) does not re-render it at 80
    texts = TeacherFeedback(FeedbackConfig(content="compiler", which="all"))(attempts)
    for a, text in zip(attempts, texts):
        assert text == "Lean's verdict on a previous attempt:\n" + a.compiler_feedback
