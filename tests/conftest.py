"""Hypothesis profiles, registered once and chosen by CLAIMCHECK_PROFILE (dev, ci, thorough).

CI runs derandomized with no example database, so two runs give the same verdicts.
"""

from __future__ import annotations

import os

import torch
from hypothesis import HealthCheck, settings
from threadpoolctl import threadpool_limits

# The checks use small arrays: intra-op threads (torch's and OpenBLAS') only add contention on
# small (2-core) machines, up to 40× slower per call when the machine is loaded.
torch.set_num_threads(1)
threadpool_limits(1)

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}

settings.register_profile("dev", max_examples=60, **_COMMON)
settings.register_profile(
    "ci", max_examples=60, derandomize=True, database=None, print_blob=False, **_COMMON
)
settings.register_profile("thorough", max_examples=2000, **_COMMON)

PROFILE = os.environ.get("CLAIMCHECK_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
settings.load_profile(PROFILE)
