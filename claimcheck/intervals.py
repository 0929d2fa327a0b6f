"""The one interval type of every statistical check: an estimate with its two-sided confidence
interval, how it was computed and from how many units. Its `bounds` are what
`Evidence.interval_decision` decides on (docs/design.md, "Statistics")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    n: int  # independent units: sampled rows, seeds, runs
    method: str = ""  # e.g. "t-interval over seeds", "Wilson, N = 4096"
    confidence: float = 0.95

    @property
    def bounds(self) -> tuple[float, float]:
        return (self.low, self.high)

    def __str__(self) -> str:
        how = f", {self.method}" if self.method else ""
        return (
            f"{self.estimate:.4g} [{self.low:.4g}, {self.high:.4g}] "
            f"({self.confidence:.4g} interval{how}, n={self.n})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "estimate": self.estimate,
            "low": self.low,
            "high": self.high,
            "n": self.n,
            "confidence": self.confidence,
        }
