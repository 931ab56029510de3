"""`leanfd lsp`: serve verified suggestions to editors over stdio (default) or TCP."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass

from leanfd.interrupts import recording_sigint, stopped
from leanfd.lean.errors import ConfigError, LeanFDError
from leanfd.lean.toolchain import resolve
from leanfd.lsp.settings import Settings
from leanfd.models import BackendKind
from leanfd.options import opt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LspOptions:
    """`leanfd lsp`'s options: where to listen, and the settings an editor may override (`Settings`)."""

    tcp: str | None = opt(None, "listen on TCP instead of stdio (e.g. 127.0.0.1:2087)", metavar="HOST:PORT")
    model_backend: BackendKind | None = opt(None, f"model backend (default: {Settings.backend}); editors may "
                                                  "override")
    model: str | None = opt(None, "model: hub id or path (hf, vllm), or the server's model name (openai, anthropic)")
    base_url: str | None = opt(None, "URL of the openai-compatible or anthropic server", metavar="URL")
    lean: str | None = opt(None, "path to `lean`, or 'bundled' (default: LEANFD_LEAN, `lake env lean`, `lean` on "
                                 "PATH, then the bundled runtime)", metavar="PATH")
    samples: int | None = opt(None, f"candidates sampled per search (default {Settings.samples})", min=1, metavar="N")
    timeout: float | None = opt(None, f"seconds one search may take (default {Settings.timeout:g})", gt=0,
                                metavar="SECONDS")


OPTIONS = LspOptions
ALIASES = {"model_backend": ("--backend",)}


def settings_from(args: argparse.Namespace) -> Settings:
    flags = {"backend": args.model_backend, "model": args.model, "base_url": args.base_url, "lean": args.lean,
             "samples": args.samples, "timeout": args.timeout}
    return Settings().merge({k: v for k, v in flags.items() if v is not None})


def parse_tcp(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--tcp takes HOST:PORT (e.g. 127.0.0.1:2087), not {value!r}")
    return host, int(port)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    tcp = parse_tcp(args.tcp) if args.tcp else None
    if args.lean:  # a path that is not a Lean fails now (exit 3), not at the first document
        resolve(args.lean).version()
    try:
        from leanfd.lsp.server import build
    except ImportError as e:
        raise LeanFDError(f"the language server needs pygls ({e.name} is missing): pip install 'leanfd[lsp]'") from e
    server = build(settings)
    try:
        with recording_sigint():  # pygls ends quietly on KeyboardInterrupt: remember which signal it was
            if tcp is not None:
                server.start_tcp(*tcp)
            else:
                # stdout carries the protocol: anything else written to it (a library's print, a warning
                # of a C extension) would corrupt it, so file descriptor 1 is pointed at stderr and the
                # protocol gets its own duplicate of the original.
                protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
                os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
                sys.stdout = sys.stderr
                server.start_io(sys.stdin.buffer, protocol_out)
    finally:
        server.engine.kill_leftovers()
    if stopped():
        raise KeyboardInterrupt  # so that the exit code says which signal stopped the server
    return 0
