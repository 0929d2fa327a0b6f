"""One claims run: the object that owns everything the plugin learns during a pytest session.

`ClaimRun` is registered as a pytest plugin (pytest-html's and pytest-benchmark's habit) only in
a run that opted in (claimcheck/plugin.py). It loads the claims, links checks to them, records
each check's outcome and evidence, decides the verdicts once, and writes the reports.

A check's result travels on its pytest report (`report.claimcheck`, a plain dict), and is
gathered in `pytest_runtest_logreport`: in a serial run and on pytest-xdist's controller alike.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from softmax_claimcheck.claimcheck import parallel, process_guard
from softmax_claimcheck.claimcheck.errors import ClaimErrors
from softmax_claimcheck.claimcheck.evidence import Evidence
from softmax_claimcheck.claimcheck.linking import Link, link_errors, link_of, selected_claims
from softmax_claimcheck.claimcheck.loader import load_claims
from softmax_claimcheck.claimcheck.model import Claim, Verdict
from softmax_claimcheck.claimcheck.outcomes import classify, failure_message, falsifying_example
from softmax_claimcheck.claimcheck.verdicts import (
    CheckResult,
    ClaimResult,
    NotRunCause,
    Outcome,
    decide_all,
)

EVIDENCE_KEY = pytest.StashKey[Evidence]()
RESULT_ATTRIBUTE = "claimcheck"  # the check result a TestReport carries (JSON-ready for xdist)


class ClaimRun:
    """Everything one claims run knows, and what it does at each step of the pytest session."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.claims: dict[str, Claim] = {}
        self.links: dict[str, Link] = {}
        self.results: dict[str, CheckResult] = {}
        self.selected: list[Claim] = []
        self.stop_errors: list[str] = []
        self.verdicts: list[ClaimResult] = []
        self.problems: list[str] = []
        self.started = time.time()
        self.phase_s: dict[str, float] = {}
        self.report_paths: dict[str, Path] = {}
        self.collection_errors: list[str] = []
        self.other_failures = 0
        self.interrupted: str | None = None  # why the run ended early, if it did
        self.parallel = parallel.Controller(self) if parallel.is_controller(config) else None
        self.previous: dict[str, Any] | None = None  # --compare-with, read at configure time
        self.session: pytest.Session | None = None
        self.guard = process_guard.Guard()
        self.log_problems: list[str] = []  # logs that could not be written, one line each
        self.collected = False  # every plugin accepted the selection (--claim, -k, -m)

    # -- configuration ------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """True once checks that name claims were collected (or the run was asked for claims)."""
        return bool(self.links) or bool(self.stop_errors)

    def option_path(self, option: str, ini: str) -> Path | None:
        """A relative path is read as its writer meant it: on the command line, from where the
        user stands; in the ini file, from the ini file's folder (--rootdir moves neither)."""
        value = self.config.getoption(option)
        base = Path(self.config.invocation_params.dir)
        if not value:
            value = self.config.getini(ini)
            inipath = self.config.inipath
            base = Path(inipath).parent if inipath else Path(self.config.rootpath)
        if not value:
            return None
        path = Path(value)
        return path if path.is_absolute() else Path(base, path)

    @property
    def reports_dir(self) -> Path | None:
        if self.config.getoption("--no-reports"):
            return None
        return self.option_path("--reports-dir", "claimcheck_reports_dir")

    @property
    def claims_dir(self) -> Path | None:
        return self.option_path("--claims-dir", "claimcheck_claims_dir")

    def claim(self, claim_id: str) -> Claim:
        return self.claims[claim_id]

    # -- what implementations plugins tell the run (claimcheck/hookspecs.py) ------------------
    def scope_members(self, scope: str | None) -> frozenset[str] | None:
        if scope is None:
            return None
        members: frozenset[str] | None = self.config.hook.pytest_claimcheck_scope_members(
            config=self.config, scope=scope
        )
        return members

    def scope_known(self, scope: str) -> bool:
        known = self.config.hook.pytest_claimcheck_scope_known(config=self.config, scope=scope)
        return True if known is None else bool(known)

    @property
    def profile(self) -> str:
        """The Hypothesis settings profile the checks ran under (recorded in the report)."""
        from hypothesis import settings

        return str(settings.get_current_profile_name())

    # -- collection: load claims, validate links ----------------------------------------------
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            last = (str(report.longrepr).strip().splitlines() or ["?"])[-1]
            cause = last.removeprefix("E").strip()
            self.collection_errors.append(f"{report.nodeid or '<rootdir>'}: {cause}")

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        started = time.perf_counter()
        links = {}
        for item in items:
            link = link_of(item)
            if link is not None:
                links[item.nodeid] = link
                item.user_properties.append(("claim", link.claim_id))
        broken_checks = bool(self.collection_errors) and self.claims_dir is not None
        if not links and not config.getoption("--claim") and not broken_checks:
            return  # no claim checks collected: an ordinary test run
        self.links = links
        if self.collection_errors:
            # Links cannot be judged when check modules failed to import: report that (pytest then
            # stops with "errors during collection"), not a list of claims "without a check".
            self.stop_errors = [f"could not collect {entry}" for entry in self.collection_errors]
            return
        claims_dir = self.claims_dir
        if claims_dir is None:
            self._stop(
                [
                    "checks name claims, but no claims directory is configured "
                    "(--claims-dir or ini claimcheck_claims_dir)"
                ],
                "",
            )
        try:
            self.claims = load_claims(claims_dir)  # type: ignore[arg-type]
        except ClaimErrors as exc:
            self._stop([str(e) for e in exc.errors], "invalid claim files; no check was run:")
        errors = link_errors(self.claims, links, self.scope_known)
        if errors:
            self._stop(errors, "claims and checks do not match; no check was run:")
        try:
            self.selected = selected_claims(self.claims.values(), config.getoption("--claim"))
        except pytest.UsageError:
            # A usage error (like a bad -k or --compare-with): nothing ran, nothing is written,
            # and the last report stays as it is.
            self.links = {}
            raise
        if config.getoption("--claim"):
            wanted = {c.id for c in self.selected}
            keep = [i for i in items if i.nodeid in links and links[i.nodeid].claim_id in wanted]
            dropped = [i for i in items if i not in keep]
            if dropped:
                config.hook.pytest_deselected(items=dropped)
            items[:] = keep
        self.phase_s["link"] = time.perf_counter() - started

    def _stop(self, errors: list[str], headline: str) -> None:
        self.stop_errors = errors
        message = "\n  ".join([headline, *errors]) if headline else errors[0]
        raise pytest.UsageError(message)

    # (pytest reads only hook implementations whose names start with "pytest_")
    @pytest.hookimpl(wrapper=True, specname="pytest_collection_modifyitems")
    def pytest_collection_modifyitems_accepted(self) -> Generator[None, None, None]:
        """Every plugin's selection (--claim, -k, -m) was accepted: pytest calls
        pytest_collection_finish even after one raised a usage error."""
        try:
            yield
        except BaseException:
            from softmax_claimcheck.claimcheck import logs

            logs.drop(self.config)  # a usage error: the last run's logs stay with its report
            raise
        self.collected = True

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self) -> Generator[None, None, object]:
        try:
            return (yield)
        finally:
            if self.active and not parallel.is_worker(self.config):
                from softmax_claimcheck.claimcheck import logs

                self.log_problems = logs.unwritable(self.config)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        reports = self.reports_dir
        config = session.config
        if (
            self.collected
            and self.links
            and not self.stop_errors
            and reports is not None
            and not parallel.is_worker(config)
            and not config.option.collectonly
        ):
            # Only now, when the command line has been accepted (--claim, -k, -m) and checks are
            # about to run: the last report gives way to one that says a run is in progress.
            from softmax_claimcheck.claimcheck.report.write import mark_started

            mark_started(reports, config.rootpath, self.profile)
        if self.links and not self.stop_errors:
            # -k / -m may have deselected checks: a claim is reported only if a check of it
            # remains. Every remaining check is "not executed" until its call phase reports.
            remaining = {}
            for item in session.items:
                link = self.links.get(item.nodeid)
                if link is not None:
                    remaining[item.nodeid] = link
                    self.results[item.nodeid] = CheckResult(
                        item.nodeid,
                        link.claim_id,
                        link.reading,
                        _params(item),
                        Outcome.NOT_EXECUTED,
                        "the run stopped before this check ran",
                        **_subject(item),
                    )
            claim_ids = {link.claim_id for link in remaining.values()}
            filtered = bool(session.config.getoption("-k") or session.config.getoption("-m"))
            self.selected = [
                c for c in self.selected if c.id in claim_ids or (not c.checkable and not filtered)
            ]
        if parallel.is_worker(self.config):
            parallel.write_worker_links(self)
        self.phase_s["collection"] = time.time() - self.started

    # -- evidence and outcomes ----------------------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_collection(self) -> Generator[None, object, object]:
        with self.guard.on():  # a check module that ends the process on import
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, object, object]:
        with self.guard.on():  # a check, a fixture, or code they call, ending the process
            return (yield)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[Any]
    ) -> Generator[None, Any, None]:
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        if item.nodeid not in self.links:
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
        if phase_outcome is Outcome.HOLDS and record is not None and record.inconclusive:
            phase_outcome = Outcome.INCONCLUSIVE
        example = falsifying_example(call)
        if example and record is None:
            # A check without the evidence fixture still shows Hypothesis' example in the report.
            record = item.stash[EVIDENCE_KEY] = Evidence()
        if record is not None and example:
            record.falsifying_example = example
        decisive = (
            report.when == "call"
            or (report.when == "setup" and phase_outcome is not Outcome.HOLDS)
            or (report.when == "teardown" and phase_outcome is Outcome.CRASHED)
        )
        link = self.links[item.nodeid]
        data: dict[str, Any] = {
            "duration_s": report.duration,
            "claim_id": link.claim_id,
            "reading": link.reading,
            "params": _params(item),
            "subject": _subject(item),
        }
        if decisive:
            message = ""
            if phase_outcome is Outcome.INCONCLUSIVE and record is not None:
                message = "; ".join(c.tolerance for c in record.inconclusive)
            elif phase_outcome is not Outcome.HOLDS:
                message = failure_message(report, call)
                if report.longrepr and phase_outcome is Outcome.FAILS and not message:
                    message = str(report.longrepr)[:2000]
            data.update(outcome=phase_outcome.value, message=message)
        if record is not None:
            data["evidence"] = record.as_dict()
        setattr(report, RESULT_ATTRIBUTE, data)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, RESULT_ATTRIBUTE, None)
        if data is None:
            return
        result = self.results.get(report.nodeid)
        if result is None:  # on pytest-xdist's controller: the worker's links file may be late
            result = self.results[report.nodeid] = CheckResult(
                report.nodeid,
                data["claim_id"],
                data["reading"],
                data["params"],
                Outcome.NOT_EXECUTED,
                "the run stopped before this check ran",
                **data["subject"],
            )
        if "outcome" in data:
            result.outcome = Outcome(data["outcome"])
            result.message = data["message"]
        if "evidence" in data:
            result.evidence = data["evidence"]
        result.duration_s += data["duration_s"]

    def pytest_report_teststatus(self, report: pytest.TestReport) -> Any:
        """A check that refutes its claim is evidence, not a test failure: show it as such."""
        data = getattr(report, RESULT_ATTRIBUTE, None)
        if not data or report.when != "call":
            return None
        if data.get("outcome") == Outcome.FAILS.value:
            return "refuting", "R", "REFUTES CLAIM"
        if data.get("outcome") == Outcome.INCONCLUSIVE.value:
            return "inconclusive", "I", "INCONCLUSIVE"
        return None

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session

    def on_hard_stop(self, stop: Any) -> None:
        """A check's call would not return (claimcheck/hard_timeout.py): the process is about to
        end, so decide and write now, with every unfinished check NOT RUN and the run failed."""
        if parallel.is_worker(self.config) or not self.active or self.session is None:
            return
        self.interrupted = f"was ended: {stop.message}"
        self.pytest_sessionfinish(self.session, pytest.ExitCode.INTERRUPTED)

    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        cause = str(excinfo.value).strip() or "Ctrl-C"
        self.interrupted = f"was interrupted ({cause}) before every check ran"

    # -- verdicts, reports, exit status -------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if parallel.is_worker(self.config):
            return  # the controller decides and writes, from every worker's results
        if self.config.option.collectonly:
            return  # nothing was checked: no verdict, and the last report stays as it is
        if self.parallel is not None:
            self.parallel.gather(self)
        if not self.active:
            return
        if not self.collected and not self.stop_errors and self.parallel is None:
            return  # a usage error during collection (-k, -m): the last report stays
        started = time.perf_counter()
        self.phase_s["checks"] = time.time() - self.started - self.phase_s.get("collection", 0.0)
        if session.shouldstop and not self.interrupted:
            self.interrupted = f"stopped early ({session.shouldstop})"
        elif session.shouldfail and not self.interrupted:
            self.interrupted = f"stopped early ({session.shouldfail})"
        elif exitstatus not in (0, 1) and not self.interrupted and not self.stop_errors:
            self.interrupted = f"ended with pytest exit status {int(exitstatus)}"
        if not self.stop_errors:
            self.verdicts = decide_all(
                self.selected, list(self.results.values()), self.scope_members
            )
        claim_failures = sum(
            1 for r in self.results.values() if r.outcome in (Outcome.FAILS, Outcome.CRASHED)
        )
        self.other_failures = max(0, session.testsfailed - claim_failures)
        self.problems = self._problems()
        reports = self.reports_dir
        if reports is not None:
            from softmax_claimcheck.claimcheck.report.write import write_reports

            try:
                self.report_paths = write_reports(self, reports)
            except OSError as exc:  # a full disk, a folder removed meanwhile: the old files stay
                self.problems.append(
                    f"the reports could not be written to {reports} ({exc.strerror or exc}); "
                    "the previous files there are unchanged"
                )
        self.phase_s["report"] = time.perf_counter() - started
        if self.stop_errors:
            return
        if exitstatus in (0, 1):
            ok = not self.problems
            session.exitstatus = pytest.ExitCode.OK if ok else pytest.ExitCode.TESTS_FAILED

    def _problems(self) -> list[str]:
        """Why the run must fail: verdicts that differ from `expect`, every ERROR, a NOT RUN the
        selection meant to run, failures of tests not linked to a claim, a run that stopped."""
        if self.stop_errors:
            return []
        out = []
        if self.interrupted:
            out.append(f"the run {self.interrupted}; every claim with an unrun check is NOT RUN")
        out += self.log_problems
        out += [f"a check's thread tried to end the process: {a}" for a in self.guard.attempts]
        if self.other_failures:
            out.append(f"{self.other_failures} test(s) not linked to a claim failed")
        require_all = self.config.getoption("--require-all-run")
        for result in self.verdicts:
            verdict, expect = result.verdict, result.claim.expect
            if verdict is Verdict.ERROR:
                out.append(f"claim {result.claim.id!r}: ERROR — {result.explanation}")
            elif verdict is Verdict.NOT_RUN and result.not_run_cause is NotRunCause.STOPPED:
                out.append(f"claim {result.claim.id!r}: NOT RUN — {result.explanation}")
            elif verdict is Verdict.NOT_RUN and not require_all and expect is not Verdict.NOT_RUN:
                continue
            elif verdict is not expect:
                out.append(
                    f"claim {result.claim.id!r}: verdict changed: expected {expect.value}, "
                    f"got {verdict.value} — {result.explanation}"
                )
        return out

    @property
    def ok(self) -> bool:
        return not self.stop_errors and not self.problems

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.active or parallel.is_worker(self.config) or self.config.option.collectonly:
            return
        tr = terminalreporter
        tr.section("claim verdicts")
        if self.stop_errors:
            tr.write_line("run stopped before any check ran:", red=True)
            for error in self.stop_errors:
                tr.write_line(f"  {error}", red=True)
        counts: dict[str, int] = {}
        for result in self.verdicts:
            counts[result.verdict.value] = counts.get(result.verdict.value, 0) + 1
            marker = "" if result.matches_expect else f"   (expected {result.claim.expect.value})"
            tr.write_line(f"{result.verdict.value:<17} {result.claim.id}{marker}")
        refuting = [r for r in self.results.values() if r.outcome is Outcome.FAILS]
        if refuting and self.config.getoption("verbose") > 0:
            tr.write_line("checks that refute their claim (evidence, not test failures):")
            for check in refuting:
                first = check.message.splitlines()[0] if check.message else ""
                tr.write_line(f"  R {check.nodeid}: {first[:160]}")
        not_run = [
            r.claim.id
            for r in self.verdicts
            if r.verdict is Verdict.NOT_RUN and r.not_run_cause is not NotRunCause.STOPPED
        ]
        if not_run and not self.config.getoption("--require-all-run"):
            tr.write_line(
                f"NOT RUN here (not counted as supported): {', '.join(not_run)}", yellow=True
            )
        if counts:
            tr.write_line("  ".join(f"{v}: {n}" for v, n in sorted(counts.items())), bold=True)
        # The reasons a run fails come last, where a reader of the terminal looks first.
        for problem in self.problems:
            tr.write_line(problem, red=True)
        if self.report_paths:
            tr.write_line(f"verdict report: {self.report_paths['html']}", bold=True)
        if self.verdicts or self.stop_errors:
            verdict_line = "claims: OK" if self.ok else "claims: FAILED (see above)"
            tr.write_line(verdict_line, green=self.ok, red=not self.ok, bold=True)


def _subjects(item: pytest.Item) -> dict[str, Any]:
    """Each parameter whose value a plugin describes (claimcheck/hookspecs.py), by name."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return {}
    found = {}
    for name, value in callspec.params.items():
        subject = item.config.hook.pytest_claimcheck_check_subject(
            config=item.config, name=name, value=value
        )
        if subject is not None:
            found[name] = subject
    return found


def _subject(item: pytest.Item) -> dict[str, Any]:
    """The implementation a check ran on and its precision (JSON-ready, for xdist)."""
    subject = next(iter(_subjects(item).values()), None)
    if subject is None:
        return {"implementation": None, "precision_bits": None}
    return {"implementation": subject.implementation, "precision_bits": subject.precision_bits}


def _params(item: pytest.Item) -> dict[str, str]:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return {}
    subjects = _subjects(item)
    params: dict[str, str] = {}
    for name, value in callspec.params.items():
        if name in subjects:
            params.update(subjects[name].labels)
        elif isinstance(value, (str, int, float, bool)):
            params[name] = str(value)
        else:
            params[name] = callspec.id
    return params
