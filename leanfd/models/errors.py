"""Errors of the model backends: a backend that cannot start, a server that fails or answers nonsense.

All subclass `ModelError`, itself a `LeanFDError`, so the edges (CLI, LSP) translate them once.
Callers branch on the class and its attributes (`status`, `attempts`), never on the message text.
No message ever contains an API key: servers' error texts are redacted before they are quoted.
"""

from __future__ import annotations

from leanfd.lean.errors import LeanFDError


class ModelError(LeanFDError):
    """A model backend failed: bad arguments, a missing optional package, a failed request."""


class BackendNotInstalled(ModelError):
    """The selected backend needs an optional package; the message names the pip command."""


class ModelHTTPError(ModelError):
    """An HTTP request failed for good: a non-retryable status, or retries exhausted.

    `status` is the last HTTP status, or None when no response came (timeout, connection error);
    `server_message` is the server's own error text (redacted); `attempts` counts the requests sent.
    """

    def __init__(
        self, message: str, *, url: str, status: int | None, attempts: int, server_message: str = ""
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.attempts = attempts
        self.server_message = server_message


class ModelResponseError(ModelError):
    """The server answered 2xx but with a body that is not the wire format (bad JSON, missing fields)."""
