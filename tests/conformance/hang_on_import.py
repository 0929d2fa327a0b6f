"""A module whose import never finishes (tests/conformance/test_time_bound.py)."""

from tests.conformance.hangs import hangs_on_import, slow_softmax

hangs_on_import()
softmax = slow_softmax
