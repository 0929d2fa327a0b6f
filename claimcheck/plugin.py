"""The pytest plugin: loads claims, links checks to them, collects evidence, decides verdicts,
writes reports and sets the exit status (registered through the pytest11 entry point)."""

from __future__ import annotations

import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from claimcheck.errors import ClaimErrors
from claimcheck.evidence import Evidence
from claimcheck.linking import MARKER, Link, link_errors, link_of, selected_claims
from claimcheck.loader import load_claims
from claimcheck.model import Claim, Verdict
from claimcheck.outcomes import classify, failure_message, falsifying_example
from claimcheck.verdicts import CheckResult, ClaimResult, Outcome, decide_all

EVIDENCE_KEY = pytest.StashKey[Evidence]()
_ACTIVE: dict[str, Claim] = {}
_STATE: dict[str, ClaimSession] = {}  # collect reports carry no config: the running session
SESSION_KEY = pytest.StashKey["ClaimSession"]()


class ClaimSession:
    """Everything the plugin learns during one pytest session."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.claims: dict[str, Claim] = {}
        self.links: dict[str, Link] = {}
        self.results: dict[str, CheckResult] = {}
        self.selected: list[Claim] = []
        self.stop_errors: list[str] = []
        self.verdicts: list[ClaimResult] = []
        self.started = time.time()
        self.phase_s: dict[str, float] = {}
        self.report_paths: dict[str, Path] = {}
        self.collection_errors: list[str] = []
        self.other_failures = 0
        self.interrupted = False

    @property
    def active(self) -> bool:
        return bool(self.links) or bool(self.stop_errors)

    def option_path(self, option: str, ini: str) -> Path | None:
        value = self.config.getoption(option) or self.config.getini(ini)
        if not value:
            return None
        path = Path(value)
        return path if path.is_absolute() else Path(self.config.rootpath, path)


def active_claims() -> dict[str, Claim]:
    """The claims this session loaded, so checks read the article's numbers from the same files
    that were validated (never a second copy)."""
    if not _ACTIVE:
        raise RuntimeError("no claims loaded: run the checks through pytest with claimcheck")
    return _ACTIVE


# -- options, markers ----------------------------------------------------------------------------
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
    parser.addini("claimcheck_claims_dir", "directory of claim YAML files", default="")
    parser.addini("claimcheck_reports_dir", "where reports are written", default="reports")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(id, reading=None): link this check to a claim (and one of its readings)",
    )
    state = ClaimSession(config)
    config.stash[SESSION_KEY] = state
    _STATE["current"] = state
    reports = state.option_path("--reports-dir", "claimcheck_reports_dir")
    if reports is None or config.getoption("--no-reports") or hasattr(config, "workerinput"):
        return
    # The detailed logs go beside the verdict report unless the user chose other paths.
    if getattr(config.option, "xmlpath", None) is None:
        config.option.xmlpath = str(reports / "junit.xml")
    if hasattr(config.option, "htmlpath") and not config.option.htmlpath:
        config.option.htmlpath = str(reports / "tests.html")
        config.option.self_contained_html = True
    if config.pluginmanager.hasplugin("html"):
        from claimcheck import html_log

        config.pluginmanager.register(html_log.HtmlLogColumns(state), "claimcheck-html-log")


def _forget_old_reports(state: ClaimSession) -> None:
    """A claims run killed before it writes must not leave an older report reading as current."""
    reports = state.option_path("--reports-dir", "claimcheck_reports_dir")
    if reports is None or state.config.getoption("--no-reports"):
        return
    for stale in ("verdict.json", "verdict.html"):
        (reports / stale).unlink(missing_ok=True)


# -- collection: load claims, validate links -----------------------------------------------------
def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        state = _STATE.get("current")
        if state is not None:
            last = (str(report.longrepr).strip().splitlines() or ["?"])[-1]
            cause = last.removeprefix("E").strip()
            state.collection_errors.append(f"{report.nodeid or '<rootdir>'}: {cause}")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    state = config.stash[SESSION_KEY]
    started = time.perf_counter()
    links = {}
    for item in items:
        link = link_of(item)
        if link is not None:
            links[item.nodeid] = link
            item.user_properties.append(("claim", link.claim_id))
    claims_dir = state.option_path("--claims-dir", "claimcheck_claims_dir")
    broken_checks = bool(state.collection_errors) and claims_dir is not None
    if not links and not config.getoption("--claim") and not broken_checks:
        return  # no claim checks collected: an ordinary test run
    state.links = links
    _forget_old_reports(state)
    if state.collection_errors:
        # Links cannot be judged when check modules failed to import: report that (pytest then
        # stops with "errors during collection"), not a list of claims "without a check".
        state.stop_errors = [f"could not collect {entry}" for entry in state.collection_errors]
        return
    if claims_dir is None:
        state.stop_errors = [
            "checks name claims, but no claims directory is configured "
            "(--claims-dir or ini claimcheck_claims_dir)"
        ]
        raise pytest.UsageError(state.stop_errors[0])
    try:
        state.claims = load_claims(claims_dir)
    except ClaimErrors as exc:
        state.stop_errors = [str(e) for e in exc.errors]
        raise pytest.UsageError(
            "invalid claim files; no check was run:\n  " + "\n  ".join(state.stop_errors)
        ) from None
    _ACTIVE.clear()
    _ACTIVE.update(state.claims)
    errors = link_errors(state.claims, links)
    if errors:
        state.stop_errors = errors
        raise pytest.UsageError(
            "claims and checks do not match; no check was run:\n  " + "\n  ".join(errors)
        )
    state.selected = selected_claims(state.claims.values(), config.getoption("--claim"))
    if config.getoption("--claim"):
        wanted = {c.id for c in state.selected}
        keep = [i for i in items if i.nodeid in links and links[i.nodeid].claim_id in wanted]
        dropped = [i for i in items if i not in keep]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    state.phase_s["link"] = time.perf_counter() - started


def pytest_collection_finish(session: pytest.Session) -> None:
    state = session.config.stash[SESSION_KEY]
    if state.links:
        # -k / -m may have deselected checks: a claim is reported only if a check of it remains.
        remaining = {
            state.links[i.nodeid].claim_id for i in session.items if i.nodeid in state.links
        }
        filtered = bool(session.config.getoption("-k") or session.config.getoption("-m"))
        state.selected = [
            c for c in state.selected if c.id in remaining or (not c.checkable and not filtered)
        ]
    state.phase_s["collection"] = time.time() - state.started


# -- evidence and outcomes ----------------------------------------------------------------------
@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Evidence:
    """Record what this check measured; the report renders it under the claim."""
    record = Evidence()
    request.node.stash[EVIDENCE_KEY] = record
    return record


def _params(item: pytest.Item) -> dict[str, str]:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return {}
    params: dict[str, str] = {}
    for name, value in callspec.params.items():
        labels = getattr(value, "labels", None)
        if callable(labels):
            params.update(labels())
        elif isinstance(value, (str, int, float, bool)):
            params[name] = str(value)
        else:
            params[name] = callspec.id
    return params


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[Any]
) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    state = item.config.stash[SESSION_KEY]
    link = state.links.get(item.nodeid)
    if link is None:
        return
    record = item.stash.get(EVIDENCE_KEY, None)
    if report.when == "call" and report.passed and record and record.failed_comparisons:
        # The check recorded a comparison that does not hold but did not assert: it fails.
        report.outcome = "failed"
        report.longrepr = "recorded comparisons do not hold:\n" + "\n".join(
            f"  {c.quantity}: expected {c.expected}, measured {c.measured} ({c.tolerance})"
            for c in record.failed_comparisons
        )
        phase_outcome = Outcome.FAILS
    else:
        phase_outcome = classify(report, call)
    example = falsifying_example(call)
    if example and record is None:
        # A check without the evidence fixture still shows Hypothesis' example in the report.
        record = item.stash[EVIDENCE_KEY] = Evidence()
    if record is not None and example:
        record.falsifying_example = example
    result = state.results.get(item.nodeid)
    if result is None:
        # Until its call phase reports, a check has not run (an interrupted run must not leave it
        # reading as holding).
        result = CheckResult(
            item.nodeid,
            link.claim_id,
            link.reading,
            _params(item),
            Outcome.SKIPPED,
            "the check did not reach its call phase",
        )
    decisive = (
        report.when == "call"
        or (report.when == "setup" and phase_outcome is not Outcome.HOLDS)
        or (report.when == "teardown" and phase_outcome is Outcome.CRASHED)
    )
    if decisive:
        result.outcome = phase_outcome
        result.message = failure_message(report, call) if phase_outcome is not Outcome.HOLDS else ""
        if report.longrepr and phase_outcome is Outcome.FAILS and not result.message:
            result.message = str(report.longrepr)[:2000]
    result.duration_s += report.duration
    result.evidence = record.as_dict() if record is not None else {}
    state.results[item.nodeid] = result
    report.claim_outcome = result.outcome.value  # type: ignore[attr-defined]


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    """A check that refutes its claim is evidence, not a test failure: show it as such."""
    if getattr(report, "claim_outcome", None) == Outcome.FAILS.value and report.when == "call":
        return "refuting", "R", "REFUTES CLAIM"
    return None


# -- verdicts, reports, exit status ------------------------------------------------------------
@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash[SESSION_KEY]
    if not state.active:
        return
    started = time.perf_counter()
    state.phase_s["checks"] = time.time() - state.started - state.phase_s.get("collection", 0.0)
    if not state.stop_errors:
        results = [r for r in state.results.values()]
        state.verdicts = decide_all(state.selected, results)
    claim_failures = sum(
        1 for r in state.results.values() if r.outcome in (Outcome.FAILS, Outcome.CRASHED)
    )
    state.other_failures = max(0, session.testsfailed - claim_failures)
    state.interrupted = exitstatus not in (0, 1)
    if not session.config.getoption("--no-reports"):
        from claimcheck.report.write import write_reports

        reports = state.option_path("--reports-dir", "claimcheck_reports_dir")
        if reports is not None:
            state.report_paths = write_reports(state, reports)
    state.phase_s["report"] = time.perf_counter() - started
    if state.stop_errors:
        return
    if not state.interrupted:
        ok = not problems(state)
        session.exitstatus = pytest.ExitCode.OK if ok else pytest.ExitCode.TESTS_FAILED


def problems(state: ClaimSession) -> list[str]:
    """Why the run must fail: verdicts that differ from `expect`, every ERROR, failures of
    tests not linked to a claim, and an interrupted run (the same list decides the exit status
    and the report's `ok`)."""
    out = []
    if state.interrupted and not state.stop_errors:
        out.append("the run was interrupted before every check ran")
    if state.other_failures:
        out.append(f"{state.other_failures} test(s) not linked to a claim failed")
    require_all = state.config.getoption("--require-all-run")
    for result in state.verdicts:
        verdict, expect = result.verdict, result.claim.expect
        if verdict is Verdict.ERROR:
            out.append(f"claim {result.claim.id!r}: ERROR — {result.explanation}")
        elif verdict is Verdict.NOT_RUN and not require_all and expect is not Verdict.NOT_RUN:
            continue
        elif verdict is not expect:
            out.append(
                f"claim {result.claim.id!r}: verdict changed: expected {expect.value}, "
                f"got {verdict.value} — {result.explanation}"
            )
    return out


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash[SESSION_KEY]
    if not state.active:
        return
    tr = terminalreporter
    tr.section("claim verdicts")
    if state.stop_errors:
        tr.write_line("run stopped before any check ran:", red=True)
        for error in state.stop_errors:
            tr.write_line(f"  {error}", red=True)
    counts: dict[str, int] = {}
    for result in state.verdicts:
        counts[result.verdict.value] = counts.get(result.verdict.value, 0) + 1
        marker = "" if result.matches_expect else f"   (expected {result.claim.expect.value})"
        tr.write_line(f"{result.verdict.value:<17} {result.claim.id}{marker}")
    if counts:
        tr.write_line("  ".join(f"{v}: {n}" for v, n in sorted(counts.items())), bold=True)
    for problem in problems(state):
        tr.write_line(problem, red=True)
    refuting = [r for r in state.results.values() if r.outcome is Outcome.FAILS]
    if refuting and config.getoption("verbose") > 0:
        tr.write_line("checks that refute their claim (evidence, not test failures):")
        for check in refuting:
            first = check.message.splitlines()[0] if check.message else ""
            tr.write_line(f"  R {check.nodeid}: {first[:160]}")
    not_run = [r.claim.id for r in state.verdicts if r.verdict is Verdict.NOT_RUN]
    if not_run and not config.getoption("--require-all-run"):
        tr.write_line(f"NOT RUN here (not counted as supported): {', '.join(not_run)}", yellow=True)
    if state.report_paths:
        tr.write_line(f"verdict report: {state.report_paths['html']}", bold=True)
