"""The claim model: what the article states, as typed, immutable data."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any


class Verdict(enum.StrEnum):
    SUPPORTED = "SUPPORTED"
    REFUTED = "REFUTED"
    PARTLY_SUPPORTED = "PARTLY SUPPORTED"
    # A training outcome at a stated scale (docs/design.md, "Empirical claims"): what a small
    # experiment reproduced, never "the article is true / wrong".
    REPRODUCED = "REPRODUCED"
    NOT_REPRODUCED = "NOT REPRODUCED"
    PARTLY_REPRODUCED = "PARTLY REPRODUCED"
    INCONCLUSIVE = "INCONCLUSIVE"
    NOT_CHECKABLE = "NOT CHECKABLE"
    ERROR = "ERROR"
    NOT_RUN = "NOT RUN"

    @property
    def family(self) -> Family:
        if self in _STATEMENT_ONLY:
            return Family.STATEMENT
        if self in _EXPERIMENT_ONLY:
            return Family.EXPERIMENT
        return Family.SHARED

    def for_kind(self, kind: Kind) -> Verdict:
        """The verdict in the family of a claim of this kind: the rules decide SUPPORTED /
        REFUTED / PARTLY SUPPORTED, and a last step relabels them for a training outcome."""
        if kind is Kind.EMPIRICAL:
            return _AS_EXPERIMENT.get(self, self)
        return self

    def allowed_for(self, kind: Kind) -> bool:
        """Whether this verdict belongs to the family of a claim of this kind."""
        wanted = Family.EXPERIMENT if kind is Kind.EMPIRICAL else Family.STATEMENT
        return self.family in (wanted, Family.SHARED)


class Family(enum.StrEnum):
    """Which verdict values a claim can take: a statement decided by mathematics or printed
    numbers, or a training experiment at its scale; INCONCLUSIVE and the run's own outcomes
    (ERROR, NOT RUN, NOT CHECKABLE) are shared."""

    STATEMENT = "statement"
    EXPERIMENT = "experiment"
    SHARED = "shared"


class Kind(enum.StrEnum):
    NUMERIC_EXAMPLE = "numeric-example"
    MATH_PROPERTY = "math-property"
    STATISTICAL = "statistical"
    COMPLEXITY = "complexity"
    FLOATING_POINT = "floating-point"
    IMPLEMENTATION = "implementation"
    EMPIRICAL = "empirical"
    NOT_CHECKABLE = "not-checkable"


_AS_EXPERIMENT = MappingProxyType(
    {
        Verdict.SUPPORTED: Verdict.REPRODUCED,
        Verdict.REFUTED: Verdict.NOT_REPRODUCED,
        Verdict.PARTLY_SUPPORTED: Verdict.PARTLY_REPRODUCED,
    }
)
_STATEMENT_ONLY = frozenset(_AS_EXPERIMENT)
_EXPERIMENT_ONLY = frozenset(_AS_EXPERIMENT.values())


class Role(enum.StrEnum):
    """What a reading is to its claim (docs/design.md, "What decides a verdict")."""

    PART = "part"  # one part of the primary reading: every part decides
    ALTERNATIVE = "alternative"  # another plausible reading: checked and shown, never decides
    AMBIGUOUS = "ambiguous"  # one of two readings the context cannot choose between: both decide


@dataclass(frozen=True)
class Reading:
    """One part of what the claim asserts, or another way to read it; checked separately."""

    id: str
    text: str
    role: Role = Role.PART

    @property
    def decides(self) -> bool:
        return self.role is not Role.ALTERNATIVE


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
    rationale: str | None = None  # why a careful reader takes the statement this way, in context
    scope: str | None = None  # the selection of implementations the claim is about (impl/)
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

    @property
    def empirical(self) -> bool:
        """A training outcome: its verdicts are REPRODUCED / NOT REPRODUCED / PARTLY
        REPRODUCED / INCONCLUSIVE at a stated scale."""
        return self.kind is Kind.EMPIRICAL

    @property
    def family(self) -> Family:
        return Family.EXPERIMENT if self.empirical else Family.STATEMENT

    def reading(self, reading_id: str) -> Reading | None:
        return next((r for r in self.readings if r.id == reading_id), None)

    @property
    def deciding_readings(self) -> tuple[Reading, ...]:
        return tuple(r for r in self.readings if r.decides)

    @property
    def ambiguous(self) -> bool:
        return any(r.role is Role.AMBIGUOUS for r in self.readings)
