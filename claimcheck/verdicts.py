"""Verdict rules: from the outcomes of a claim's checks to one verdict, with the reason why.

A failed assertion is evidence about the claim; a crash (any other exception) is a defect of ours
and makes the verdict ERROR. Skipped checks never count as support.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from claimcheck.model import Claim, Verdict


class Outcome(enum.StrEnum):
    HOLDS = "holds"  # the check ran and the claim held
    FAILS = "fails"  # the check ran and an assertion about the claim failed
    CRASHED = "crashed"  # an exception other than a failed assertion: a harness bug
    SKIPPED = "skipped"  # not run here, with a reason (e.g. no CUDA device)


@dataclass
class CheckResult:
    nodeid: str
    claim_id: str
    reading: str | None
    params: dict[str, str]
    outcome: Outcome
    message: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def label(self) -> str:
        """Short name of this check: reading and parameters, e.g. 'float32 / torch-cpu'."""
        parts = [self.reading] if self.reading else []
        parts += [v for v in self.params.values() if v]
        return " · ".join(parts) or self.nodeid.rsplit("::", 1)[-1]


@dataclass
class ClaimResult:
    claim: Claim
    verdict: Verdict
    explanation: str
    checks: list[CheckResult]

    @property
    def matches_expect(self) -> bool:
        return self.verdict is self.claim.expect


def _names(checks: Iterable[CheckResult]) -> str:
    labels = sorted({c.label for c in checks})
    shown = ", ".join(labels[:8])
    return shown + (f" and {len(labels) - 8} more" if len(labels) > 8 else "")


def decide(claim: Claim, checks: Sequence[CheckResult]) -> ClaimResult:
    """Apply the rules of DESIGN.md to one claim."""
    if not claim.checkable:
        return ClaimResult(claim, Verdict.NOT_CHECKABLE, claim.reason or "", list(checks))
    crashed = [c for c in checks if c.outcome is Outcome.CRASHED]
    ran = [c for c in checks if c.outcome is not Outcome.SKIPPED]
    skipped = [c for c in checks if c.outcome is Outcome.SKIPPED]
    holds = [c for c in ran if c.outcome is Outcome.HOLDS]
    fails = [c for c in ran if c.outcome is Outcome.FAILS]
    skip_note = f" Not run here: {_names(skipped)}." if skipped else ""
    if crashed:
        return ClaimResult(
            claim,
            Verdict.ERROR,
            f"A check crashed (a harness defect, not evidence): {_names(crashed)}.",
            list(checks),
        )
    if not ran:
        reasons = sorted({c.message for c in skipped if c.message})
        why = "; ".join(reasons) if reasons else "no check was selected"
        return ClaimResult(claim, Verdict.NOT_RUN, f"Every check was skipped: {why}.", list(checks))
    selected = {c.reading for c in checks}
    unrun = [
        r.id for r in claim.readings if r.id in selected and r.id not in {c.reading for c in ran}
    ]
    unselected = [r.id for r in claim.readings if r.id not in selected]
    if unselected:  # narrowed by -k / -m: said, not counted
        skip_note += f" Reading(s) not selected in this run: {', '.join(unselected)}."
    if not fails and unrun:
        # SUPPORTED means every reading ran and holds: a reading that never ran caps it.
        return ClaimResult(
            claim,
            Verdict.PARTLY_SUPPORTED,
            f"Holds for {_names(holds)}; reading(s) {', '.join(unrun)} not run here.{skip_note}",
            list(checks),
        )
    if not fails:
        return ClaimResult(
            claim,
            Verdict.SUPPORTED,
            f"All {len(holds)} checks that ran hold.{skip_note}",
            list(checks),
        )
    if not holds:
        return ClaimResult(
            claim,
            Verdict.REFUTED,
            f"All {len(fails)} checks that ran fail.{skip_note}",
            list(checks),
        )
    return ClaimResult(
        claim,
        Verdict.PARTLY_SUPPORTED,
        f"Holds for {_names(holds)}; fails for {_names(fails)}.{skip_note}",
        list(checks),
    )


def decide_all(claims: Iterable[Claim], checks: Sequence[CheckResult]) -> list[ClaimResult]:
    by_claim: dict[str, list[CheckResult]] = {}
    for check in checks:
        by_claim.setdefault(check.claim_id, []).append(check)
    return [decide(claim, by_claim.get(claim.id, [])) for claim in claims]
