"""Lean: toolchain discovery, records and verdicts, the soundness policy, and the backends.

Imports nothing else of the package.
"""

from leanfd.lean.errors import LeanFDError, LeanNotFound, LeanProcessError, RecordError
from leanfd.lean.policy import Policy
from leanfd.lean.records import CheckRecord, LeanFile, Verdict
from leanfd.lean.verifier import Verifier, VerifierConfig

__all__ = [
    "CheckRecord", "LeanFDError", "LeanFile", "LeanNotFound", "LeanProcessError", "Policy",
    "RecordError", "Verdict", "Verifier", "VerifierConfig",
]
