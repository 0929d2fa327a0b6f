"""The registry: every implementation under test has an id, a backend, the devices and dtypes it
supports and what it is. Checks reach implementations only through `cases()`, one switch
(array-api-tests' habit), with parametrize ids that read well: `torch-softmax-cpu-float32`.

Users add their own with `register()` (the pytest plugin impl/pytest_plugin.py does it for
`--impl` and for the `softmax_claimcheck.implementations` entry points).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pytest

from impl.catalogue import builtin
from impl.model import (
    ALL_DTYPES,
    NUMPY_DTYPES,
    ImplCase,
    Implementation,
    cuda_available,
    to_numpy,
)

__all__ = [
    "ALL_DTYPES",
    "NUMPY_DTYPES",
    "ImplCase",
    "Implementation",
    "cases",
    "cuda_available",
    "get",
    "implementations",
    "register",
    "to_numpy",
    "unregister",
]

_REGISTRY: dict[str, Implementation] = {i.id: i for i in builtin()}


def register(implementation: Implementation) -> None:
    if implementation.id in _REGISTRY:
        raise ValueError(f"implementation id {implementation.id!r} is already registered")
    _REGISTRY[implementation.id] = implementation


def unregister(impl_id: str) -> None:
    """Remove a registered implementation (the plugin removes user ones when its run ends)."""
    _REGISTRY.pop(impl_id, None)


def get(impl_id: str) -> Implementation:
    try:
        return _REGISTRY[impl_id]
    except KeyError:
        raise KeyError(
            f"unknown implementation {impl_id!r}; known: {', '.join(_REGISTRY)}"
        ) from None


def implementations(role: str = "softmax", tags: Iterable[str] = ()) -> list[Implementation]:
    wanted = set(tags)
    return [i for i in _REGISTRY.values() if i.role == role and wanted <= i.tags]


def cases(
    role: str = "softmax",
    *,
    tags: Iterable[str] = (),
    ids: Sequence[str] | None = None,
    dtypes: Sequence[str] = ALL_DTYPES,
    devices: Sequence[str] = ("cpu", "cuda"),
    backend: str | None = None,
) -> list[Any]:
    """pytest params for every (implementation, device, dtype) matching the filters; cases that
    cannot run here are kept and skipped with their reason, so the report shows them."""
    chosen = [get(i) for i in ids] if ids is not None else implementations(role, tags)
    params = []
    for implementation in chosen:
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
