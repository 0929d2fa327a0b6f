"""Run-to-run comparison (--compare-with old/verdict.json): what changed after an upgrade.

Unit tests of claimcheck.report.compare on small verdict dicts, then the option end to end.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from softmax_claimcheck.claimcheck.report.compare import compare
from softmax_claimcheck.claimcheck.report.html import render
from tests.engine.conftest import claim_entry


def check(nodeid: str, outcome: str = "holds", label: str = "float32", **measured: Any) -> dict:
    comparisons = [{"quantity": q, "measured": m} for q, m in measured.items()]
    return {
        "nodeid": nodeid,
        "label": label,
        "outcome": outcome,
        "evidence": {"comparisons": comparisons},
    }


def verdict_json(claims: dict[str, tuple[str, list[dict]]], torch: str = "2.4.0") -> dict:
    """A minimal verdict.json: {claim id: (verdict, checks)}."""
    return {
        "schema_version": 2,
        "environment": {"torch": torch, "date": "2025-01-01 00:00 UTC", "git_commit": "abc"},
        "claims": [
            {"id": cid, "verdict": verdict, "checks": checks}
            for cid, (verdict, checks) in claims.items()
        ],
    }


def compared(tmp_path: Path, before: dict, after: dict) -> dict:
    old = tmp_path / "old.json"
    old.write_text(json.dumps(before), encoding="utf-8")
    return compare(after, old)


BASE = {
    "a": ("SUPPORTED", [check("t.py::test_a[float32]", x=1.0)]),
    "b": ("SUPPORTED", [check("t.py::test_b", label="test_b", x=[0.25, 0.75])]),
}


def test_identical_runs_report_nothing(tmp_path):
    result = compared(tmp_path, verdict_json(BASE), verdict_json(BASE))
    assert "error" not in result
    for key in ("environment_changed", "verdicts_changed", "added", "removed"):
        assert result[key] == [], key
    assert result["outcomes_changed"] == [] and result["values_moved"] == []
    assert result["previous_date"] == "2025-01-01 00:00 UTC" and result["previous_commit"] == "abc"


def test_verdict_and_outcome_changed(tmp_path):
    after = dict(BASE, a=("REFUTED", [check("t.py::test_a[float32]", "fails", x=1.0)]))
    result = compared(tmp_path, verdict_json(BASE), verdict_json(after))
    assert result["verdicts_changed"] == [
        {"claim_id": "a", "before": "SUPPORTED", "after": "REFUTED"}
    ]
    [changed] = result["outcomes_changed"]
    assert (changed["nodeid"], changed["before"], changed["after"]) == (
        "t.py::test_a[float32]",
        "holds",
        "fails",
    )


def test_claim_added_and_removed(tmp_path):
    after = {"a": BASE["a"], "c": ("SUPPORTED", [check("t.py::test_c", x=2.0)])}
    result = compared(tmp_path, verdict_json(BASE), verdict_json(after))
    assert result["added"] == ["c"] and result["removed"] == ["b"]
    assert result["verdicts_changed"] == [] and result["values_moved"] == []


def test_measured_value_moved(tmp_path):
    after = dict(BASE, b=("SUPPORTED", [check("t.py::test_b", label="test_b", x=[0.25, 0.7501])]))
    result = compared(tmp_path, verdict_json(BASE), verdict_json(after))
    [moved] = result["values_moved"]
    assert moved["claim_id"] == "b" and moved["quantity"] == "x"
    assert moved["before"] == [0.25, 0.75] and moved["after"] == [0.25, 0.7501]
    assert result["verdicts_changed"] == []


def test_rounding_noise_is_not_a_move_but_one_ulp_of_float32_is(tmp_path):
    noise = dict(BASE, a=("SUPPORTED", [check("t.py::test_a[float32]", x=1.0 + 1e-13)]))
    assert compared(tmp_path, verdict_json(BASE), verdict_json(noise))["values_moved"] == []
    ulp = dict(BASE, a=("SUPPORTED", [check("t.py::test_a[float32]", x=1.0 + 2**-23)]))
    assert len(compared(tmp_path, verdict_json(BASE), verdict_json(ulp))["values_moved"]) == 1


def test_value_that_became_nan_or_inf_moved(tmp_path):
    for new in ("nan", "inf", float("nan")):
        after = dict(BASE, a=("SUPPORTED", [check("t.py::test_a[float32]", x=new)]))
        result = compared(tmp_path, verdict_json(BASE), verdict_json(after))
        assert len(result["values_moved"]) == 1, new


def test_checks_sharing_a_label_are_compared_by_node_id(tmp_path):
    """Two checks of one claim both labelled 'float32' (different test functions) must not
    overwrite each other: a move in either one is reported."""
    before = {
        "a": (
            "SUPPORTED",
            [check("t.py::test_one[f32]", x=1.0), check("t.py::test_two[f32]", x=5.0)],
        )
    }
    after = {
        "a": (
            "SUPPORTED",
            [check("t.py::test_one[f32]", x=1.5), check("t.py::test_two[f32]", x=5.0)],
        )
    }
    [moved] = compared(tmp_path, verdict_json(before), verdict_json(after))["values_moved"]
    assert moved["nodeid"] == "t.py::test_one[f32]" and (moved["before"], moved["after"]) == (
        1.0,
        1.5,
    )


def test_a_quantity_recorded_twice_in_one_check_is_compared_in_order(tmp_path):
    def twice(first: float, second: float) -> dict:
        item = check("t.py::test_a", x=first)
        item["evidence"]["comparisons"].append({"quantity": "x", "measured": second})
        return verdict_json({"a": ("SUPPORTED", [item])})

    [moved] = compared(tmp_path, twice(1.0, 2.0), twice(1.0, 3.0))["values_moved"]
    assert (moved["before"], moved["after"]) == (2.0, 3.0)


def test_torch_upgrade_is_named(tmp_path):
    result = compared(
        tmp_path, verdict_json(BASE, torch="2.4.0"), verdict_json(BASE, torch="2.5.1")
    )
    assert result["environment_changed"] == [{"key": "torch", "before": "2.4.0", "after": "2.5.1"}]


def test_unreadable_or_foreign_previous_file_is_an_error_not_nothing_changed(tmp_path):
    missing = compare(verdict_json(BASE), tmp_path / "nope.json")
    assert "cannot read" in missing["error"]
    for foreign in ([1, 2], {"claims": [{"no_id": 1}]}, {"summary": {}}):
        result = compared(tmp_path, foreign, verdict_json(BASE))  # type: ignore[arg-type]
        assert "not a verdict.json" in result["error"], foreign
        page = render(page_data(result))
        assert "Cannot compare" in page and "Nothing changed" not in page


def page_data(comparison: dict) -> dict:
    """The smallest data the HTML template renders."""
    return {
        "summary": {"claims": 0, "checks": 0, "counts": dict.fromkeys(BADGES, 0), "ok": True},
        "environment": {"date": "today", "git_commit": "abc"},
        "timings_s": {},
        "claims": [],
        "errata": [],
        "conformance": {"columns": [], "rows": []},
        "comparison": comparison,
    }


BADGES = [
    "SUPPORTED", "PARTLY SUPPORTED", "REFUTED", "INCONCLUSIVE", "NOT CHECKABLE", "NOT RUN", "ERROR"
]  # fmt: skip

VALUE_CHECK = """
    import pytest
    from pathlib import Path

    @pytest.mark.claim("{cid}")
    def test_{name}(evidence):
        value = float(Path("{cid}.value").read_text())
        evidence.printed_value("printed {cid}", 0.5, value, 0.005, "2 decimals", decimals=2)
"""


def test_compare_with_option_end_to_end(claims_project):
    """Run, change a measured value (so a verdict flips), drop one claim and add another,
    run again with --compare-with: verdict.json and verdict.html both show each change."""
    root = claims_project.root
    for cid, value in (("kept", "0.5"), ("moved", "0.5"), ("dropped", "0.5"), ("new", "0.5")):
        (root / f"{cid}.value").write_text(value)
    claims_project.claims(claim_entry("kept"), claim_entry("moved"), claim_entry("dropped"))
    for cid in ("kept", "moved", "dropped"):
        claims_project.checks(VALUE_CHECK.format(cid=cid, name=cid), name=f"test_{cid}")
    assert claims_project.run(reports="old").ret == 0

    (root / "moved.value").write_text("0.75")
    (root / "test_dropped.py").unlink()
    claims_project.claims(claim_entry("kept"), claim_entry("moved"), claim_entry("new"))
    claims_project.checks(VALUE_CHECK.format(cid="new", name="new"), name="test_new")
    result = claims_project.run("--compare-with", str(root / "old" / "verdict.json"), reports="new")
    assert result.ret == 1  # 'moved' is now REFUTED, not its expected SUPPORTED

    cmp = claims_project.report("new")["comparison"]
    assert "error" not in cmp
    assert cmp["verdicts_changed"] == [
        {"claim_id": "moved", "before": "SUPPORTED", "after": "REFUTED"}
    ]
    assert cmp["added"] == ["new"] and cmp["removed"] == ["dropped"]
    assert [(m["claim_id"], m["before"], m["after"]) for m in cmp["values_moved"]] == [
        ("moved", 0.5, 0.75)
    ]
    assert [o["nodeid"] for o in cmp["outcomes_changed"]] == ["test_moved.py::test_moved"]
    page = claims_project.html("new")
    assert "Changes since the previous run" in page and "Nothing changed" not in page
    for text in (
        "Verdicts changed",
        "Claims added",
        "Claims removed",
        "Measured values that moved",
    ):
        assert text in page, text


def test_compare_with_a_missing_file_stops_the_run_before_any_check(claims_project):
    """Read at configure time: one line, exit 4, before a long run (not a note at its end)."""
    (claims_project.root / "kept.value").write_text("0.5")
    claims_project.claims(claim_entry("kept"))
    claims_project.checks(VALUE_CHECK.format(cid="kept", name="kept"))
    result = claims_project.run("--compare-with", "no/such/verdict.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --compare-with '*verdict.json': cannot open*"])


def test_a_training_verdict_of_schema_2_reads_as_a_relabel_not_a_change(tmp_path):
    """Schema 2 reported training outcomes as SUPPORTED / REFUTED / PARTLY SUPPORTED; schema 3
    as REPRODUCED / NOT REPRODUCED / PARTLY REPRODUCED. The same outcome under its new name is
    a relabel; a different outcome is still a change."""
    before = verdict_json(
        {"slow": ("REFUTED", []), "ppl": ("REFUTED", []), "math": ("REFUTED", [])}
    )
    after = verdict_json(
        {"slow": ("NOT REPRODUCED", []), "ppl": ("REPRODUCED", []), "math": ("SUPPORTED", [])}
    )
    after["schema_version"] = 3
    families = {"slow": "experiment", "ppl": "experiment", "math": "statement"}
    for claim in after["claims"]:
        claim["family"] = families[claim["id"]]
    result = compared(tmp_path, before, after)
    assert "error" not in result
    assert result["relabelled"] == [
        {"claim_id": "slow", "before": "REFUTED", "after": "NOT REPRODUCED"}
    ]
    assert [c["claim_id"] for c in result["verdicts_changed"]] == ["math", "ppl"]
    page = render(page_data(result))
    assert "Relabelled, not changed" in page and "REFUTED → NOT REPRODUCED (relabel)" in page
