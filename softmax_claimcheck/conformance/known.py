"""Known deviations of the built-in implementations, as data beside them (like PyTorch's per-op
expected failures). A check listed here that fails is an "expected fail"; one that passes is an
"unexpected pass" and fails the run (strict), so this data stays true. A user's implementation
has none: it is judged by the properties only.

Key: (implementation id, property id) -> (dtypes it applies to, or None for all; the reason).
"""

from __future__ import annotations

KnownDeviation = tuple[tuple[str, ...] | None, str]

_NAIVE = "the textbook formula without the max shift: exp overflows / underflows"
_ARTICLE = "the article's three-line function uses the global max and sum, so it ignores the axis"

KNOWN: dict[tuple[str, str], KnownDeviation] = {
    **{
        (impl, prop): (None, _NAIVE)
        for impl in ("numpy-naive", "torch-naive")
        for prop in (
            "large-scores",
            "very-negative-scores",
            "shift-invariance",
            "non-negative",
            "zero-at-neg-inf",
        )
    },
    **{
        (impl, prop): (None, _ARTICLE)
        for impl in ("numpy-article", "torch-article")
        for prop in (
            "values",
            "sums-to-one",
            "axis-last",
            "axis-non-last",
            "batch-independence",
            "zero-at-neg-inf",
            "large-scores",
            "very-negative-scores",
        )
    },
    ("torch-article", "gradient"): (None, _ARTICLE),
}


def known_deviation(impl_id: str | None, prop: str, dtype: str) -> str | None:
    if impl_id is None:
        return None
    entry = KNOWN.get((impl_id, prop))
    if entry is None:
        return None
    dtypes, reason = entry
    return reason if dtypes is None or dtype in dtypes else None
