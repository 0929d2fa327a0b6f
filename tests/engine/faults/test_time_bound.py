"""Issue 22, class 6: every check of a claims run has a time bound, and a run always ends.

The bound must not depend on pytest-timeout being enabled: with `-p no:timeout`, with the plugin
not loaded, or with `--timeout=0`, a hanging check is still ended (ERROR, exit 1, a finished
report). A check that leaves a non-daemon thread running is ERROR, and the process still ends."""

from __future__ import annotations

import time

import pytest

from tests.engine.faults.runs import PLUGINS, assert_clean_failure, flags, project, run

HANGS = """\
import threading, time, pytest
from hypothesis import given, settings, strategies as st

@pytest.mark.claim("good-claim")
{marker}
def test_good(evidence):
    {body}
"""
SLEEP = "time.sleep(600)"
GIVEN_SLEEP = (
    "@settings(max_examples=3, derandomize=True, database=None)\n"
    "    @given(st.integers())\n"
    "    def inner(x):\n"
    "        time.sleep(600)\n"
    "    inner()"
)
HOLDS = "\n    evidence.property_holds('one', True, 1, '1')"
NO_TIMEOUT_PLUGIN = tuple(p for p in PLUGINS if p != "pytest_timeout")


def bounded_project(tmp_path, body=SLEEP, marker="", ini_timeout="1"):
    root = project(tmp_path / "proj", check=HANGS.format(marker=marker, body=body))
    ini = (root / "pytest.ini").read_text().replace("timeout = 60", f"timeout = {ini_timeout}")
    (root / "pytest.ini").write_text(ini)
    return root


CASES = {
    "-p no:timeout, ini timeout": dict(args=("-p", "no:timeout")),
    "-p no:timeout, marker": dict(
        args=("-p", "no:timeout"), marker="@pytest.mark.timeout(1)", ini_timeout="600"
    ),
    "pytest-timeout not loaded": dict(plugins=NO_TIMEOUT_PLUGIN),
    "-p no:timeout, @given": dict(args=("-p", "no:timeout"), body=GIVEN_SLEEP),
    "--timeout=0, claimcheck_check_timeout": dict(args=("--timeout=0",), engine_default="1"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_hanging_check_is_bounded_without_pytest_timeout(tmp_path, case):
    spec = CASES[case]
    root = bounded_project(
        tmp_path, body=spec.get("body", SLEEP), marker=spec.get("marker", ""),
        ini_timeout=spec.get("ini_timeout", "1"),
    )  # fmt: skip
    if "engine_default" in spec:
        with (root / "pytest.ini").open("a") as ini:
            ini.write(f"claimcheck_check_timeout = {spec['engine_default']}\n")
    started = time.monotonic()
    result = run(root, "tests", *spec.get("args", ()), plugins=spec.get("plugins", PLUGINS))
    assert time.monotonic() - started < 60, "the check was not bounded"
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.text[-2000:]
    assert_clean_failure(result, "claim 'good-claim': ERROR", "did not return within")
    assert flags(root / "reports") == (True, False)


LEAKS = {
    "sleeping-thread": "threading.Thread(target=time.sleep, args=(600,)).start()",
    "waiting-thread": "threading.Thread(target=threading.Event().wait).start()",
    "timer": "threading.Timer(600, print).start()",
}


@pytest.mark.parametrize("case", list(LEAKS))
def test_a_leaked_non_daemon_thread_is_error_and_the_process_ends(tmp_path, case):
    root = bounded_project(
        tmp_path, body=LEAKS[case] + "\n    evidence.property_holds('one', True, 1, '1')"
    )
    result = run(root, "tests", timeout=60)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.text[-2000:]
    assert_clean_failure(result, "claim 'good-claim': ERROR", "non-daemon thread")
    assert "claims: OK" not in result.text
    assert flags(root / "reports") == (True, False)


def test_a_thread_that_ends_soon_after_the_check_is_fine(tmp_path):
    body = "threading.Thread(target=time.sleep, args=(0.1,)).start()" + HOLDS
    root = bounded_project(tmp_path, body=body)
    assert run(root, "tests", timeout=60).ret == 0
