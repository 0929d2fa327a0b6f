"""The report model: one JSON-ready dict (verdict.json) that the HTML page also renders.

Schema: docs/verdict-json.md (and claimcheck/verdict.schema.json, checked in the tests).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from softmax_claimcheck.claimcheck.evidence import Evidence, _plain
from softmax_claimcheck.claimcheck.findings import merged_scale
from softmax_claimcheck.claimcheck.model import Verdict
from softmax_claimcheck.claimcheck.verdicts import CheckResult, ClaimResult, Outcome, Standing

# 3: findings (`finding` replaces `explanation`), verdict families (REPRODUCED...), each claim's
# `family` and training `scale`, `not_run_here`, experiments counted apart in `at_a_glance`.
SCHEMA_VERSION = 3
READABLE_VERSIONS = (2, 3)  # what --compare-with reads
IMPL_KEYS = ("implementation", "device", "dtype")
EXACT_BITS = 10**6  # a check without an implementation computes with the exact oracle


def rerun_commands(claim_id: str) -> list[str]:
    return [f"nox -s verify -- --claim {claim_id}", f"pytest tests/checks --claim {claim_id}"]


def _check_dict(check: CheckResult) -> dict[str, Any]:
    return {
        "nodeid": check.nodeid,
        "reading": check.reading,
        "params": check.params,
        "label": check.label,
        "outcome": check.outcome.value,
        "standing": check.standing.value,
        "message": check.message,
        "duration_s": round(check.duration_s, 4),
        "evidence": check.evidence or Evidence().as_dict(),
    }


def _claim_dict(result: ClaimResult) -> dict[str, Any]:
    claim = result.claim
    return {
        "id": claim.id,
        "section": claim.section,
        "quote": claim.quote,
        "statement": claim.statement,
        "kind": claim.kind.value,
        "rationale": claim.rationale,
        "scope": claim.scope,
        "readings": [
            {
                "id": r.id,
                "text": r.text,
                "role": r.role.value,
                "outcome": result.parts.get(r.id) or result.alternatives.get(r.id),
                "outcomes": _reading_outcomes(result, r.id),
            }
            for r in claim.readings
        ],
        # .nan / .inf are valid YAML floats; JSON (allow_nan=False) takes them as text.
        "claimed": _plain(claim.claimed),
        "parameters": _plain(claim.parameters),
        "tolerance": _plain(claim.tolerance),
        "reason": claim.reason,
        "notes": claim.notes,
        "version": claim.version,
        "source": f"{claim.source.name if claim.source else '?'}:{claim.line}",
        "expect": claim.expect.value,
        "verdict": result.verdict.value,
        "matches_expect": result.matches_expect,
        "family": claim.family.value,
        "finding": result.explanation,
        "not_run_here": _not_run_here(result),
        "scale": _scale(result),
        "not_run_cause": result.not_run_cause.value if result.not_run_cause else None,
        "rerun": rerun_commands(claim.id) if claim.checkable else [],
        "checks": [_check_dict(c) for c in sorted(result.checks, key=lambda c: c.nodeid)],
    }


def _not_run_here(result: ClaimResult) -> list[dict[str, Any]]:
    """Deciding checks skipped for an environmental reason (no CUDA device): listed apart from
    the finding, one entry per reason."""
    reasons: dict[str, int] = {}
    for check in result.checks:
        if check.outcome is Outcome.SKIPPED and check.standing is Standing.DECIDES:
            reason = check.message or "no reason given"
            reasons[reason] = reasons.get(reason, 0) + 1
    return [{"reason": r, "checks": n} for r, n in sorted(reasons.items())]


def _scale(result: ClaimResult) -> dict[str, Any] | None:
    """A training claim's scale (preset, steps, parameters, seeds, tasks...), from its deciding
    checks' evidence."""
    if not result.claim.empirical:
        return None
    deciding = [c for c in result.checks if c.standing is Standing.DECIDES]
    return merged_scale(deciding) or None


def _reading_outcomes(result: ClaimResult, reading_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for check in result.checks:
        if check.reading == reading_id:
            counts[check.outcome.value] = counts.get(check.outcome.value, 0) + 1
    return counts


def _precision_rank(check: CheckResult) -> int:
    """Errata take the true value from a check that runs no implementation (the exact oracle)
    first, then from the implementation with the most precise arithmetic (lower ranks first);
    the precision comes from the implementations plugin (claimcheck/hookspecs.py)."""
    if check.implementation is None:
        return -EXACT_BITS
    return -(check.precision_bits or 0)


def errata(results: Iterable[ClaimResult]) -> list[dict[str, Any]]:
    """Each printed number that does not hold, with the true value from the most precise check.
    Training outcomes never appear here: a small run's result is no correction to the article."""
    rows = []
    for result in results:
        if result.claim.empirical or result.verdict not in (
            Verdict.REFUTED,
            Verdict.PARTLY_SUPPORTED,
        ):
            continue
        best: dict[str, tuple[int, dict[str, Any]]] = {}
        for check in result.checks:
            if check.standing is not Standing.DECIDES:
                continue  # errata come only from the primary reading
            for comparison in check.evidence.get("comparisons", []):
                if comparison["source"] != "article" or comparison["holds"]:
                    continue
                rank = _precision_rank(check)
                quantity = comparison["quantity"]
                if quantity not in best or rank < best[quantity][0]:
                    best[quantity] = (rank, {**comparison, "from_check": check.label})
        for quantity, (_, comparison) in best.items():
            decimals = comparison.get("decimals")
            true = comparison["measured"]
            rows.append(
                {
                    "claim_id": result.claim.id,
                    "section": result.claim.section,
                    "quantity": quantity,
                    "printed": comparison["expected"],
                    "correct": true,
                    "correct_printed": _round(true, decimals),
                    "deviation": comparison["deviation"],
                    "tolerance": comparison["tolerance"],
                    "from_check": comparison["from_check"],
                }
            )
    return rows


def _round(value: Any, decimals: int | None) -> Any:
    if not isinstance(value, (int, float)) or decimals is None:
        return value
    return f"{value:.{decimals}f}"


def implementation_matrix(results: Iterable[ClaimResult]) -> dict[str, Any]:
    """The implementation matrix: claims × implementation/device/dtype, the worst outcome of
    the checks in each cell. (verdict.json keeps its schema-2 key `conformance` for it.)"""
    order = [
        Outcome.CRASHED,
        Outcome.NOT_EXECUTED,
        Outcome.FAILS,
        Outcome.INCONCLUSIVE,
        Outcome.HOLDS,
        Outcome.SKIPPED,
    ]
    columns: set[str] = set()
    rows = []
    for result in results:
        cells: dict[str, str] = {}
        for check in result.checks:
            if not any(k in check.params for k in IMPL_KEYS):
                continue
            column = " / ".join(check.params.get(k, "-") for k in IMPL_KEYS)
            columns.add(column)
            current = cells.get(column)
            if current is None or order.index(check.outcome) < order.index(Outcome(current)):
                cells[column] = check.outcome.value
        if cells:
            rows.append(
                {"claim_id": result.claim.id, "verdict": result.verdict.value, "cells": cells}
            )
    return {"columns": sorted(columns), "rows": rows}


def at_a_glance(verdicts: list[ClaimResult], errata_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The few numbers a reader takes in first: how many checkable statements hold, how many are
    wrong (in whole or in part), how many printed numbers are wrong."""
    statements = [r for r in verdicts if r.claim.checkable and not r.claim.empirical]
    experiments = [r for r in verdicts if r.claim.checkable and r.claim.empirical]
    count = {v: sum(1 for r in statements if r.verdict is v) for v in Verdict}
    ran = {v: sum(1 for r in experiments if r.verdict is v) for v in Verdict}
    presets = sorted({str(s["preset"]) for r in experiments if (s := _scale(r)) and "preset" in s})
    return {
        "checkable": len(statements),
        "hold": count[Verdict.SUPPORTED],
        "wrong": count[Verdict.REFUTED],
        "partly_wrong": count[Verdict.PARTLY_SUPPORTED],
        "undecided": count[Verdict.INCONCLUSIVE],
        "not_run": count[Verdict.NOT_RUN],
        "errors": count[Verdict.ERROR],
        "not_checkable": sum(1 for r in verdicts if not r.claim.checkable),
        "wrong_numbers": len(errata_rows),
        # Training outcomes at their small scale: counted apart, never "the article is wrong".
        "experiments": {
            "run": len(experiments),
            "reproduced": ran[Verdict.REPRODUCED],
            "not_reproduced": ran[Verdict.NOT_REPRODUCED],
            "partly_reproduced": ran[Verdict.PARTLY_REPRODUCED],
            "undecided": ran[Verdict.INCONCLUSIVE],
            "not_run": ran[Verdict.NOT_RUN],
            "errors": ran[Verdict.ERROR],
            "presets": presets,
        },
    }


def build(
    verdicts: list[ClaimResult],
    environment: dict[str, Any],
    stop_errors: list[str],
    problems: list[str],
    timings: dict[str, float],
    interrupted: str | None = None,
) -> dict[str, Any]:
    counts = {v.value: 0 for v in Verdict}
    for result in verdicts:
        counts[result.verdict.value] += 1
    errata_rows = errata(verdicts)
    return {
        "schema_version": SCHEMA_VERSION,
        "environment": environment,
        "summary": {
            "claims": len(verdicts),
            "counts": counts,
            "at_a_glance": at_a_glance(verdicts, errata_rows),
            "checks": sum(len(r.checks) for r in verdicts),
            "ok": not stop_errors and not problems,
            "finished": interrupted is None and not stop_errors,
            "interrupted": interrupted,
            "problems": problems,
            "stop_errors": stop_errors,
        },
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "claims": [_claim_dict(r) for r in verdicts],
        "errata": errata_rows,
        "conformance": implementation_matrix(verdicts),
    }


def in_progress(environment: dict[str, Any]) -> dict[str, Any]:
    """What verdict.json says while a run is going: not finished, not ok."""
    started = environment.get("date", "?")
    data = build([], environment, [], [f"a run started at {started} has not finished"], {})
    data["summary"]["finished"] = False
    data["summary"]["interrupted"] = "in progress (or killed before it could write its report)"
    return data
