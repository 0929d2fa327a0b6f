import sys

from softmax_claimcheck.frameworks.table import main

sys.exit(main())
