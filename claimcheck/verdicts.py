"""Verdict rules: from the outcomes of a claim's checks to one verdict, with the reason why.

The rules are those of docs/design.md ("What decides a verdict"): only the primary reading
decides (its parts, or the two readings of an `ambiguous` claim); alternative readings are checked
and shown beside it; a check on an implementation outside the claim's scope is shown, never
counted; a statistical check can be inconclusive, which is never evidence against. A failed
assertion is evidence; any other exception is a defect of ours (ERROR); a selected check that did
not execute makes the claim NOT RUN, never SUPPORTED.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from softmax_claimcheck.claimcheck import findings
from softmax_claimcheck.claimcheck.model import Claim, Verdict


class Outcome(enum.StrEnum):
    HOLDS = "holds"  # the check ran and the claim held
    FAILS = "fails"  # the check ran and an assertion about the claim failed
    INCONCLUSIVE = "inconclusive"  # a statistical check whose interval straddles the boundary
    CRASHED = "crashed"  # an exception other than a failed assertion: a harness bug
    SKIPPED = "skipped"  # not run here, with a stated reason (e.g. no CUDA device)
    NOT_EXECUTED = "not executed"  # selected, but the run stopped before it (-x, interrupt)


class Standing(enum.StrEnum):
    """What a check's outcome counts for in its claim's verdict."""

    DECIDES = "decides"
    ALTERNATIVE = "alternative reading"
    OUT_OF_SCOPE = "out of scope"


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
    standing: Standing = Standing.DECIDES
    # the implementation the check ran on (claimcheck/hookspecs.py): scope is decided by it
    implementation: str | None = None
    precision_bits: int | None = None  # of its arithmetic; None: exact or unknown

    @property
    def label(self) -> str:
        """Short name of this check: reading and parameters, e.g. 'float32 / torch-cpu'."""
        parts = [self.reading] if self.reading else []
        parts += [v for v in self.params.values() if v]
        return " · ".join(parts) or self.nodeid.rsplit("::", 1)[-1]


class NotRunCause(enum.StrEnum):
    STOPPED = "stopped"  # the run ended before a selected deciding check executed: the run fails
    SKIPPED = "skipped"  # every deciding check skipped with a stated reason (e.g. no GPU)
    UNSELECTED = "unselected"  # -k / -m left a deciding part without a check


@dataclass
class ClaimResult:
    claim: Claim
    verdict: Verdict
    explanation: str
    checks: list[CheckResult]
    # Outcome of each deciding unit (a part, an ambiguous reading, or the statement itself, "")
    # and of each alternative reading: what the report shows beside the verdict.
    parts: dict[str, str] = field(default_factory=dict)
    alternatives: dict[str, str] = field(default_factory=dict)
    not_run_cause: NotRunCause | None = None

    @property
    def matches_expect(self) -> bool:
        return self.verdict is self.claim.expect


DECIDED = (
    Verdict.SUPPORTED,
    Verdict.REFUTED,
    Verdict.PARTLY_SUPPORTED,
    Verdict.INCONCLUSIVE,
)

# Which implementations a claim's scope covers: None when the claim names no scope (every check
# decides), else the ids of the built-in implementations in its selection (empty for 'math').
ScopeMembers = Callable[[str | None], frozenset[str] | None]


def every_check_decides(_scope: str | None) -> frozenset[str] | None:
    """The scope rule of a run that knows no implementations: every check decides."""
    return None


def standing_of(claim: Claim, check: CheckResult, members: frozenset[str] | None) -> Standing:
    reading = claim.reading(check.reading) if check.reading else None
    if reading is not None and not reading.decides:
        return Standing.ALTERNATIVE
    implementation = check.implementation
    if members is not None and implementation is not None and implementation not in members:
        return Standing.OUT_OF_SCOPE
    return Standing.DECIDES


def unit_outcome(checks: Sequence[CheckResult]) -> str:
    """One part's (or reading's) outcome from its checks: 'fails' if any check fails, else
    'inconclusive' if any is, else 'holds' if any ran; 'skipped' / 'not selected' otherwise."""
    if not checks:
        return "not selected"
    outcomes = {c.outcome for c in checks}
    for outcome in (Outcome.CRASHED, Outcome.NOT_EXECUTED, Outcome.FAILS, Outcome.INCONCLUSIVE):
        if outcome in outcomes:
            return outcome.value
    if Outcome.HOLDS in outcomes:
        return Outcome.HOLDS.value
    return Outcome.SKIPPED.value


def _unit_text(claim: Claim, unit: str) -> str:
    reading = claim.reading(unit)
    return f"'{unit}' ({reading.text.strip().rstrip('.')})" if reading else "the statement"


def decide(
    claim: Claim, checks: Sequence[CheckResult], scope_members: ScopeMembers = every_check_decides
) -> ClaimResult:
    """Apply the rules of docs/design.md to one claim."""
    checks = list(checks)
    if not claim.checkable:
        reason = findings.first_sentences(claim.reason or "")
        return ClaimResult(claim, Verdict.NOT_CHECKABLE, reason, checks)
    members = scope_members(claim.scope)
    for check in checks:
        check.standing = standing_of(claim, check, members)
    deciding = [c for c in checks if c.standing is Standing.DECIDES]

    def result(verdict: Verdict, why: str, cause: NotRunCause | None = None) -> ClaimResult:
        if verdict in DECIDED:  # the finding, from the numbers the checks measured
            why = findings.compose(claim, parts, alternatives, checks)
        # The last step: a training outcome is reported in its own family (REPRODUCED...).
        verdict = verdict.for_kind(claim.kind)
        return ClaimResult(claim, verdict, why, checks, parts, alternatives, cause)

    units = [r.id for r in claim.deciding_readings] or [""]
    by_unit = {u: [c for c in deciding if (c.reading or "") == u] for u in units}
    parts = {u: unit_outcome(by_unit[u]) for u in units}
    alternatives = {
        r.id: unit_outcome([c for c in checks if c.reading == r.id])
        for r in claim.readings
        if not r.decides
    }
    skipped = [c for c in deciding if c.outcome is Outcome.SKIPPED]

    crashed = [c for c in checks if c.outcome is Outcome.CRASHED]
    if crashed:
        first = sorted(crashed, key=lambda c: c.nodeid)[0]
        what = " ".join(first.message.split())[:200] or "no message"
        return result(
            Verdict.ERROR,
            f"A check of ours crashed, a harness defect and not evidence ({len(crashed)} "
            f"check(s); first: {what}).",
        )
    stopped = [c for c in deciding if c.outcome is Outcome.NOT_EXECUTED]
    if stopped:
        return result(
            Verdict.NOT_RUN,
            f"The run stopped before {len(stopped)} of the {len(deciding)} deciding check(s) "
            "ran; they are listed in the details.",
            NotRunCause.STOPPED,
        )
    unselected = [u for u, o in parts.items() if o == "not selected"]
    if unselected:
        return result(
            Verdict.NOT_RUN,
            "No check of "
            + ", ".join(_unit_text(claim, u) for u in unselected)
            + " was selected in this run.",
            NotRunCause.UNSELECTED,
        )
    all_skipped = [u for u, o in parts.items() if o == Outcome.SKIPPED.value]
    if all_skipped:
        reasons = sorted({c.message for c in skipped if c.message})
        return result(
            Verdict.NOT_RUN,
            "Every deciding check of "
            + ", ".join(_unit_text(claim, u) for u in all_skipped)
            + f" was skipped: {'; '.join(reasons) or 'no reason given'}.",
            NotRunCause.SKIPPED,
        )

    holding = [u for u, o in parts.items() if o == Outcome.HOLDS.value]
    failing = [u for u, o in parts.items() if o == Outcome.FAILS.value]
    # Precedence (docs/design.md): all hold; none holds and one fails; some of each; else the
    # rest is inconclusive. The finding is composed from the checks' numbers (findings.py).
    if len(holding) == len(units):
        return result(Verdict.SUPPORTED, "")
    if failing and not holding:
        return result(Verdict.REFUTED, "")
    if failing and holding:
        return result(Verdict.PARTLY_SUPPORTED, "")
    return result(Verdict.INCONCLUSIVE, "")


def decide_all(
    claims: Iterable[Claim],
    checks: Sequence[CheckResult],
    scope_members: ScopeMembers = every_check_decides,
) -> list[ClaimResult]:
    by_claim: dict[str, list[CheckResult]] = {}
    for check in checks:
        by_claim.setdefault(check.claim_id, []).append(check)
    return [decide(claim, by_claim.get(claim.id, []), scope_members) for claim in claims]
