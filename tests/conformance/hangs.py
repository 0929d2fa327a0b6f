"""Implementations that hang, end the process or are slow: the time bound's test subjects
(tests/conformance/test_time_bound.py). Correct softmaxes on every other input, so each must
fail only where it misbehaves."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from typing import Any

import numpy as np


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def sleeps_on_float16(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """A deadlock on one dtype: never returns for float16 (Python-level, interruptible)."""
    if x.dtype == np.float16:
        while True:
            time.sleep(3600)
    return _softmax(x, axis)


def sleeps_on_long_rows(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Never returns for rows longer than 8."""
    while x.shape[axis] > 8:
        time.sleep(3600)
    return _softmax(x, axis)


def swallows_timeouts_on_float16(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Catches everything, the time bound's exception too, and goes on waiting."""
    if x.dtype == np.float16:
        while True:
            with contextlib.suppress(BaseException):  # the time bound's exception too
                time.sleep(3600)
    return _softmax(x, axis)


def _sleep_in_c_holding_the_gil() -> None:
    """A C call that never returns and never releases the GIL (a PyDLL call keeps it), with
    SIGALRM blocked: no Python signal handler, no other thread of the process, runs again."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    ctypes.PyDLL(None).sleep(3600)


def holds_gil_on_float32(x: np.ndarray, axis: int = -1) -> np.ndarray:
    if x.dtype == np.float32:
        _sleep_in_c_holding_the_gil()
    return _softmax(x, axis)


def hangs_on_import() -> None:
    """Imported by a module that never finishes importing (hang_on_import.py)."""
    while True:
        time.sleep(3600)


def exits_0_on_float16(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """os._exit(0) inside the call: the old command ended with 0 and printed nothing."""
    if x.dtype == np.float16:
        os._exit(0)
    return _softmax(x, axis)


def exits_3_on_float16(x: np.ndarray, axis: int = -1) -> np.ndarray:
    if x.dtype == np.float16:
        os._exit(3)
    return _softmax(x, axis)


def kills_itself_on_float16(x: np.ndarray, axis: int = -1) -> np.ndarray:
    if x.dtype == np.float16:
        os.kill(os.getpid(), signal.SIGKILL)
    return _softmax(x, axis)


def always_exits_0(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Ends the process on every input, the probe's too."""
    os._exit(0)


def hangs_always(x: Any, axis: int = -1) -> Any:
    """Never returns, whatever it is given: the probe call hangs before the kind is known."""
    while True:
        time.sleep(3600)


def slow_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Correct, 50 ms a call."""
    time.sleep(0.05)
    return _softmax(x, axis)
