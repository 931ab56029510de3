"""`leanfd feedback`: feedback on attempts, from the compiler or from a critic model."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from leanfd.commands import importable, read_good_lines
from leanfd.config import refuse_unused, section
from leanfd.feedback.cache import FeedbackCache
from leanfd.feedback.compiler import RenderOptions, render
from leanfd.feedback.critic import LLMCritic
from leanfd.lean.errors import ConfigError, InputError
from leanfd.lean.records import KNOWN_FIELDS, CheckRecord, Verdict
from leanfd.lean.snippet import attempt_text
from leanfd.lean.toolchain import cache_dir
from leanfd.lean.verifier import Verifier, VerifierConfig
from leanfd.options import opt
from leanfd.outputs import AtomicJsonl, claim, refuse_clobber, refuse_same


def _verdict_line(d: Any) -> tuple[CheckRecord, Verdict | None]:
    if not isinstance(d, dict):
        raise InputError(f"expected a JSON object (a verdict or an attempt), got {type(d).__name__}")
    rec = CheckRecord.from_dict({k: v for k, v in d.items() if k in KNOWN_FIELDS})
    return rec, (Verdict.from_dict(d) if "status" in d and "messages" in d else None)


def read_inputs(path: str, console: Console) -> list[tuple[CheckRecord, Verdict | None]]:
    """Verdict lines (from `leanfd check --out`) or bare attempts; malformed lines are reported and skipped."""
    return read_good_lines(path, _verdict_line, console)


async def run_async(args: argparse.Namespace, console: Console) -> int:
    if args.critic != "compiler" and not args.model:
        raise ConfigError(f"--critic {args.critic} needs --model (e.g. claude-sonnet-4-5, or the served model's name)")
    check_options(args)
    if args.critic == "hf":  # a local model that cannot load says so before Lean runs
        from leanfd.models import check_model

        check_model("hf", args.model)
    out_path = Path(args.out)
    refuse_same([("ATTEMPTS.jsonl", args.attempts)], [("--out", out_path)])
    with claim(out_path, "--out"):  # a regular file (or none yet), written by this process only, before any work
        refuse_clobber(out_path, "--out", resume=None, overwrite=args.overwrite)  # feedback has no --resume
        return await _feedback(args, console, out_path)


async def _feedback(args: argparse.Namespace, console: Console, out_path: Path) -> int:
    items = read_inputs(args.attempts, console)
    todo = [i for i, (_, v) in enumerate(items) if v is None]
    if todo:
        console.print(f"verifying {len(todo)} attempts without a verdict first")
        async with Verifier(args.options.verifier) as verifier:
            console.print(f"Lean: {verifier.lean_version} ({verifier.toolchain.source})")  # not a Lean: exit 3
            records = importable((items[i][0] for i in todo), verifier.toolchain, args.attempts)
            with Progress(TextColumn("[bold]checking"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                          console=console) as progress:
                task = progress.add_task("check", total=len(todo))
                async for k, verdict in verifier.check_many(records):
                    items[todo[k]] = (items[todo[k]][0], verdict)
                    progress.advance(task)
    critic = None
    if args.critic != "compiler":
        from leanfd.models import load_backend

        opts = {"base_url": args.base_url} if args.critic in ("openai", "anthropic") else {}
        backend = load_backend(args.critic, args.model, **opts)
        cache = None if args.no_cache else FeedbackCache(args.cache or cache_dir() / "feedback.sqlite")
        critic = LLMCritic(backend, template=args.template, cache=cache)
    limit = asyncio.Semaphore(args.critic_jobs)
    counts: dict[str, int] = {}

    async def one(rec: CheckRecord, verdict: Verdict) -> dict:
        attempt = attempt_text(rec)
        if critic is None or (verdict.proved and not args.all):
            text = render(attempt, verdict, RenderOptions(max_tokens=args.max_tokens))
            return {"source": "compiler", "feedback": text, "model": None}
        async with limit:
            fb = await critic.afeedback(rec.formal_statement, attempt, verdict)
        return {"source": fb.source, "feedback": fb.text, "model": fb.model, "error": fb.error}

    with AtomicJsonl(out_path) as out, Progress(
        TextColumn("[bold]feedback"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    ) as progress:
        task = progress.add_task("feedback", total=len(items))
        futures = [asyncio.ensure_future(one(r, v)) for r, v in items]  # type: ignore[arg-type]
        for (rec, verdict), fut in zip(items, futures):
            res = await fut
            assert verdict is not None
            counts[res["source"]] = counts.get(res["source"], 0) + 1
            out.write({"name": rec.name, "status": verdict.status, **res})
            progress.advance(task)
    if critic is not None:
        await critic.backend.aclose()
    console.print("feedback sources: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


@dataclass(frozen=True)
class FeedbackOptions:
    """`leanfd feedback`'s options; the verifier's (for bare attempts) are `VerifierConfig`'s."""

    attempts: str = opt("", "verdict lines from `leanfd check --out`, or attempts (verified first)",
                        positional=True, metavar="ATTEMPTS.jsonl", path="file")
    out: str = opt("", "one line per input: name, status, feedback, source (compiler|llm|fallback), model",
                   required=True, metavar="FEEDBACK.jsonl")
    overwrite: bool = opt(False, "replace a non-empty --out", store_true=True)
    critic: Literal["compiler", "openai", "anthropic", "hf"] = opt(
        "compiler", "compiler: Lean's messages rendered, no model; otherwise the critic's backend")
    base_url: str | None = opt(None, "OpenAI-compatible or Anthropic endpoint (key from OPENAI_API_KEY / "
                                     "ANTHROPIC_API_KEY)", metavar="URL")
    model: str | None = opt(None, "critic model: the served model's name, or a hub id / local path for hf")
    template: str | None = opt(None, "critic prompt template file ({statement}, {attempt}, {compiler_feedback})",
                               path="file", metavar="FILE")
    critic_jobs: int = opt(8, "critic requests at once", min=1, metavar="N")
    all: bool = opt(False, "ask the critic about proved attempts too", store_true=True)
    max_tokens: int = opt(1024, "budget of compiler feedback (approximate tokens)", min=1, metavar="N")
    cache: str | None = opt(None, "SQLite cache of critic answers (default: ~/.cache/leanfd/feedback.sqlite)",
                            metavar="FILE")
    no_cache: bool = opt(False, "always ask the critic", store_true=True)
    verifier: VerifierConfig = section(VerifierConfig, "Lean, for attempts without a verdict", prefix="verifier_")


OPTIONS = FeedbackOptions
# Older names, kept for a release: `--backend` and `--timeout` were the verifier's, `--jobs` the critic's.
ALIASES = {"verifier_backend": ("--backend",), "verifier_timeout": ("--timeout",), "critic_jobs": ("--jobs",)}

# What only a critic model reads: with --critic compiler these would be silently ignored.
CRITIC_ONLY = ("model", "base_url", "template", "critic_jobs", "all", "cache", "no_cache")


def check_options(args: argparse.Namespace) -> None:
    """Refuse every option that has no effect in the combination given, naming it and why."""
    if args.critic == "compiler":
        refuse_unused(FeedbackOptions, args, CRITIC_ONLY, "with --critic compiler (no critic model is asked)")
    elif args.critic == "hf":
        refuse_unused(FeedbackOptions, args, ("base_url",), "with --critic hf (the model runs here; --base-url is "
                                                            "for openai and anthropic)")
    if args.no_cache:
        refuse_unused(FeedbackOptions, args, ("cache",), "with --no-cache (no cache is read or written)")


def run(args: argparse.Namespace) -> int:
    return asyncio.run(run_async(args, Console(stderr=True)))
