"""The verdict report: escaped, self-contained, readable without JavaScript, schema-valid JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema

from tests.engine.synthetic import claim_yaml, make_project, report

SCHEMA = Path(__file__).resolve().parents[2] / "claimcheck" / "verdict.schema.json"

CHECKS = """
import math
import pytest
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

@pytest.mark.claim("evil")
def test_evil(evidence):
    evidence.record_inputs(payload="<img src=x onerror=alert(1)>")
    evidence.note("</td><script>alert('note')</script>")
    evidence.property_holds("<b>bold?</b>", True, "<i>measured</i>", "yes")

@pytest.mark.claim("numbers")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numbers(evidence, dtype):
    evidence.printed_value("p[0]", 0.28, 0.3770718918, 0.005, "2 decimals", decimals=2)
    evidence.close_to("overflow", 1.0, float("nan"), 1e-6, dtype)
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    evidence.figure(fig, "a line")
"""

EVIL_QUOTE = "<script>alert('quote')</script> & \"quoted\""


def run(pytester, *args, reports="reports"):
    project = make_project(
        pytester,
        [claim_yaml("evil", quote=EVIL_QUOTE), claim_yaml("numbers", expect="REFUTED")],
        CHECKS,
    )
    result = pytester.runpytest_inprocess(*args)
    assert result.ret == 0, result.stdout.str()
    return project, (project / reports / "verdict.html").read_text(encoding="utf-8")


def test_text_is_escaped(pytester):
    _, html = run(pytester)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;quote&#39;)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "<b>bold?</b>" not in html


def test_no_external_resource_and_no_javascript(pytester):
    _, html = run(pytester)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert not re.search(r"url\(\s*['\"]?(?!data:)", html)
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert re.search(r'<img alt="a line" src="data:image/png;base64,[A-Za-z0-9+/=]+"', html)


def test_readable_without_javascript(pytester):
    """Details fold with <details>, so every claim, verdict and count is in the static HTML."""
    _, html = run(pytester)
    for text in (
        "evil",
        "numbers",
        "PARTLY SUPPORTED",
        "REFUTED",
        "Errata",
        "Implementation matrix",
        "Environment",
        "nox -s verify -- --claim numbers",
    ):
        assert text in html
    assert html.count('<details class="claim"') == 2
    counts = re.search(r'<ul class="counts" id="counts">(.*?)</ul>', html, re.S)
    assert counts and "REFUTED</span> <strong>1</strong>" in counts.group(1)


def test_errata_print_the_corrected_value(pytester):
    project, html = run(pytester)
    erratum = report(project)["errata"][0]
    assert erratum["printed"] == 0.28 and erratum["correct_printed"] == "0.38"
    assert "<strong>0.38</strong>" in html


def test_verdict_json_follows_its_schema(pytester):
    project, _ = run(pytester)
    data = report(project)
    jsonschema.validate(data, json.loads(SCHEMA.read_text(encoding="utf-8")))
    check = data["claims"][1]["checks"][0]
    assert check["evidence"]["comparisons"][1]["measured"] == "nan"


def test_detailed_logs_have_claim_and_verdict_columns(pytester):
    project, _ = run(pytester)
    tests_html = (project / "reports" / "tests.html").read_text(encoding="utf-8")
    assert "Claim" in tests_html and "REFUTED" in tests_html
    assert "@@claim-verdict" not in tests_html
    junit = (project / "reports" / "junit.xml").read_text(encoding="utf-8")
    assert 'name="claim" value="numbers"' in junit


def test_reports_dir_is_configurable(pytester):
    project, html = run(pytester, "--reports-dir", "elsewhere", reports="elsewhere")
    assert "evil" in html and not (project / "reports").exists()
