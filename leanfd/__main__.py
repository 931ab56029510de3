"""`python -m leanfd` (and `accelerate launch -m leanfd ...`)."""

import sys

from leanfd.cli import main

sys.exit(main())
