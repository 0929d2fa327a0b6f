"""Issue 22, class 2: a run that never finished never reads as passed.

A check (or a fixture, a thread it starts, a module it imports) that ends or replaces the process
is stopped by claimcheck/process_guard.py: the check is ERROR, the run exits 1 and its report
says finished, not ok. What no guard can stop (C code calling exit(0), SIGKILL) leaves the
"in progress" report, which the main job's own reading of the report
(claimcheck/run_status.py) turns into a failure with one line."""

from __future__ import annotations

import time

import pytest

from softmax_claimcheck.claimcheck import run_status
from tests.engine.faults.runs import assert_clean_failure, flags, project, run

HEAD = """\
import ctypes, os, posix, signal, sys, threading, time
import pytest

@pytest.mark.claim("good-claim")
def test_good(evidence):
"""

IN_CHECK = {
    "os._exit(0)": "    os._exit(0)\n",
    "posix._exit(0)": "    posix._exit(0)\n",
    "os.execv(true)": "    os.execv('/bin/true', ['true'])\n",
    "os.execl(python)": "    os.execl(sys.executable, sys.executable, '-c', 'pass')\n",
    "os._exit-in-hypothesis": (
        "    from hypothesis import given, settings, strategies as st\n"
        "    @settings(max_examples=5, derandomize=True, database=None)\n"
        "    @given(st.integers())\n"
        "    def inner(x):\n"
        "        os._exit(0)\n"
        "    inner()\n"
    ),
}


@pytest.mark.parametrize("case", list(IN_CHECK))
def test_a_check_that_ends_the_process_is_error(tmp_path, case):
    root = project(tmp_path / "proj", check=HEAD + IN_CHECK[case])
    result = run(root, "tests")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.text[-2000:]
    assert_clean_failure(result, "claim 'good-claim': ERROR", "would end the process")
    assert flags(root / "reports") == (True, False)


FIXTURE = """\
import os, pytest

@pytest.fixture
def ends_the_process():
    yield
    os._exit(0)

@pytest.mark.claim("good-claim")
def test_good(evidence, ends_the_process):
    evidence.property_holds("one", True, 1, "1")
"""

THREAD = """\
import os, threading, pytest

@pytest.mark.claim("good-claim")
def test_good(evidence):
    thread = threading.Thread(target=os._exit, args=(0,))
    thread.start()
    thread.join()
    evidence.property_holds("one", True, 1, "1")
"""

ON_IMPORT = """\
import os, pytest
os._exit(0)

@pytest.mark.claim("good-claim")
def test_good(evidence):
    evidence.property_holds("one", True, 1, "1")
"""

PYTEST_EXIT = """\
import pytest

@pytest.mark.claim("good-claim")
def test_good(evidence):
    pytest.exit("done early", returncode=0)
"""


@pytest.mark.parametrize(
    ("check", "words"),
    [
        (FIXTURE, ("ERROR", "would end the process")),
        (THREAD, ("thread tried to end the process",)),
        (ON_IMPORT, ("could not collect",)),
        (PYTEST_EXIT, ("the run was interrupted (done early)",)),
    ],
    ids=["fixture-teardown", "thread", "module-import", "pytest.exit-0"],
)
def test_other_ways_to_end_the_process_early(tmp_path, check, words):
    root = project(tmp_path / "proj", check=check)
    result = run(root, "tests")
    assert result.ret != 0, result.text[-2000:]
    assert_clean_failure(result, *words)
    assert flags(root / "reports") in ((True, False), (False, False))


UNGUARDABLE = {
    "libc-exit(0)": "    ctypes.CDLL(None).exit(0)\n",
    "libc-_exit(0)": "    ctypes.CDLL(None)._exit(0)\n",
    "SIGKILL": "    os.kill(os.getpid(), signal.SIGKILL)\n",
}


@pytest.mark.parametrize("case", list(UNGUARDABLE))
def test_the_main_job_reads_the_reports_own_flags(tmp_path, case):
    root = project(tmp_path / "proj", check=HEAD + UNGUARDABLE[case])
    started = time.time()
    run(root, "tests")  # its exit status may be 0: the report is what tells
    assert flags(root / "reports") == (False, False)
    why = run_status.problem(root / "reports", started)
    assert why is not None and "did not finish" in why, why


def test_an_older_ok_report_is_not_this_runs(tmp_path):
    root = project(tmp_path / "proj")
    assert run(root, "tests").ret == 0
    assert run_status.main([str(root / "reports"), f"--since={time.time() - 30}"]) == 0
    why = run_status.problem(root / "reports", time.time() + 60)
    assert why is not None and "written before this run started" in why
    assert run_status.main([str(tmp_path / "nowhere")]) == 1
