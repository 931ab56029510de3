"""Batch proving: K samples per problem, generation pipelined with verification, resumable.

The run directory holds `run.json` (the dataset's content hash and every setting that changes the
results: see `run_manifest`), `attempts.jsonl`, `summary.json` and the plot. Every finished attempt
is appended to `attempts.jsonl` at once, whole, so an interrupted run loses nothing written;
`--resume` checks `run.json` against the new run, reads the attempts back and samples only the
missing (problem, sample) pairs. Each pair is drawn from its own seed (`sample_seed`), so what a
resumed run samples is what the uninterrupted run would have. The summary is always recomputed
from the whole file, and written at once (`summary.json` is never half written).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Literal

from leanfd.data.benchmarks import Problem
from leanfd.data.passk import default_ks, pass_at_k_table
from leanfd.data.prompts import PromptBuilder, extract_proof
from leanfd.lean.errors import ConfigError, InputError
from leanfd.lean.records import BadLine, CheckRecord, JsonlWriter, Verdict, read_lines
from leanfd.lean.verifier import Verifier
from leanfd.manifest import Manifest, check_resumable, sha256_file, sha256_items
from leanfd.manifest import write as write_manifest
from leanfd.models.base import Backend, SamplingConfig
from leanfd.outputs import atomic_write_text, atomic_write_with, has_content, refuse_clobber

log = logging.getLogger(__name__)

ATTEMPTS = "attempts.jsonl"
SUMMARY = "summary.json"
PLOT = "pass_at_k.png"
MANIFEST = "run.json"
OUTPUTS = (MANIFEST, ATTEMPTS, SUMMARY, PLOT)

# Rows (problem, sample) per generation call, at most: a large -k is sampled in chunks of this many, so
# memory does not grow with k. 512 rows is where the hf backend's throughput stops growing (see
# leanfd/models/hf.py); each row draws from its own seed, so the chunking changes no sample.
MAX_ROWS_PER_CALL = 512
# Attempts generated but not yet verified, at most: past this, generation waits for Lean.
MAX_PENDING = 2 * MAX_ROWS_PER_CALL
# Distinct attempts whose verdict is kept for repeats to share (the oldest finished ones go first).
MAX_CHECKS_KEPT = 10_000
# What one attempt costs, for sizing a run before it starts: a line of attempts.jsonl holds the verdict
# and fields (about 1 KB on the toy problems, never less) and the completion twice over (raw, and the
# proof cut from it: up to 4 bytes a token each in JSON). In memory the runner holds at most
# MAX_CHECKS_KEPT + MAX_PENDING of them, and a (problem, sample) pair per attempt a resumed run keeps.
ROW_MIN_BYTES = 1000
ROW_TOKEN_BYTES = 8
KEPT_PAIR_BYTES = 200


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
            raise ConfigError("-k must be at least 1")
        if self.problems_per_batch < 1:
            raise ConfigError("--problems-per-batch must be at least 1")

    def prompt_builder(self) -> PromptBuilder:
        return PromptBuilder(style=self.prompt_style, few_shot=self.few_shot, num_few_shot=self.num_few_shot,
                             seed=self.seed)


@dataclass
class AttemptRow:
    """One line of attempts.jsonl."""

    problem: str  # the problem's uid
    sample: int
    status: str
    attempt: dict[str, str]  # {"proof": ...} or {"code": ...}
    completion: str | None  # the model's raw text (None for --proofs)
    tokens: int | None
    seconds: float  # generation share + verification
    verdict: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sizing:
    """What a run will take, estimated before it starts (`size_run`)."""

    samples: int  # attempts still to make
    disk_min: int  # bytes attempts.jsonl grows by, at least
    disk_max: int  # ... and at most (every completion max_tokens long)
    disk_free: int  # bytes free where --out is
    memory: int  # bytes the runner holds at most
    memory_free: int | None  # bytes of memory available, when known

    def describe(self) -> str:
        free = "" if self.memory_free is None else f" of {_size(self.memory_free)} available"
        return (f"{self.samples:,} samples to make: attempts.jsonl grows by {_size(self.disk_min)} to "
                f"{_size(self.disk_max)} ({_size(self.disk_free)} free), memory about {_size(self.memory)}{free}")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux's MemAvailable), or None when unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def free_disk(path: Path) -> int:
    """Bytes free on the file system `path` is (or will be, for a folder not made yet) on."""
    here = path.absolute()
    while not here.exists() and here != here.parent:
        here = here.parent
    return shutil.disk_usage(here).free


def size_run(problems: int, config: ProveConfig, out: Path, *, kept: int = 0, proofs: int | None = None) -> Sizing:
    """The samples, disk and memory a run of `problems` problems will take; `kept`: attempts a resumed
    run already has; `proofs`: the number of given attempts (no generation). Pure but for reading free
    disk and memory."""
    samples = max(0, (proofs if proofs is not None else problems * config.k) - kept)
    row = ROW_MIN_BYTES + (0 if proofs is not None else ROW_TOKEN_BYTES * config.max_tokens)
    held = min(samples, MAX_CHECKS_KEPT + MAX_PENDING) * row + kept * KEPT_PAIR_BYTES
    return Sizing(samples=samples, disk_min=samples * ROW_MIN_BYTES, disk_max=samples * row, disk_free=free_disk(out),
                  memory=held, memory_free=available_memory())


def check_size(sizing: Sizing, out: str, generating: bool) -> str | None:
    """Refuse (ConfigError, naming the options that set the size) a run that cannot fit: its smallest
    attempts.jsonl larger than the free disk, or what it holds in memory larger than what is available.
    Returns a warning when only its largest attempts.jsonl would not fit, else None."""
    fix = "lower -k or --limit (or --max-tokens), or choose --out on a larger disk" if generating else \
        "verify fewer attempts at once, or choose --out on a larger disk"
    if sizing.disk_min > sizing.disk_free:
        raise ConfigError(f"{sizing.samples:,} samples (-k times the problems) need at least "
                          f"{_size(sizing.disk_min)} in --out {out}, which has {_size(sizing.disk_free)} free: {fix}")
    if sizing.memory_free is not None and sizing.memory > sizing.memory_free:
        raise ConfigError(f"{sizing.samples:,} samples (-k times the problems) need about {_size(sizing.memory)} of "
                          f"memory, and {_size(sizing.memory_free)} is available: lower --max-tokens, -k or --limit")
    if sizing.disk_max > sizing.disk_free:
        return (f"--out {out} has {_size(sizing.disk_free)} free; attempts.jsonl may grow by up to "
                f"{_size(sizing.disk_max)} if the completions are long: lower -k, --limit or --max-tokens if it fills")
    return None


class Tally:
    """The attempts of a run as far as the summary and `--resume` need them: per problem, how many were
    made and how many proved, and the (problem, sample) pairs kept from an earlier run. It grows with
    the problems, not with the samples made (a run of -k 100000 keeps no attempt in memory)."""

    def __init__(self, rows: Iterable[dict[str, Any]] = ()) -> None:
        self.counts: dict[str, list[int]] = {}
        self.kept: set[tuple[str, int]] = set()
        self.n = 0
        for r in rows:
            self.kept.add((r["problem"], r.get("sample")))
            self.append(r)

    def append(self, row: dict[str, Any]) -> None:
        c = self.counts.setdefault(row["problem"], [0, 0])
        c[0] += 1
        c[1] += row["status"] == "proved"
        self.n += 1

    def __len__(self) -> int:
        return self.n

    @property
    def solved(self) -> set[str]:
        return {u for u, (_, c) in self.counts.items() if c}


def _row(d: Any) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise InputError(f"an attempt is a JSON object, got {type(d).__name__}")
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


def summarize_run(problems: list[Problem], rows: Iterable[dict[str, Any]] | Tally, k: int,
                  stop_at_first: bool) -> dict[str, Any]:
    """pass@k from the attempts written so far (their rows, or their Tally).

    With stop-at-first-success a solved problem has fewer than k samples, so the unbiased
    estimator is defined only at k = the budget: pass@k is then the fraction solved.
    """
    tally = rows if isinstance(rows, Tally) else Tally(rows)
    counts: dict[str, list[int]] = {p.uid: list(tally.counts.get(p.uid, (0, 0))) for p in problems}
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


def sample_seed(seed: int, problem: str, sample: int) -> int:
    """The seed of one (problem, sample) draw: a function of the run's seed, the problem's uid and the
    sample index only, never of the batch it was drawn in, so a resumed run draws what an
    uninterrupted one would have."""
    digest = hashlib.sha256(f"{seed}\0{problem}\0{sample}".encode()).hexdigest()
    return int(digest[:15], 16)  # 60 bits: fits every backend's seed


def model_fingerprint(model: str) -> dict[str, Any]:
    """The model's name, and for a local directory a fingerprint of its files (names, sizes, a hash
    of each file's first and last MiB: retrained weights differ there), so a checkpoint replaced in
    place is told apart without reading gigabytes."""
    path = Path(model)
    if not path.is_dir():
        return {"name": model}
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        size = f.stat().st_size
        h.update(f"{f.relative_to(path)}\0{size}\0".encode())
        with open(f, "rb") as fh:
            h.update(fh.read(1 << 20))
            if size > 2 << 20:
                fh.seek(-(1 << 20), 2)
                h.update(fh.read())
    return {"name": model, "files_sha256": h.hexdigest()}


def run_manifest(dataset: str, problems: list[Problem], config: ProveConfig, verifier: dict[str, Any], *,
                 model: str | None = None, backend: str | None = None, proofs: str | None = None) -> Manifest:
    """What the results of a run depend on: the problems (their content, whatever the source), the
    model and how it samples and is prompted, or the given proofs, and the verifier's settings.
    Batch sizes are left out: they change the speed, not the results."""
    inputs: dict[str, Any] = {"dataset": {"source": dataset, "problems": len(problems),
                                          "sha256": sha256_items(p.to_dict() | {"uid": p.uid} for p in problems)}}
    settings: dict[str, Any] = {"verifier": verifier, "k": config.k}
    if proofs is not None:
        inputs["proofs"] = {"path": proofs, "sha256": sha256_file(proofs)}
    else:
        builder = config.prompt_builder()
        settings |= {
            "model": model_fingerprint(model or ""), "backend": backend, "temperature": config.temperature,
            "top_p": config.top_p, "max_tokens": config.max_tokens, "seed": config.seed,
            "stop_at_first": config.stop_at_first, "prompt_style": config.prompt_style,
            "few_shot": None if config.few_shot is None else sha256_file(config.few_shot),
            "num_few_shot": config.num_few_shot, "prompts_sha256": sha256_items(builder.build(p) for p in problems),
        }
    return Manifest(inputs=inputs, settings=settings)


def open_run(out: Path, manifest: Manifest, resume: bool, overwrite: bool) -> Tally:
    """Make `out` ready for a run and return the attempts it keeps.

    A directory already holding something is refused unless `resume` (its run.json must match
    `manifest`: then its attempts are kept) or `overwrite` (leanfd's files in it are removed, any
    other file is left alone).
    """
    refuse_clobber(out, "--out", resume, overwrite)
    if overwrite:
        for name in OUTPUTS:
            (out / name).unlink(missing_ok=True)
    rows = Tally()
    if resume and has_content(out):
        check_resumable(out / MANIFEST, manifest, f"the run in {out}", "--out")
        rows = Tally(read_attempts(out / ATTEMPTS))
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out / MANIFEST, manifest)
    return rows


class Prover:
    """Samples with a model backend (or reads given proofs) and verifies with a `Verifier`."""

    def __init__(self, verifier: Verifier, out_dir: str | Path, config: ProveConfig = ProveConfig(),
                 backend: Backend | None = None, on_attempt: Callable[[AttemptRow], None] | None = None):
        self.verifier = verifier
        self.backend = backend
        self.config = config
        self.out = Path(out_dir)
        self.on_attempt = on_attempt or (lambda a: None)
        # One Lean check per distinct (problem, text) in a run: sampling at temperature 1 repeats
        # itself (a third of the 32 samples of a toy problem are often one text), and Lean's verdict
        # on the same input is the same, so a repeat shares its twin's check.
        # At most MAX_CHECKS_KEPT are kept, so that a large -k does not keep every verdict.
        self._checks: dict[CheckRecord, concurrent.futures.Future[Verdict]] = {}
        self._lean_checks = 0

    @property
    def lean_checks(self) -> int:
        """Distinct attempts sent to Lean by this runner (the rest were repeats of one of them)."""
        return self._lean_checks

    def _submit(self, record: CheckRecord) -> concurrent.futures.Future[Verdict]:
        if record not in self._checks:
            if len(self._checks) >= MAX_CHECKS_KEPT:
                for old in [r for r, f in islice(self._checks.items(), len(self._checks) // 2) if f.done()]:
                    del self._checks[old]
            self._checks[record] = self.verifier.submit(record)
            self._lean_checks += 1
        return self._checks[record]

    @property
    def attempts_path(self) -> Path:
        return self.out / ATTEMPTS

    def _record(self, attempts: Iterator[AttemptRow], rows: Tally) -> None:
        """Append each attempt to attempts.jsonl as soon as it is verified (whole, unbuffered: a kill loses none)."""
        with JsonlWriter(self.attempts_path, "a") as fh:
            for attempt in attempts:
                row = asdict(attempt)
                fh.write(row)
                rows.append(row)
                self.on_attempt(attempt)

    def run(self, problems: list[Problem], rows: Tally | list[dict[str, Any]]) -> dict[str, Any]:
        """Sample and verify what is missing from `rows`, the attempts `open_run` kept."""
        rows = rows if isinstance(rows, Tally) else Tally(rows)
        self._record(self._generate_and_verify(problems, rows.kept, rows.solved), rows)
        return self.write_summary(problems, rows)

    def run_proofs(self, problems: list[Problem], proofs: list[dict[str, Any]],
                   rows: Tally | list[dict[str, Any]]) -> dict[str, Any]:
        """Verify attempts produced elsewhere (records `name` + `proof` or `code`): same outputs."""
        by_key = {p.uid: p for p in problems} | {p.name: p for p in problems}
        rows = rows if isinstance(rows, Tally) else Tally(rows)
        done = rows.kept
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

    def write_summary(self, problems: list[Problem], rows: Tally | list[dict[str, Any]],
                      k: int | None = None) -> dict[str, Any]:
        summary = summarize_run(problems, rows, k or self.config.k, self.config.stop_at_first)
        atomic_write_text(self.out / SUMMARY, json.dumps(summary, indent=1))
        if summary["pass_at_k"]:
            from leanfd.prove.report import plot_curves, plot_title, run_dataset

            name = self.out.name or "run"
            title = plot_title({name: (run_dataset(self.out), summary)})  # the dataset, n and k, as report's
            atomic_write_with(self.out / PLOT, lambda tmp: plot_curves({name: summary["pass_at_k"]}, tmp, title=title))
        return summary

    # -- the pipeline: batch b+1 generates while batch b verifies ----------------------------------

    def _generate_and_verify(self, problems: list[Problem], done: set, solved: set) -> Iterator[AttemptRow]:
        if self.backend is None:
            raise ValueError("a model backend is needed to generate (or use run_proofs)")
        c = self.config
        builder = c.prompt_builder()
        stop = ("```",) if c.prompt_style == "completion" else ()
        sampling = SamplingConfig(n=1, temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens, stop=stop)
        # Without stop-at-first one round of k samples per problem, else k rounds of one: (first, end) samples.
        rounds = ((s, s + 1) for s in range(c.k)) if c.stop_at_first else iter([(0, c.k)])
        pending: list[concurrent.futures.Future] = []
        meta: list[tuple] = []
        for first, end in rounds:
            # One row per (problem, sample) still missing, each with its own seed: the chunks can be cut
            # anywhere without changing what any row draws. A lazy sequence, read a chunk at a time.
            skip = set(solved) if c.stop_at_first else set()  # solved before the round: the same on a rerun
            todo = ((p, s) for p in problems if p.uid not in skip for s in range(first, end) if (p.uid, s) not in done)
            rows_per_call = min(c.problems_per_batch * (end - first), MAX_ROWS_PER_CALL)
            while batch := list(islice(todo, rows_per_call)):
                prompts = {p.uid: builder.build(p) for p, _ in batch}
                t = time.monotonic()
                outs = self.backend.generate([prompts[p.uid] for p, _ in batch], sampling,
                                             seeds=[sample_seed(c.seed, p.uid, s) for p, s in batch])
                per_sample = (time.monotonic() - t) / max(1, len(batch))
                for (p, s), (comp,) in zip(batch, outs):
                    attempt = extract_proof(comp.text, p)
                    pending.append(self._submit(p.to_check_record(attempt)))
                    meta.append((p, s, attempt, comp.text, len(comp.token_ids or []) or None, per_sample))
                # The next chunk generates while Lean checks this one; finished checks flow out now, and
                # generation waits for Lean when more than MAX_PENDING attempts are waiting.
                yield from self._drain(pending, meta, solved, MAX_PENDING)
            yield from self._drain(pending, meta, solved, 0)

    def _drain(self, pending: list, meta: list, solved: set, most: int) -> Iterator[AttemptRow]:
        """The finished checks, waiting for Lean until at most `most` are left pending."""
        while pending:
            if len(pending) > most:
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

    def _verify_stream(self, jobs: list[tuple]) -> Iterator[AttemptRow]:
        pending: dict[concurrent.futures.Future[Verdict], list[tuple]] = {}
        for job in jobs:  # repeats share one future
            pending.setdefault(self._submit(job[0].to_check_record(job[2])), []).append(job)
        for fut in concurrent.futures.as_completed(pending):
            for p, s, a, text, tokens, gen_s in pending[fut]:
                yield self._attempt(p, s, a, text, tokens, gen_s, fut.result())

    @staticmethod
    def _attempt(p: Problem, sample: int, attempt: dict, text: str | None, tokens: int | None, gen_s: float,
                 verdict: Verdict) -> AttemptRow:
        v = verdict.to_dict()
        return AttemptRow(problem=p.uid, sample=sample, status=verdict.status, attempt=attempt, completion=text,
                       tokens=tokens, seconds=round(gen_s + verdict.elapsed, 4), verdict=v)
