"""The e2e test's model: a loopback OpenAI-compatible server with fixed candidates, until killed.

    python llm_runner.py URL_FILE

Serves `Answer(["Eq.refl n", "Eq.refl N.zero"])` to every request (the first closes the test
theorem, the second does not elaborate), and writes its OpenAI base URL to URL_FILE once it
listens, so the caller never races the port.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))

from llm_server import Answer, LLMServer  # noqa: E402


def main(url_file: str) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with LLMServer(default=Answer(["Eq.refl n", "Eq.refl N.zero"])) as server:
        tmp = Path(url_file + ".tmp")
        tmp.write_text(server.openai_url)
        tmp.replace(url_file)
        print(f"llm_runner: serving {server.openai_url}", flush=True)
        stop.wait()
        print(f"llm_runner: {len(server.requests)} requests served", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
