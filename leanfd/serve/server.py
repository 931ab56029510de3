"""`serve`: the app under uvicorn, on a socket bound first (so a taken port is a clear error), with
SIGTERM and SIGINT turned into the service's drain."""

from __future__ import annotations

import asyncio
import math
import socket
import sys
from typing import Any

import uvicorn

from leanfd.lean.errors import ConfigError
from leanfd.serve.app import Service, build_app


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (port 0: a free one); a ConfigError naming both when it cannot be."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as e:
        raise ConfigError(f"--host {host}: cannot listen there: {e.strerror or e}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise ConfigError(f"--host {host} --port {port}: cannot listen there: {e.strerror or e}") from None
    return sock


class Server(uvicorn.Server):
    """uvicorn's server, which also tells the service to drain when asked to stop, and says where it
    listens once it does (the port it got, for `--port 0`)."""

    def __init__(self, config: uvicorn.Config, service: Service) -> None:
        super().__init__(config)
        self.service = service
        self._loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)
        if self.started:
            v = self.service.verifier
            for sock in sockets or []:
                host, port = sock.getsockname()[:2]
                shown = f"[{host}]" if ":" in host else host
                print(f"leanfd serve: listening on http://{shown}:{port} (backend {v.config.backend}, "
                      f"{v.jobs} Lean processes)", file=sys.stderr, flush=True)

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self._loop is not None:  # in a signal handler: hand the drain to the loop
            self._loop.call_soon_threadsafe(self.service.drain)
        super().handle_exit(sig, frame)


def uvicorn_config(service: Service) -> uvicorn.Config:
    """uvicorn's settings: leanfd's logging, no access log, and a graceful-shutdown timeout past the
    drain's, so the drain (not uvicorn) decides what happens to checks still running."""
    return uvicorn.Config(build_app(service), log_config=None, access_log=False, lifespan="on", loop="asyncio",
                          http="h11", timeout_graceful_shutdown=math.ceil(service.config.drain_seconds) + 10)


def serve(service: Service) -> None:
    """Serve until SIGTERM or SIGINT, then drain (`Service.drain`) and close every Lean process.

    uvicorn stops accepting connections at once, waits for the responses in flight, and then raises
    the signal again, which `leanfd`'s handlers turn into exit code 128 + the signal's number.
    """
    sock = listening_socket(service.config.host, service.config.port)
    Server(uvicorn_config(service), service).run(sockets=[sock])
