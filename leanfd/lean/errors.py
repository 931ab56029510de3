"""The errors leanfd raises on purpose: the machinery failing (a missing Lean, a dead process, a broken
protocol) and what the user can fix (an option or config value, an input file or record).

Lean rejecting a proof is never an exception: it is a verdict. These are translated to exit codes,
LSP errors or HTTP codes only at the edges; anything else that escapes is a bug (exit 1 in `leanfd`).
"""

from __future__ import annotations


class LeanFDError(Exception):
    """Base class of every error leanfd raises on purpose."""

    exit_code = 2


class LeanNotFound(LeanFDError):
    """No usable Lean executable; the message says how to get one."""

    exit_code = 3


class ConfigError(LeanFDError, ValueError):
    """An option or a config value the user can fix; the message names the option as typed (`--jobs`) or
    the field (`verifier.jobs`) and what to change. A ValueError too, for callers that catch those."""


class InputError(LeanFDError, ValueError):
    """An input file or record the user can fix; the message names the file (and line) or the field."""


class RecordError(InputError):
    """An input record is malformed; the message names the field that is wrong."""


class LeanProcessError(LeanFDError):
    """A Lean process died, broke the protocol, or could not be started."""


class LeanRpcError(LeanProcessError):
    """Lean's language server answered a request with a JSON-RPC error (`code`, `message` as it sent them).

    A `LeanProcessError`: to a check, a request Lean refused is the machinery failing. Callers that
    can go on (a query about the document) read `code`, never the text.
    """

    def __init__(self, code: int | None, message: str | None) -> None:
        super().__init__(f"lean --server answered error {code}: {message}")
        self.code = code
        self.message = message
