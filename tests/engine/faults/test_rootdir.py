"""Issue 22, class 1: a run that checked nothing never exits 0.

pytest chooses its rootdir and ini file before any plugin's options exist, so the value of a
claims option written with a space (`--reports-dir /x`) is taken for a test path: the project's
ini is then not read and the plugin would stay inert. Such a run, and a run given claims options
while it is not a claims run, stops with one line (exit 4) before any check."""

from __future__ import annotations

import json

import pytest

from tests.engine.faults.runs import assert_clean_failure, flags, project, run

USAGE = pytest.ExitCode.USAGE_ERROR


def stale_ok_report(folder):
    """A report of an older run that says ok: what a user must never mistake for this run's."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {"summary": {"finished": True, "ok": True}, "claims": []}
    (folder / "verdict.json").write_text(json.dumps(data))


@pytest.mark.parametrize(
    "option", ["--reports-dir", "--compare-with", "--claims-dir"], ids=lambda o: o.strip("-")
)
def test_a_space_separated_path_is_not_taken_for_a_test_path(tmp_path, option):
    root = project(tmp_path / "proj", expect="REFUTED")  # a run that checks would fail
    outside = tmp_path / "outside"
    stale_ok_report(outside)
    value = {"--compare-with": "/dev/zero", "--claims-dir": str(outside)}.get(option, str(outside))
    result = run(root, option, value)
    assert result.ret == USAGE, result.text[-2000:]
    assert_clean_failure(result, option, f"{option}={value}")
    assert flags(outside) == (True, True)  # the older report is untouched, and not this run's
    assert flags(root / "reports") is None


def test_a_space_separated_option_in_pytest_addopts(tmp_path):
    root = project(tmp_path / "proj", expect="REFUTED")
    outside = tmp_path / "outside"
    stale_ok_report(outside)
    result = run(root, env={"PYTEST_ADDOPTS": f"--reports-dir {outside}"})
    assert result.ret == USAGE, result.text[-2000:]
    assert_clean_failure(result, "--reports-dir", f"--reports-dir={outside}")


def test_another_projects_claims_never_get_our_reports(tmp_path):
    ours = project(tmp_path / "ours")
    theirs = project(tmp_path / "theirs")
    result = run(ours, "--claims-dir", str(theirs / "claims"))
    assert result.ret == USAGE, result.text[-2000:]
    assert flags(theirs / "reports") is None and flags(ours / "reports") is None


@pytest.mark.parametrize(
    "option", ["--reports-dir=out", "--require-all-run", "--no-reports", "--compare-with=x.json"]
)
def test_claims_options_in_a_run_without_claims_stop_it(tmp_path, option):
    """`-c /dev/null` (another ini) leaves no claims directory: the options cannot be honoured."""
    root = project(tmp_path / "proj", expect="REFUTED")
    result = run(root, "-c", "/dev/null", option, "tests")
    assert result.ret == USAGE, result.text[-2000:]
    assert_clean_failure(result, option.split("=")[0], "not a claims run")
    assert not (root / "out").exists()


def test_rootdir_elsewhere_still_reads_the_ini_relative_to_itself(tmp_path):
    """--rootdir moves pytest's rootdir, not the ini: its relative paths stay the ini's."""
    root = project(tmp_path / "proj")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run(root, f"--rootdir={elsewhere}", "tests")
    assert result.ret == 0, result.text[-2000:]
    assert flags(root / "reports") == (True, True)
    assert not (elsewhere / "reports").exists()


def test_a_relative_reports_dir_is_relative_to_where_the_user_stands(tmp_path):
    root = project(tmp_path / "proj")
    here = tmp_path / "here"
    here.mkdir()
    result = run(here, str(root / "tests"), "--reports-dir=out")
    assert result.ret == 0, result.text[-2000:]
    assert flags(here / "out") == (True, True)
    assert flags(root / "out") is None
