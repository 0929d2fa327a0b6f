"""Exit statuses and linking: the run fails exactly when it must, before any check if it must."""

from __future__ import annotations

import json

import pytest

from tests.engine.synthetic import claim_yaml, make_project, report, verdicts

HOLDS = """
import pytest

@pytest.mark.claim("a")
def test_a(evidence):
    evidence.property_holds("one is one", 1 == 1, 1, "1")
"""

REFUTES = """
import pytest

@pytest.mark.claim("a")
def test_a(evidence):
    evidence.printed_value("x", 0.28, 0.377, 0.005, "2 decimals", decimals=2)
"""


def test_supported_as_expected_exits_0(pytester):
    make_project(pytester, [claim_yaml("a")], HOLDS)
    result = pytester.runpytest_inprocess()
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*SUPPORTED*a*", "*verdict report:*verdict.html*"])


def test_refuted_as_expected_exits_0(pytester):
    project = make_project(pytester, [claim_yaml("a", expect="REFUTED")], REFUTES)
    result = pytester.runpytest_inprocess()
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*1 refuting*"])
    data = report(project)
    assert data["errata"][0]["correct_printed"] == "0.38"


def test_verdict_differing_from_expect_fails_naming_the_claim(pytester):
    make_project(pytester, [claim_yaml("a", expect="REFUTED")], HOLDS)
    result = pytester.runpytest_inprocess()
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*claim 'a': verdict changed: expected REFUTED, got SUPPORTED*"])


def test_crash_is_error_and_fails_the_run(pytester):
    project = make_project(
        pytester,
        [claim_yaml("a")],
        """
        import pytest

        @pytest.mark.claim("a")
        def test_a(evidence):
            raise KeyError("harness bug")
    """,
    )
    result = pytester.runpytest_inprocess()
    assert result.ret == 1
    assert verdicts(project)["a"]["verdict"] == "ERROR"
    result.stdout.fnmatch_lines(["*claim 'a': ERROR*"])


def test_crash_in_fixture_setup_is_error(pytester):
    project = make_project(
        pytester,
        [claim_yaml("a")],
        """
        import pytest

        @pytest.fixture
        def broken():
            raise RuntimeError("setup failed")

        @pytest.mark.claim("a")
        def test_a(broken):
            pass
    """,
    )
    assert pytester.runpytest_inprocess().ret == 1
    assert verdicts(project)["a"]["verdict"] == "ERROR"


def test_recorded_comparison_that_fails_fails_the_check_without_assert(pytester):
    project = make_project(pytester, [claim_yaml("a", expect="REFUTED")], REFUTES)
    assert pytester.runpytest_inprocess().ret == 0
    check = verdicts(project)["a"]["checks"][0]
    assert check["outcome"] == "fails" and "recorded comparisons do not hold" in check["message"]


def test_all_skipped_is_not_run_and_never_supported(pytester):
    project = make_project(
        pytester,
        [claim_yaml("a")],
        """
        import pytest

        @pytest.mark.claim("a")
        def test_a():
            pytest.skip("no CUDA device")
    """,
    )
    assert pytester.runpytest_inprocess().ret == 0
    claim = verdicts(project)["a"]
    assert claim["verdict"] == "NOT RUN" and "no CUDA device" in claim["finding"]
    assert pytester.runpytest_inprocess("--require-all-run").ret == 1


@pytest.mark.parametrize(
    ("claims", "checks", "message"),
    [
        (
            [claim_yaml("a")],
            HOLDS.replace('claim("a")', 'claim("zzz")'),
            "*names unknown claim 'zzz'*",
        ),
        ([claim_yaml("a"), claim_yaml("b")], HOLDS, "*claim 'b' has no check*"),
        (
            [claim_yaml("a", extra="readings:\n  - {id: r1, text: t}\n  - {id: r2, text: t}\n")],
            HOLDS.replace('claim("a")', 'claim("a", reading="r1")'),
            "*reading 'r2' of claim 'a' has no check*",
        ),
        (
            [claim_yaml("a", extra="readings:\n  - {id: r1, text: t}\n")],
            HOLDS,
            "*claim 'a' has readings (r1); name one with reading=...*",
        ),
        (
            [claim_yaml("a")],
            HOLDS.replace('claim("a")', 'claim("a", reading="nope")'),
            "*claim 'a' has no reading 'nope'*",
        ),
        (
            [
                claim_yaml("a"),
                claim_yaml(
                    "n", kind="not-checkable", expect="NOT CHECKABLE", extra="reason: opinion\n"
                ),
            ],
            HOLDS + HOLDS.replace('claim("a")', 'claim("n")').replace("test_a", "test_n"),
            "*claim 'n' is not checkable, yet a check names it*",
        ),
        ([claim_yaml("a", kind="bogus")], HOLDS, "*section.yaml:6: field 'claims?0?.kind'*"),
    ],
    ids=[
        "unknown-claim",
        "claim-without-check",
        "reading-without-check",
        "reading-not-named",
        "unknown-reading",
        "check-on-not-checkable",
        "invalid-claim-file",
    ],
)
def test_linking_errors_stop_the_run_before_any_check(pytester, claims, checks, message):
    marker = pytester.path / "ran"
    checks = checks + f"\n\ndef test_sentinel():\n    open({str(marker)!r}, 'w').close()\n"
    project = make_project(pytester, claims, checks)
    result = pytester.runpytest_inprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert not marker.exists(), "a check ran although the run had to stop"
    data = report(project)
    assert data["summary"]["stop_errors"] and data["claims"] == []
    assert (
        "The run stopped before any check ran" in (project / "reports" / "verdict.html").read_text()
    )


def test_ordinary_tests_without_claims_are_untouched(pytester):
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest_inprocess()
    assert result.ret == 0
    assert not (pytester.path / "reports" / "verdict.json").exists()


def test_ordinary_test_failure_still_fails_the_run(pytester):
    project = make_project(
        pytester, [claim_yaml("a")], HOLDS + "\n\ndef test_plain():\n    assert False\n"
    )
    assert pytester.runpytest_inprocess().ret == 1
    summary = report(project)["summary"]
    assert not summary["ok"] and "1 test(s) not linked to a claim failed" in summary["problems"]


def test_interrupted_run_is_not_ok_and_nothing_reads_supported(pytester):
    project = make_project(
        pytester,
        [claim_yaml("a"), claim_yaml("b")],
        HOLDS
        + "\n\n@pytest.mark.claim('b')\ndef test_b():\n    pytest.exit('stop', returncode=2)\n",
    )
    assert pytester.runpytest_inprocess().ret == 2
    data = report(project)
    assert not data["summary"]["ok"]
    assert {c["id"]: c["verdict"] for c in data["claims"]}["b"] == "NOT RUN"


def test_claim_option_runs_one_claim(pytester):
    project = make_project(
        pytester,
        [claim_yaml("a"), claim_yaml("b")],
        HOLDS + HOLDS.replace('claim("a")', 'claim("b")').replace("test_a", "test_b"),
    )
    result = pytester.runpytest_inprocess("--claim", "b")
    assert result.ret == 0
    assert list(verdicts(project)) == ["b"]
    assert pytester.runpytest_inprocess("--claim", "nope").ret == pytest.ExitCode.USAGE_ERROR


def test_keyword_selection_reports_only_selected_claims(pytester):
    project = make_project(
        pytester,
        [claim_yaml("a"), claim_yaml("b")],
        HOLDS + HOLDS.replace('claim("a")', 'claim("b")').replace("test_a", "test_b"),
    )
    assert pytester.runpytest_inprocess("-k", "test_b").ret == 0
    assert list(verdicts(project)) == ["b"]


def test_hypothesis_failing_example_is_captured(pytester):
    project = make_project(
        pytester,
        [claim_yaml("a", expect="REFUTED")],
        """
        import pytest
        from hypothesis import given, settings, strategies as st

        @pytest.mark.claim("a")
        def test_a(evidence):
            @settings(derandomize=True, database=None)
            @given(st.integers(0, 100))
            def below_ten(x):
                assert x < 10

            below_ten()
    """,
    )
    assert pytester.runpytest_inprocess().ret == 0
    example = verdicts(project)["a"]["checks"][0]["evidence"]["falsifying_example"]
    assert example is not None and "x=10" in example


def test_import_error_in_a_check_module_is_named_not_hidden(pytester):
    project = make_project(pytester, [claim_yaml("a")], "import no_such_module\n" + HOLDS)
    result = pytester.runpytest_inprocess()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*could not collect test_checks.py*"])
    assert "has no check" not in result.stdout.str() + result.stderr.str()
    assert report(project)["summary"]["stop_errors"]


def test_a_killed_run_leaves_no_old_report_reading_as_current(pytester):
    project = make_project(
        pytester,
        [claim_yaml("a"), claim_yaml("b")],
        HOLDS
        + "\n\n@pytest.mark.claim('b')\ndef test_b():\n"
        # a kill from outside (the real os._exit: a check's own call would be stopped)
        + "    from softmax_claimcheck.claimcheck.process_guard import REAL\n"
        + "    REAL['_exit'](9)\n",
    )
    reports = project / "reports"
    reports.mkdir()
    (reports / "verdict.html").write_text("an older run", encoding="utf-8")
    (reports / "junit.xml").write_text("<old/>", encoding="utf-8")
    result = pytester.runpytest_subprocess("-p", "no:html")
    assert result.ret == 9
    # What is left says a run started and did not finish; the older logs are gone.
    page = (reports / "verdict.html").read_text(encoding="utf-8")
    assert "an older run" not in page and "has not finished" in page
    data = json.loads((reports / "verdict.json").read_text(encoding="utf-8"))
    assert data["summary"]["ok"] is False and data["summary"]["finished"] is False
    assert not (reports / "junit.xml").exists()


def test_an_ordinary_test_run_keeps_the_last_report(pytester):
    make_project(pytester, [claim_yaml("a")], HOLDS)
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    (pytester.path / "reports").mkdir()
    (pytester.path / "reports" / "verdict.html").write_text("last verify", encoding="utf-8")
    assert pytester.runpytest_inprocess("test_plain.py").ret == 0
    assert (pytester.path / "reports" / "verdict.html").read_text(encoding="utf-8") == "last verify"
