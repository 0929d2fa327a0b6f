"""Findings: every verdict says in words and numbers what the article says, what was measured
and what decides (docs/design.md, "Findings"), and training outcomes are reported in their own
family at their scale ("Empirical claims").

Unit tests of the composition, then the rules (tests/engine/finding_rules.py) over the real
run's verdict.json (`nox -s verify` writes it before `nox -s tests` in CI) and over a verdict.json
with one old fallback finding put back.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from softmax_claimcheck.claimcheck.evidence import Evidence
from softmax_claimcheck.claimcheck.model import Claim, Kind, Reading, Role, Verdict
from softmax_claimcheck.claimcheck.report.verdict_json import SCHEMA_VERSION
from softmax_claimcheck.claimcheck.verdicts import CheckResult, Outcome, decide
from tests.engine.finding_rules import problems

REAL_REPORT_ENV = "CLAIMCHECK_VERDICT_JSON"


def claim(kind: Kind = Kind.NUMERIC_EXAMPLE, readings: tuple[Reading, ...] = ()) -> Claim:
    return Claim("c", "s", "q", "st", kind, Verdict.SUPPORTED, 1, readings=readings)


def check(
    outcome: Outcome,
    evidence: Evidence | None = None,
    reading: str | None = None,
    params: dict[str, str] | None = None,
    nodeid: str = "t.py::test_it[16]",
) -> CheckResult:
    data = (evidence or Evidence()).as_dict()
    return CheckResult(nodeid, "c", reading, params or {"d_k": "16"}, outcome, evidence=data)


def printed(value: float, true: float) -> Evidence:
    evidence = Evidence()
    evidence.printed_value("p[cat]", value, true, 0.005, "2 decimals", decimals=2)
    return evidence


def test_a_refuted_number_states_printed_and_exact_values():
    result = decide(claim(), [check(Outcome.FAILS, printed(0.28, 0.37707))])
    assert result.verdict is Verdict.REFUTED
    assert "prints 0.28 for p[cat]" in result.explanation
    assert "0.3771" in result.explanation


def test_a_failing_check_without_measurement_never_falls_back_to_its_label():
    result = decide(claim(), [check(Outcome.FAILS, params={"d_k": "16"})])
    assert result.verdict is Verdict.REFUTED
    assert "16" not in result.explanation and "test_it" not in result.explanation
    assert "statement fails" not in result.explanation.lower()


def test_an_assertion_message_is_used_when_nothing_was_recorded():
    failing = check(Outcome.FAILS)
    failing.message = "AssertionError: masked weight 0.25, expected 0\nassert 0.25 == 0"
    assert decide(claim(), [failing]).explanation == "Masked weight 0.25, expected 0."


def test_partly_supported_gives_the_failing_parts_numbers_and_the_holding_part_briefly():
    parts = (Reading("one-vector", "one vector"), Reading("matrix", "a matrix"))
    result = decide(
        claim(readings=parts),
        [
            check(Outcome.HOLDS, printed(0.38, 0.3771), reading="one-vector"),
            check(Outcome.FAILS, printed(0.28, 0.37707), reading="matrix"),
        ],
    )
    assert result.verdict is Verdict.PARTLY_SUPPORTED
    assert result.explanation.startswith("'matrix' fails: the article prints 0.28")
    assert "'one-vector' holds in the case checked" in result.explanation


def test_an_inconclusive_finding_gives_interval_region_and_deciding_sample():
    evidence = Evidence()
    evidence.interval_decision(
        "ratio", (0.9, 1.3), (1.0, None), "rule", needed="n ≈ 12 seeds would decide it"
    )
    result = decide(claim(Kind.STATISTICAL), [check(Outcome.INCONCLUSIVE, evidence)])
    assert result.verdict is Verdict.INCONCLUSIVE
    text = result.explanation
    assert "[0.9, 1.3]" in text and "above 1" in text and "n ≈ 12 seeds" in text


def scale_evidence(outcome: str) -> Evidence:
    evidence = Evidence()
    evidence.record_scale(
        preset="cpu", steps=160, parameters=117_632, seeds=4, task=["language modelling"]
    )
    evidence.interval_decision("slowdown", (1.3, 2.5), (3.0, 5.0), "rule")
    evidence.conclude(f"slowdown 1.8× against the claimed 3–5×: {outcome}")
    return evidence


@pytest.mark.parametrize(
    ("outcome", "verdict"),
    [
        (Outcome.FAILS, Verdict.NOT_REPRODUCED),
        (Outcome.HOLDS, Verdict.REPRODUCED),
        (Outcome.INCONCLUSIVE, Verdict.INCONCLUSIVE),
    ],
)
def test_training_outcomes_are_reported_in_their_own_family_at_their_scale(outcome, verdict):
    result = decide(claim(Kind.EMPIRICAL), [check(outcome, scale_evidence(outcome.value))])
    assert result.verdict is verdict
    assert result.explanation.startswith(
        "At the cpu preset's scale (160 steps, 118k parameters, 4 seeds, language modelling): "
    )


def test_a_partly_reproduced_experiment():
    parts = (Reading("lm", "lm"), Reading("recall", "recall"))
    checks = [
        check(Outcome.HOLDS, scale_evidence("holds"), reading="lm"),
        check(Outcome.FAILS, scale_evidence("fails"), reading="recall"),
    ]
    assert decide(claim(Kind.EMPIRICAL, parts), checks).verdict is Verdict.PARTLY_REPRODUCED


def test_an_alternative_setting_is_shown_beside_the_finding_never_deciding():
    readings = (
        Reading("article-head-size", "d_k 64"),
        Reading("other", "d_k 16", Role.ALTERNATIVE),
    )
    checks = [
        check(Outcome.HOLDS, scale_evidence("inside"), reading="article-head-size"),
        check(Outcome.FAILS, scale_evidence("smaller than claimed"), reading="other"),
    ]
    result = decide(claim(Kind.EMPIRICAL, readings), checks)
    assert result.verdict is Verdict.REPRODUCED
    assert "Shown, not deciding: under the other reading 'other' fails" in result.explanation


# -- the rules over verdict.json ---------------------------------------------------------------
def real_report(config: pytest.Config) -> dict[str, Any]:
    """The verdict.json of the last full run (`nox -s verify`: reports/verdict.json), or the
    file CLAIMCHECK_VERDICT_JSON names."""
    path = Path(os.environ.get(REAL_REPORT_ENV) or config.rootpath / "reports" / "verdict.json")
    if not path.is_file():
        pytest.skip(f"no full run's report at {path}: run `nox -s verify` first")
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("schema_version") != SCHEMA_VERSION or not data["summary"].get("finished"):
        pytest.skip(f"{path} is not a finished run of this version (schema {SCHEMA_VERSION})")
    return data


def test_every_finding_of_the_real_run_follows_the_rules(pytestconfig):
    data = real_report(pytestconfig)
    assert problems(data) == []
    assert any(c["verdict"] == "REFUTED" for c in data["claims"])


def test_the_rules_reject_one_old_fallback_finding_put_back(pytestconfig):
    data = copy.deepcopy(real_report(pytestconfig))
    refuted = next(c for c in data["claims"] if c["verdict"] == "REFUTED")
    refuted["finding"] = "The statement fails: 16."
    found = problems(data)
    assert any(refuted["id"] in p and "old fallback" in p for p in found), found


def test_the_rules_reject_each_kind_of_bad_finding():
    good = {
        "id": "x",
        "verdict": "REFUTED",
        "family": "statement",
        "finding": "The article prints 0.28 for p[cat], the exact value is 0.3771.",
        "checks": [
            {
                "nodeid": "tests/t.py::test_printed[float32]",
                "standing": "decides",
                "outcome": "fails",
                "evidence": {"comparisons": [{"expected": 0.28, "measured": 0.37707}]},
            }
        ],
    }
    assert problems({"claims": [good]}) == []
    bad = {
        "test_printed": "test_printed failed: 0.28 vs 0.3771.",
        "lists devices": "The article prints 0.28, exact 0.3771. Not run here: cuda · float16.",
        "sentences": "The article prints 0.28. The exact value is 0.3771. That is all. Really.",
        "neither claimed": "The article is wrong about p[cat] by a lot.",
    }
    for words, finding in bad.items():
        found = problems({"claims": [{**good, "finding": finding}]})
        assert any(words in p for p in found), (words, found)
    undecided = {**good, "verdict": "INCONCLUSIVE", "finding": "It is not clear."}
    assert {p.split(": ", 1)[1] for p in problems({"claims": [undecided]})} >= {
        "no interval",
        "no region it is judged against",
        "no sample that would decide it",
    }


# -- the article's head size decides ----------------------------------------------------------
class _Definition:
    def __init__(self, marks: dict[str, pytest.Mark]) -> None:
        self.marks = marks

    def get_closest_marker(self, name: str) -> pytest.Mark | None:
        return self.marks.get(name)


class _Metafunc:
    """What tests/checks/conftest.py's pytest_generate_tests reads of a metafunc."""

    def __init__(self, preset: Any, marks: dict[str, pytest.Mark]) -> None:
        from tests.checks.conftest import PRESET_KEY

        self.fixturenames = ["d_k"]
        self.definition = _Definition(marks)
        self.config = type("Config", (), {"stash": pytest.Stash()})()
        self.config.stash[PRESET_KEY] = preset
        self.calls: list[Any] = []

    def parametrize(self, name: str, values: list[Any]) -> None:
        self.calls = values


@pytest.mark.parametrize("preset_name", ["cpu", "gpu"])
def test_the_larger_head_size_decides_and_the_smaller_is_the_alternative(preset_name):
    from softmax_claimcheck.experiments.presets import PRESETS
    from tests.checks.conftest import pytest_generate_tests

    preset = PRESETS[preset_name]
    deciding = pytest.mark.claim("c", reading="article-head-size")
    other = pytest.mark.claim("c", reading="other-head-size")
    metafunc = _Metafunc(
        preset,
        {
            "training": pytest.mark.training.mark,
            "head_sizes": pytest.mark.head_sizes(deciding, other).mark,
        },
    )
    pytest_generate_tests(metafunc)  # type: ignore[arg-type]
    readings = {p.values[0]: p.marks[0].kwargs["reading"] for p in metafunc.calls}
    small, large = sorted(preset.head_sizes)
    assert readings == {large: "article-head-size", small: "other-head-size"}
    if preset_name == "cpu":
        assert large == 64  # the article's own example
