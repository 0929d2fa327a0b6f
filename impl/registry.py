"""The registry: every implementation under test has an id, a backend, the devices and dtypes it
supports and what it is. A `Registry` belongs to one run (impl/pytest_plugin.py keeps it in the
pytest config): the built-ins plus whatever the user brought with `--impl` or entry points.

Checks reach implementations only through `@pytest.mark.cases("selection", ...)` (one switch,
array-api-tests' habit): the plugin parametrizes their `case` argument from the run's registry,
with ids that read well: `torch-softmax-cpu-float32`. Selections are named in impl/selections.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pytest

from softmax_claimcheck.impl.catalogue import builtin
from softmax_claimcheck.impl.model import (
    ALL_DTYPES,
    NUMPY_DTYPES,
    ImplCase,
    Implementation,
    cuda_available,
    to_numpy,
)
from softmax_claimcheck.impl.selections import OTHER_SCOPES, SELECTIONS, Selection

__all__ = [
    "ALL_DTYPES",
    "NUMPY_DTYPES",
    "ImplCase",
    "Implementation",
    "Registry",
    "cuda_available",
    "to_numpy",
]


class Registry:
    """The implementations one run knows, by id (immutable once built)."""

    def __init__(self, implementations: Iterable[Implementation]) -> None:
        self._entries: dict[str, Implementation] = {}
        for implementation in implementations:
            if implementation.id in self._entries:
                raise ValueError(f"implementation id {implementation.id!r} is already registered")
            self._entries[implementation.id] = implementation

    @classmethod
    def builtin(cls) -> Registry:
        return cls(builtin())

    def with_added(self, extra: Iterable[Implementation]) -> Registry:
        """A new registry holding these implementations too (ids must be new)."""
        return Registry([*self._entries.values(), *extra])

    def __contains__(self, impl_id: str) -> bool:
        return impl_id in self._entries

    def get(self, impl_id: str) -> Implementation:
        try:
            return self._entries[impl_id]
        except KeyError:
            raise KeyError(
                f"unknown implementation {impl_id!r}; known: {', '.join(self._entries)}"
            ) from None

    def implementations(
        self, role: str | None = "softmax", tags: Iterable[str] = ()
    ) -> list[Implementation]:
        wanted = set(tags)
        return [
            i
            for i in self._entries.values()
            if (role is None or i.role == role) and wanted <= i.tags
        ]

    def selected(
        self, selection: str | None = None, ids: Sequence[str] | None = None
    ) -> list[Implementation]:
        """The implementations a selection (impl/selections.py) or an explicit id list names."""
        if ids is not None:
            return [self.get(i) for i in ids]
        if selection is None:
            raise ValueError("name a selection or ids")
        rule = selection_named(selection)
        return [i for i in self._entries.values() if rule.matches(i)]

    def cases(
        self,
        selection: str | None = None,
        *,
        ids: Sequence[str] | None = None,
        dtypes: Sequence[str] = ALL_DTYPES,
        devices: Sequence[str] = ("cpu", "cuda"),
        backend: str | None = None,
    ) -> list[Any]:
        """pytest params for every (implementation, device, dtype) of the selection that passes
        the filters; cases that cannot run here are kept and skipped with their reason, so the
        report shows them."""
        params = []
        for implementation in self.selected(selection, ids):
            if backend is not None and implementation.backend != backend:
                continue
            for device in implementation.devices:
                if device not in devices:
                    continue
                for dtype in implementation.dtypes:
                    if dtype not in dtypes:
                        continue
                    case = ImplCase(implementation, device, dtype)
                    reason = case.skip_reason()
                    marks = [pytest.mark.skip(reason=reason)] if reason else []
                    params.append(pytest.param(case, id=str(case), marks=marks))
        return params

    def scope_members(self, scope: str | None) -> frozenset[str] | None:
        """The built-in implementations a claim's scope covers: None for a claim without a scope
        (every check decides, and for an unknown name), the empty set for math / article /
        training scopes (no implementation decides)."""
        if scope is None:
            return None
        if scope in OTHER_SCOPES:
            return frozenset()
        rule = SELECTIONS.get(scope)
        if rule is None:
            return None
        return frozenset(i.id for i in self._entries.values() if rule.in_scope(i))


def selection_named(name: str) -> Selection:
    try:
        return SELECTIONS[name]
    except KeyError:
        raise KeyError(f"unknown selection {name!r}; known: {', '.join(SELECTIONS)}") from None


def known_scope(name: str) -> bool:
    return name in SELECTIONS or name in OTHER_SCOPES
