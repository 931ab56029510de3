"""Errors of the machinery (a missing Lean, a dead process, a broken protocol).

Lean rejecting a proof is never an exception: it is a verdict. These are for when the machinery
itself fails, and are translated to exit codes, LSP errors or HTTP codes only at the edges.
"""

from __future__ import annotations


class LeanFDError(Exception):
    """Base class of every error leanfd raises on purpose."""

    exit_code = 2


class LeanNotFound(LeanFDError):
    """No usable Lean executable; the message says how to get one."""

    exit_code = 3


class RecordError(LeanFDError, ValueError):
    """An input record is malformed; the message names the field that is wrong."""


class LeanProcessError(LeanFDError):
    """A Lean process died, broke the protocol, or could not be started."""
