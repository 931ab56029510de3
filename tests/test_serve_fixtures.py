"""What the test_serve* files share (no tests here): a real `leanfd serve` app under uvicorn in a
thread on 127.0.0.1, records and snippets of the toy benchmark (fast, slow, cheating), and
kimina-client imported as it is.

The in-thread server is the same app and uvicorn server `leanfd serve` runs (signals aside, which
only the main thread receives: tests/test_serve_limits.py sends SIGTERM to a real `leanfd serve`).
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
from conftest import TOY
from test_check_cli import SLOW_PROOF, SLOW_TAIL

from leanfd.lean.verifier import Verifier
from leanfd.serve.app import Service
from leanfd.serve.config import ServeConfig
from leanfd.serve.server import Server, listening_socket, uvicorn_config

PRELUDE = (TOY / "Prelude.lean").read_text()
ATTEMPTS = [json.loads(line) for line in (TOY / "attempts.jsonl").read_text().splitlines()]
FAST = ATTEMPTS[0]  # toy_add_zero, proved in well under a second
SLOW = {"name": "slow", "header": PRELUDE + SLOW_TAIL, **SLOW_PROOF}  # Lean works on it for minutes
FALSE = "Eq N.zero (N.succ N.zero)"
# Whole files (Kimina snippets): a proof, a false statement "proved" by an axiom (Kimina's clients
# accept it: it compiles without error or sorry), a sorry, a Lean error, a slow one.
PROVED_FILE = PRELUDE + "theorem t : Eq N.zero N.zero := Eq.refl _\n"
AXIOM_FILE = PRELUDE + f"axiom cheat : {FALSE}\ntheorem t : {FALSE} := cheat\n"
SORRY_FILE = PRELUDE + f"theorem t : {FALSE} := sorryAx _ Bool.false\n"
ERROR_FILE = PRELUDE + f"theorem t : {FALSE} := Eq.refl _\n"
SLOW_FILE = PRELUDE + SLOW_TAIL + "theorem slow : Eq (N.add d5 N.zero) (N.add N.zero d5) := Eq.refl _\n"


def import_kimina() -> Any:
    """kimina-client 0.2.1, unchanged. Its models declare `typing.TypedDict`s, which pydantic refuses
    before Python 3.12 ("Please use `typing_extensions.TypedDict` instead"), so `typing.TypedDict`
    is `typing_extensions.TypedDict` while it is imported, and only then."""
    if "kimina_client" in sys.modules:
        return sys.modules["kimina_client"]
    import typing

    import typing_extensions

    saved = typing.TypedDict
    typing.TypedDict = typing_extensions.TypedDict  # type: ignore[misc]
    try:
        import kimina_client
    finally:
        typing.TypedDict = saved  # type: ignore[misc]
    return kimina_client


class ThreadServer:
    """`leanfd serve`'s app and uvicorn server over `service`, in a thread, on a free loopback port."""

    def __init__(self, service: Service, ready: bool = True) -> None:
        self.service, self.wait_ready = service, ready
        self.sock = listening_socket("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = Server(uvicorn_config(service), service)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> "ThreadServer":
        self.thread.start()
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                path = "/v1/health/ready" if self.wait_ready else "/v1/health"
                if httpx.get(self.url + path, timeout=5).status_code == 200:
                    return self
            assert self.thread.is_alive() and time.monotonic() < deadline, "the server did not get ready"
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(60)
        assert not self.thread.is_alive(), "the server did not stop"

    def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        kw.setdefault("timeout", 120)
        return httpx.post(self.url + path, json=body, **kw) if body is not None else \
            httpx.post(self.url + path, **kw)

    def metrics(self, **kw: Any) -> dict[str, float]:
        return parse_metrics(httpx.get(self.url + "/metrics", timeout=30, **kw).text)


@contextlib.contextmanager
def serving(toolchain: Any, backend: str = "cli", jobs: int = 2, timeout: float = 60, token: str | None = None,
            **config: Any) -> Iterator[ThreadServer]:
    """A server over a new verifier of the bundled Lean; `config`: ServeConfig's fields."""
    verifier = Verifier(backend=backend, toolchain=toolchain, jobs=jobs, timeout=timeout,
                        ray_address=config.pop("ray_address", None))
    with ThreadServer(Service(verifier, ServeConfig(**config), token)) as server:
        yield server


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text, read strictly: every sample line is `name{labels} value` under a `# TYPE` of
    its family; {"name{labels}": value}."""
    import re

    families: set[str] = set()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram"), line
            families.add(name)
        elif line.startswith("# HELP ") or not line:
            continue
        else:
            m = re.fullmatch(r'([a-z_]+)(\{[a-z]+="[^"]*"\})? (\S+)', line)
            assert m, f"not a sample line: {line!r}"
            name = m.group(1)
            assert any(name == f or name.startswith(f + "_") for f in families), f"sample before its TYPE: {line}"
            out[name + (m.group(2) or "")] = float(m.group(3))
    return out


def wait_until(predicate: Any, seconds: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"not within {seconds:g} s: {what}"
        time.sleep(0.05)
