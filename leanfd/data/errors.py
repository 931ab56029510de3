"""Errors of the data layer: a benchmark source that cannot be read at all, a bad template or argument.

A single malformed record is not an exception: loaders report it as a `BadLine` and go on.
"""

from __future__ import annotations

from leanfd.lean.errors import LeanFDError


class DataError(LeanFDError):
    """A benchmark source, template or few-shot file cannot be used; the message says what to pass instead."""
