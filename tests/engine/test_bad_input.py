"""Bad input never reads as support: each case gives a clear error or an ERROR verdict, the
report is still written and says so, and a claim whose checks did not all run is never SUPPORTED.

These run whole (synthetic) projects through the plugin; the loader's own messages are tested in
test_loader.py.
"""

from __future__ import annotations

import html
import sys

import pytest
from markupsafe import escape

from tests.engine.conftest import ClaimsProject, claim_entry

GOOD_CHECK = """
    import pytest
    from pathlib import Path

    @pytest.mark.claim("good-claim")
    def test_good(evidence):
        Path("check-ran").write_text("yes")
        evidence.property_holds("one is one", 1 == 1, 1, "1")
"""

HEADER = 'section: "The Solution: Converting Scores to Probabilities"\nclaims:\n'
CLAIM = """  - id: bad-claim
    quote: q
    statement: s
    kind: math-property
    expect: SUPPORTED
    version: 1
    rationale: r
    scope: math
"""


def bomb() -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for level in "bcdefghi":
        text += f"{level}: &{level} [" + ",".join([f"*{chr(ord(level) - 1)}"] * 9) + "]\n"
    return HEADER + CLAIM + text


# (id, file content, words the stop error must contain)
BAD_FILES = [
    ("malformed-yaml", HEADER + "  - id: [unclosed\n", "malformed YAML"),
    ("anchor-bomb", bomb(), "aliases are not allowed"),
    (
        "python-object-tag",
        HEADER
        + CLAIM.replace(
            "statement: s", "statement: !!python/object/apply:os.system ['touch pwned']"
        ),
        "is not allowed",
    ),
    (
        "python-tag-on-a-mapping",
        HEADER + CLAIM + "    claimed: !!python/object:os.stat_result {}\n",
        "is not allowed",
    ),
    (
        "not-utf8",
        (HEADER + CLAIM).encode().replace(b"quote: q", b"quote: \xff\xfe"),
        "not valid UTF-8",
    ),
    ("very-large-file", HEADER + CLAIM + "# " + "x" * 1_100_000 + "\n", "limited to"),
    ("duplicate-key", HEADER + CLAIM + "    quote: again\n", "duplicate key 'quote'"),
    (
        "wrong-type-version",
        HEADER + CLAIM.replace("version: 1", "version: one"),
        "is not of type 'integer'",
    ),
    ("wrong-type-claims", HEADER + "  id: not-a-list\n", "is not of type 'array'"),
    (
        "date-in-claimed",
        HEADER + CLAIM + "    claimed: {when: 2024-01-01}\n",
        "date values are not allowed",
    ),
    (
        "unknown-verdict",
        HEADER + CLAIM.replace("expect: SUPPORTED", "expect: PROBABLY"),
        "'PROBABLY' is not one of",
    ),
]


def assert_nothing_reads_as_supported(data: dict) -> None:
    """A SUPPORTED claim must have checks, and every one of them must have run and held."""
    for claim in data["claims"]:
        if claim["verdict"] == "SUPPORTED":
            outcomes = {c["outcome"] for c in claim["checks"]}
            assert outcomes == {"holds"}, (claim["id"], outcomes)


def assert_stopped_with_report(
    project: ClaimsProject,
    result: pytest.RunResult,
    words: str,
    exit_code: pytest.ExitCode = pytest.ExitCode.USAGE_ERROR,
) -> None:
    """The run failed before any check, and verdict.json and verdict.html say why."""
    assert result.ret == exit_code
    assert not (project.root / "check-ran").exists(), "a check ran from a half-valid claim set"
    data = project.report()
    assert data["claims"] == [] and not data["summary"]["ok"]
    assert any(words in e for e in data["summary"]["stop_errors"]), data["summary"]
    page = project.html()
    assert "The run stopped before any check ran" in page
    assert words in html.unescape(page)


@pytest.mark.parametrize(("content", "words"), [pytest.param(*c[1:], id=c[0]) for c in BAD_FILES])
def test_bad_claim_file_stops_the_run_and_the_report_says_why(claims_project, content, words):
    claims_project.claims(claim_entry("good-claim"), file="good.yaml")
    claims_project.raw_claims(content, file="bad.yaml")
    claims_project.checks(GOOD_CHECK)
    result = claims_project.run()
    assert_stopped_with_report(claims_project, result, words)
    assert "bad.yaml" in result.stderr.str()
    assert not (claims_project.root / "pwned").exists()


def test_non_finite_numbers_in_claimed_reach_the_report(claims_project):
    """.nan and .inf are valid YAML floats (an article may print NaN); JSON takes them as text."""
    claims_project.raw_claims(
        HEADER
        + CLAIM.replace("bad-claim", "good-claim")
        + "    claimed: {naive_output: .nan, overflow: .inf}\n"
    )
    claims_project.checks(GOOD_CHECK)
    assert claims_project.run().ret == 0
    assert claims_project.report()["claims"][0]["claimed"] == {
        "naive_output": "nan",
        "overflow": "inf",
    }


def test_quote_holding_html_and_script_shows_as_text(claims_project):
    attack = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>"
    claims_project.claims(
        claim_entry(
            "good-claim",
            quote=attack,
            statement=attack,
            notes=attack,
            readings=[{"id": "r", "text": attack}],
        )
    )
    claims_project.checks(
        GOOD_CHECK.replace('"good-claim"', '"good-claim", reading="r"').replace(
            "evidence.property_holds", f"evidence.note({attack!r})\n        evidence.property_holds"
        )
    )
    assert claims_project.run().ret == 0
    page = claims_project.html()
    assert "<script" not in page and "<img" not in page
    assert str(escape(attack)) in page


def test_unknown_implementation_id_in_parameters_is_named_and_stops_the_run(claims_project):
    claims_project.claims(claim_entry("good-claim"), claim_entry("impl-claim"))
    claims_project.checks(GOOD_CHECK)
    claims_project.checks(
        """
        import pytest

        @pytest.mark.claim("impl-claim")
        @pytest.mark.cases(ids=["no-such-impl"])
        def test_impl(case):
            pass
        """,
        name="test_impl",
    )
    result = claims_project.run()
    result.stdout.fnmatch_lines(["*unknown implementation 'no-such-impl'*"])
    # pytest itself ends the run: "Interrupted: 1 error during collection".
    assert_stopped_with_report(claims_project, result, "test_impl.py", pytest.ExitCode.INTERRUPTED)


CRASHES = {
    "value-error": "raise ValueError('not an assertion')",
    "unknown-implementation-in-body": (
        "from impl.registry import Registry; Registry.builtin().get('no-such-impl')"
    ),
    "memory-error-from-allocator": "import numpy; numpy.ones(2**55)",
    "memory-limit-in-subprocess": (
        "import subprocess, sys; subprocess.run([sys.executable, '-c', "
        "'import resource; resource.setrlimit(resource.RLIMIT_AS, (2**28, 2**28)); "
        "x = bytearray(2**30)'], check=True, capture_output=True)"
    ),
}
CRASH_MESSAGES = {
    "value-error": "ValueError: not an assertion",
    "unknown-implementation-in-body": "unknown implementation 'no-such-impl'",
    "memory-error-from-allocator": "MemoryError",
    "memory-limit-in-subprocess": "CalledProcessError",
}


@pytest.mark.parametrize("kind", list(CRASHES))
def test_crashing_check_is_error_and_the_run_goes_on(claims_project, kind):
    if kind == "memory-limit-in-subprocess" and sys.platform != "linux":
        pytest.skip("RLIMIT_AS is enforced on Linux only")
    claims_project.claims(claim_entry("good-claim"), claim_entry("crash-claim"))
    claims_project.checks(
        GOOD_CHECK
        + f"""
    @pytest.mark.claim("crash-claim")
    def test_holds_first(evidence):
        evidence.property_holds("fine", True, 1, "1")

    @pytest.mark.claim("crash-claim")
    def test_crashes():
        {CRASHES[kind]}

    @pytest.mark.claim("crash-claim")
    def test_after_the_crash():
        Path("after-crash-ran").write_text("yes")
    """
    )
    result = claims_project.run()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert (claims_project.root / "after-crash-ran").exists(), "the run stopped at the crash"
    data = claims_project.report()
    assert claims_project.verdicts() == {"good-claim": "SUPPORTED", "crash-claim": "ERROR"}
    crashed = [c for c in data["claims"][1]["checks"] if c["outcome"] == "crashed"]
    assert [c["nodeid"] for c in crashed] == ["test_checks.py::test_crashes"]
    assert CRASH_MESSAGES[kind] in crashed[0]["message"]
    assert any("crash-claim" in p and "ERROR" in p for p in data["summary"]["problems"])
    page = html.unescape(claims_project.html())
    assert "This run fails" in page and CRASH_MESSAGES[kind] in page
    assert_nothing_reads_as_supported(data)


def test_hanging_check_times_out_as_error_and_the_run_goes_on(claims_project):
    """pytest-timeout's signal method fails just the hanging check (the thread method would end
    the whole run, and no report would be written). A subprocess keeps the alarm off this run."""
    claims_project.claims(claim_entry("good-claim"), claim_entry("hang-claim"))
    claims_project.checks(
        GOOD_CHECK
        + """
    import time

    @pytest.mark.claim("hang-claim")
    @pytest.mark.timeout(0.5, method="signal")
    def test_hangs():
        time.sleep(60)

    @pytest.mark.claim("hang-claim")
    def test_after_the_hang():
        Path("after-hang-ran").write_text("yes")
    """
    )
    result = claims_project.run_subprocess()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert (claims_project.root / "after-hang-ran").exists(), "the run stopped at the hang"
    data = claims_project.report()
    assert claims_project.verdicts() == {"good-claim": "SUPPORTED", "hang-claim": "ERROR"}
    hung = {c["nodeid"]: c for c in data["claims"][1]["checks"]}["test_checks.py::test_hangs"]
    assert hung["outcome"] == "crashed" and "Timeout" in hung["message"]
    assert "Timeout" in html.unescape(claims_project.html())
    assert_nothing_reads_as_supported(data)
