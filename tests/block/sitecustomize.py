"""Makes the modules named in LEANFD_TEST_BLOCK (comma-separated) impossible to import in this
interpreter, as on an install without the extra that brings them: `import torch` raises
ModuleNotFoundError (name "torch") and `importlib.util.find_spec("torch")` returns None.
On PYTHONPATH for the child processes of tests/test_bad_inputs.py only."""

import os
import sys

for _name in os.environ.get("LEANFD_TEST_BLOCK", "").split(","):
    if _name:
        sys.modules[_name] = None  # type: ignore[assignment]
