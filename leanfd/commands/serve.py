"""`leanfd serve`: the sound verifier as an HTTP service (Kimina-compatible and native endpoints).

Options come from `ServeConfig`, on the command line or in a YAML file (`--config`, the command line
wins); the verifier's are the `--verifier-*` options of every command.
"""

from __future__ import annotations

import argparse
import dataclasses

from leanfd.config import load, option_names
from leanfd.lean.policy import DEFAULT_AXIOMS, Policy
from leanfd.lean.verifier import Verifier
from leanfd.serve.config import ServeConfig, read_token

ALIASES = {"verifier_ray_address": ("--ray-address",)}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from leanfd.config import add_arguments as add_config

    p.add_argument("--config", metavar="FILE.yaml", help="options as YAML (the command line wins)")
    add_config(p, ServeConfig, aliases=ALIASES)


def run(args: argparse.Namespace) -> int:
    config = load(ServeConfig, args.config, {k: v for k, v in vars(args).items() if k in option_names(ServeConfig)})
    token = read_token(config)  # before anything starts: a public host without a token is refused
    policy = Policy(allowed_axioms=config.allow_axiom or DEFAULT_AXIOMS)
    verifier = Verifier(dataclasses.replace(config.verifier, policy=policy))
    verifier.lean_version  # no usable Lean: exit 3 now, not at the first request  # noqa: B018
    from leanfd.serve.app import Service
    from leanfd.serve.server import serve

    serve(Service(verifier, config, token))
    return 0
