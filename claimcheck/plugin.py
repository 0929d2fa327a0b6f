"""The pytest plugin's hooks (registered through the pytest11 entry point).

Installed, the plugin is a guest: it adds its command-line options and does nothing else unless
the run opts in, through the ini setting `claimcheck_claims_dir` (this project's pyproject.toml)
or an explicit `--claims-dir` / `--claim`. Only then does it register the `claim` marker, create
the run object (claimcheck/session.py) that owns everything else, and write reports.
"""

from __future__ import annotations

import contextlib
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest

from softmax_claimcheck.claimcheck import hard_timeout
from softmax_claimcheck.claimcheck.context import ClaimContext
from softmax_claimcheck.claimcheck.evidence import Evidence
from softmax_claimcheck.claimcheck.linking import MARKER
from softmax_claimcheck.claimcheck.report import scales
from softmax_claimcheck.claimcheck.session import EVIDENCE_KEY, ClaimRun

RUN_KEY = pytest.StashKey[ClaimRun]()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """The hooks an implementations plugin answers (claimcheck/hookspecs.py)."""
    from softmax_claimcheck.claimcheck import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("claimcheck", "claim verification")
    group.addoption(
        "--claims-dir", help="directory of claim YAML files (ini: claimcheck_claims_dir)"
    )
    group.addoption("--reports-dir", help="where reports are written (ini: claimcheck_reports_dir)")
    group.addoption(
        "--claim",
        action="append",
        default=[],
        metavar="ID",
        help="check only this claim (repeatable)",
    )
    group.addoption("--no-reports", action="store_true", help="do not write reports")
    group.addoption(
        "--require-all-run",
        action="store_true",
        help="fail when a claim is NOT RUN (for GPU runners, where nothing may skip)",
    )
    group.addoption(
        "--compare-with",
        metavar="VERDICT_JSON",
        help="a previous verdict.json; the report shows what changed",
    )
    scales.add_options(group, parser)
    parser.addini("claimcheck_claims_dir", "directory of claim YAML files", default="")
    parser.addini("claimcheck_reports_dir", "where reports are written", default="reports")
    parser.addini(
        hard_timeout.DEFAULT_TIMEOUT_INI,
        "a check's time bound in seconds when pytest-timeout sets none (disabled, absent, or "
        "--timeout=0)",
        default=f"{hard_timeout.DEFAULT_TIMEOUT_S:g}",
    )


def opted_in(config: pytest.Config) -> bool:
    """A run is a claims run only if it asked to be: ini setting or explicit option. With this
    plugin disabled (`-p no:claimcheck`) its settings do not exist, and no run is a claims run:
    the implementations' plugin, which asks, then stays inert too."""
    try:
        return bool(
            config.getini("claimcheck_claims_dir")
            or config.getoption("--claims-dir")
            or config.getoption("--claim")
        )
    except ValueError:  # unknown ini key or option: this plugin is not registered
        return False


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    from softmax_claimcheck.claimcheck import invocation

    invocation.check_rootdir(config)
    if not opted_in(config):
        invocation.check_claims_options(config)
        return
    config.addinivalue_line(
        "markers",
        f"{MARKER}(id, reading=None): link this check to a claim (and one of its readings)",
    )
    # Which implementations a claim's scope covers, the run learns through the hooks of
    # claimcheck/hookspecs.py (answered by impl/pytest_plugin.py).
    run = ClaimRun(config)
    config.stash[RUN_KEY] = run
    config.pluginmanager.register(run, "claimcheck-run")
    # From here to the end of the run nothing may end the process early: not a check, nor an
    # implementation probed at configure time (claimcheck/process_guard.py).
    guarded = contextlib.ExitStack()
    guarded.enter_context(run.guard.on())
    config.add_cleanup(guarded.close)
    _end_on_sigterm()
    reports = run.reports_dir
    if reports is not None and not hasattr(config, "workerinput"):
        _check_writable(reports)
    _bound_every_check(config, run, reports)
    if not hasattr(config, "workerinput"):
        run.previous = _previous_report(config)
    if reports is None or hasattr(config, "workerinput"):
        return
    # The detailed logs go beside the verdict report unless the user chose other paths.
    from softmax_claimcheck.claimcheck import logs

    logs.route(config, reports)
    if config.pluginmanager.hasplugin("html"):
        from softmax_claimcheck.claimcheck import html_log

        config.pluginmanager.register(html_log.HtmlLogColumns(run), "claimcheck-html-log")


def _check_writable(reports: Path) -> None:
    """A reports folder that cannot be written stops the run before any check (exit 4, one
    line), instead of a traceback after a long run."""
    from softmax_claimcheck.claimcheck.errors import shorten

    try:
        reports.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=reports, prefix=".write-probe-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise pytest.UsageError(
            f"--reports-dir {shorten(str(reports), 200)}: cannot write reports there ({reason})"
        ) from None


def _previous_report(config: pytest.Config) -> dict[str, Any] | None:
    """--compare-with is read and checked before any check runs: a missing, truncated or foreign
    file stops the run with one line (exit 4), not a note at the end of a long run."""
    value = config.getoption("--compare-with")
    if not value:
        return None
    from softmax_claimcheck.claimcheck.report.compare import (
        CompareFileError,
        load_previous,
        resolve_path,
    )

    path = resolve_path(value, config.invocation_params.dir)
    try:
        return {"path": path, "data": load_previous(path)}
    except CompareFileError as exc:
        raise pytest.UsageError(str(exc)) from None


def _bound_every_check(config: pytest.Config, run: ClaimRun, reports: Any) -> None:
    """A hard time bound on every check's call, inside and outside Hypothesis' @given
    (claimcheck/hard_timeout.py); when a call cannot be stopped, the reports are written first."""
    dump = reports / "hard-timeout.txt" if reports is not None else None
    plugin = hard_timeout.HardTimeoutPlugin(on_hard_stop=run.on_hard_stop, dump_path=dump)
    config.pluginmanager.register(plugin, "claimcheck-hard-timeout")
    from softmax_claimcheck.claimcheck.leaked_threads import LeakedThreadsPlugin

    config.pluginmanager.register(LeakedThreadsPlugin(), "claimcheck-leaked-threads")


def _end_on_sigterm() -> None:
    """SIGTERM (CI cancelling a job, `timeout`) ends the run like Ctrl-C: the reports are written
    and say the run was interrupted, instead of the process dying with the old ones in place."""
    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, interrupt)


def active_run(config: pytest.Config) -> ClaimRun:
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        raise pytest.UsageError(
            "claim checks need a claims run: set claimcheck_claims_dir in the ini file or pass "
            "--claims-dir"
        )
    return run


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Evidence:
    """Record what this check measured; the report renders it under the claim."""
    record = Evidence()
    request.node.stash[EVIDENCE_KEY] = record
    return record


@pytest.fixture
def claim(request: pytest.FixtureRequest) -> ClaimContext:
    """The claim this check is linked to by its marker (and the reading it checks): the
    article's printed numbers, our parameters and the claim tolerance come from here."""
    run = active_run(request.config)
    link = run.links.get(request.node.nodeid)
    if link is None:
        raise pytest.UsageError(
            f"{request.node.nodeid}: the `claim` fixture needs @pytest.mark.claim('claim-id')"
        )
    return ClaimContext(run.claim(link.claim_id), link.reading)
