"""What an implementation under test must return: an array of its input's kind, shape and device,
with a floating dtype. Anything else (None, a scalar, a list, a meta tensor, the wrong shape, an
integer or complex dtype, a sparse tensor) fails that implementation's cell with one line
(ImplementationFailure), instead of crashing the check that would read it."""

from __future__ import annotations

from typing import Any

import numpy as np

from softmax_claimcheck.claimcheck.outcomes import ImplementationFailure


def _kind(value: Any) -> str:
    shape = getattr(value, "shape", None)
    return f"{type(value).__name__}" + (f" of shape {tuple(shape)}" if shape is not None else "")


def checked_return(out: Any, like: Any, shape: tuple[int, ...] | None = None) -> Any:
    """out, if it is an answer for an input like `like` (shape: the expected shape, default the
    input's); else ImplementationFailure naming what came back."""
    expected = tuple(like.shape) if shape is None else tuple(shape)
    try:
        import torch
    except ImportError:  # a numpy-only environment
        torch = None  # type: ignore[assignment]
    if torch is not None and isinstance(like, torch.Tensor):
        if not isinstance(out, torch.Tensor):
            raise ImplementationFailure(
                f"the implementation returned {_kind(out)}, not a torch tensor"
            )
        if out.layout != torch.strided:
            raise ImplementationFailure(f"the implementation returned a {out.layout} tensor")
        if out.device != like.device:
            raise ImplementationFailure(
                f"the implementation returned a tensor on device {out.device}, for an input on "
                f"{like.device}"
            )
        floating = out.dtype.is_floating_point
    else:
        if not isinstance(out, np.ndarray):
            raise ImplementationFailure(
                f"the implementation returned {_kind(out)}, not a numpy array"
            )
        floating = np.issubdtype(out.dtype, np.floating)
    if tuple(out.shape) != expected:
        raise ImplementationFailure(
            f"the implementation returned {_kind(out)}, for an answer of shape {expected}"
        )
    if not floating:
        raise ImplementationFailure(
            f"the implementation returned dtype {out.dtype}, not a floating dtype"
        )
    return out
