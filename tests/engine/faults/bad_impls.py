"""Softmax implementations that go wrong, for `--impl tests.engine.faults.bad_impls:NAME`.

The non-finite ones are wrong on every input. The others answer the plugin's probe (a 2×3 input)
correctly and misbehave on every larger input, as a kernel that fails only past some size would:
the run registers them, and their cells must fail."""

from __future__ import annotations

import os
import time

import numpy as np
import torch

PROBE_SIZE = 6


def _right(x, dim):
    return torch.softmax(torch.as_tensor(x), dim=dim)


def _numpy_right(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _torch(name, wrong):
    def softmax(x, dim=-1):
        return _right(x, dim) if x.numel() <= PROBE_SIZE else wrong(x, dim)

    softmax.__name__ = name
    return softmax


# -- class 3: non-finite answers -------------------------------------------------------------------
def _nonfinite(name, fill):
    """Wrong on every input, the probe's too (the probe checks kind and shape, not values)."""

    def softmax(x, axis=-1):
        return fill(np.asarray(x, dtype=float))

    softmax.__name__ = name
    return softmax


def _first_nan(x):
    out = _numpy_right(x, -1) if x.size else x
    out.flat[0] = np.nan
    return out


all_nan = _nonfinite("all_nan", lambda x: np.full(x.shape, np.nan))
all_inf = _nonfinite("all_inf", lambda x: np.full(x.shape, np.inf))
all_neg_inf = _nonfinite("all_neg_inf", lambda x: np.full(x.shape, -np.inf))
one_nan = _nonfinite("one_nan", _first_nan)


# -- class 4: not an answer ---------------------------------------------------------------------
def _meta(x, dim):
    return torch.empty_like(x, device="meta")


def _scalar(x, dim):
    return torch.tensor(1.0, dtype=x.dtype)


def _python_float(x, dim):
    return 1.0


def _none(x, dim):
    return None


def _flattened(x, dim):
    return _right(x, dim).reshape(-1)


def _int_dtype(x, dim):
    return torch.zeros(x.shape, dtype=torch.int64)


def _complex_dtype(x, dim):
    return _right(x, dim).to(torch.complex128)


def _list(x, dim):
    return _right(x, dim).tolist()


def _sparse(x, dim):
    return _right(x, dim).to_sparse()


def _tuple(x, dim):
    return _right(x, dim), None


def _exits(x, dim):
    os._exit(0)


def _sleeps(x, dim):
    time.sleep(600)


returns_meta = _torch("returns_meta", _meta)
returns_scalar = _torch("returns_scalar", _scalar)
returns_python_float = _torch("returns_python_float", _python_float)
returns_none = _torch("returns_none", _none)
returns_flattened = _torch("returns_flattened", _flattened)
returns_int_dtype = _torch("returns_int_dtype", _int_dtype)
returns_complex_dtype = _torch("returns_complex_dtype", _complex_dtype)
returns_list = _torch("returns_list", _list)
returns_sparse = _torch("returns_sparse", _sparse)
returns_tuple = _torch("returns_tuple", _tuple)
exits = _torch("exits", _exits)
sleeps = _torch("sleeps", _sleeps)
