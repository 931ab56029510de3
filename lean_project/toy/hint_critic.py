"""A stand-in for the paper's LLM critic: an OpenAI-compatible server on loopback that knows the
reference proofs of the toy family and writes a hint about a failed attempt.

The method's paper has Claude read the attempt and Lean's errors; here the critic is a program
that compares the attempt with the reference proof token by token and says where it goes wrong,
which token a proof Lean accepts has there, and how such a proof begins: its text up to `AHEAD`
tokens past the first wrong one (for a proof of at most that many tokens past the mistake, the
whole proof). It answers `POST /v1/chat/completions` (what `leanfd train --critic openai
--critic-base-url URL` sends), reading the statement and the attempt out of leanfd's critic prompt
(leanfd/feedback/templates/critic.txt). An unknown statement gets an empty answer, and leanfd then
falls back to the compiler's feedback.

    python lean_project/toy/hint_critic.py -- leanfd train ... --critic-base-url {url}

serves while the command runs, `{url}` in its arguments replaced by the critic's base URL.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MODEL = "toy-hint-critic"
AHEAD = 4  # tokens of the reference quoted past the first wrong one: enough to fix most toy proofs
_PROMPT = re.compile(r"Theorem to prove:\n```lean4\n(.*?)\n```\n\nThe attempt:\n```lean4\n(.*?)\n```", re.S)
TOKEN = re.compile(r"[\w.'₀-₉]+|:=|=>|\S")


def hint(reference: str, attempt: str) -> str:
    """Where the attempt leaves the reference proof, the reference's token there, and the
    reference's text up to `AHEAD` tokens past that point, verbatim on the last line."""
    spans = [m.span() for m in TOKEN.finditer(reference)]
    ref, att = [reference[i:j] for i, j in spans], TOKEN.findall(attempt)
    i = 0
    while i < min(len(ref), len(att)) and ref[i] == att[i]:
        i += 1
    if i == len(ref):
        return (f"The attempt has the whole proof and then more: `{' '.join(att[i:])}` after it must go."
                if i < len(att) else "The attempt reads like a right proof; check its spacing and parentheses.")
    where = f"after `{reference[: spans[i - 1][1]].strip()}`" if i else "at its very start"
    wrong = f"`{att[i]}`" if i < len(att) else "the end of the attempt"
    end = min(i + AHEAD, len(ref))
    # the reference's own text on a line of its own, leading space kept: the same line, and so the same
    # tokens, as the proof a prover writes after the statement's `:=`
    begins = reference[: spans[end - 1][1]].rstrip()
    rest = "" if end == len(ref) else " (it goes on)"
    return (f"The attempt goes wrong {where}: it has {wrong} where a proof has `{ref[i]}`. "
            f"A proof begins{rest}:\n{begins}")


def proof_part(statement: str, attempt: str) -> str:
    """The attempt's proof: leanfd's trainer sends statement and proof (`attempt_text`), a caller
    may send the proof alone."""
    s, a = statement.strip(), attempt.strip()
    return a[len(s):] if a.startswith(s) else a


class HintCritic:
    """The server; `with HintCritic(family_jsonl) as critic: critic.url` (an OpenAI base URL)."""

    def __init__(self, family: str | Path):
        self.references = {}
        for line in Path(family).read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            self.references[r["formal_statement"].strip()] = r["formal_proof"]
        self.requests = 0
        self._server: ThreadingHTTPServer | None = None

    def answer(self, prompt: str) -> str:
        m = _PROMPT.search(prompt)
        if m is None or (reference := self.references.get(m.group(1).strip())) is None:
            return ""
        return hint(reference, proof_part(m.group(1), m.group(2)))

    @property
    def url(self) -> str:
        assert self._server is not None, "start the critic first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> HintCritic:
        critic = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                messages = body.get("messages") or [{}]
                text = critic.answer(str(messages[-1].get("content", "")))
                critic.requests += 1
                out = json.dumps({
                    "id": f"hint-{critic.requests}", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model", MODEL),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": "stop", "logprobs": None}],
                    "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, name="hint-critic", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> HintCritic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> int:
    """Serve while a command runs: `hint_critic.py [--family F] -- CMD ... {url} ...`."""
    import argparse
    import subprocess

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--family", default=str(Path(__file__).resolve().parent / "family.jsonl"))
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("no command to run")
    with HintCritic(a.family) as critic:
        code = subprocess.run([arg.replace("{url}", critic.url) for arg in cmd]).returncode
        print(f"hint critic: {critic.requests} requests answered")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
