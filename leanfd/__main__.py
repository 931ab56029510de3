"""`python -m leanfd` (and `accelerate launch -m leanfd ...`)."""

import sys

try:
    from leanfd.cli import main
except KeyboardInterrupt:  # Ctrl-C while the command's own modules load: as quiet as later on
    sys.stderr.write("leanfd: stopped by SIGINT\n")
    sys.exit(130)

sys.exit(main())
