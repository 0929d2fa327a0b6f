"""Issue 13, item 2: a hard time bound for a check's call, inside and outside `@given`.

Each case runs a throwaway project in a fresh interpreter whose conftest replaces the plugin's
claimcheck.hard_timeout.HardTimeoutPlugin by one with a 1 s timeout and short stages (raise at
+0.3 s, stop at +3 s, kill at +6 s) so the suite stays fast; the default stages end any call
within T + 25 s."""

from __future__ import annotations

import json
import textwrap
import time

import pytest

from softmax_claimcheck.claimcheck import hard_timeout
from tests.engine.conftest import CLAIMS_RUN_PLUGINS, claim_entry

CONFTEST = """
    import json
    from pathlib import Path
    from softmax_claimcheck.claimcheck.hard_timeout import HardTimeoutPlugin

    def on_hard_stop(stop):
        Path("hard-stop.json").write_text(json.dumps({"label": stop.label, "msg": stop.message}))

    def pytest_configure(config):
        # Replace the plugin's own watchdog by one with short stages and a hook of the test's.
        config.pluginmanager.unregister(name="claimcheck-hard-timeout")
        config.pluginmanager.register(
            HardTimeoutPlugin(
                on_hard_stop=on_hard_stop, dump_path=Path("reports/hard-timeout.txt"),
                raise_after=0.3, stop_after=3.0, kill_after=6.0,
            ),
            "claimcheck-hard-timeout",
        )
"""

HEAD = """
    import ctypes, time, pytest
    from hypothesis import given, settings, strategies as st

    @pytest.mark.claim("good-claim")
    def test_good(evidence):
        evidence.property_holds("one", True, 1, "1")
"""

HANGS = {
    "python-loop": "while True:\n    pass",
    "sleep": "time.sleep(10**6)",
    "busy-numpy": "import numpy as np\nwhile True:\n    np.ones(1000).sum()",
}
GIVEN = """
    @pytest.mark.claim("hang-claim")
    @settings(deadline=None, max_examples=5, derandomize=True)
    @given(st.integers())
    def test_hang(x):
        {body}
"""
PLAIN = """
    @pytest.mark.claim("hang-claim")
    def test_hang():
        {body}
"""


def project(claims_project, body: str, given: bool, conftest: bool = True):
    claims_project.claims(claim_entry("good-claim"), claim_entry("hang-claim"))
    template = GIVEN if given else PLAIN
    claims_project.checks(HEAD + template.format(body=body.replace("\n", "\n        ")))
    if conftest:
        claims_project.pytester.makeconftest(textwrap.dedent(CONFTEST))


def run(claims_project, *args: str):
    started = time.monotonic()
    plugins = CLAIMS_RUN_PLUGINS
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        result = claims_project.pytester.runpytest_subprocess(
            *(arg for name in plugins for arg in ("-p", name)),
            *("-p", "no:cacheprovider", "--reports-dir", "reports", "--timeout", "1", *args),
            timeout=45,  # a run that the bound does not end fails here, not at the outer timeout
        )
    return result, time.monotonic() - started


@pytest.mark.parametrize("given", [True, False], ids=["given", "plain"])
@pytest.mark.parametrize("hang", list(HANGS))
def test_hang_in_python_becomes_error_and_the_run_writes_its_reports(claims_project, hang, given):
    project(claims_project, HANGS[hang], given)
    result, elapsed = run(claims_project)
    assert elapsed < 1 + 30, elapsed
    verdicts = claims_project.verdicts()
    assert verdicts == {"good-claim": "SUPPORTED", "hang-claim": "ERROR"}, verdicts
    [check] = claims_project.report()["claims"][1]["checks"]
    assert check["outcome"] == "crashed"
    assert result.ret == 1
    if given:  # Hypothesis let it through at once: no shrinking, no second example
        assert "CheckTimedOut" in check["message"] or "Timeout" in check["message"]


def test_given_hang_without_pytest_timeout_signal_is_bounded_by_our_stage_1(claims_project):
    """pytest-timeout's 'thread' method would end the run with no report; ours raises."""
    project(claims_project, HANGS["sleep"], given=True)
    _, elapsed = run(claims_project, "-o", "timeout_method=thread")
    # pytest-timeout's thread method fires at T too; whichever comes first, the run ends in time
    assert elapsed < 31


def test_swallowed_timeout_is_ended_by_stage_2_with_reports_hook(claims_project):
    body = (
        "while True:\n    try:\n        time.sleep(10**6)\n    except BaseException:\n        pass"
    )
    project(claims_project, body, given=True)
    result, elapsed = run(claims_project)
    assert result.ret == hard_timeout.HARD_STOP_STATUS, result.stderr.str()[-2000:]
    assert elapsed < 31
    stop = json.loads((claims_project.root / "hard-stop.json").read_text())
    assert stop["label"].endswith("test_hang") and "ignored CheckTimedOut" in stop["msg"]
    assert "ignored CheckTimedOut" in result.stderr.str()


def test_c_call_holding_the_gil_is_ended_by_stage_3_and_named(claims_project):
    # libc sleep through PyDLL keeps the GIL: no Python thread can run, not even the watchdog.
    body = "ctypes.PyDLL(None).sleep(10**6)"
    project(claims_project, body, given=True)
    result, elapsed = run(claims_project)
    assert result.ret == 1 and elapsed < 31, (result.ret, elapsed)
    dump = (claims_project.root / "reports" / "hard-timeout.txt").read_text()
    assert "test_hang" in dump and "even in C code" in dump
    assert "test_checks.py" in dump  # faulthandler's traceback of the stuck frame


def test_fast_checks_are_untouched_and_leave_no_dump_file(claims_project):
    project(claims_project, "time.sleep(0.05)", given=True)
    result, _ = run(claims_project)
    assert result.ret == 0 and claims_project.verdicts()["hang-claim"] == "SUPPORTED"
    assert not (claims_project.root / "reports" / "hard-timeout.txt").exists()


def test_timeout_marker_is_the_bound(claims_project):
    body = "time.sleep(10**6)"
    project(claims_project, body, given=False)
    checks = claims_project.root / "test_checks.py"
    checks.write_text(
        checks.read_text().replace("def test_hang", "@pytest.mark.timeout(2)\ndef test_hang")
    )
    _, elapsed = run(claims_project, "--timeout", "0")
    assert claims_project.verdicts()["hang-claim"] == "ERROR" and elapsed < 31


# -- unit tests of the watchdog ----------------------------------------------------------------


def test_default_stages_end_within_timeout_plus_30_s():
    assert hard_timeout.KILL_AFTER_S < 30 and hard_timeout.RAISE_AFTER_S < hard_timeout.STOP_AFTER_S


def test_check_timed_out_is_not_an_exception():
    assert issubclass(hard_timeout.CheckTimedOut, BaseException)
    assert not issubclass(hard_timeout.CheckTimedOut, Exception)


# In-process watchdogs of their own: this run's watchdog stays out of their way (no bound).
@pytest.mark.timeout(0)
def test_bounded_raises_in_the_main_thread_and_disarms():
    dog = hard_timeout.Watchdog(raise_after=0.1, stop_after=20, kill_after=25).start()
    try:
        started = time.monotonic()
        with pytest.raises(hard_timeout.CheckTimedOut), dog.bounded(0.2, "unit"):
            time.sleep(30)
        assert time.monotonic() - started < 5
        with dog.bounded(0.5, "fast"):
            time.sleep(0.01)
        time.sleep(1)  # no late signal after disarm
        with dog.bounded(None, "unbounded"):
            pass
    finally:
        dog.close()


@pytest.mark.timeout(0)
def test_given_lets_check_timed_out_through_without_retrying():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    calls = []
    dog = hard_timeout.Watchdog(raise_after=0.1, stop_after=20, kill_after=25).start()

    @settings(deadline=None, max_examples=50, database=None)
    @given(st.integers())
    def hangs(x):
        calls.append(x)
        time.sleep(30)

    try:
        # 2 s: Hypothesis must reach the body first, even on a loaded machine.
        with pytest.raises(hard_timeout.CheckTimedOut), dog.bounded(2.0, "given"):
            hangs()
    finally:
        dog.close()
    assert len(calls) == 1


def test_item_timeout_without_a_timeout_is_the_engines_default(pytester):
    """--timeout=0 turns pytest-timeout off; a check still gets a bound (issue 22, class 6)."""
    pytester.makepyfile("def test_x(): pass")
    items, _ = pytester.inline_genitems("-p", "no:cacheprovider", "--timeout", "0")
    assert hard_timeout.item_timeout(items[0]) == hard_timeout.DEFAULT_TIMEOUT_S


# -- end to end with the plugin's own registration -----------------------------------------------


def test_wired_plugin_bounds_a_given_hang(claims_project):
    project(claims_project, HANGS["sleep"], given=True, conftest=False)
    run(claims_project, "-o", "timeout_method=signal")
    assert claims_project.verdicts()["hang-claim"] == "ERROR"
    assert "CheckTimedOut" in claims_project.report()["claims"][1]["checks"][0]["message"]


def test_wired_plugin_writes_the_reports_before_ending_a_call_that_will_not_stop(claims_project):
    """Stage 2 with the plugin's own hook: the run object decides and writes first; the hung
    claim is NOT RUN and the report says the run was ended."""
    body = (
        "while True:\n    try:\n        time.sleep(10**6)\n    except BaseException:\n        pass"
    )
    project(claims_project, body, given=False, conftest=False)
    result, elapsed = run(claims_project, "-o", "timeout_method=signal")
    assert result.ret == hard_timeout.HARD_STOP_STATUS and elapsed < 1 + 30
    data = claims_project.report()
    assert data["summary"]["finished"] is False and data["summary"]["ok"] is False
    assert "ignored CheckTimedOut" in data["summary"]["interrupted"]
    assert claims_project.verdicts() == {"good-claim": "SUPPORTED", "hang-claim": "NOT RUN"}
