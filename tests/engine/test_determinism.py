"""Same inputs, same verdicts: two runs with the same seeds give the same verdict.json (apart from
timings and the date), and the Hypothesis profiles make that possible in CI."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.engine.conftest import ClaimsProject, claim_entry

PROFILES_FILE = Path(__file__).resolve().parents[1] / "conftest.py"

CHECKS = """
    import numpy as np
    import pytest
    from hypothesis import given, settings, strategies as st

    @pytest.mark.claim("profile-loaded")
    def test_profile(evidence):
        current = settings.default
        evidence.record_inputs(max_examples=current.max_examples, database=str(current.database))
        evidence.property_holds("derandomized", current.derandomize, current.derandomize, "True")

    @pytest.mark.claim("seeded-noise")
    @pytest.mark.parametrize("n", [10, 1000, 100])
    def test_seeded_noise(evidence, n):
        rng = np.random.default_rng(20240601 + n)
        sample = rng.standard_normal(n)
        evidence.record_inputs(seed=20240601 + n, n=n)
        evidence.close_to("sample mean", 0.0, sample.mean(), 5 / np.sqrt(n), "5 standard errors")

    @pytest.mark.claim("worst-case-over-examples")
    def test_worst_case(evidence):
        worst = {"error": 0.0, "x": None}

        @given(st.lists(st.floats(-30, 30), min_size=1, max_size=8))
        def softmax_sums_to_one(x):
            e = np.exp(np.asarray(x) - max(x))
            error = abs(float((e / e.sum()).sum()) - 1.0)
            if error >= worst["error"]:
                worst.update(error=error, x=x)

        softmax_sums_to_one()
        evidence.record_inputs(worst_input=worst["x"])
        evidence.close_to("worst |sum - 1|", 0.0, worst["error"], 1e-12, "float64 rounding")

    @pytest.mark.claim("falsified")
    def test_falsified(evidence):
        @given(st.floats(0, 1))
        def below_nine_tenths(x):
            assert x < 0.9

        below_nine_tenths()

    @pytest.mark.claim("falsified-without-evidence")
    def test_falsified_without_evidence():
        @given(st.lists(st.integers(0, 50), min_size=1))
        def short_sums(xs):
            assert sum(xs) < 60

        short_sums()

    @pytest.mark.claim("skipped")
    def test_skipped():
        pytest.skip("no CUDA device on this machine")
"""

CLAIMS = [
    claim_entry("profile-loaded"),
    claim_entry("seeded-noise", kind="statistical"),
    claim_entry("worst-case-over-examples", kind="floating-point"),
    claim_entry("falsified", expect="REFUTED"),
    claim_entry("falsified-without-evidence", expect="REFUTED"),
    claim_entry("skipped", expect="NOT RUN"),
    claim_entry("opinion", kind="not-checkable", expect="NOT CHECKABLE", reason="an opinion"),
]


def without_run_specifics(data: dict[str, Any]) -> dict[str, Any]:
    """The report minus what may differ between identical runs: timings, date, hash seed."""
    data = copy.deepcopy(data)
    data.pop("timings_s")
    data["environment"].pop("date")
    data["environment"]["seeds"].pop("PYTHONHASHSEED")
    for claim in data["claims"]:
        for check in claim["checks"]:
            check.pop("duration_s")
    return data


@pytest.fixture
def ci_project(claims_project: ClaimsProject) -> ClaimsProject:
    """The synthetic project, with the real profiles file as its conftest.py."""
    claims_project.pytester.makeconftest(PROFILES_FILE.read_text(encoding="utf-8"))
    claims_project.claims(*CLAIMS)
    claims_project.checks(CHECKS)
    return claims_project


def test_two_runs_give_identical_verdict_json(ci_project, monkeypatch):
    """Fresh interpreters, no profile variable (the default), no CI variable, and different hash
    seeds (so set or dict ordering cannot leak into the report)."""
    monkeypatch.delenv("CLAIMCHECK_PROFILE", raising=False)
    monkeypatch.delenv("CI", raising=False)
    runs = []
    for hash_seed in ("1", "2"):
        monkeypatch.setenv("PYTHONHASHSEED", hash_seed)
        reports = f"reports-{hash_seed}"
        assert ci_project.run_subprocess(reports=reports).ret == 0
        runs.append(ci_project.report(reports))
    first, second = runs
    assert first["environment"]["seeds"]["hypothesis_profile"] == "deterministic"
    assert without_run_specifics(first) == without_run_specifics(second)

    by_id = {c["id"]: c for c in first["claims"]}
    assert by_id["profile-loaded"]["verdict"] == "SUPPORTED"  # the deterministic profile loaded
    assert by_id["skipped"]["verdict"] == "NOT RUN"
    for cid, function in (
        ("falsified", "below_nine_tenths("),
        ("falsified-without-evidence", "short_sums("),
    ):
        example = by_id[cid]["checks"][0]["evidence"]["falsifying_example"]
        assert example and function in example, (cid, example)
    page = ci_project.html("reports-1")
    assert "Falsifying example (Hypothesis)" in page and "below_nine_tenths(" in page


def test_default_profile_is_derandomized_without_a_database(monkeypatch):
    """With no environment variable at all (no CI, no CLAIMCHECK_PROFILE), the loaded profile
    is the deterministic one: a user's plain run gives the same verdicts every time."""
    import importlib

    import tests.conftest

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("CLAIMCHECK_PROFILE", raising=False)
    importlib.reload(tests.conftest)
    assert tests.conftest.PROFILE == "deterministic"
    chosen = settings.get_profile("deterministic")
    assert chosen.derandomize is True and chosen.database is None
    # Random exploration is an explicit, separate profile.
    assert settings.get_profile("explore").derandomize is False
    assert settings.get_profile("thorough").max_examples > chosen.max_examples


def test_deterministic_profile_draws_the_same_examples_every_time():
    def examples_drawn() -> list[float]:
        drawn: list[float] = []

        @settings(settings.get_profile("deterministic"))
        @given(st.floats(-1e6, 1e6, allow_nan=False))
        def record(x: float) -> None:
            drawn.append(x)

        record()
        return drawn

    first = examples_drawn()
    assert len(set(first)) > 10
    assert examples_drawn() == first
