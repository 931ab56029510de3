"""`ServeConfig`: `leanfd serve`'s options, one typed dataclass (flags and YAML keys come from it)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from leanfd.config import section
from leanfd.lean.errors import ConfigError
from leanfd.lean.verifier import VerifierConfig
from leanfd.options import check_bounds, opt

TOKEN_ENV = "LEANFD_SERVE_TOKEN"


@dataclass(frozen=True)
class ServeConfig:
    """Where to listen, who may call, how much one request and the whole server may take at once."""

    host: str = opt("127.0.0.1", "address to listen on; any address but loopback needs a token (--token-file, "
                                 "or the variable named by --token-env)", metavar="HOST")
    port: int = opt(8000, "port to listen on (0: a free one, printed at start)", min=0, max=65535)
    token_env: str = opt(TOKEN_ENV, "environment variable holding the bearer token clients must send "
                                    "(`Authorization: Bearer TOKEN`); unset or empty: no token", metavar="NAME")
    token_file: str | None = opt(None, "file whose first line is the bearer token (wins over --token-env)",
                                 metavar="FILE", path="file")
    max_body_mb: float = opt(64.0, "largest request body, in MB (10^6 bytes); a larger one gets 413", gt=0)
    max_batch: int = opt(1024, "most records or snippets in one request answered at once (/v1/check, /api/check, "
                               "/verify); more gets 413", min=1)
    max_stream_batch: int = opt(100_000, "most records in one /v1/check/stream request (it holds only a window "
                                         "of the queue at a time); more gets 413", min=1)
    queue: int = opt(4096, "most checks admitted at once, waiting or running, over all requests; a request "
                           "that would go past it gets 429 with Retry-After", min=1)
    drain_seconds: float = opt(30.0, "on SIGTERM or SIGINT: how long requests in flight may still run; the "
                                     "checks left then are ended and answered `crashed`", min=0)
    allow_axiom: tuple[str, ...] = opt((), "allowed axiom (repeatable); default: propext, Classical.choice, "
                                           "Quot.sound", repeat=True, metavar="NAME")
    verifier: VerifierConfig = section(VerifierConfig, "Lean", prefix="verifier_")

    def __post_init__(self) -> None:
        check_bounds(self)
        if self.max_batch > self.queue:
            raise ConfigError(f"--max-batch ({self.max_batch}) must not exceed --queue ({self.queue}): a batch "
                              "larger than the queue could never be admitted")

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1_000_000)


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost may resolve to anything
        return False


def read_token(config: ServeConfig) -> str | None:
    """The bearer token clients must send, or None for none; a ConfigError when the host is not
    loopback and there is none, or when the token file cannot be read or is empty."""
    token: str | None = None
    if config.token_file:
        try:
            lines = Path(config.token_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"--token-file {config.token_file}: cannot read it: {e}") from None
        token = lines[0].strip() if lines else ""
        if not token:
            raise ConfigError(f"--token-file {config.token_file}: its first line is empty; write the token there")
    else:
        token = os.environ.get(config.token_env, "").strip() or None
    if token is None and not is_loopback(config.host):
        raise ConfigError(f"--host {config.host} is not loopback, so clients must send a token: put it in the "
                          f"environment variable {config.token_env} or in a file named by --token-file")
    return token
