"""Losses against numbers computed by hand: the references below are plain-Python formulas on
tiny vocabularies (V = 3 or 4), written independently of leanfd.train.losses."""

from __future__ import annotations

import math

import pytest
import torch

from leanfd.train.losses import (
    AGGREGATION_NAMES,
    DIVERGENCE_NAMES,
    SUPPORT_NAMES,
    aggregate,
    fd_loss,
    group_advantages,
    grpo_loss,
    k3_kl,
    topk_with_tail,
)

F64 = torch.float64

# --- plain-Python references ----------------------------------------------------------------


def softmax(z: list[float]) -> list[float]:
    top = max(z)
    e = [math.exp(x - top) for x in z]
    return [x / sum(e) for x in e]


def kl(p: list[float], q: list[float]) -> float:
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q) if pi > 0)


def ref_divergence(name: str, beta: float, zs: list[float], zt: list[float]) -> tuple[float, list[float]]:
    """(D, dD/dz_student) by the closed forms: with g_j = dD/dp_j, dD/dz_i = p_i (g_i - sum_j p_j g_j)."""
    p, q = softmax(zs), softmax(zt)
    if name == "reverse_kl":  # g_j = log(p_j/q_j) + 1
        value = kl(p, q)
        return value, [pi * (math.log(pi / qi) - value) for pi, qi in zip(p, q)]
    if name == "forward_kl":  # g_j = -q_j/p_j
        return kl(q, p), [pi - qi for pi, qi in zip(p, q)]
    m = [beta * qi + (1 - beta) * pi for pi, qi in zip(p, q)]  # g_j = (1 - beta) log(p_j/m_j)
    value = beta * kl(q, m) + (1 - beta) * kl(p, m)
    return value, [(1 - beta) * pi * (math.log(pi / mi) - kl(p, m)) for pi, mi in zip(p, m)]


# Two positions (B=1, T=2), V=4.
ZS = [[0.3, -1.2, 2.0, 0.5], [-0.5, 0.0, 0.9, -2.0]]
ZT = [[1.0, 0.2, -0.7, 0.4], [0.1, 1.5, -0.3, 0.0]]
CASES = [("reverse_kl", 0.5), ("forward_kl", 0.5), ("jsd", 0.3), ("jsd", 0.5), ("jsd", 0.8)]


def run_fd(zs, zt, mask=None, tokens=None, dtype=F64, **kw):
    """fd_loss on logits given as tensors (zs a leaf with grad) or as T rows of V numbers (B = 1);
    returns (loss, d loss / d student logits, metrics)."""
    s = zs if torch.is_tensor(zs) else torch.tensor([zs], dtype=dtype).requires_grad_(True)
    t = zt if torch.is_tensor(zt) else torch.tensor([zt], dtype=dtype)
    b, n = s.shape[:2]
    mask = torch.ones(b, n) if mask is None else mask
    tokens = torch.zeros(b, n, dtype=torch.long) if tokens is None else tokens
    loss, metrics = fd_loss(s, t, tokens, mask, **kw)
    loss.backward()
    return loss, s.grad, metrics


# --- FD -------------------------------------------------------------------------------------


def test_reference_gradients_agree_with_finite_differences():
    """Checks the test's own closed forms before anything is compared with them."""
    h = 1e-6
    for name, beta in CASES:
        for zs, zt in zip(ZS, ZT):
            _, grad = ref_divergence(name, beta, zs, zt)
            for i in range(4):
                up, down = list(zs), list(zs)
                up[i] += h
                down[i] -= h
                fd = (ref_divergence(name, beta, up, zt)[0] - ref_divergence(name, beta, down, zt)[0]) / (2 * h)
                assert fd == pytest.approx(grad[i], abs=1e-8)


def test_divergences_on_round_numbers():
    # p = (1/2, 1/4, 1/4), q = (1/4, 1/2, 1/4): both KLs are ln2/4; m = (3/8, 3/8, 1/4).
    zs, zt = [[math.log(0.5), math.log(0.25), math.log(0.25)]], [[math.log(0.25), math.log(0.5), math.log(0.25)]]
    expected = {
        ("reverse_kl", 0.5): math.log(2) / 4,
        ("forward_kl", 0.5): math.log(2) / 4,
        ("jsd", 0.5): 0.5 * math.log(4 / 3) + 0.25 * math.log(2 / 3),
    }
    for (name, beta), value in expected.items():
        loss, _, metrics = run_fd(zs, zt, divergence=name, beta=beta)
        assert loss.item() == pytest.approx(value, abs=1e-12)
        assert metrics["divergence"].item() == pytest.approx(value, abs=1e-12)


@pytest.mark.parametrize("name,beta", CASES)
@pytest.mark.parametrize("support", ["full", "teacher_topk", "student_topk"])
def test_value_and_gradient_match_hand_reference(name, beta, support):
    # Top-k with k = V must be the full-vocabulary value (its tail holds no mass).
    loss, grad, _ = run_fd(ZS, ZT, divergence=name, beta=beta, support=support, top_k=4)
    refs = [ref_divergence(name, beta, zs, zt) for zs, zt in zip(ZS, ZT)]
    assert loss.item() == pytest.approx(sum(v for v, _ in refs) / 2, abs=1e-12)  # token mean over 2
    expected_grad = torch.tensor([[g for g in refs[0][1]], [g for g in refs[1][1]]], dtype=F64) / 2
    torch.testing.assert_close(grad[0], expected_grad, atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", DIVERGENCE_NAMES)
def test_topk_equal_to_vocab_matches_full_in_float32(name):
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(2, 5, 7, generator=g) * 3, torch.randn(2, 5, 7, generator=g) * 3
    out = {}
    for support in SUPPORT_NAMES:
        leaf = s.clone().requires_grad_(True)
        out[support] = run_fd(leaf, t, divergence=name, support=support, top_k=7)
    for support in ("teacher_topk", "student_topk"):
        torch.testing.assert_close(out[support][0], out["full"][0], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(out[support][1], out["full"][1], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name,beta", CASES + [("jsd", 0.0), ("jsd", 1.0)])
@pytest.mark.parametrize("support", SUPPORT_NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_zero_loss_and_gradient_when_teacher_equals_student(name, beta, support, dtype):
    g = torch.Generator().manual_seed(1)
    logits = (torch.randn(2, 3, 6, generator=g) * 4).to(dtype)
    s = logits.clone().requires_grad_(True)
    old = torch.full((2, 3), -1.0)  # weights in play, and some of them clipped
    loss, grad, _ = run_fd(s, logits.clone(), divergence=name, beta=beta, support=support, top_k=3,
                           old_logprobs=old, temperature=0.7)
    assert abs(loss.item()) < 1e-6
    assert grad.float().abs().max().item() < 1e-6


def test_jsd_endpoints_are_the_scaled_limits():
    """beta = 0 / 1 return forward / reverse KL (TRL's convention); the formula itself tends to 0
    there, and JSD_beta / beta -> KL(teacher || student), JSD_beta / (1 - beta) -> KL(student || teacher)."""
    fwd = sum(ref_divergence("forward_kl", 0, a, b)[0] for a, b in zip(ZS, ZT)) / 2
    rev = sum(ref_divergence("reverse_kl", 0, a, b)[0] for a, b in zip(ZS, ZT)) / 2
    assert run_fd(ZS, ZT, divergence="jsd", beta=0.0)[0].item() == pytest.approx(fwd, abs=1e-12)
    assert run_fd(ZS, ZT, divergence="jsd", beta=1.0)[0].item() == pytest.approx(rev, abs=1e-12)
    small = 1e-5
    assert run_fd(ZS, ZT, divergence="jsd", beta=small)[0].item() / small == pytest.approx(fwd, rel=1e-3)
    assert run_fd(ZS, ZT, divergence="jsd", beta=1 - small)[0].item() / small == pytest.approx(rev, rel=1e-3)


def test_tail_bucket_on_a_hand_example():
    teacher = [0.5, 0.3, 0.15, 0.05]
    student = [0.25, 0.25, 0.25, 0.25]
    zs, zt = [[math.log(x) for x in student]], [[math.log(x) for x in teacher]]
    # Teacher's top-2 = ids 0, 1; tails: teacher 0.15 + 0.05 = 0.2, student 0.5.
    t_logp = torch.log(torch.tensor([teacher], dtype=F64))
    with_tail = topk_with_tail(t_logp, torch.tensor([[0, 1]])).exp()
    torch.testing.assert_close(with_tail, torch.tensor([[0.5, 0.3, 0.2]], dtype=F64))
    p, q = [0.25, 0.25, 0.5], [0.5, 0.3, 0.2]
    loss, grad, metrics = run_fd(zs, zt, divergence="reverse_kl", support="teacher_topk", top_k=2)
    by_hand = 0.25 * math.log(0.25 / 0.5) + 0.25 * math.log(0.25 / 0.3) + 0.5 * math.log(0.5 / 0.2)
    assert loss.item() == pytest.approx(by_hand, abs=1e-12)
    # Gradient through the buckets: dD/dz_i = p_i (log(p_b/q_b) - D), b = the bucket holding i.
    d = kl(p, q)
    bucket = [0, 1, 2, 2]
    expected = [student[i] * (math.log(p[bucket[i]] / q[bucket[i]]) - d) for i in range(4)]
    torch.testing.assert_close(grad[0, 0], torch.tensor(expected, dtype=F64), atol=1e-12, rtol=0)
    forward, _, _ = run_fd(zs, zt, divergence="forward_kl", support="teacher_topk", top_k=2)
    assert forward.item() == pytest.approx(kl(q, p), abs=1e-12)
    assert metrics["student_entropy"].item() == pytest.approx(math.log(4), abs=1e-12)
    assert metrics["teacher_entropy"].item() == pytest.approx(-sum(x * math.log(x) for x in teacher), abs=1e-12)


def test_teacher_and_student_topk_pick_different_ids():
    teacher = [0.5, 0.3, 0.15, 0.05]
    student = [0.1, 0.2, 0.3, 0.4]
    zs, zt = [[math.log(x) for x in student]], [[math.log(x) for x in teacher]]
    by_teacher = kl([0.1, 0.2, 0.7], [0.5, 0.3, 0.2])  # ids 0, 1 + tail
    by_student = kl([0.4, 0.3, 0.3], [0.05, 0.15, 0.8])  # ids 3, 2 + tail
    assert run_fd(zs, zt, support="teacher_topk", top_k=2)[0].item() == pytest.approx(by_teacher, abs=1e-12)
    assert run_fd(zs, zt, support="student_topk", top_k=2)[0].item() == pytest.approx(by_student, abs=1e-12)


def test_tail_is_accurate_when_topk_hold_nearly_all_mass_in_float32():
    # logits (20, 0, 0), k = 1: tail = 2 / (e^20 + 2), ~4e-9, below float32's 1 - sum resolution.
    logp = torch.log_softmax(torch.tensor([[20.0, 0.0, 0.0]]), -1)
    tail = topk_with_tail(logp, torch.tensor([[0]]))[0, 1].item()
    assert tail == pytest.approx(math.log(2) - 20 - math.log1p(2 * math.exp(-20)), abs=1e-4)


def test_importance_weights_are_clipped_and_detached():
    # Three positions; old log-probs set so the ratios pi/pi_old are 0.5, 3 and 1.
    zs = ZS + [[0.0, 1.0, -1.0, 0.5]]
    zt = ZT + [[0.5, -0.5, 0.0, 1.0]]
    tokens = torch.tensor([[2, 0, 1]])
    logp_tok = [math.log(softmax(z)[k]) for z, k in zip(zs, [2, 0, 1])]
    old = torch.tensor([[logp_tok[0] - math.log(0.5), logp_tok[1] - math.log(3.0), logp_tok[2]]], dtype=F64)
    refs = [ref_divergence("reverse_kl", 0, a, b) for a, b in zip(zs, zt)]
    for clip, weights, frac in ((2.0, [0.5, 2.0, 1.0], 1 / 3), (5.0, [0.5, 3.0, 1.0], 0.0)):
        loss, grad, metrics = run_fd(zs, zt, tokens=tokens, old_logprobs=old, clip=clip)
        assert loss.item() == pytest.approx(sum(w * v for w, (v, _) in zip(weights, refs)) / 3, abs=1e-12)
        # Detached weights: the gradient is the weighted divergence gradient, no d(weight)/dz term.
        expected = torch.tensor([[w * x / 3 for x in g] for w, (_, g) in zip(weights, refs)], dtype=F64)
        torch.testing.assert_close(grad[0], expected, atol=1e-12, rtol=0)
        assert metrics["clip_fraction"].item() == pytest.approx(frac)
        assert metrics["divergence"].item() == pytest.approx(sum(v for v, _ in refs) / 3, abs=1e-12)


@pytest.mark.parametrize("aggregation", AGGREGATION_NAMES)
def test_masked_tokens_contribute_nothing(aggregation):
    zs = [ZS[0], [1e4, -1e4, 0.0, 3.0], ZS[1]]
    zt = [ZT[0], [-1e4, 1e4, 5.0, 0.0], ZT[1]]
    mask = torch.tensor([[1.0, 0.0, 1.0]])
    tokens = torch.tensor([[1, -100, 3]])  # a padding id at the masked position
    old = torch.tensor([[-1.0, float("nan"), -2.0]], dtype=F64)
    loss, grad, metrics = run_fd(zs, zt, mask=mask, tokens=tokens, old_logprobs=old, aggregation=aggregation,
                                 max_tokens=3)
    ref_loss, ref_grad, ref_metrics = run_fd([zs[0], zs[2]], [zt[0], zt[2]], tokens=torch.tensor([[1, 3]]),
                                             old_logprobs=old[:, [0, 2]], aggregation=aggregation, max_tokens=3)
    assert loss.item() == pytest.approx(ref_loss.item(), abs=1e-12)
    assert torch.all(grad[0, 1] == 0)
    torch.testing.assert_close(grad[0, [0, 2]], ref_grad[0])
    for k in metrics:
        assert metrics[k].item() == pytest.approx(ref_metrics[k].item(), abs=1e-12)


def test_aggregations_on_a_hand_example():
    # Sequence 0 counts both positions, sequence 1 only its first: d = [[a, b], [c, .]].
    zs = torch.tensor([ZS, [ZS[1], ZS[0]]], dtype=F64)
    zt = torch.tensor([ZT, [ZT[1], ZT[0]]], dtype=F64)
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    a, b = (ref_divergence("reverse_kl", 0, x, y)[0] for x, y in zip(ZS, ZT))
    c = b
    expected = {"token_mean": (a + b + c) / 3, "sequence_mean": ((a + b) / 2 + c) / 2, "dr_grpo": (a + b + c) / (2 * 5)}
    for aggregation, value in expected.items():
        loss, _, _ = run_fd(zs.clone().requires_grad_(True), zt, mask=mask, aggregation=aggregation, max_tokens=5)
        assert loss.item() == pytest.approx(value, abs=1e-12)


def test_normalisers_by_hand():
    per_token = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, float("nan")], [7.0, 8.0, 9.0]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0], [0, 0, 0]]).bool()  # the last sequence counts nothing
    assert aggregate(per_token, mask, "token_mean").item() == pytest.approx((1 + 2 + 4) / 3)
    assert aggregate(per_token, mask, "sequence_mean").item() == pytest.approx((1.5 + 4 + 0) / 3)  # / B, as TRL
    assert aggregate(per_token, mask, "dr_grpo", max_tokens=4).item() == pytest.approx((1 + 2 + 4) / (3 * 4))
    assert aggregate(per_token, torch.zeros_like(mask), "token_mean").item() == 0.0


def test_large_logits_are_stable():
    zs, zt = [[1e4, -1e4, 0.0]], [[-1e4, 1e4, 0.0]]
    for dtype in (torch.float32, torch.bfloat16):
        big = torch.tensor(1e4, dtype=dtype).item()  # bf16 holds 9984
        # p = (1, 0, 0), q = (0, 1, 0): log p_0 - log q_0 = 2 * big both ways; JSD(1/2) = ln 2.
        expected = {("reverse_kl", 0.5): 2 * big, ("forward_kl", 0.5): 2 * big, ("jsd", 0.5): math.log(2)}
        for support in SUPPORT_NAMES:
            for (name, beta), value in expected.items():
                loss, grad, _ = run_fd(zs, zt, dtype=dtype, divergence=name, beta=beta, support=support, top_k=2)
                assert loss.dtype == torch.float32
                assert loss.item() == pytest.approx(value, rel=1e-5)
                assert torch.isfinite(grad.float()).all()
                loss, grad, _ = run_fd(zs, zs, dtype=dtype, divergence=name, beta=beta, support=support, top_k=2)
                assert loss.item() == pytest.approx(0.0, abs=1e-6) and grad.float().abs().max().item() < 1e-6


def test_bf16_inputs_are_computed_in_float32():
    g = torch.Generator().manual_seed(2)
    s16 = (torch.randn(2, 3, 5, generator=g)).bfloat16().requires_grad_(True)
    t16 = torch.randn(2, 3, 5, generator=g).bfloat16()
    loss16, grad16, _ = run_fd(s16, t16, divergence="jsd")
    s32 = s16.detach().float().requires_grad_(True)
    loss32, grad32, _ = run_fd(s32, t16.float(), divergence="jsd")
    assert loss16.dtype == torch.float32 and grad16.dtype == torch.bfloat16
    assert loss16.item() == loss32.item()
    torch.testing.assert_close(grad16, grad32.bfloat16())


def test_minus_infinity_logits_stay_finite():
    zs = torch.tensor([[[0.5, -1.0, float("-inf"), 2.0]]]).requires_grad_(True)
    zt = torch.tensor([[[1.0, 0.0, float("-inf"), -1.0]]])
    for name in DIVERGENCE_NAMES:
        for support in SUPPORT_NAMES:
            leaf = zs.detach().clone().requires_grad_(True)
            loss, grad, _ = run_fd(leaf, zt, divergence=name, support=support, top_k=2)
            value, _ = ref_divergence(name, 0.5, [0.5, -1.0, 2.0], [1.0, 0.0, -1.0])  # id 2 has no mass
            if support == "full":
                assert loss.item() == pytest.approx(value, rel=1e-5)
            assert torch.isfinite(loss) and torch.isfinite(grad).all()


def test_temperature_divides_both_sides():
    loss_t, grad_t, _ = run_fd(ZS, ZT, temperature=2.0, divergence="jsd")
    half = lambda z: [[x / 2 for x in row] for row in z]  # noqa: E731
    value = sum(ref_divergence("jsd", 0.5, a, b)[0] for a, b in zip(half(ZS), half(ZT))) / 2
    assert loss_t.item() == pytest.approx(value, abs=1e-12)


@pytest.mark.parametrize(
    "kw",
    [{"divergence": "kl"}, {"support": "topk"}, {"beta": 1.5}, {"support": "teacher_topk", "top_k": 5},
     {"clip": 0.0}, {"temperature": 0.0}, {"aggregation": "mean"}],
)
def test_fd_rejects_bad_arguments(kw):
    with pytest.raises(ValueError):
        run_fd(ZS, ZT, **kw)


# --- GRPO -----------------------------------------------------------------------------------


def test_group_advantages_by_hand():
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    adv = group_advantages(rewards, 4)
    s = math.sqrt((4 * 0.25) / 3)  # sample std of (1, 0, 0, 1): sqrt(sum (r - 1/2)^2 / (G - 1))
    a = 0.5 / (s + 1e-4)
    torch.testing.assert_close(adv, torch.tensor([a, -a, -a, a, 0.0, 0.0, 0.0, 0.0]))
    centred = torch.tensor([0.5, -0.5, -0.5, 0.5, 0, 0, 0, 0])
    torch.testing.assert_close(group_advantages(rewards, 4, scale_std=False), centred)


def test_group_advantages_use_the_sample_std():
    # (0, 1): sample std sqrt(1/2), population std 1/2 (which would give +-1).
    adv = group_advantages(torch.tensor([0, 1]), 2, eps=0.0)
    torch.testing.assert_close(adv, torch.tensor([-0.5 / math.sqrt(0.5), 0.5 / math.sqrt(0.5)]))
    assert adv.dtype == torch.float32


def test_group_advantages_of_equal_rewards_are_zero():
    adv = group_advantages(torch.tensor([0.7, 0.7, 0.7]), 3)
    assert torch.equal(adv, torch.zeros(3))


@pytest.mark.parametrize("rewards,g,kw", [(torch.ones(4), 3, {}), (torch.ones(4), 1, {}), (torch.ones(2, 2), 2, {})])
def test_group_advantages_reject_bad_groups(rewards, g, kw):
    with pytest.raises(ValueError):
        group_advantages(rewards, g, **kw)


# Hand example: ratios r = [[1.5, 0.5, 1.0], [1.5, 0.5, (masked)]], advantages (+1, -1).
#   seq 0 (A=+1): -min(1.5, 1.2) = -1.2 (high clip, no grad); -min(0.5, 0.8) = -0.5; -1.0
#   seq 1 (A=-1): -min(-1.5, -1.2) = 1.5 (unclipped); -min(-0.5, -0.8) = 0.8 (low clip, no grad)
OLD = torch.tensor([[-1.0, -1.0, -1.0], [-2.0, -2.0, -2.0]], dtype=F64)
LOG_R = torch.tensor([[math.log(1.5), math.log(0.5), 0.0], [math.log(1.5), math.log(0.5), 50.0]], dtype=F64)
ADV = torch.tensor([1.0, -1.0], dtype=F64)
MASK = torch.tensor([[1, 1, 1], [1, 1, 0]])


def run_grpo(log_r=LOG_R, adv=ADV, **kw):
    logprobs = (OLD + log_r).requires_grad_(True)
    loss, metrics = grpo_loss(logprobs, OLD, adv, MASK, **kw)
    loss.backward()
    return loss, logprobs.grad, metrics


def test_grpo_aggregations_by_hand():
    total = -1.2 - 0.5 - 1.0 + 1.5 + 0.8
    expected = {"token_mean": total / 5, "sequence_mean": ((-1.2 - 0.5 - 1.0) / 3 + (1.5 + 0.8) / 2) / 2,
                "dr_grpo": total / (2 * 4)}
    for aggregation, value in expected.items():
        loss, _, _ = run_grpo(aggregation=aggregation, max_tokens=4)
        assert loss.item() == pytest.approx(value, abs=1e-12)
    assert run_grpo(aggregation="dr_grpo")[0].item() == pytest.approx(total / (2 * 3), abs=1e-12)  # T by default


def test_grpo_clipping_on_both_sides():
    loss, grad, metrics = run_grpo()
    # d/dlogp of -r A is -r A where unclipped; clipped tokens (0,0) high and (1,1) low get 0.
    expected = torch.tensor([[0.0, -0.5, -1.0], [1.5, 0.0, 0.0]], dtype=F64) / 5
    torch.testing.assert_close(grad, expected, atol=1e-12, rtol=0)
    assert metrics["clip_fraction"].item() == pytest.approx(2 / 5)
    assert metrics["clip_low_fraction"].item() == pytest.approx(1 / 5)
    assert metrics["clip_high_fraction"].item() == pytest.approx(1 / 5)
    assert metrics["ratio"].item() == pytest.approx((1.5 + 0.5 + 1.0 + 1.5 + 0.5) / 5)
    assert metrics["kl"].item() == 0.0


def test_grpo_clip_higher():
    loss, grad, metrics = run_grpo(eps_high=0.28)  # DAPO: seq 0 token 0 now clipped at 1.28
    assert loss.item() == pytest.approx((-1.28 - 0.5 - 1.0 + 1.5 + 0.8) / 5, abs=1e-12)
    loss, grad, metrics = run_grpo(eps_high=0.6)  # 1.5 < 1.6: unclipped, gradient -1.5/5
    assert loss.item() == pytest.approx((-1.5 - 0.5 - 1.0 + 1.5 + 0.8) / 5, abs=1e-12)
    assert grad[0, 0].item() == pytest.approx(-1.5 / 5)
    assert metrics["clip_high_fraction"].item() == 0.0


def test_k3_kl():
    logp = torch.tensor([[-1.0, -2.0]], dtype=F64)
    assert torch.equal(k3_kl(logp, logp), torch.zeros_like(logp))
    ref = logp + math.log(2.0)  # exp(ln 2) - ln 2 - 1 = 1 - ln 2
    torch.testing.assert_close(k3_kl(logp, ref), torch.full_like(logp, 1 - math.log(2)))
    # In the loss: + beta * mean k3; its gradient d/dlogp = 1 - exp(ref - logp) = -1 on every counted token.
    ref_full = OLD + LOG_R + math.log(2.0)
    loss, grad, metrics = run_grpo(ref_logprobs=ref_full, beta=0.1)
    base, base_grad, _ = run_grpo()
    assert loss.item() == pytest.approx(base.item() + 0.1 * (1 - math.log(2)), abs=1e-12)
    torch.testing.assert_close(grad - base_grad, -0.1 * MASK.to(F64) / 5, atol=1e-12, rtol=0)
    assert metrics["kl"].item() == pytest.approx(1 - math.log(2))
    loss, _, metrics = run_grpo(ref_logprobs=OLD + LOG_R, beta=0.1)
    assert loss.item() == pytest.approx(base.item(), abs=1e-12) and metrics["kl"].item() == 0.0


def test_grpo_gradient_signs_on_policy():
    logp = torch.tensor([[-1.0, -2.0], [-1.5, -0.5]], requires_grad=True)
    loss, _ = grpo_loss(logp, logp.detach(), torch.tensor([2.0, -1.0]), torch.ones(2, 2))
    loss.backward()
    assert (logp.grad[0] < 0).all()  # A > 0: descending the loss raises these log-probs
    assert (logp.grad[1] > 0).all()  # A < 0: lowers them


def test_grpo_masked_garbage_stays_out():
    # Huge and NaN values at the masked position must change nothing and get zero gradient.
    log_r = LOG_R.clone()
    log_r[1, 2] = 1e4
    ref = OLD + LOG_R
    ref[1, 2] = 1e4
    old = OLD.clone()
    old[1, 2] = float("nan")
    logprobs = (OLD + log_r).requires_grad_(True)
    loss, metrics = grpo_loss(logprobs, old, ADV, MASK, ref_logprobs=ref, beta=0.1)
    loss.backward()
    grad = logprobs.grad
    base, base_grad, _ = run_grpo(ref_logprobs=OLD + LOG_R, beta=0.1)
    assert loss.item() == pytest.approx(base.item(), abs=1e-12)
    assert grad[1, 2].item() == 0.0 and torch.isfinite(grad).all()
    assert all(torch.isfinite(v) for v in metrics.values())


@pytest.mark.parametrize(
    "kw", [{"beta": 0.1}, {"eps_low": 1.0}, {"aggregation": "mean"}, {"max_tokens": 0, "aggregation": "dr_grpo"}]
)
def test_grpo_rejects_bad_arguments(kw):
    with pytest.raises(ValueError):
        run_grpo(**kw)
