"""The claim model: what the article states, as typed, immutable data."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class Verdict(enum.StrEnum):
    SUPPORTED = "SUPPORTED"
    REFUTED = "REFUTED"
    PARTLY_SUPPORTED = "PARTLY SUPPORTED"
    NOT_CHECKABLE = "NOT CHECKABLE"
    ERROR = "ERROR"
    NOT_RUN = "NOT RUN"

    @property
    def css(self) -> str:
        return self.value.lower().replace(" ", "-")


class Kind(enum.StrEnum):
    NUMERIC_EXAMPLE = "numeric-example"
    MATH_PROPERTY = "math-property"
    STATISTICAL = "statistical"
    COMPLEXITY = "complexity"
    FLOATING_POINT = "floating-point"
    IMPLEMENTATION = "implementation"
    EMPIRICAL = "empirical"
    NOT_CHECKABLE = "not-checkable"


@dataclass(frozen=True)
class Reading:
    """One way to read an ambiguous statement, or one condition it needs; checked separately."""

    id: str
    text: str


@dataclass(frozen=True)
class Claim:
    id: str
    section: str
    quote: str
    statement: str
    kind: Kind
    expect: Verdict
    version: int
    readings: tuple[Reading, ...] = ()
    claimed: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    tolerance: dict[str, float] | None = None
    reason: str | None = None
    notes: str | None = None
    source: Path | None = None
    line: int = 0

    @property
    def checkable(self) -> bool:
        return self.kind is not Kind.NOT_CHECKABLE

    def reading(self, reading_id: str) -> Reading | None:
        return next((r for r in self.readings if r.id == reading_id), None)
