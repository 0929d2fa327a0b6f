"""The built-in implementations under test: reference math on numpy and torch, library kernels,
and (when triton imports) the Triton kernels. The registry starts from this list."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from softmax_claimcheck.impl import attention, library, reference
from softmax_claimcheck.impl.model import (
    ALL_DTYPES,
    NUMPY_DTYPES,
    Implementation,
    KnownDeviation,
)

BOTH = ("cpu", "cuda")

# Known deviations (conformance properties each built-in is known to break), kept on its entry.
NAIVE_DEVIATES = (
    KnownDeviation(
        frozenset(
            {
                "large-scores",
                "very-negative-scores",
                "shift-invariance",
                "non-negative",
                "zero-at-neg-inf",
                "whole-range",
            }
        ),
        "the textbook formula without the max shift: exp overflows / underflows",
    ),
)
ONLINE_DEVIATES = (
    KnownDeviation(
        frozenset({"small-weights"}),
        "the running sum is kept in the input dtype: in float16, 256 sequential block sums "
        "over a row of 1024 lose ~2% of the largest weight",
        ("float16",),
    ),
)
_ARTICLE_REASON = (
    "the article's three-line function uses the global max and sum, so it ignores the axis"
)
_ARTICLE_PROPERTIES = frozenset(
    {
        "values",
        "sums-to-one",
        "axis-last",
        "axis-non-last",
        "batch-independence",
        "zero-at-neg-inf",
        "large-scores",
        "very-negative-scores",
        "whole-range",
    }
)
NUMPY_ARTICLE_DEVIATES = (KnownDeviation(_ARTICLE_PROPERTIES, _ARTICLE_REASON),)
TORCH_ARTICLE_DEVIATES = (KnownDeviation(_ARTICLE_PROPERTIES | {"gradient"}, _ARTICLE_REASON),)


def _numpy_and_torch(
    name: str,
    role: str,
    fn: Callable[..., Any],
    description: str,
    tags: set[str],
    known_deviations: tuple[KnownDeviation, ...] = (),
) -> list[Implementation]:
    """The same Array API function on numpy (CPU) and on torch tensors (CPU and CUDA)."""
    return [
        Implementation(
            f"numpy-{name}",
            role,
            "numpy",
            fn,
            ("cpu",),
            NUMPY_DTYPES,
            f"{description} (numpy)",
            frozenset(tags),
            known_deviations=known_deviations,
        ),
        Implementation(
            f"torch-{name}",
            role,
            "torch",
            fn,
            BOTH,
            ALL_DTYPES,
            f"{description} (torch ops)",
            frozenset(tags),
            known_deviations=known_deviations,
        ),
    ]


def references() -> list[Implementation]:
    """The reference formulas of impl/reference.py and impl/attention.py."""
    stable, naive = reference.stable_softmax, reference.naive_softmax
    return [
        *_numpy_and_torch(
            "stable",
            "softmax",
            stable,
            "row-wise max shift, exp, normalize",
            {"stable", "row-wise"},
        ),
        *_numpy_and_torch(
            "naive",
            "softmax",
            naive,
            "textbook formula without the shift",
            {"row-wise"},
            NAIVE_DEVIATES,
        ),
        Implementation(
            "numpy-article",
            "softmax",
            "numpy",
            reference.article_softmax,
            ("cpu",),
            NUMPY_DTYPES,
            "the article's three-line function exactly as printed",
            frozenset({"stable"}),
            known_deviations=NUMPY_ARTICLE_DEVIATES,
        ),
        Implementation(
            "torch-article",
            "softmax",
            "torch",
            reference.article_softmax,
            BOTH,
            ALL_DTYPES,
            "the article's three-line function, on torch tensors",
            frozenset({"stable"}),
            known_deviations=TORCH_ARTICLE_DEVIATES,
        ),
        *_numpy_and_torch(
            "online",
            "softmax",
            reference.online_softmax,
            "online softmax: running max and rescaled running sum over blocks of 4",
            {"stable", "row-wise"},
            ONLINE_DEVIATES,
        ),
        *_numpy_and_torch(
            "log-stable",
            "log-softmax",
            reference.log_softmax,
            "x − max − log Σ exp(x − max)",
            {"stable", "row-wise"},
        ),
        *_numpy_and_torch(
            "sum-normalize",
            "normalizer",
            reference.sum_normalize,
            "divide each score by the sum of the scores (Brain Teaser #1)",
            {"alternative"},
        ),
        *_numpy_and_torch(
            "relu-normalize",
            "normalizer",
            reference.relu_normalize,
            "ReLU, then divide by the sum (Brain Teaser #3, option 3)",
            {"alternative"},
        ),
        *_numpy_and_torch(
            "attention",
            "attention",
            attention.reference_attention,
            "softmax(QKᵀ/√d_k + −∞ mask)·V",
            {"masking", "reference"},
        ),
    ]


def libraries() -> list[Implementation]:
    """Library kernels: torch.softmax / log_softmax, each SDPA backend, nn.MultiheadAttention,
    a torch.compile'd softmax."""
    sdpa = [
        Implementation(
            f"sdpa-{backend}",
            "attention",
            "torch",
            library.sdpa(backend),
            BOTH,
            ALL_DTYPES,
            f"F.scaled_dot_product_attention, only the {backend} backend enabled (sdpa_kernel)",
            frozenset({"masking", "library"}),
            available=library.sdpa_available(backend),
        )
        for backend in library.SDPA_BACKENDS
    ]
    return [
        Implementation(
            "torch-softmax",
            "softmax",
            "torch",
            library.torch_softmax,
            BOTH,
            ALL_DTYPES,
            "torch.softmax (library kernel)",
            frozenset({"stable", "row-wise", "library"}),
        ),
        Implementation(
            "torch-log-softmax",
            "log-softmax",
            "torch",
            library.torch_log_softmax,
            BOTH,
            ALL_DTYPES,
            "torch.log_softmax (library kernel)",
            frozenset({"stable", "row-wise", "library"}),
        ),
        *sdpa,
        Implementation(
            "torch-mha",
            "attention",
            "torch",
            library.multihead_attention,
            BOTH,
            ALL_DTYPES,
            "nn.MultiheadAttention, one head, identity projections, no bias",
            frozenset({"masking", "library"}),
            available=library.multihead_available,
        ),
        # CUDA only: the first inductor compile costs 11–19 s on a 2-core CPU (measured),
        # too slow for the default run; on a GPU machine it is a few seconds per dtype.
        Implementation(
            "torch-compiled-softmax",
            "softmax",
            "torch",
            library.compiled_softmax,
            ("cuda",),
            ALL_DTYPES,
            "torch.softmax through torch.compile (inductor), compiled once per dtype",
            frozenset({"stable", "row-wise", "compiled"}),
        ),
    ]


def triton_kernels() -> list[Implementation]:
    """Triton kernels (impl/triton_kernels.py), only where triton imports; nothing otherwise."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return []
    if importlib.util.find_spec("softmax_claimcheck.impl.triton_kernels") is None:
        return []
    from softmax_claimcheck.impl.triton_kernels import triton_implementations

    return list(triton_implementations())


def builtin() -> list[Implementation]:
    return [*references(), *libraries(), *triton_kernels()]
