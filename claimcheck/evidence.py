"""What a check measured, in a structured form the report renders.

A check records comparisons (claimed or exact value beside the measured one, with the deviation
and the bound it must stay within), inputs, notes and figures. A comparison that does not hold
fails the check even if the check forgets to assert: evidence that says "fails" cannot pass.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Source = Literal["article", "oracle", "property", "statistic"]


SHOWN_VALUES = 24  # longer arrays are summarised: the report stays small with thousands of checks


def _flat(value: Any) -> list[Any] | None:
    """The leaves of a nested list of scalars, or None if it is not one."""
    if not isinstance(value, list):
        return None
    out: list[Any] = []
    for item in value:
        if isinstance(item, list):
            inner = _flat(item)
            if inner is None:
                return None
            out.extend(inner)
        elif isinstance(item, (int, float)) or item is None:
            out.append(item)
        else:
            return None
    return out


def _summarised(value: list[Any]) -> Any:
    """A long numeric array as its size, range and first values (deviations are computed on the
    full arrays before this; the summary only keeps the report small)."""
    flat = _flat(value)
    if flat is None or len(flat) <= SHOWN_VALUES:
        return value
    finite = [v for v in flat if isinstance(v, (int, float)) and math.isfinite(v)]
    return {
        "count": len(flat),
        "first": [_plain(v) for v in flat[:SHOWN_VALUES]],
        "min": min(finite) if finite else None,
        "max": max(finite) if finite else None,
        "non_finite": len(flat) - len(finite),
    }


def _plain(value: Any) -> Any:
    """JSON-friendly copy of numbers, arrays and tensors; long arrays are summarised."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().double().numpy()
    if hasattr(value, "tolist"):
        value = _summarised(value.tolist())
    elif isinstance(value, list):
        value = _summarised(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, float):
        short = float(f"{value:.10g}")  # ten significant digits: exact enough, half the size
        return short if math.isfinite(short) else value  # finfo.max must not round up to inf
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


@dataclass
class Comparison:
    quantity: str
    source: Source
    expected: Any  # the article's printed value, or the exact value from the oracle
    measured: Any
    deviation: float | None
    allowed: float | None
    tolerance: str
    holds: bool
    decimals: int | None = None  # printed precision, to print the corrected value in the errata
    inconclusive: bool = False  # a statistic whose interval straddles the claim's boundary

    def as_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))


@dataclass
class Figure:
    caption: str
    png_base64: str


@dataclass
class Evidence:
    """Per check and per parameter set; filled by the check through the `evidence` fixture."""

    comparisons: list[Comparison] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    falsifying_example: str | None = None

    # -- recording -------------------------------------------------------------------------
    def record_inputs(self, **inputs: Any) -> None:
        self.inputs.update({k: _plain(v) for k, v in inputs.items()})

    def note(self, text: str) -> None:
        self.notes.append(text)

    def figure(self, fig: Any, caption: str) -> None:
        """Embed a matplotlib figure as a small PNG, then close it."""
        import matplotlib.pyplot as plt
        from PIL import Image

        raw = io.BytesIO()
        fig.savefig(raw, format="png", dpi=72, bbox_inches="tight")
        plt.close(fig)
        # A 256-colour palette keeps line plots legible at a third of the size.
        small = io.BytesIO()
        Image.open(raw).convert("RGB").quantize(256).save(small, format="PNG", optimize=True)
        self.figures.append(Figure(caption, base64.b64encode(small.getvalue()).decode("ascii")))

    def printed_value(
        self,
        quantity: str,
        printed: float,
        true: float,
        bound: float,
        tolerance: str,
        decimals: int | None = None,
    ) -> bool:
        """The article's printed number against the true value, within the claim tolerance."""
        deviation = abs(float(true) - float(printed))
        holds = math.isfinite(deviation) and deviation <= bound * (1 + 1e-12)
        self.comparisons.append(
            Comparison(
                quantity,
                "article",
                printed,
                float(true),
                deviation,
                bound,
                tolerance,
                holds,
                decimals,
            )
        )
        return holds

    def close_to(
        self, quantity: str, exact: Any, measured: Any, bound: float, tolerance: str
    ) -> bool:
        """An implementation's value against the exact one, within the numerical tolerance."""
        deviation = _max_abs_difference(exact, measured)
        holds = deviation is not None and deviation <= bound
        self.comparisons.append(
            Comparison(
                quantity,
                "oracle",
                _plain(exact),
                _plain(measured),
                deviation,
                bound,
                tolerance,
                holds,
            )
        )
        return holds

    def property_holds(self, quantity: str, holds: bool, measured: Any, expected: str) -> bool:
        """A yes/no property (e.g. 'all outputs > 0'), with the value that decided it."""
        self.comparisons.append(
            Comparison(
                quantity, "property", expected, _plain(measured), None, None, expected, bool(holds)
            )
        )
        return bool(holds)

    def interval_decision(
        self,
        quantity: str,
        interval: tuple[float, float],
        region: tuple[float | None, float | None],
        rule: str,
        needed: str = "",
    ) -> str:
        """A statistic's confidence interval against the region the claim asserts, decided by a
        rule fixed before sampling: 'holds' when the interval lies inside the region, 'fails'
        when it lies outside, 'inconclusive' when it straddles a boundary (never evidence
        against; `needed` says what sample would decide it)."""
        low, high = float(interval[0]), float(interval[1])
        lo, hi = region
        inside = (lo is None or low >= lo) and (hi is None or high <= hi)
        outside = (lo is not None and high < lo) or (hi is not None and low > hi)
        decision = "holds" if inside else "fails" if outside else "inconclusive"
        shown = f"[{'-∞' if lo is None else f'{lo:g}'}, {'∞' if hi is None else f'{hi:g}'}]"
        text = f"{rule}; interval [{low:.4g}, {high:.4g}] vs region {shown}: {decision}"
        if decision == "inconclusive" and needed:
            text += f" ({needed})"
        self.comparisons.append(
            Comparison(
                quantity,
                "statistic",
                shown,
                [low, high],
                None,
                None,
                text,
                decision == "holds",
                inconclusive=decision == "inconclusive",
            )
        )
        return decision

    # -- reading ---------------------------------------------------------------------------
    @property
    def failed_comparisons(self) -> list[Comparison]:
        return [c for c in self.comparisons if not c.holds and not c.inconclusive]

    @property
    def inconclusive(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.inconclusive]

    def as_dict(self) -> dict[str, Any]:
        return {
            "comparisons": [c.as_dict() for c in self.comparisons],
            "inputs": self.inputs,
            "notes": list(self.notes),
            "figures": [{"caption": f.caption, "png_base64": f.png_base64} for f in self.figures],
            "falsifying_example": self.falsifying_example,
        }


def _max_abs_difference(a: Any, b: Any) -> float | None:
    import numpy as np

    def arr(x: Any) -> Any:
        if hasattr(x, "detach"):
            x = x.detach().cpu().double().numpy()
        return np.asarray(x, dtype=np.float64)

    x, y = arr(a), arr(b)
    if x.shape != y.shape:
        return None
    both_nan = np.isnan(x) & np.isnan(y)
    same_inf = np.isinf(x) & (x == y)
    diff = np.where(both_nan | same_inf, 0.0, np.abs(x - y))
    if np.isnan(diff).any():
        return math.inf
    return float(diff.max()) if diff.size else 0.0
