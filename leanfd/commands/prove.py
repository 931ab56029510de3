"""`leanfd prove`: K samples per problem of a benchmark, verified, with pass@k and a plot."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, get_args

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from leanfd.commands import max_attempt_chars_argument, ray_address_argument, read_good_lines, report_bad
from leanfd.data.benchmarks import load_problems
from leanfd.lean.errors import LeanFDError
from leanfd.lean.records import BadLine
from leanfd.lean.verifier import BackendName, Verifier, VerifierConfig
from leanfd.manifest import verifier_settings
from leanfd.outputs import refuse_clobber, refuse_same
from leanfd.prove.report import table
from leanfd.prove.runner import (
    ATTEMPTS,
    OUTPUTS,
    PLOT,
    SUMMARY,
    Attempt,
    ProveConfig,
    Prover,
    open_run,
    run_manifest,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True,
                   help="JSONL (DeepSeek shape), a directory of .lean files, or a dataset id")
    p.add_argument("--model", help="hub id or local path (hf, vllm), or the served model's name (openai, anthropic)")
    p.add_argument("--backend", choices=["hf", "vllm", "openai", "anthropic"], default="hf", help="generation backend")
    p.add_argument("--base-url", help="endpoint of the openai/anthropic backend")
    p.add_argument("--proofs", help="verify these attempts (JSONL: name + proof or code) instead of generating")
    p.add_argument("-k", type=int, default=8, help="samples per problem")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--max-tokens", type=int, default=2048, help="most new tokens per sample")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", help="only this split (valid, test)")
    p.add_argument("--names", help="only problems whose name matches this regex")
    p.add_argument("--limit", type=int, help="at most this many problems")
    p.add_argument("--stop-at-first", action="store_true", help="stop sampling a problem once one attempt is proved")
    p.add_argument("--prompt-style", choices=["completion", "chat"], default="completion")
    p.add_argument("--few-shot", help="JSONL of solved examples (with formal_proof) to put in the prompt")
    p.add_argument("--num-few-shot", type=int, default=3)
    p.add_argument("--problems-per-batch", type=int, default=16, help="problems per generation call")
    p.add_argument("--out", default="runs/prove", help="output directory: attempts.jsonl, summary.json, pass_at_k.png")
    p.add_argument("--resume", action="store_true",
                   help="keep the attempts in --out (same dataset and settings) and sample only what is missing")
    p.add_argument("--overwrite", action="store_true", help="replace the results already in --out")
    p.add_argument("--verifier-backend", choices=get_args(BackendName), default="server")
    ray_address_argument(p)
    p.add_argument("--jobs", type=int, help="Lean processes (default: CPU count)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per check")
    p.add_argument("--lean", help="path to lean, or 'bundled'")
    max_attempt_chars_argument(p)


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    out = Path(args.out)
    # Everything the user gave is checked before the run directory is touched.
    refuse_same([("--dataset", args.dataset), ("--proofs", args.proofs), ("--few-shot", args.few_shot)],
                [("--out", out / name) for name in OUTPUTS])
    refuse_clobber(out, "--out", args.resume, args.overwrite)
    bad: list[BadLine] = []
    problems = load_problems(args.dataset, split=args.split, names=args.names, limit=args.limit, bad=bad)
    for b in bad:
        report_bad(console, b)
    if not problems:
        raise LeanFDError(f"--dataset {args.dataset}: no problems (check --split / --names)")
    if args.proofs is None and not args.model:
        raise LeanFDError("give --model to generate, or --proofs FILE.jsonl to verify attempts made elsewhere")
    config = ProveConfig(k=args.k, temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens,
                         seed=args.seed, problems_per_batch=args.problems_per_batch, stop_at_first=args.stop_at_first,
                         prompt_style=args.prompt_style, few_shot=args.few_shot, num_few_shot=args.num_few_shot)
    vconf = VerifierConfig(backend=args.verifier_backend, jobs=args.jobs, timeout=args.timeout, lean=args.lean,
                           max_attempt_chars=args.max_attempt_chars, ray_address=args.ray_address)
    proofs = _read_proofs(args.proofs, console) if args.proofs else None
    verifier = Verifier(vconf)  # finds Lean (exit 3 when there is none) before a model is loaded
    manifest = run_manifest(args.dataset, problems, config, verifier_settings(vconf, verifier.lean_version),
                            model=args.model, backend=args.backend, proofs=args.proofs)
    rows = open_run(out, manifest, args.resume, args.overwrite)
    if rows:
        console.print(f"resuming: {len(rows)} attempts kept from {out / ATTEMPTS}")
    backend = None
    if args.proofs is None:
        from leanfd.models import load_backend

        opts = {"base_url": args.base_url} if args.backend in ("openai", "anthropic") else {}
        backend = load_backend(args.backend, args.model, **opts)
    total = len(proofs) if proofs is not None else len(problems) * args.k
    columns = (TextColumn("[bold]proving"), BarColumn(), MofNCompleteColumn(),
               TextColumn("pass {task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn())
    stats = {"n": 0, "ok": 0}
    with verifier, Progress(*columns, console=console) as progress:
        console.print(f"Lean: {verifier.lean_version} ({verifier.toolchain.source}); {len(problems)} problems")
        prover = Prover(verifier, out, config, backend=backend)
        task = progress.add_task("prove", total=total, completed=len(rows), rate="-")

        def on_attempt(a: Attempt) -> None:
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
    console.print(f"wrote {out / ATTEMPTS}, {out / SUMMARY}{plot}")
    return 0


def _proof_line(d: Any) -> dict:
    if not isinstance(d, dict) or "name" not in d or not ({"proof", "code"} & set(d)):
        raise ValueError("needs `name` and `proof` or `code`")
    return d


def _read_proofs(path: str, console: Console) -> list[dict]:
    return read_good_lines(path, _proof_line, console)
