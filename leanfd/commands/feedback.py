"""`leanfd feedback`: feedback on attempts, from the compiler or from a critic model."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any, get_args

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from leanfd.commands import lean_argument, max_attempt_chars_argument, read_good_lines
from leanfd.feedback.cache import FeedbackCache
from leanfd.feedback.compiler import RenderOptions, render
from leanfd.feedback.critic import LLMCritic
from leanfd.lean.errors import LeanFDError
from leanfd.lean.records import KNOWN_FIELDS, CheckRecord, Verdict
from leanfd.lean.snippet import attempt_text
from leanfd.lean.toolchain import cache_dir
from leanfd.lean.verifier import BackendName, Verifier, VerifierConfig
from leanfd.outputs import AtomicJsonl, refuse_clobber, refuse_same


def _verdict_line(d: Any) -> tuple[CheckRecord, Verdict | None]:
    rec = CheckRecord.from_dict({k: v for k, v in d.items() if k in KNOWN_FIELDS})
    return rec, (Verdict.from_dict(d) if "status" in d and "messages" in d else None)


def read_inputs(path: str, console: Console) -> list[tuple[CheckRecord, Verdict | None]]:
    """Verdict lines (from `leanfd check --out`) or bare attempts; malformed lines are reported and skipped."""
    return read_good_lines(path, _verdict_line, console)


async def run_async(args: argparse.Namespace, console: Console) -> int:
    out_path = Path(args.out)
    refuse_same([("ATTEMPTS.jsonl", args.attempts)], [("--out", out_path)])
    refuse_clobber(out_path, "--out", resume=False, overwrite=args.overwrite)
    items = read_inputs(args.attempts, console)
    todo = [i for i, (_, v) in enumerate(items) if v is None]
    if todo:
        console.print(f"verifying {len(todo)} attempts without a verdict first")
        config = VerifierConfig(backend=args.backend, lean=args.lean, timeout=args.timeout,
                                max_attempt_chars=args.max_attempt_chars)
        async with Verifier(config) as verifier:
            with Progress(TextColumn("[bold]checking"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                          console=console) as progress:
                task = progress.add_task("check", total=len(todo))
                async for k, verdict in verifier.check_many(items[i][0] for i in todo):
                    items[todo[k]] = (items[todo[k]][0], verdict)
                    progress.advance(task)
    critic = None
    if args.critic != "compiler":
        from leanfd.models import load_backend

        if not args.model:
            raise LeanFDError(
                f"--critic {args.critic} needs --model (e.g. claude-sonnet-4-5, or the served model's name)")
        opts = {"base_url": args.base_url} if args.critic in ("openai", "anthropic") else {}
        backend = load_backend(args.critic, args.model, **opts)
        cache = None if args.no_cache else FeedbackCache(args.cache or cache_dir() / "feedback.sqlite")
        critic = LLMCritic(backend, template=args.template, cache=cache)
    limit = asyncio.Semaphore(args.jobs)
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


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("attempts", metavar="ATTEMPTS.jsonl",
                   help="verdict lines from `leanfd check --out`, or attempts (verified first)")
    p.add_argument("--out", required=True, metavar="FEEDBACK.jsonl",
                   help="one line per input: name, status, feedback, source (compiler|llm|fallback), model")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    p.add_argument("--critic", choices=["compiler", "openai", "anthropic", "hf"], default="compiler",
                   help="compiler: Lean's messages rendered, no model; otherwise the critic's backend")
    p.add_argument("--base-url",
                   help="OpenAI-compatible or Anthropic endpoint (key from OPENAI_API_KEY / ANTHROPIC_API_KEY)")
    p.add_argument("--model", help="critic model: the served model's name, or a hub id / local path for hf")
    p.add_argument("--template", help="critic prompt template file ({statement}, {attempt}, {compiler_feedback})")
    p.add_argument("--jobs", type=int, default=8, help="critic requests at once")
    p.add_argument("--all", action="store_true", help="ask the critic about proved attempts too")
    p.add_argument("--max-tokens", type=int, default=1024, help="budget of compiler feedback (approximate tokens)")
    p.add_argument("--cache", help="SQLite cache of critic answers (default: ~/.cache/leanfd/feedback.sqlite)")
    p.add_argument("--no-cache", action="store_true", help="always ask the critic")
    p.add_argument("--backend", choices=get_args(BackendName), default="server",
                   help="verifier backend for bare attempts")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per check for bare attempts")
    max_attempt_chars_argument(p)
    lean_argument(p)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(run_async(args, Console(stderr=True)))
