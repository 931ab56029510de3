"""A stand-in for the paper's LLM critic: an OpenAI-compatible server on loopback that knows the
reference proofs of the toy family and writes a hint about a failed attempt.

The method's paper has Claude read the attempt and Lean's errors; here the critic is a program
that compares the attempt with the reference proof token by token and says where the attempt goes
wrong, which token a proof Lean accepts has there, and the corrected proof: the reference (with
`--ahead N`, only its text up to N tokens past the first wrong one: how such a proof begins). Unlike
Claude it knows the answer; it is the privileged information FD's teacher needs at this scale
(docs/fd_small.md). It answers `POST /v1/chat/completions` (what `leanfd train --critic openai
--critic-base-url URL` sends), reading the statement and the attempt out of leanfd's critic prompt
(leanfd/feedback/templates/critic.txt). An unknown statement gets an empty answer, and leanfd then
falls back to the compiler's feedback.

    python lean_project/toy/hint_critic.py -- leanfd train ... --critic-model {model} --critic-base-url {url}

serves while the command runs, `{url}` and `{model}` in its arguments replaced by the critic's base
URL and model name.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MODEL = "toy-hint-critic"
AHEAD = 0  # tokens of the reference quoted past the first wrong one (0: the whole proof, the default)

_PROMPT = re.compile(r"Theorem to prove:\n```lean4\n(.*?)\n```\n\nThe attempt:\n```lean4\n(.*?)\n```", re.S)
TOKEN = re.compile(r"[\w.'₀-₉]+|:=|=>|\S")


def model_name(ahead: int = AHEAD) -> str:
    """The critic's model name, which says how much it quotes: leanfd caches a critic's answers by
    model name and prompt, so critics that answer differently must not share a name."""
    return f"{MODEL}-{'all' if ahead <= 0 else ahead}"


def hint(reference: str, attempt: str, ahead: int = AHEAD) -> str:
    """Where the attempt leaves the reference proof, the reference's token there, and the
    reference's text up to `ahead` tokens past that point (0: all of it), verbatim on the last line."""
    spans = [m.span() for m in TOKEN.finditer(reference)]
    ref, att = [reference[i:j] for i, j in spans], TOKEN.findall(attempt)
    i = 0
    while i < min(len(ref), len(att)) and ref[i] == att[i]:
        i += 1
    if i == len(ref):
        return (f"The attempt has the whole proof and then more: `{' '.join(att[i:])}` after it must go."
                if i < len(att) else "The attempt reads like a right proof; check its spacing and parentheses.")
    where = f"after `{reference[: spans[i - 1][1]].strip()}`" if i else "at its very start"
    end = min(i + ahead, len(ref)) if ahead > 0 else len(ref)
    # the reference's own text on a line of its own, leading space kept: the same line, and so the same
    # tokens, as the proof a prover writes after the statement's `:=`
    begins = reference[: spans[end - 1][1]].rstrip()
    rest = "" if end == len(ref) else " (it goes on)"
    return f"The attempt goes wrong {where}: a proof has `{ref[i]}` there. A proof begins{rest}:\n{begins}"


def proof_part(statement: str, attempt: str) -> str:
    """The attempt's proof: leanfd's trainer sends statement and proof (`attempt_text`), a caller
    may send the proof alone."""
    s, a = statement.strip(), attempt.strip()
    return a[len(s):] if a.startswith(s) else a


class HintCritic:
    """The server; `with HintCritic(family_jsonl) as critic: critic.url` (an OpenAI base URL)."""

    def __init__(self, family: str | Path, ahead: int = AHEAD):
        self.ahead = ahead
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
        return hint(reference, proof_part(m.group(1), m.group(2)), self.ahead)

    @property
    def model(self) -> str:
        return model_name(self.ahead)

    @property
    def url(self) -> str:
        assert self._server is not None, "start the critic first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> HintCritic:
        critic = self

        class Handler(BaseHTTPRequestHandler):
            # keep-alive, as leanfd's HTTP client expects: an HTTP/1.0 server closes each connection,
            # and a pooled connection it closed fails the next request (retried, with a warning)
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                messages = body.get("messages") or [{}]
                text = critic.answer(str(messages[-1].get("content", "")))
                critic.requests += 1
                out = json.dumps({
                    "id": f"hint-{critic.requests}", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model", critic.model),
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
    """Serve while a command runs: `hint_critic.py [--family F] [--ahead N] -- CMD ... {url} ... {model} ...`
    ({url}: the critic's base URL, {model}: its model name)."""
    import argparse
    import subprocess

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--family", default=str(Path(__file__).resolve().parent / "family.jsonl"))
    ap.add_argument("--ahead", type=int, default=AHEAD,
                    help="tokens of the reference quoted past the mistake (default 0: the whole proof)")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("no command to run")
    with HintCritic(a.family, a.ahead) as critic:
        code = subprocess.run([arg.replace("{url}", critic.url).replace("{model}", critic.model)
                               for arg in cmd]).returncode
        # leanfd caches a critic's answers: a run repeated asks only about attempts it has not seen
        print(f"hint critic: {critic.requests} requests answered (leanfd answered the rest from its cache)")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
