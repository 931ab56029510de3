"""Batch proving: K samples per problem, generation pipelined with verification, resumable.

Every finished attempt is appended to `attempts.jsonl` at once, whole, so an interrupted run
loses nothing written; `--resume` reads the file back and samples only the missing (problem,
sample) pairs. The summary is always recomputed from the whole file.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from leanfd.data.benchmarks import Problem
from leanfd.data.passk import default_ks, pass_at_k_table
from leanfd.data.prompts import PromptBuilder, extract_proof
from leanfd.lean.records import BadLine, JsonlWriter, Verdict, read_lines
from leanfd.lean.verifier import Verifier
from leanfd.models.base import Backend, SamplingConfig

log = logging.getLogger(__name__)

ATTEMPTS = "attempts.jsonl"
SUMMARY = "summary.json"
PLOT = "pass_at_k.png"


@dataclass(frozen=True)
class ProveConfig:
    k: int = 8  # samples per problem
    temperature: float = 1.0
    top_p: float = 0.95
    max_tokens: int = 2048
    seed: int = 0
    problems_per_batch: int = 16  # problems whose samples go to the model in one call
    stop_at_first: bool = False  # stop sampling a problem once one attempt is proved
    prompt_style: Literal["completion", "chat"] = "completion"
    few_shot: str | None = None  # JSONL of examples with `formal_proof`
    num_few_shot: int = 3

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError("-k must be at least 1")
        if self.problems_per_batch < 1:
            raise ValueError("--problems-per-batch must be at least 1")


@dataclass
class Attempt:
    """One line of attempts.jsonl."""

    problem: str  # the problem's uid
    sample: int
    status: str
    attempt: dict[str, str]  # {"proof": ...} or {"code": ...}
    completion: str | None  # the model's raw text (None for --proofs)
    tokens: int | None
    seconds: float  # generation share + verification
    verdict: dict[str, Any] = field(default_factory=dict)


def _row(d: Any) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise ValueError(f"an attempt is a JSON object, got {type(d).__name__}")
    return d


def read_attempts(path: Path) -> list[dict[str, Any]]:
    """Lines already written; a torn line (a run killed mid-write, a full disk) is dropped."""
    if not path.is_file():
        return []
    rows = []
    for _, row in read_lines(path, _row):
        if isinstance(row, BadLine):
            log.warning("%s:%d: dropping a torn line (%s)", path, row.line, row.error)
        else:
            rows.append(row)
    return rows


def summarize_run(problems: list[Problem], rows: list[dict[str, Any]], k: int, stop_at_first: bool) -> dict[str, Any]:
    """pass@k from the attempts written so far.

    With stop-at-first-success a solved problem has fewer than k samples, so the unbiased
    estimator is defined only at k = the budget: pass@k is then the fraction solved.
    """
    counts: dict[str, list[int]] = {p.uid: [0, 0] for p in problems}
    for r in rows:
        if r["problem"] in counts:
            counts[r["problem"]][0] += 1
            counts[r["problem"]][1] += r["status"] == "proved"
    attempted = {u: (n, c) for u, (n, c) in counts.items() if n > 0}
    out: dict[str, Any] = {
        "problems": len(problems), "attempted": len(attempted), "samples": sum(n for n, _ in attempted.values()),
        "solved": sum(c > 0 for _, c in attempted.values()), "k": k, "stop_at_first": stop_at_first,
    }
    if stop_at_first or not attempted:
        out["pass_at_k"] = {str(k): out["solved"] / max(1, len(problems))} if attempted else {}
    else:
        n_min = min(n for n, _ in attempted.values())
        out["pass_at_k"] = pass_at_k_table(attempted, default_ks(n_min))
    out["per_problem"] = {u: {"n": n, "c": c} for u, (n, c) in counts.items()}
    return out


class Prover:
    """Samples with a model backend (or reads given proofs) and verifies with a `Verifier`."""

    def __init__(self, verifier: Verifier, out_dir: str | Path, config: ProveConfig = ProveConfig(),
                 backend: Backend | None = None, on_attempt: Callable[[Attempt], None] | None = None):
        self.verifier = verifier
        self.backend = backend
        self.config = config
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.on_attempt = on_attempt or (lambda a: None)

    @property
    def attempts_path(self) -> Path:
        return self.out / ATTEMPTS

    def start(self, resume: bool) -> list[dict[str, Any]]:
        """The attempts already written (kept with `resume`, else the file is emptied)."""
        if resume:
            return read_attempts(self.attempts_path)
        self.attempts_path.unlink(missing_ok=True)
        return []

    def _record(self, attempts: Iterator[Attempt], rows: list[dict[str, Any]]) -> None:
        """Append each attempt to attempts.jsonl as soon as it is verified (whole, unbuffered: a kill loses none)."""
        with JsonlWriter(self.attempts_path, "a") as fh:
            for attempt in attempts:
                row = asdict(attempt)
                fh.write(row)
                rows.append(row)
                self.on_attempt(attempt)

    def run(self, problems: list[Problem], resume: bool = False,
            rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Sample and verify what is missing; `rows`: what `start` returned, when the caller read it."""
        rows = self.start(resume) if rows is None else rows
        done = {(r["problem"], r["sample"]) for r in rows}
        solved = {r["problem"] for r in rows if r["status"] == "proved"}
        self._record(self._generate_and_verify(problems, done, solved), rows)
        return self.write_summary(problems, rows)

    def run_proofs(self, problems: list[Problem], proofs: list[dict[str, Any]], resume: bool = False,
                   rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Verify attempts produced elsewhere (records `name` + `proof` or `code`): same outputs."""
        by_key = {p.uid: p for p in problems} | {p.name: p for p in problems}
        rows = self.start(resume) if rows is None else rows
        done = {(r["problem"], r["sample"]) for r in rows}
        counter: dict[str, int] = {}
        jobs = []
        for rec in proofs:
            problem = by_key.get(rec.get("problem") or rec.get("name", ""))
            if problem is None:
                log.warning("no problem named %r in the dataset: skipped", rec.get("name"))
                continue
            sample = rec.get("sample", counter.get(problem.uid, 0))
            counter[problem.uid] = max(counter.get(problem.uid, 0), sample) + 1
            if (problem.uid, sample) in done:
                continue
            attempt = {k: rec[k] for k in ("proof", "code") if k in rec}
            jobs.append((problem, sample, attempt, None, None, 0.0))
        self._record(self._verify_stream(jobs), rows)
        return self.write_summary(problems, rows, k=max(counter.values(), default=1))

    def write_summary(self, problems: list[Problem], rows: list[dict[str, Any]],
                      k: int | None = None) -> dict[str, Any]:
        summary = summarize_run(problems, rows, k or self.config.k, self.config.stop_at_first)
        (self.out / SUMMARY).write_text(json.dumps(summary, indent=1))
        if summary["pass_at_k"]:
            from leanfd.prove.report import plot_curves

            plot_curves({self.out.name or "run": summary["pass_at_k"]}, self.out / PLOT)
        return summary

    # -- the pipeline: batch b+1 generates while batch b verifies ----------------------------------

    def _generate_and_verify(self, problems: list[Problem], done: set, solved: set) -> Iterator[Attempt]:
        if self.backend is None:
            raise ValueError("a model backend is needed to generate (or use run_proofs)")
        c = self.config
        builder = PromptBuilder(style=c.prompt_style, few_shot=c.few_shot, num_few_shot=c.num_few_shot, seed=c.seed)
        stop = ("```",) if c.prompt_style == "completion" else ()
        rounds = [c.k] if not c.stop_at_first else [1] * c.k
        pending: list[concurrent.futures.Future] = []
        meta: list[tuple] = []
        for round_index, _ in enumerate(rounds):
            todo = [p for p in problems if not (c.stop_at_first and p.uid in solved)]
            for start in range(0, len(todo), c.problems_per_batch):
                batch = todo[start : start + c.problems_per_batch]
                wanted = [[s for s in self._samples(round_index, rounds) if (p.uid, s) not in done] for p in batch]
                batch = [p for p, w in zip(batch, wanted) if w]
                wanted = [w for w in wanted if w]
                if not batch:
                    continue
                n = max(len(w) for w in wanted)
                sampling = SamplingConfig(n=n, temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens,
                                          seed=c.seed + 1_000_003 * round_index + start, stop=stop)
                t = time.monotonic()
                outs = self.backend.generate([builder.build(p) for p in batch], sampling)
                per_sample = (time.monotonic() - t) / max(1, sum(len(w) for w in wanted))
                for p, w, samples in zip(batch, wanted, outs):
                    for s, comp in zip(w, samples):
                        attempt = extract_proof(comp.text, p)
                        pending.append(self.verifier.submit(p.to_check_record(attempt)))
                        meta.append((p, s, attempt, comp.text, len(comp.token_ids or []) or None, per_sample))
                # The next batch generates while Lean checks this one; finished checks flow out now.
                yield from self._drain(pending, meta, solved, block=False)
            yield from self._drain(pending, meta, solved, block=True)

    def _samples(self, round_index: int, rounds: list[int]) -> list[int]:
        start = sum(rounds[:round_index])
        return list(range(start, start + rounds[round_index]))

    def _drain(self, pending: list, meta: list, solved: set, block: bool) -> Iterator[Attempt]:
        while pending:
            if block:
                concurrent.futures.wait(pending[:1])
            ready = [i for i, f in enumerate(pending) if f.done()]
            if not ready:
                return
            for i in reversed(ready):
                fut, (p, s, attempt, text, tokens, gen_s) = pending.pop(i), meta.pop(i)
                verdict: Verdict = fut.result()
                if verdict.proved:
                    solved.add(p.uid)
                yield self._attempt(p, s, attempt, text, tokens, gen_s, verdict)

    def _verify_stream(self, jobs: list[tuple]) -> Iterator[Attempt]:
        pending = {self.verifier.submit(job[0].to_check_record(job[2])): job for job in jobs}
        for fut in concurrent.futures.as_completed(pending):
            p, s, a, text, tokens, gen_s = pending[fut]
            yield self._attempt(p, s, a, text, tokens, gen_s, fut.result())

    @staticmethod
    def _attempt(p: Problem, sample: int, attempt: dict, text: str | None, tokens: int | None, gen_s: float,
                 verdict: Verdict) -> Attempt:
        v = verdict.to_dict()
        return Attempt(problem=p.uid, sample=sample, status=verdict.status, attempt=attempt, completion=text,
                       tokens=tokens, seconds=round(gen_s + verdict.elapsed, 4), verdict=v)
