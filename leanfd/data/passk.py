"""The unbiased pass@k estimator (Chen et al. 2021, "Evaluating Large Language Models Trained on Code",
arXiv 2107.03374, section 2.1), averaged over problems.

With n samples of a problem of which c pass, pass@k = 1 - C(n-c, k) / C(n, k): the chance that k
samples drawn without replacement from the n include a passing one. The ratio of binomials is
computed as the product prod_{i=n-c+1}^{n} (1 - k/i), as in the paper's numpy code, so no huge
integers or overflowing floats appear.

Problems may have different n (some samples lost, a resumed run): each problem's estimate uses its
own n, which is unbiased for any k <= n, so a table goes up to the smallest n.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Counts = Mapping[str, tuple[int, int]]  # problem uid -> (n samples, c passing)


def pass_at_k(n: int, c: int, k: int) -> float:
    """1 - C(n-c, k)/C(n, k) for one problem; needs 0 <= c <= n and 1 <= k <= n."""
    if not 0 <= c <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"pass@k needs 1 <= k <= n, got n={n}, k={k}")
    if n - c < k:  # every k-subset holds a passing sample
        return 1.0
    failing_only = 1.0  # C(n-c, k) / C(n, k)
    for i in range(n - c + 1, n + 1):
        failing_only *= 1.0 - k / i
    return 1.0 - failing_only


def default_ks(n: int) -> list[int]:
    """1, 2, 4, ... up to n, then n itself when it is not a power of two."""
    ks, k = [], 1
    while k <= n:
        ks.append(k)
        k *= 2
    if n >= 1 and ks[-1] != n:
        ks.append(n)
    return ks


def tally(results: Iterable[tuple[str, bool]]) -> dict[str, tuple[int, int]]:
    """Per-problem (n, c) from (problem uid, proved) pairs, one pair per sample, in first-seen order."""
    counts: dict[str, tuple[int, int]] = {}
    for uid, proved in results:
        n, c = counts.get(uid, (0, 0))
        counts[uid] = (n + 1, c + bool(proved))
    return counts


def _check(counts: Counts) -> None:
    for uid, (n, c) in counts.items():
        if n < 1:
            raise ValueError(f"problem {uid!r} has no samples: count a failed generation as a failed sample")
        if not 0 <= c <= n:
            raise ValueError(f"problem {uid!r} has c={c} passing samples out of n={n}")


def pass_at_k_table(counts: Counts, ks: Iterable[int] | None = None) -> dict[str, float]:
    """Mean pass@k over problems, keyed by str(k): `{"1": ..., "2": ..., "4": ..., ...}`.

    `ks` defaults to `default_ks` of the smallest n; a k above the smallest n raises ValueError.
    No problems give `{}`.
    """
    _check(counts)
    if not counts:
        return {}
    n_min = min(n for n, _ in counts.values())
    ks = default_ks(n_min) if ks is None else sorted(set(ks))
    for k in ks:
        if not 1 <= k <= n_min:
            raise ValueError(f"k={k} is out of range: the smallest number of samples of a problem is {n_min}")
    return {str(k): sum(pass_at_k(n, c, k) for n, c in counts.values()) / len(counts) for k in ks}


def summarize(counts: Counts, ks: Iterable[int] | None = None) -> dict[str, Any]:
    """A JSON-ready summary: the pass@k table, the sample counts and each problem's (n, c)."""
    ns = [n for n, _ in counts.values()]
    return {
        "problems": len(counts),
        "solved": sum(1 for _, c in counts.values() if c > 0),
        "samples": {"min": min(ns, default=0), "max": max(ns, default=0), "total": sum(ns)},
        "pass_at_k": pass_at_k_table(counts, ks),
        "per_problem": {uid: {"n": n, "c": c} for uid, (n, c) in counts.items()},
    }
