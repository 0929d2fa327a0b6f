"""The engine's contract with plugins that bring implementations under test (this project's
impl/pytest_plugin.py, or another project's): pluggy hook specifications, added to pytest by
claimcheck/plugin.py (`pytest_addhooks`), as pytest-benchmark declares its hooks.

The engine never imports an implementations plugin. It learns through these hooks which
implementations a claim's scope covers, whether a scope name exists, and what a check's
parametrized value stands for (labels shown in the report, the implementation id that scope is
decided by, the precision the errata rank by). Implement them with `@pytest.hookimpl`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import pytest

hookspec = pluggy.HookspecMarker("pytest")


@dataclass(frozen=True)
class CheckSubject:
    """What one parametrized value of a check is: an implementation on a device in a dtype."""

    implementation: str  # the id a claim's scope is decided by
    labels: dict[str, str] = field(default_factory=dict)  # shown with the check, in order
    # significand bits of the arithmetic (float64: 53); the errata take a true value from the
    # most precise check; None when unknown
    precision_bits: int | None = None


@hookspec(firstresult=True)
def pytest_claimcheck_scope_members(config: pytest.Config, scope: str) -> frozenset[str] | None:
    """The ids of the implementations a claim's `scope` covers (empty: no implementation
    decides, e.g. a math claim); None when no plugin knows the scope (every check decides)."""


@hookspec(firstresult=True)
def pytest_claimcheck_scope_known(config: pytest.Config, scope: str) -> bool | None:
    """Whether `scope` names something a plugin knows (a claim naming an unknown scope is an
    error before any check runs); None when no plugin has an opinion."""


@hookspec(firstresult=True)
def pytest_claimcheck_check_subject(
    config: pytest.Config, name: str, value: Any
) -> CheckSubject | None:
    """The subject of a check's parameter `name` with `value` (e.g. an implementation case);
    None when the value is not one (it is then shown as its text)."""
