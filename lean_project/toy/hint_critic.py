"""A stand-in for the paper's LLM critic: an OpenAI-compatible server on loopback that knows the
reference proofs of the toy family and writes a hint about a failed attempt.

The method's paper has Claude read the attempt and Lean's errors; here the critic is a program
that compares the attempt with the reference proof token by token and says where it goes wrong
and which token a proof Lean accepts has there (it never gives the whole proof). It answers
`POST /v1/chat/completions` (what `leanfd train --critic openai --critic-base-url URL` sends),
reading the statement and the attempt out of leanfd's critic prompt
(leanfd/feedback/templates/critic.txt). An unknown statement gets an empty answer, and leanfd then
falls back to the compiler's feedback.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MODEL = "toy-hint-critic"
_PROMPT = re.compile(r"Theorem to prove:\n```lean4\n(.*?)\n```\n\nThe attempt:\n```lean4\n(.*?)\n```", re.S)
TOKEN = re.compile(r"[\w.'₀-₉]+|:=|=>|\S")


def hint(reference: str, attempt: str) -> str:
    """Where the attempt leaves the reference proof, and the reference's token there."""
    ref, att = TOKEN.findall(reference), TOKEN.findall(attempt)
    i = 0
    while i < min(len(ref), len(att)) and ref[i] == att[i]:
        i += 1
    used = sorted({t for t in ref if "." in t or t in ("congrArg", "fun")})
    tools = f" A proof uses {', '.join(f'`{t}`' for t in used)}." if used else ""
    if i == len(ref):
        return (f"The attempt has the whole proof and then more: `{' '.join(att[i:])}` after it must go."
                if i < len(att) else "The attempt reads like a right proof; check its spacing and parentheses.")
    where = f"after `{' '.join(ref[:i])}`" if i else "at its very start"
    wrong = f"`{att[i]}`" if i < len(att) else "the end of the attempt"
    return f"The attempt goes wrong {where}: it has {wrong} where a proof has `{ref[i]}`.{tools}"


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
        return hint(reference, m.group(2))

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
