"""The one way an adapter says "this kernel cannot take this input here"."""

from __future__ import annotations

import pytest


class NotSupported(pytest.skip.Exception):  # type: ignore[name-defined]
    """Raised by an adapter when its kernel rejects an input it does not support (e.g. flash
    attention with an arbitrary mask on a GPU). It is pytest's skip exception, so wherever a check
    calls the implementation the check is reported as skipped with this reason: never a pass,
    never a crash. Hypothesis re-raises it unchanged."""

    def __init__(self, reason: str) -> None:
        super().__init__(msg=reason)
