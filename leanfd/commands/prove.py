"""`leanfd prove`: K samples per problem of a benchmark, verified, with pass@k and a plot."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from leanfd.commands import VERIFIER_ALIASES, read_good_lines, report_bad, usable_lean
from leanfd.config import refuse_unused, section
from leanfd.data.benchmarks import load_problems
from leanfd.lean.errors import ConfigError, InputError
from leanfd.lean.records import BadLine
from leanfd.lean.verifier import Verifier, VerifierConfig
from leanfd.manifest import verifier_settings
from leanfd.models import BackendKind
from leanfd.options import opt
from leanfd.outputs import claim, refuse_clobber, refuse_same, written
from leanfd.prove.report import table
from leanfd.prove.runner import (
    ATTEMPTS,
    OUTPUTS,
    PLOT,
    SUMMARY,
    AttemptRow,
    ProveConfig,
    Prover,
    check_size,
    open_run,
    run_manifest,
    size_run,
)


@dataclass(frozen=True)
class ProveOptions:
    """`leanfd prove`'s options; the verifier's are `VerifierConfig`'s, as in every command."""

    dataset: str = opt("", "JSONL (DeepSeek shape), a directory of .lean files, or a dataset id", required=True)
    model: str | None = opt(None, "hub id or local path (hf, vllm), or the served model's name (openai, anthropic)")
    model_backend: BackendKind = opt("hf", "generation backend")
    base_url: str | None = opt(None, "endpoint of the openai/anthropic backend", metavar="URL")
    proofs: str | None = opt(None, "verify these attempts (JSONL: name + proof or code) instead of generating",
                             path="file", metavar="FILE")
    k: int = opt(8, "samples per problem", min=1, names=("-k",), metavar="K")
    temperature: float = opt(1.0, "sampling temperature; 0 is greedy", min=0)
    top_p: float = opt(0.95, "nucleus sampling mass, in (0, 1]", gt=0, max=1)
    max_tokens: int = opt(2048, "most new tokens per sample", min=1, metavar="N")
    seed: int = opt(0, "seed of the sampling")
    split: str | None = opt(None, "only this split (valid, test)")
    names: str | None = opt(None, "only problems whose name matches this regex", metavar="REGEX", regex=True)
    limit: int | None = opt(None, "at most this many problems", min=1, metavar="N")
    stop_at_first: bool = opt(False, "stop sampling a problem once one attempt is proved", store_true=True)
    prompt_style: Literal["completion", "chat"] = opt("completion", "prompt format")
    few_shot: str | None = opt(None, "JSONL of solved examples (with formal_proof) to put in the prompt",
                               path="file", metavar="FILE")
    num_few_shot: int = opt(3, "examples from --few-shot in each prompt", min=0, metavar="N")
    problems_per_batch: int = opt(16, "problems per generation call", min=1, metavar="N")
    out: str = opt("runs/prove", "output directory: attempts.jsonl, summary.json, pass_at_k.png", metavar="DIR")
    resume: bool = opt(False, "keep the attempts in --out (same dataset and settings) and sample only what is "
                              "missing", store_true=True)
    overwrite: bool = opt(False, "replace the results already in --out", store_true=True)
    verifier: VerifierConfig = section(VerifierConfig, "Lean", prefix="verifier_")


OPTIONS = ProveOptions
ALIASES = {"model_backend": ("--backend",), **VERIFIER_ALIASES}


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    out = Path(args.out)
    # Everything the user gave is checked before the run directory is touched.
    refuse_same([("--dataset", args.dataset), ("--proofs", args.proofs), ("--few-shot", args.few_shot)],
                [("--out", out / name) for name in OUTPUTS])
    check_options(args)
    if args.proofs is None:  # before Lean starts and --out is touched: a model that cannot load says so now
        from leanfd.models import check_model

        check_model(args.model_backend, args.model, chat=args.prompt_style == "chat")
    # --out: a directory (or none yet), this process its only writer until the run ends; a full disk names it
    with claim(out, "--out", kind="dir"), written("--out", out, "the attempts written so far are kept (--resume)"):
        refuse_clobber(out, "--out", args.resume, args.overwrite)
        return _prove(args, console, out)


def _prove(args: argparse.Namespace, console: Console, out: Path) -> int:
    bad: list[BadLine] = []
    problems = load_problems(args.dataset, split=args.split, names=args.names, limit=args.limit, bad=bad)
    for b in bad:
        report_bad(console, b)
    if not problems:
        raise InputError(f"--dataset {args.dataset}: no problems (check --split / --names)")
    if args.proofs is None and not args.model:
        raise ConfigError("give --model to generate, or --proofs FILE.jsonl to verify attempts made elsewhere")
    config = ProveConfig(k=args.k, temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens,
                         seed=args.seed, problems_per_batch=args.problems_per_batch, stop_at_first=args.stop_at_first,
                         prompt_style=args.prompt_style, few_shot=args.few_shot, num_few_shot=args.num_few_shot)
    vconf = args.options.verifier
    proofs = _read_proofs(args.proofs, console) if args.proofs else None
    if proofs is not None and not proofs:
        raise InputError(f"--proofs {args.proofs}: no attempts (each line: name, and proof or code)")
    kept = _lines(out / ATTEMPTS) if args.resume else 0
    sizing = size_run(len(problems), config, out, kept=kept, proofs=None if proofs is None else len(proofs))
    if warning := check_size(sizing, args.out, generating=proofs is None):  # refuses what cannot fit
        console.print(f"[yellow]warning[/] {warning}")
    console.print(sizing.describe())
    toolchain = usable_lean(vconf.lean, problems, args.dataset)  # exit 3 before a model is loaded
    verifier = Verifier(vconf, toolchain)
    manifest = run_manifest(args.dataset, problems, config, verifier_settings(vconf, verifier.lean_version),
                            model=args.model, backend=args.model_backend, proofs=args.proofs)
    rows = open_run(out, manifest, args.resume, args.overwrite)
    if rows:
        console.print(f"resuming: {len(rows)} attempts kept from {out / ATTEMPTS}")
    backend = None
    if args.proofs is None:
        from leanfd.models import load_backend

        opts = {"base_url": args.base_url} if args.model_backend in ("openai", "anthropic") else {}
        backend = load_backend(args.model_backend, args.model, **opts)
    total = len(proofs) if proofs is not None else len(problems) * args.k
    columns = (TextColumn("[bold]proving"), BarColumn(), MofNCompleteColumn(),
               TextColumn("pass {task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn())
    stats = {"n": 0, "ok": 0}
    with verifier, Progress(*columns, console=console) as progress:
        console.print(f"Lean: {verifier.lean_version} ({verifier.toolchain.source}); {len(problems)} problems")
        prover = Prover(verifier, out, config, backend=backend)
        task = progress.add_task("prove", total=total, completed=len(rows), rate="-")

        def on_attempt(a: AttemptRow) -> None:
            stats["n"] += 1
            stats["ok"] += a.status == "proved"
            progress.update(task, advance=1, rate=f"{100 * stats['ok'] / stats['n']:.1f}%")

        prover.on_attempt = on_attempt
        if proofs is not None:
            summary = prover.run_proofs(problems, proofs, rows)
        else:
            summary = prover.run(problems, rows)
    if backend is not None:
        backend.close()
    Console().print(table({args.out: summary}))
    plot = f", {out / PLOT}" if summary["pass_at_k"] else ""
    if stats["n"]:
        console.print(f"{stats['n']} attempts, {prover.lean_checks} distinct ones checked by Lean "
                      "(a repeat of an attempt shares its verdict)")
    console.print(f"wrote {out / ATTEMPTS}, {out / SUMMARY}{plot}")
    return 0


# Options that only generation reads: with --proofs they would be silently ignored.
GENERATION = ("model", "model_backend", "base_url", "k", "temperature", "top_p", "max_tokens", "seed",
              "stop_at_first", "prompt_style", "few_shot", "num_few_shot", "problems_per_batch")


def check_options(args: argparse.Namespace) -> None:
    """Refuse every option that has no effect in the combination given, naming it and why."""
    if args.proofs is not None:
        refuse_unused(ProveOptions, args, GENERATION, "with --proofs (the attempts are verified, not generated)")
        return
    if args.model_backend in ("hf", "vllm"):
        refuse_unused(ProveOptions, args, ("base_url",), f"with --backend {args.model_backend} (the model runs here; "
                                                        "--base-url is for openai and anthropic)")
    if args.few_shot is None:
        refuse_unused(ProveOptions, args, ("num_few_shot",), "without --few-shot (no examples to put in the prompt)")


def _lines(path: Path) -> int:
    """The lines of a file (0 when it is not there): the attempts a resumed run keeps, about."""
    try:
        with open(path, "rb") as fh:
            return sum(1 for _ in fh)
    except OSError:
        return 0


def _proof_line(d: Any) -> dict:
    if not isinstance(d, dict) or "name" not in d or not ({"proof", "code"} & set(d)):
        raise InputError("needs `name` and `proof` or `code`")
    return d


def _read_proofs(path: str, console: Console) -> list[dict]:
    return read_good_lines(path, _proof_line, console)
