"""`python -m softmax_claimcheck conform ...`, the same as the `softmax-claimcheck` command."""

import sys

from softmax_claimcheck.cli import main

sys.exit(main())
