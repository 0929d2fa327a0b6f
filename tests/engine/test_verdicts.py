"""The verdict rules of docs/design.md, for each combination of check outcomes: one primary
reading decides (its parts, or two ambiguous readings), alternatives and out-of-scope
implementations are shown and never decide, statistics have three outcomes."""

from __future__ import annotations

import itertools

import pytest

from softmax_claimcheck.claimcheck.model import Claim, Kind, Reading, Role, Verdict
from softmax_claimcheck.claimcheck.verdicts import (
    CheckResult,
    NotRunCause,
    Outcome,
    Standing,
    decide,
)

H, F, C, S = Outcome.HOLDS, Outcome.FAILS, Outcome.CRASHED, Outcome.SKIPPED
U, N = Outcome.INCONCLUSIVE, Outcome.NOT_EXECUTED  # undecided, not executed


def claim(
    kind: Kind = Kind.MATH_PROPERTY,
    reason: str | None = None,
    readings: tuple[Reading, ...] = (),
    scope: str | None = None,
) -> Claim:
    expect = Verdict.NOT_CHECKABLE if kind is Kind.NOT_CHECKABLE else Verdict.SUPPORTED
    return Claim("c", "s", "q", "st", kind, expect, 1, readings, reason=reason, scope=scope)


def checks(
    *outcomes: Outcome, reading: str | None = None, impl: str | None = None
) -> list[CheckResult]:
    params = {"implementation": impl} if impl else {}
    return [
        CheckResult(
            f"t::test[{reading}-{impl}-{i}]",
            "c",
            reading,
            {**params, "dtype": f"d{i}"},
            o,
            message="no CUDA device" if o is S else "",
            implementation=impl,
        )
        for i, o in enumerate(outcomes)
    ]


PARTS = (Reading("p1", "the first part holds"), Reading("p2", "the second part holds"))


def with_parts(first: Outcome, second: Outcome) -> list[CheckResult]:
    return checks(first, reading="p1") + checks(second, reading="p2")


@pytest.mark.parametrize(
    ("outcomes", "verdict"),
    [
        ((H,), Verdict.SUPPORTED),
        ((H, H, H), Verdict.SUPPORTED),
        ((H, S), Verdict.SUPPORTED),
        ((F,), Verdict.REFUTED),
        ((F, F, S), Verdict.REFUTED),
        ((H, F), Verdict.REFUTED),  # one statement: any in-scope failure refutes it
        ((U,), Verdict.INCONCLUSIVE),
        ((H, U), Verdict.INCONCLUSIVE),
        ((F, U), Verdict.REFUTED),
        ((C,), Verdict.ERROR),
        ((H, C), Verdict.ERROR),
        ((C, N), Verdict.ERROR),
        ((H, N), Verdict.NOT_RUN),
        ((S,), Verdict.NOT_RUN),
        ((S, S), Verdict.NOT_RUN),
        ((), Verdict.NOT_RUN),
    ],
)
def test_rules_for_one_statement(outcomes, verdict):
    assert decide(claim(), checks(*outcomes)).verdict is verdict


@pytest.mark.parametrize(
    ("first", "second", "verdict"),
    [
        (H, H, Verdict.SUPPORTED),
        (H, F, Verdict.PARTLY_SUPPORTED),
        (F, F, Verdict.REFUTED),
        (F, U, Verdict.REFUTED),  # none holds and one fails
        (H, U, Verdict.INCONCLUSIVE),
        (U, U, Verdict.INCONCLUSIVE),
        (H, S, Verdict.NOT_RUN),
        (H, N, Verdict.NOT_RUN),
        (C, H, Verdict.ERROR),
    ],
)
def test_rules_for_parts(first, second, verdict):
    assert decide(claim(readings=PARTS), with_parts(first, second)).verdict is verdict


def test_every_combination_follows_the_precedence():
    """Exhaustive over two parts of up to two checks each: ERROR, then NOT RUN, then the parts."""
    outcomes = [H, F, U, C, S, N]
    for a in itertools.product(outcomes, repeat=2):
        for b in itertools.product(outcomes, repeat=1):
            results = checks(*a, reading="p1") + checks(*b, reading="p2")
            verdict = decide(claim(readings=PARTS), results).verdict
            every = a + b
            ran_a = [o for o in a if o is not S]
            if C in every:
                assert verdict is Verdict.ERROR
            elif N in every or not ran_a or S in b:
                assert verdict is Verdict.NOT_RUN
            else:
                part = ["fails" if F in x else "inc" if U in x else "holds" for x in (a, b)]
                if part == ["holds", "holds"]:
                    assert verdict is Verdict.SUPPORTED
                elif "fails" in part and "holds" not in part:
                    assert verdict is Verdict.REFUTED
                elif "fails" in part:
                    assert verdict is Verdict.PARTLY_SUPPORTED
                else:
                    assert verdict is Verdict.INCONCLUSIVE


def test_an_alternative_reading_that_fails_leaves_supported():
    readings = (Reading("main", "as meant"), Reading("strawman", "bitwise", Role.ALTERNATIVE))
    results = checks(H, reading="main") + checks(F, F, reading="strawman")
    result = decide(claim(readings=readings), results)
    assert result.verdict is Verdict.SUPPORTED
    assert result.alternatives == {"strawman": "fails"}
    assert "under the other reading 'strawman' fails" in result.explanation
    assert {c.standing for c in result.checks if c.reading == "strawman"} == {Standing.ALTERNATIVE}


def test_an_alternative_reading_that_holds_cannot_rescue_a_refuted_claim():
    readings = (Reading("main", "as meant"), Reading("generous", "a reading", Role.ALTERNATIVE))
    results = checks(F, reading="main") + checks(H, reading="generous")
    assert decide(claim(readings=readings), results).verdict is Verdict.REFUTED


def test_out_of_scope_implementations_cannot_change_a_verdict():
    """A naive implementation failing a claim about shifted softmaxes is shown, not counted."""

    def members(scope: str | None) -> frozenset[str] | None:
        return frozenset({"torch-stable"}) if scope == "shifted-softmax" else None

    base = checks(H, H, impl="torch-stable")
    with_naive = base + checks(F, C, impl="numpy-naive")[:1]
    scoped = claim(scope="shifted-softmax")
    assert decide(scoped, base, members).verdict is Verdict.SUPPORTED
    result = decide(scoped, with_naive, members)
    assert result.verdict is Verdict.SUPPORTED
    assert [c.standing for c in result.checks if c.implementation == "numpy-naive"] == [
        Standing.OUT_OF_SCOPE
    ]
    # Checks that run no implementation (the oracle) always decide.
    assert decide(scoped, with_naive + checks(F), members).verdict is Verdict.REFUTED


def test_math_scope_counts_no_implementation():
    def members(scope: str | None) -> frozenset[str] | None:
        return frozenset() if scope == "math" else None

    results = checks(H) + checks(F, impl="torch-naive")
    assert decide(claim(scope="math"), results, members).verdict is Verdict.SUPPORTED


def test_a_straddling_interval_is_inconclusive_never_refuted():
    result = decide(claim(), checks(U))
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.verdict is not Verdict.REFUTED


@pytest.mark.parametrize(
    ("first", "second", "verdict"),
    [
        (H, H, Verdict.SUPPORTED),
        (F, F, Verdict.REFUTED),
        (H, F, Verdict.PARTLY_SUPPORTED),
        (F, H, Verdict.PARTLY_SUPPORTED),
    ],
)
def test_ambiguous_readings_both_decide(first, second, verdict):
    readings = (
        Reading("one", "first reading", Role.AMBIGUOUS),
        Reading("two", "second reading", Role.AMBIGUOUS),
    )
    results = checks(first, reading="one") + checks(second, reading="two")
    result = decide(claim(readings=readings), results)
    assert result.verdict is verdict
    if verdict is Verdict.PARTLY_SUPPORTED:
        assert "'one'" in result.explanation and "'two'" in result.explanation


def test_not_checkable_claims_say_why():
    result = decide(claim(Kind.NOT_CHECKABLE, reason="needs an external benchmark"), [])
    assert result.verdict is Verdict.NOT_CHECKABLE
    assert result.explanation == "needs an external benchmark"


def test_partly_supported_names_the_failing_part_in_words():
    result = decide(claim(readings=PARTS), with_parts(H, F))
    assert result.explanation.startswith("'p2' fails")
    assert "'p1' holds" in result.explanation


def test_skipped_checks_stay_out_of_the_finding():
    """An environmental skip is the reason of a NOT RUN; beside checks that ran, the report
    lists it apart (verdict.json `not_run_here`), never inside the finding."""
    assert "no CUDA device" in decide(claim(), checks(S)).explanation
    supported = decide(claim(), checks(H, S))
    assert supported.verdict is Verdict.SUPPORTED
    assert "CUDA" not in supported.explanation and "d1" not in supported.explanation


def test_not_run_says_why():
    stopped = decide(claim(), checks(H, N))
    assert stopped.not_run_cause is NotRunCause.STOPPED
    skipped = decide(claim(), checks(S))
    assert skipped.not_run_cause is NotRunCause.SKIPPED
    unselected = decide(claim(readings=PARTS), checks(H, reading="p1"))
    assert unselected.not_run_cause is NotRunCause.UNSELECTED
    assert "'p2'" in unselected.explanation


def test_matches_expect():
    assert decide(claim(), checks(H)).matches_expect
    assert not decide(claim(), checks(F)).matches_expect
