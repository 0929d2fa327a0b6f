"""The training claims at GPU scale, read from a sidecar file (claimcheck/report/scales.py).

A synthetic sidecar in the project's tmp dir: each training claim shows both scales, a
disagreement is shown on the page and never fails the run; without a sidecar nothing changes
but one line; a sidecar that cannot be read is one line on the page, never a crash.
"""

from __future__ import annotations

import json

import pytest

from tests.engine.conftest import ClaimsProject, claim_entry

CHECKS = """
import pytest

@pytest.mark.claim("slower")
def test_slower(evidence):
    evidence.record_scale(preset="cpu", steps=160, parameters=117632, seeds=4,
                          task=["language modelling"])
    evidence.interval_decision("slowdown", (1.3, 2.5), (3.0, 5.0), "rule")
    evidence.conclude("slowdown 1.8× (95% interval [1.3, 2.5] over 4 seeds) against the "
                      "claimed 3–5×: smaller than claimed")
"""

SIDECAR = {
    "schema": "claimcheck-scale/1",
    "page": "docs/training-at-gpu-scale.md",
    "scale": {
        "preset": "gpu",
        "device": "NVIDIA H100 80GB HBM3",
        "steps": 1500,
        "parameters": 3_200_000,
        "context": 128,
        "seeds": 5,
        "layers": 4,
        "tasks": ["language modelling"],
        "wall_s": 480.0,
    },
    "environment": {"torch": "2.11.0", "cuda": "12.8", "python": "3.12.3"},
    "commit": "0123abc",
    "date": "2026-12-06T17:00:00Z",
    "claims": {
        "slower": {
            "verdict": "REPRODUCED",
            "finding": "At the gpu preset's scale: slowdown 3.4× (95% interval [3.1, 3.8]).",
        }
    },
}


@pytest.fixture
def project(claims_project: ClaimsProject) -> ClaimsProject:
    claims_project.claims(
        claim_entry("slower", "NOT REPRODUCED", kind="empirical", scope="training")
    )
    claims_project.checks(CHECKS)
    return claims_project


def test_without_a_sidecar_nothing_changes_but_one_line(project):
    result = project.run()
    assert result.ret == 0, result.stdout.str()
    assert "gpu_scale" not in project.report()
    assert "No run at GPU scale yet." in project.html()


def test_a_sidecar_shows_the_other_scale_and_a_disagreement_without_failing(project):
    docs = project.root / "docs"
    docs.mkdir()
    (docs / "training-at-gpu-scale.json").write_text(json.dumps(SIDECAR), encoding="utf-8")
    result = project.run()
    assert result.ret == 0, result.stdout.str()
    other = project.report()["gpu_scale"]
    assert other["claims"]["slower"]["verdict"] == "REPRODUCED"
    page = project.html()
    assert "At GPU scale</strong> (gpu preset on NVIDIA H100 80GB HBM3, 1,500 steps" in page
    assert "slowdown 3.4×" in page and "The two scales disagree" in page
    assert "docs/training-at-gpu-scale.md" in page
    assert project.verdicts() == {"slower": "NOT REPRODUCED"}  # this run's verdict stands


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{not json", "cannot be read"),
        (json.dumps({**SIDECAR, "schema": "other/1"}), "not a claimcheck-scale/1 file"),
        (
            json.dumps({**SIDECAR, "claims": {"slower": {"verdict": "REFUTED", "finding": "x"}}}),
            "REFUTED is not a training verdict",
        ),
    ],
)
def test_a_bad_sidecar_is_one_line_never_a_crash(project, content, why):
    bad = project.root / "other-scale.json"
    bad.write_text(content, encoding="utf-8")
    result = project.run("--scales", str(bad))
    assert result.ret == 0, result.stdout.str()
    assert why in project.report()["gpu_scale"]["error"]
    assert why in project.html()


def test_a_named_sidecar_that_is_missing_is_said(project):
    result = project.run("--scales", "nowhere.json")
    assert result.ret == 0, result.stdout.str()
    assert "nowhere.json cannot be read" in project.html()
