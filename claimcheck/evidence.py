"""What a check measured, in a structured form the report renders.

A check records comparisons (claimed or exact value beside the measured one, with the deviation
and the bound it must stay within), inputs, notes and figures. A comparison that does not hold
fails the check even if the check forgets to assert: evidence that says "fails" cannot pass.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass, field, fields
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


MAX_DEPTH = 32  # deeper containers are shown as a bounded excerpt (and cycles end there too)
MAX_TEXT = 10_000  # characters of a value shown as text (a repr, a note that is not a string)


def _as_text(value: Any) -> str:
    """A bounded text form of any value; never raises (a broken __str__ is named, not raised)."""
    try:
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    except Exception as exc:
        return f"<{type(value).__name__}: str() raised {type(exc).__name__}>"
    if len(text) > MAX_TEXT:
        return text[:MAX_TEXT] + f"… ({len(text)} characters)"
    return text


def _plain(value: Any, depth: int = 0) -> Any:
    """JSON-friendly copy of numbers, arrays and tensors; long arrays are summarised.

    Whatever a check records ends up here, and report writing must never fail on it: numpy
    scalars and arrays, tensors, tuples, sets, paths, bytes, arbitrary objects, NaN and ±inf
    anywhere inside containers, cycles, very deep nesting, integers too long to print. Anything
    that is not a JSON number, string, bool, null, list or object becomes a bounded string."""
    try:
        return _plain_unsafe(value, depth)
    except RecursionError:
        return f"<{type(value).__name__} nested too deeply>"
    except Exception:
        return _as_text(value)


def _plain_unsafe(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        return _as_text(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):  # before numpy: a plain int has no .tolist to worry about
        return int(value) if abs(value) < 10**300 else _as_text(f"{value:.6e}")
    if isinstance(value, float):
        value = float(value)
        if not math.isfinite(value):
            return str(value)
        short = float(f"{value:.10g}")  # ten significant digits: exact enough, half the size
        return short if math.isfinite(short) else value  # finfo.max must not round up to inf
    if isinstance(value, str):
        return value
    if hasattr(value, "detach"):
        value = value.detach().cpu()
        value = (value.double() if not value.is_complex() else value).numpy()
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple, dict)):
        value = value.tolist()
        if not isinstance(value, (list, tuple, dict)):
            return _plain_unsafe(value, depth + 1)  # a numpy scalar: its Python value
        value = _summarised(value) if isinstance(value, list) else value
    elif isinstance(value, list):
        value = _summarised(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {
            _as_text(k) if not isinstance(k, str) else k: _plain(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, (set, frozenset)):
        items = [_plain(v, depth + 1) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=repr)
    if isinstance(value, complex):
        return str(value)
    return _as_text(value)


def json_safe(value: Any) -> Any:
    """Public name of the conversion every recorded value goes through."""
    return _plain(value)


def _bound(value: float) -> str:
    """A region's boundary as text: a tie-breaking offset (1e-9 off 0) reads as 0."""
    return "0" if abs(value) < 1e-6 else f"{value:g}"


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
    needed: str | None = None  # for an inconclusive statistic: the sample that would decide it

    def as_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies, which fails on values that cannot be copied.
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


@dataclass
class Figure:
    caption: str
    png_base64: str


@dataclass
class Table:
    """A small table a reader scans (e.g. a training grid's arms); the report renders it."""

    caption: str
    columns: list[str]
    rows: list[list[Any]]


SCALE_KEYS = ("preset", "device", "task", "steps", "parameters", "seeds", "layers", "context")


@dataclass
class Evidence:
    """Per check and per parameter set; filled by the check through the `evidence` fixture."""

    comparisons: list[Comparison] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    falsifying_example: str | None = None
    # One short sentence from this check's own numbers (what was claimed, what was measured);
    # the claim's finding composes these. Without it the report renders one from `comparisons`.
    finding: str | None = None
    tables: list[Table] = field(default_factory=list)
    # A training experiment's scale (preset, steps, parameters, seeds, task...): data, so the
    # engine never imports the experiments to say how big a run was.
    scale: dict[str, Any] = field(default_factory=dict)

    # -- recording -------------------------------------------------------------------------
    def record_inputs(self, **inputs: Any) -> None:
        self.inputs.update({k: _plain(v) for k, v in inputs.items()})

    def conclude(self, sentence: str) -> None:
        """This check's finding: one short sentence rendered from the numbers it measured
        (claimed beside measured), never a label; the claim's finding is composed of these."""
        self.finding = _as_text(sentence).strip().rstrip(".")

    def table(self, caption: str, columns: list[str], rows: list[list[Any]]) -> None:
        self.tables.append(
            Table(caption, [str(c) for c in columns], [[_plain(v) for v in r] for r in rows])
        )

    def record_scale(self, **scale: Any) -> None:
        """The scale of the experiment behind this check (see SCALE_KEYS)."""
        self.scale.update({k: _plain(v) for k, v in scale.items()})

    def note(self, text: str) -> None:
        self.notes.append(text if isinstance(text, str) else _as_text(text))

    def figure(self, fig: Any, caption: str) -> None:
        """Embed a matplotlib figure as a small PNG, then close it."""
        import matplotlib.pyplot as plt
        from PIL import Image

        raw = io.BytesIO()
        if fig.get_layout_engine() is None:
            fig.set_layout_engine("tight")  # laid out as it draws: bbox_inches="tight" draws twice
        fig.savefig(raw, format="png", dpi=72)
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
        holds = deviation is not None and math.isfinite(bound) and deviation <= bound
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
        if math.isnan(low) or math.isnan(high):
            # Every comparison with NaN is False: the interval would read "inconclusive". A NaN
            # statistic is a broken measurement, never evidence either way.
            raise ValueError(f"{quantity}: the confidence interval is [{low}, {high}]")
        inside = (lo is None or low >= lo) and (hi is None or high <= hi)
        outside = (lo is not None and high < lo) or (hi is not None and low > hi)
        decision = "holds" if inside else "fails" if outside else "inconclusive"
        shown = f"[{'-∞' if lo is None else _bound(lo)}, {'∞' if hi is None else _bound(hi)}]"
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
                needed=(needed or None) if decision == "inconclusive" else None,
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
        """JSON-safe whatever a check put here, also by writing the fields directly."""
        return {
            "comparisons": [
                c.as_dict() if isinstance(c, Comparison) else _plain(c) for c in self.comparisons
            ],
            "inputs": _plain(self.inputs) if isinstance(self.inputs, dict) else {},
            "notes": [n if isinstance(n, str) else _as_text(n) for n in self.notes],
            "figures": [
                {"caption": _as_text(f.caption), "png_base64": _as_text(f.png_base64)}
                for f in self.figures
                if isinstance(f, Figure)
            ],
            "falsifying_example": (
                None if self.falsifying_example is None else _as_text(self.falsifying_example)
            ),
            "finding": None if self.finding is None else _as_text(self.finding),
            "tables": [
                {
                    "caption": _as_text(t.caption),
                    "columns": [_as_text(c) for c in t.columns],
                    "rows": [[_plain(v) for v in row] for row in t.rows],
                }
                for t in self.tables
                if isinstance(t, Table)
            ],
            "scale": _plain(self.scale) if isinstance(self.scale, dict) else {},
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
