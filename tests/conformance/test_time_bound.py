"""The time bound on an implementation under test (issue 21 item 1, issue 22 class 2): the
conform command as a user runs it (a subprocess), on functions that hang on one dtype, hold the
GIL, end the process, hang on import or in the probe, or are merely slow; Ctrl-C, SIGTERM and
the total bound; and the in-process bound that `--impl` and the Python API use."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from softmax_claimcheck.claimcheck.outcomes import ImplementationTimedOut
from softmax_claimcheck.conformance import check
from softmax_claimcheck.impl import pytest_plugin
from softmax_claimcheck.impl.time_bound import CallTimedOut, within

ROOT = Path(__file__).resolve().parents[2]
HANGS = "tests.conformance.hangs"
BROKEN_TIME = "softmax_claimcheck.impl.broken_time"
IMPORT_HANGS = "tests.conformance.hang_on_import"
# a generous ceiling for "the bound plus a few seconds" on a shared, loaded 2-core machine:
# a worker start (import numpy and the harness) is 1-4 s there
SLACK_S = 45


def conform(
    tmp_path: Path, *args: str, terminal: bool = False, timeout: float = 240
) -> tuple[int, str, str, float]:
    """Run `python -m softmax_claimcheck conform ...` from the checkout -> (exit code, stdout,
    stderr, seconds); stderr is a terminal (a pty) when `terminal`."""
    cmd = [sys.executable, "-m", "softmax_claimcheck", "conform", *args, "--out", str(tmp_path)]
    start = time.monotonic()
    if not terminal:
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        return done.returncode, done.stdout, done.stderr, time.monotonic() - start
    master, slave = pty.openpty()
    process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    out, _ = process.communicate(timeout=timeout)
    return process.returncode, out, _read_all(master), time.monotonic() - start


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")


def cells(tmp_path: Path) -> tuple[dict, dict[tuple[str, str], dict]]:
    data = json.loads((tmp_path / "conformance.json").read_text())
    return data, {(c["property"], c["dtype"]): c for c in data["checks"]}


def by_dtype(table: dict[tuple[str, str], dict], dtype: str) -> list[dict]:
    return [c for (_, t), c in table.items() if t == dtype]


# -- a hang on one dtype ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("function", "dtype", "killed"),
    [
        ("sleeps_on_float16", "float16", False),  # ended by the worker's in-process bound
        ("swallows_timeouts_on_float16", "float16", True),  # catches it: the worker is killed
        ("holds_gil_on_float32", "float32", True),  # C code holding the GIL: killed
    ],
)
def test_a_hang_on_one_dtype_fails_that_dtype_and_the_rest_is_judged(
    tmp_path: Path, function: str, dtype: str, killed: bool
) -> None:
    code, out, err, seconds = conform(tmp_path, f"{HANGS}:{function}", "--timeout", "2")
    assert code == 1, out + err
    assert seconds < 2 + SLACK_S, seconds
    data, table = cells(tmp_path)
    assert data["finished"] is True and data["ok"] is False and data["timeout"] == 2
    failed = [c for c in data["checks"] if c["outcome"] == "fail"]
    assert len(failed) == 1, failed
    hung = failed[0]
    assert (hung["dtype"], hung["property"]) == (dtype, "values")
    # the first call on a dtype gets 3 × the bound (one-off costs: lazy imports, JIT)
    assert "timed out after 6 s" in hung["message"] and f"on {dtype}" in hung["message"]
    assert ("worker was killed" in hung["message"]) is killed
    assert hung["inputs"].startswith("x = ")
    assert f"FAIL: values [cpu/{dtype}]: the implementation timed out after 6 s" in out
    assert f"input: {hung['inputs'][:40]}" in out
    rest = [c for c in by_dtype(table, dtype) if c is not hung]
    assert rest and all(c["outcome"] == "not run" for c in rest)
    assert "timed out after 6 s" in rest[0]["message"]
    for other in {"float64", "float32", "float16"} - {dtype}:
        assert not [c for c in by_dtype(table, other) if c["outcome"] in ("not run", "fail")]
    assert "timed out after 6 s" in (tmp_path / "conformance.html").read_text()


# -- a process that ends inside a call ----------------------------------------------------------
@pytest.mark.parametrize(
    ("function", "what"),
    [
        ("exits_0_on_float16", "ended the process with status 0 inside the call"),
        ("exits_3_on_float16", "ended the process with status 3 inside the call"),
        ("kills_itself_on_float16", "was killed by SIGKILL inside the call"),
    ],
)
def test_a_process_ended_inside_a_call_fails_that_property(
    tmp_path: Path, function: str, what: str
) -> None:
    """The old command exited 0 with no output on os._exit(0) (issue 22, class 2)."""
    code, out, err, _ = conform(tmp_path, f"{HANGS}:{function}")
    assert code == 1, out + err
    data, table = cells(tmp_path)
    failed = [c for c in data["checks"] if c["outcome"] == "fail"]
    assert [(c["property"], c["dtype"]) for c in failed] == [("values", "float16")]
    assert what in failed[0]["message"] and failed[0]["exception"] == what
    assert f"FAIL: values [cpu/float16]: the implementation {what}" in out
    assert table[("values", "float64")]["outcome"] == "pass"


@pytest.mark.parametrize(
    ("function", "prop", "dtypes", "what"),
    [
        ("deadlocks_on_neg_inf", "sums-to-one", {"float64", "float32", "float16"}, "timed out"),
        ("spins_in_c_on_long_rows", "values", {"float64", "float32", "float16"}, "timed out"),
        ("exits_on_float16", "values", {"float16"}, "ended the process with status 0"),
    ],
)
def test_broken_in_time_caught_with_the_property_named(
    tmp_path: Path, function: str, prop: str, dtypes: set[str], what: str
) -> None:
    """impl/broken_time.py: the old command hung on the first two for good and ended with 0
    and no output on the third."""
    code, out, err, seconds = conform(tmp_path, f"{BROKEN_TIME}:{function}", "--timeout", "2")
    assert code == 1, out + err
    assert seconds < 3 * (2 + SLACK_S)
    data, _ = cells(tmp_path)
    failed = [c for c in data["checks"] if c["outcome"] == "fail"]
    assert {c["dtype"] for c in failed} == dtypes
    assert {c["property"] for c in failed} == {prop}
    assert all(what in c["message"] for c in failed)
    assert f"failing: {prop})" in out


# -- nothing can be judged: a usage error, one line ----------------------------------------------
@pytest.mark.parametrize(
    ("target", "what"),
    [
        (f"{HANGS}:hangs_always", "timed out after 3 s; give --kind and --backend"),
        (f"{HANGS}:always_exits_0", "ended the process with status 0; give --kind and --backend"),
        (f"{IMPORT_HANGS}:softmax", f"importing '{IMPORT_HANGS}' timed out after 3 s"),
    ],
    ids=["probe-hangs", "probe-exits-0", "import-hangs"],
)
def test_a_hang_or_exit_before_the_kind_is_known_is_a_usage_error(
    tmp_path: Path, target: str, what: str
) -> None:
    code, out, err, seconds = conform(tmp_path, target, "--timeout", "1")
    assert code == 2, out + err
    assert seconds < 3 + SLACK_S
    lines = err.strip().splitlines()
    assert len(lines) == 1 and what in lines[0], err
    assert "Traceback" not in out + err


# -- stopping: Ctrl-C, SIGTERM, the total bound -------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stopped_run_writes_what_was_decided_and_exits_4(tmp_path: Path, signum: int) -> None:
    """As a terminal's Ctrl-C does, the signal goes to the whole process group (the worker too)."""
    cmd = [sys.executable, "-m", "softmax_claimcheck", "conform", f"{HANGS}:slow_softmax"]
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [*cmd, "--out", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
        start_new_session=True,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 120
    while b"[4/" not in seen and time.monotonic() < deadline:
        seen += os.read(master, 4096)  # progress on the terminal: 3 checks decided
    os.killpg(process.pid, signum)
    out, _ = process.communicate(timeout=60)
    os.close(master)
    assert process.returncode == 4, out
    data, _ = cells(tmp_path)
    name = signal.Signals(signum).name
    assert data["finished"] is False and data["ok"] is False
    assert data["stopped"] == f"interrupted by {name}"
    assert data["counts"]["pass"] >= 3 and data["counts"]["not run"] > 0
    assert f"UNFINISHED (interrupted by {name})" in out
    assert "Unfinished" in (tmp_path / "conformance.html").read_text()
    with pytest.raises(ProcessLookupError):  # the worker went with it
        os.killpg(process.pid, 0)


def test_the_total_bound_stops_the_run(tmp_path: Path) -> None:
    code, out, _, seconds = conform(
        tmp_path, f"{HANGS}:slow_softmax", "--total-timeout", "3", "--no-files"
    )
    assert code == 4, out
    assert seconds < 3 + SLACK_S
    assert "UNFINISHED (the total time bound of 3 s (--total-timeout) was reached)" in out


def test_a_slow_function_shows_progress_and_finishes(tmp_path: Path) -> None:
    """50 ms a call: no call near the bound; a terminal sees progress, a pipe gets none."""
    code, out, err, _ = conform(tmp_path, f"{HANGS}:slow_softmax", "--no-files", terminal=True)
    assert code == 0, out + err
    assert "CONFORMS" in out
    assert "conform " in err and "\x1b[K" in err
    assert re.search(r"\[1/(\d+)\] cpu/float64 values", err), err[-500:]
    code, out, err, _ = conform(tmp_path, f"{HANGS}:slow_softmax", "--property", "values")
    assert code == 0 and err == "", err


# -- the in-process bound (--impl, the Python API on a function object) -------------------------
def test_in_process_bound_interrupts_a_sleep_and_keeps_an_outer_timer() -> None:
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 5.0)
        start = time.monotonic()
        with pytest.raises(CallTimedOut, match=r"timed out after 0\.2 s"), within(0.2):
            time.sleep(30)
        assert time.monotonic() - start < 2
        left = signal.getitimer(signal.ITIMER_REAL)[0]
        assert 3.0 < left <= 5.0  # the outer timer runs on, with what remains of it
        signal.setitimer(signal.ITIMER_REAL, 0.3)  # an outer timer due inside the bound
        with within(2.0):
            time.sleep(0.6)
        assert fired == [1]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_impl_calls_are_bounded_and_a_hung_column_is_not_called_again() -> None:
    impl = pytest_plugin.from_option(f"{HANGS}:sleeps_on_float16", timeout=0.5)
    np.testing.assert_allclose(impl.fn(np.zeros((2, 3))).sum(axis=-1), [1.0, 1.0])
    start = time.monotonic()
    with pytest.raises(ImplementationTimedOut, match=r"the implementation timed out after 1\.5 s"):
        impl.fn(np.zeros((2, 3), dtype=np.float16))
    with pytest.raises(AssertionError, match="not called: an earlier call on cpu/float16"):
        impl.fn(np.ones((2, 3), dtype=np.float16))
    assert time.monotonic() - start < 5
    assert impl.fn(np.zeros(3, dtype=np.float32)).dtype == np.float32
    warm = pytest_plugin.from_option(f"{HANGS}:sleeps_on_long_rows", timeout=0.5)
    warm.fn(np.zeros((2, 3)))  # the first float64 call: 3 × the bound; then the bound itself
    with pytest.raises(ImplementationTimedOut, match=r"timed out after 0\.5 s"):
        warm.fn(np.zeros((2, 9)))


def test_python_api_on_a_function_object_is_bounded_in_process() -> None:
    from tests.conformance.hangs import sleeps_on_float16

    result = check(sleeps_on_float16, timeout=0.5)
    assert not result.ok and result.finished
    assert [(c.property, c.dtype) for c in result.failures] == [("values", "float16")]
    assert result.failures[0].message.startswith(
        "the implementation timed out after 1.5 s on float16"
    )


def test_impl_run_fails_only_the_users_cells(tmp_path: Path) -> None:
    """`pytest tests/checks --impl ...`: a hang on float16 fails the user's float16 cells
    within the bound; the claim's verdict is the same as without it."""
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "tests/checks",
        "-m",
        "not training",
        "--claim",
        "outputs-sum-to-one",
        "--impl",
        f"{HANGS}:sleeps_on_float16",
        "--impl-timeout",
        "1",
        "-p",
        "no:cacheprovider",
        "-q",
        "--reports-dir",
        str(tmp_path),
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    report = json.loads((tmp_path / "verdict.json").read_text())
    claim = next(c for c in report["claims"] if c["id"] == "outputs-sum-to-one")
    assert claim["verdict"] == claim["expect"], done.stdout[-3000:]
    user = [
        c for c in claim["checks"] if c["params"].get("implementation") == "user-sleeps_on_float16"
    ]
    assert user, done.stdout[-3000:]
    float16 = [c for c in user if c["params"]["dtype"] == "float16"]
    assert float16 and all(c["outcome"] == "fails" for c in float16)
    assert all(c["outcome"] == "holds" for c in user if c["params"]["dtype"] != "float16")


def test_the_supervisor_never_imports_torch() -> None:
    """Only the worker imports the implementation's libraries (a second import of torch, in
    the supervisor, once cost every torch run several seconds)."""
    code = (
        "import sys; from softmax_claimcheck.conformance import check; "
        "r = check('torch:softmax', properties=['values'], dtypes='float32'); "
        "assert r.ok, r.summary(); assert 'torch' not in sys.modules, 'torch imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
