"""The verdict rules of DESIGN.md, for each combination of check outcomes."""

from __future__ import annotations

import itertools

import pytest

from claimcheck.model import Claim, Kind, Reading, Verdict
from claimcheck.verdicts import CheckResult, Outcome, decide

H, F, C, S = Outcome.HOLDS, Outcome.FAILS, Outcome.CRASHED, Outcome.SKIPPED


def claim(kind: Kind = Kind.MATH_PROPERTY, reason: str | None = None) -> Claim:
    expect = Verdict.NOT_CHECKABLE if kind is Kind.NOT_CHECKABLE else Verdict.SUPPORTED
    return Claim("c", "s", "q", "st", kind, expect, 1, reason=reason)


def checks(*outcomes: Outcome) -> list[CheckResult]:
    return [
        CheckResult(
            f"t::test[{i}]",
            "c",
            None,
            {"dtype": f"d{i}"},
            o,
            message="no CUDA device" if o is S else "",
        )
        for i, o in enumerate(outcomes)
    ]


@pytest.mark.parametrize(
    ("outcomes", "verdict"),
    [
        ((H,), Verdict.SUPPORTED),
        ((H, H, H), Verdict.SUPPORTED),
        ((H, S), Verdict.SUPPORTED),
        ((F,), Verdict.REFUTED),
        ((F, F, S), Verdict.REFUTED),
        ((H, F), Verdict.PARTLY_SUPPORTED),
        ((H, F, S), Verdict.PARTLY_SUPPORTED),
        ((C,), Verdict.ERROR),
        ((H, C), Verdict.ERROR),
        ((F, C), Verdict.ERROR),
        ((C, S), Verdict.ERROR),
        ((S,), Verdict.NOT_RUN),
        ((S, S), Verdict.NOT_RUN),
        ((), Verdict.NOT_RUN),
    ],
)
def test_rules(outcomes, verdict):
    assert decide(claim(), checks(*outcomes)).verdict is verdict


def test_every_combination_of_outcomes_follows_the_rules():
    """Exhaustive over up to three checks: the order of precedence is crash, all skipped,
    mixed, and a skipped check never counts as support."""
    for n in range(1, 4):
        for combo in itertools.product([H, F, C, S], repeat=n):
            verdict = decide(claim(), checks(*combo)).verdict
            ran = [o for o in combo if o is not S]
            if C in combo:
                assert verdict is Verdict.ERROR
            elif not ran:
                assert verdict is Verdict.NOT_RUN
            elif all(o is H for o in ran):
                assert verdict is Verdict.SUPPORTED
            elif all(o is F for o in ran):
                assert verdict is Verdict.REFUTED
            else:
                assert verdict is Verdict.PARTLY_SUPPORTED


def test_not_checkable_claims_say_why():
    result = decide(claim(Kind.NOT_CHECKABLE, reason="needs an external benchmark"), [])
    assert result.verdict is Verdict.NOT_CHECKABLE
    assert result.explanation == "needs an external benchmark"


def test_partly_supported_names_what_holds_and_what_fails():
    result = decide(claim(), checks(H, F))
    assert "Holds for d0" in result.explanation and "fails for d1" in result.explanation


def test_skipped_checks_are_named_with_their_reason():
    assert "no CUDA device" in decide(claim(), checks(S)).explanation
    assert "Not run here: d1" in decide(claim(), checks(H, S)).explanation


def test_matches_expect():
    assert decide(claim(), checks(H)).matches_expect
    assert not decide(claim(), checks(F)).matches_expect


def test_a_reading_that_never_ran_caps_supported():
    with_readings = Claim(
        "c",
        "s",
        "q",
        "st",
        Kind.MATH_PROPERTY,
        Verdict.SUPPORTED,
        1,
        readings=(Reading("exact", "t"), Reading("cuda", "t")),
    )
    results = [
        CheckResult("t::a", "c", "exact", {}, H),
        CheckResult("t::b", "c", "cuda", {}, S, message="no CUDA device"),
    ]
    result = decide(with_readings, results)
    assert result.verdict is Verdict.PARTLY_SUPPORTED
    assert "reading(s) cuda not run here" in result.explanation
    narrowed = decide(with_readings, results[:1])  # the cuda reading was deselected (-k)
    assert narrowed.verdict is Verdict.SUPPORTED
    assert "not selected in this run: cuda" in narrowed.explanation
