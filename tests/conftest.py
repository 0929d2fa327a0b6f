"""Hypothesis profiles, registered once and chosen by CLAIMCHECK_PROFILE.

The default, `deterministic`, is derandomized with no example database: the same code and the same
pinned versions (constraints.txt) give the same examples, so the same verdicts, in every run, with
or without a `CI` variable. Random exploration is an explicit choice: `explore` (a fresh random
search each run, for finding new counterexamples to pin with @example) or `thorough` (many more
examples). A counterexample that decides a verdict is pinned as an explicit @example.
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

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "print_blob": False}

settings.register_profile(
    "deterministic", max_examples=60, derandomize=True, database=None, **_COMMON
)
settings.register_profile("explore", max_examples=200, derandomize=False, database=None, **_COMMON)
settings.register_profile("thorough", max_examples=2000, derandomize=True, database=None, **_COMMON)

# `ci`: the old name of `deterministic`, kept so older commands still work.
settings.register_profile("ci", settings.get_profile("deterministic"))
PROFILES = ("deterministic", "explore", "thorough", "ci")
PROFILE = os.environ.get("CLAIMCHECK_PROFILE") or "deterministic"
if PROFILE not in PROFILES:
    raise ValueError(f"CLAIMCHECK_PROFILE={PROFILE!r}: choose one of {', '.join(PROFILES)}")
settings.load_profile(PROFILE)


# Tests that start whole pytest runs in subprocesses (fault injection, stops, parallel runs, the
# conformance command, the kernels' child run): `nox -s slow_tests` runs them, so `nox -s tests`
# stays within its time budget on a 2-core machine. CI runs both.
SLOW = (
    "tests/engine/faults/",
    "tests/engine/test_stops_and_parallel.py",
    "tests/engine/test_exit_status.py",
    "tests/engine/test_report.py",
    "tests/engine/test_determinism.py",
    "tests/engine/test_bad_input.py",
    "tests/engine/test_training_smoke.py",
    "tests/conformance/",
    "tests/kernels/",
    "tests/impl/test_teeth.py",
    "tests/layout/test_wheel.py",
)


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    import pytest

    for item in items:
        if item.nodeid.startswith(SLOW):
            item.add_marker(pytest.mark.slow)
