"""Deliberately broken softmaxes whose bug is in time or in the process, not in the values: right
on most inputs, they hang or end the process on some. Before the conformance command had a time
bound and a worker process, the first two hung it for good and the last one ended it with status
0 and no output. tests/conformance/test_time_bound.py requires each to fail with the property
named (the first property whose input triggers it) and every other dtype judged.

Not in the default registry, and kept apart from impl/broken.py: the article checks' teeth call
those in-process, where a hang would cost a check's whole time bound.
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
from typing import Any

from array_api_compat import array_namespace

from softmax_claimcheck.impl import reference


def deadlocks_on_neg_inf(x: Any, axis: int = -1) -> Any:
    """Takes a lock it already holds when a score is −∞ (a masked row's slow path): waits
    forever, in Python, where a signal can interrupt it."""
    xp = array_namespace(x)
    if bool(xp.any(xp.isinf(x) & (x < 0))):
        lock = threading.Lock()
        lock.acquire()
        lock.acquire()
    return reference.stable_softmax(x, axis=axis)


def spins_in_c_on_long_rows(x: Any, axis: int = -1) -> Any:
    """A C kernel that never returns for rows longer than 32 and holds the GIL meanwhile (no
    signal handler, no thread of the process, runs again)."""
    if x.shape[axis] > 32:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        ctypes.PyDLL(None).sleep(3600)
    return reference.stable_softmax(x, axis=axis)


def exits_on_float16(x: Any, axis: int = -1) -> Any:
    """A kernel that ends the process, with status 0, on a dtype it does not support (as some
    C++ kernels do with exit(0) after printing an error)."""
    if "float16" in str(x.dtype) and "bfloat16" not in str(x.dtype):
        print("fatal: float16 is not supported")
        os._exit(0)
    return reference.stable_softmax(x, axis=axis)


TIME_SOFTMAXES = (deadlocks_on_neg_inf, spins_in_c_on_long_rows, exits_on_float16)
