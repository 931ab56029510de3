"""The `leanfd` command: thin; it parses arguments and calls the packages below.

Exit codes scripts can trust: 0 success (for `check`: every record proved), 1 some record not
proved or malformed, 2 bad usage, input or configuration, 3 no usable Lean; 130, 143 and 129 when
SIGINT (Ctrl-C), SIGTERM or SIGHUP stopped it (every Lean process it started is killed first).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from leanfd.interrupts import Interrupts, signals_ignored
from leanfd.lean.errors import LeanFDError
from leanfd.lean.owner import kill_owned

# name: (help, module with add_arguments(parser) and run(args) -> int)
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("verify proofs with Lean (JSONL records, .lean files or directories)", "leanfd.commands.check"),
    "feedback": ("write feedback on attempts (compiler messages, or an LLM critic's hint)", "leanfd.commands.feedback"),
    "train": ("train a prover with Feedback Distillation, GRPO, or FD then GRPO", "leanfd.commands.train"),
    "prove": ("sample proofs for a benchmark, verify them, report pass@k", "leanfd.commands.prove"),
    "report": ("compare pass@k of several prove runs (table and plot)", "leanfd.commands.report"),
    "lsp": ("serve verified suggestions to editors (Language Server Protocol)", "leanfd.commands.lsp"),
    "doctor": ("show which Lean, backends and accelerators leanfd finds", "leanfd.commands.doctor"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leanfd", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_, module) in COMMANDS.items():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name == module:  # a command not built yet in this version
                continue
            raise
        p = sub.add_parser(name, help=help_, description=help_)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    with Interrupts() as interrupts:
        try:
            return args._run(args)
        except (LeanFDError, ValueError) as e:
            print(f"leanfd: error: {e}", file=sys.stderr)
            return getattr(e, "exit_code", 2)
        except OSError as e:  # a missing or unreadable input file, a full disk: say which, no traceback
            print(f"leanfd: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
            return 2
        except KeyboardInterrupt:  # Ctrl-C, SIGTERM or SIGHUP; the `with` blocks below closed the verifier
            with signals_ignored():
                if left := kill_owned():  # last resort: a process started while the run was being stopped
                    print(f"leanfd: Lean processes {left} still running after SIGKILL", file=sys.stderr)
            print(f"leanfd: stopped by {interrupts.name}", file=sys.stderr)
            return interrupts.exit_code


if __name__ == "__main__":
    sys.exit(main())
