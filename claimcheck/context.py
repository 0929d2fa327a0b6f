"""What a check receives as its `claim` fixture: the claim its marker names, and the reading.

Checks read the article's printed numbers (`printed`), our own thresholds (`parameter`) and the
claim tolerance from here, so a check never restates its claim id and never holds a second copy
of the article's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from softmax_claimcheck.claimcheck.model import Claim, Reading
from softmax_claimcheck.claimcheck.tolerance import ClaimTolerance


@dataclass(frozen=True)
class ClaimContext:
    claim: Claim
    reading_id: str | None = None

    @property
    def id(self) -> str:
        return self.claim.id

    @property
    def reading(self) -> Reading | None:
        return self.claim.reading(self.reading_id) if self.reading_id else None

    def printed(self, key: str) -> Any:
        """One of the article's own numbers (the claim's `claimed` field): what is claimed."""
        try:
            return self.claim.claimed[key]
        except KeyError:
            raise KeyError(f"claim {self.id!r} has no claimed value {key!r}") from None

    def parameter(self, key: str) -> Any:
        """One of our own choices for the check (a threshold, a size): the claim's `parameters`."""
        try:
            return self.claim.parameters[key]
        except KeyError:
            raise KeyError(f"claim {self.id!r} has no parameter {key!r}") from None

    def tolerance(self, printed: float | None = None) -> ClaimTolerance:
        """The claim tolerance: what the article's printed precision promises."""
        return ClaimTolerance.from_spec(self.claim.tolerance, printed)

    @property
    def decimals(self) -> int | None:
        spec = self.claim.tolerance or {}
        return int(spec["decimals"]) if "decimals" in spec else None
