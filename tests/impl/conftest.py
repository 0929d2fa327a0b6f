"""Tests of the implementations and the registry. Heavy extension modules are imported once here,
before any in-process pytester run (pytester restores sys.modules after each run, and numpy and
torch cannot be loaded twice in one process)."""

import numpy  # noqa: F401  # isort: skip
import torch  # noqa: F401  # isort: skip
import softmax_claimcheck.impl.registry  # noqa: F401  # isort: skip
import scipy.special  # noqa: F401  # isort: skip  (--impl scipy.special:softmax in pytester runs)
