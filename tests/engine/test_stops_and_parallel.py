"""A run that stops early never reads as passed, and a parallel run (pytest-xdist) decides
exactly as a serial one: same verdicts, same verdict.json apart from timings, same exit status."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.engine.synthetic import claim_yaml, make_project, report, verdicts

CLAIMS = [
    claim_yaml("first", expect="REFUTED"),
    claim_yaml("second"),
    claim_yaml("third"),
    claim_yaml("fourth", expect="REFUTED"),
]
CHECKS = """
import pytest

@pytest.mark.claim("first")
def test_first(evidence):
    evidence.printed_value("x", 0.28, 0.377, 0.005, "2 decimals", decimals=2)

@pytest.mark.claim("second")
@pytest.mark.parametrize("n", range(6))
def test_second(evidence, n):
    evidence.property_holds("n is small", n < 10, n, "< 10")

@pytest.mark.claim("third")
def test_third(evidence):
    evidence.property_holds("true", True, 1, "1")

@pytest.mark.claim("fourth")
@pytest.mark.parametrize("n", range(4))
def test_fourth(evidence, n):
    evidence.property_holds("n is large", n > 10, n, "> 10")
"""


def _comparable(data: dict[str, Any]) -> dict[str, Any]:
    """verdict.json without what legitimately differs between two runs: timings, dates."""
    data = json.loads(json.dumps(data))
    data.pop("timings_s", None)
    data["environment"].pop("date", None)
    for claim in data["claims"]:
        claim["checks"].sort(key=lambda c: c["nodeid"])
        for check in claim["checks"]:
            check.pop("duration_s", None)
    return data


@pytest.mark.parametrize("flag", ["-x", "--maxfail=1"])
def test_a_run_stopped_by_the_first_refutation_fails_and_says_not_run(pytester, flag):
    project = make_project(pytester, CLAIMS, CHECKS)
    result = pytester.runpytest_subprocess("-p", "no:html", "-p", "no:cacheprovider", flag)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    data = report(project)
    assert data["summary"]["ok"] is False and data["summary"]["finished"] is False
    assert "stopped early" in data["summary"]["interrupted"]
    got = {c["id"]: (c["verdict"], c["not_run_cause"]) for c in data["claims"]}
    assert got["first"] == ("REFUTED", None)
    assert got["second"] == ("NOT RUN", "stopped") and got["third"] == ("NOT RUN", "stopped")
    assert "did not finish" in (project / "reports" / "verdict.html").read_text(encoding="utf-8")
    result.stdout.fnmatch_lines(["*claims: FAILED*"])


def test_sigterm_writes_reports_that_say_interrupted(pytester):
    checks = CHECKS + (
        "\n@pytest.mark.claim('third')\ndef test_slow():\n    import time\n    time.sleep(60)\n"
    )
    project = make_project(pytester, CLAIMS, checks)
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:html", "-p", "no:cacheprovider", "-q"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    started = project / "reports" / "verdict.json"
    while time.monotonic() < deadline and not started.exists():
        time.sleep(0.2)
    time.sleep(2)  # well into test_slow
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    assert process.returncode != 0
    data = report(project)
    assert data["summary"]["finished"] is False and data["summary"]["ok"] is False
    assert "signal" in data["summary"]["interrupted"]
    assert verdicts(project)["third"]["verdict"] == "NOT RUN"


xdist = pytest.importorskip("xdist", reason="pytest-xdist is not installed")


def test_a_parallel_run_equals_a_serial_one(pytester):
    project = make_project(pytester, CLAIMS, CHECKS)
    serial = pytester.runpytest_subprocess("-p", "no:html", "-p", "no:cacheprovider")
    first = _comparable(report(project))
    parallel = pytester.runpytest_subprocess("-p", "no:html", "-p", "no:cacheprovider", "-n", "2")
    second = _comparable(report(project))
    assert serial.ret == parallel.ret == 0
    assert first == second
    assert {c["id"]: c["verdict"] for c in second["claims"]} == {
        "first": "REFUTED",
        "second": "SUPPORTED",
        "third": "SUPPORTED",
        "fourth": "REFUTED",
    }


def test_a_worker_that_dies_makes_its_claims_not_run_and_fails_the_run(pytester):
    checks = CHECKS + (
        "\n@pytest.mark.claim('third')\ndef test_dies():\n    import os\n    os._exit(3)\n"
    )
    project = make_project(pytester, CLAIMS, checks)
    result = pytester.runpytest_subprocess(
        "-p", "no:html", "-p", "no:cacheprovider", "-n", "2", "--max-worker-restart", "0"
    )
    assert result.ret != 0
    data = report(project)
    assert data["summary"]["ok"] is False
    third = verdicts(project)["third"]
    # The dead check never reported a result of ours: it did not execute (or, where xdist
    # reports the crash as a failed test, the run fails on it): never SUPPORTED.
    assert third["verdict"] != "SUPPORTED"
    assert Path(project / "reports" / "verdict.html").exists()
