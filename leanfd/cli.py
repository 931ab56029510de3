"""The `leanfd` command: thin; it parses arguments and calls the packages below.

Exit codes scripts can trust: 0 every record proved (or the command succeeded), 1 some record not
proved or malformed, 2 bad usage or configuration, 3 no usable Lean.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable

from leanfd.lean.errors import LeanFDError

log = logging.getLogger("leanfd")

Handler = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], str]] = {
    # name: (help, add_arguments, "module:function" of the handler, imported only when run)
    "check": ("verify proofs with Lean (JSONL records, .lean files or directories)",
              lambda p: _check_args(p), "leanfd.commands.check:run"),
    "feedback": ("write feedback on attempts (compiler messages, or an LLM critic's hint)",
                 lambda p: _feedback_args(p), "leanfd.commands.feedback:run"),
    "train": ("train a prover with Feedback Distillation, GRPO, or FD then GRPO",
              lambda p: __import__("leanfd.commands.train", fromlist=["x"]).add_arguments(p),
              "leanfd.commands.train:run"),
    "doctor": ("show which Lean, backends and accelerators leanfd finds", lambda p: _lean_arg(p),
               "leanfd.commands.doctor:run"),
}


def _lean_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lean", help="path to `lean`, or 'bundled'; default: LEANFD_LEAN, `lake env lean`, "
                   "`lean` on PATH, then the bundled runtime")


def _check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="a .jsonl of records {name, header, formal_statement, proof|code}, "
                        "a .lean file, or a directory of .lean files")
    p.add_argument("--backend", choices=["cli", "server"], default="server",
                   help="cli: one `lean --json` per check; server: pooled `lean --server` keeping the header warm")
    p.add_argument("--jobs", type=int, default=None, help="Lean processes at once (default: CPU count)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per check (wall clock)")
    p.add_argument("--memory", type=int, default=8192, help="memory cap per Lean process in MB")
    p.add_argument("--allow-axiom", action="append", default=None, metavar="NAME",
                   help="allowed axiom (repeatable); default: propext, Classical.choice, Quot.sound")
    p.add_argument("--out", help="write one JSON line per record: name, status, the verdict, the input fields")
    _lean_arg(p)


def _feedback_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("attempts", metavar="ATTEMPTS.jsonl",
                   help="verdict lines from `leanfd check --out`, or attempts (verified first)")
    p.add_argument("--out", required=True, metavar="FEEDBACK.jsonl",
                   help="one line per input: name, status, feedback, source (compiler|llm|fallback), model")
    p.add_argument("--critic", choices=["compiler", "openai", "anthropic", "hf"], default="compiler",
                   help="compiler: Lean's messages rendered, no model; otherwise the critic's backend")
    p.add_argument("--base-url", help="OpenAI-compatible or Anthropic endpoint (key from OPENAI_API_KEY / ANTHROPIC_API_KEY)")
    p.add_argument("--model", help="critic model: the served model's name, or a hub id / local path for hf")
    p.add_argument("--template", help="critic prompt template file ({statement}, {attempt}, {compiler_feedback})")
    p.add_argument("--jobs", type=int, default=8, help="critic requests at once")
    p.add_argument("--all", action="store_true", help="ask the critic about proved attempts too")
    p.add_argument("--max-tokens", type=int, default=1024, help="budget of compiler feedback (approximate tokens)")
    p.add_argument("--cache", help="SQLite cache of critic answers (default: ~/.cache/leanfd/feedback.sqlite)")
    p.add_argument("--no-cache", action="store_true", help="always ask the critic")
    p.add_argument("--backend", choices=["cli", "server"], default="server", help="verifier backend for bare attempts")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per check for bare attempts")
    _lean_arg(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leanfd", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_, add, target) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        add(p)
        p.set_defaults(_target=target)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    module, func = args._target.split(":")
    handler: Handler = getattr(__import__(module, fromlist=[func]), func)
    try:
        return handler(args)
    except LeanFDError as e:
        print(f"leanfd: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("leanfd: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
