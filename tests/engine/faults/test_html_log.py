"""Issue 13, item 7: a parametrize id renders escaped in tests.html, never as live HTML."""

from __future__ import annotations

import html
import json
import re

import pytest

from softmax_claimcheck.claimcheck.html_log import escape_test_id
from tests.engine.conftest import claim_entry

ATTACK = "<img src=x onerror=alert(1)>"


def test_escape_test_id_rebuilds_the_cell():
    report = pytest.TestReport(
        f"t.py::test[{ATTACK}]", ("t.py", 1, "test"), {}, "passed", None, "call"
    )
    cells = ['<td class="col-result">Passed</td>', f'<td class="col-testId">{report.nodeid}</td>']
    escape_test_id(report, cells)
    assert "<img" not in cells[1] and html.escape(ATTACK) in cells[1]
    setup = pytest.TestReport("t.py::t[<b>]", ("t.py", 1, "t"), {}, "failed", None, "setup")
    cells = ['<td class="col-testId">t.py::t[<b>]::setup</td>']
    escape_test_id(setup, cells)
    assert cells == ['<td class="col-testId">t.py::t[&lt;b&gt;]::setup</td>']


def test_parametrize_id_is_escaped_in_tests_html(claims_project):
    claims_project.claims(claim_entry("good-claim"))
    claims_project.checks(
        f"""
        import pytest

        @pytest.mark.claim("good-claim")
        @pytest.mark.parametrize("x", [1, 2], ids=[{ATTACK!r}, "<script>alert(2)</script>"])
        def test_good(evidence, x):
            evidence.property_holds("one", True, 1, "1")
        """
    )
    result = claims_project.pytester.runpytest("--reports-dir", "reports")
    assert result.ret == 0, result.stdout.str()[-2000:]
    page = (claims_project.root / "reports" / "tests.html").read_text(encoding="utf-8")
    # The rows live in a JSON blob (an attribute, escaped once for it) whose cells the page's
    # script inserts with innerHTML: after unescaping the attribute, no cell may hold a raw tag.
    blob = re.search(r'data-jsonblob="([^"]*)"', page)
    assert blob is not None
    data = json.loads(html.unescape(blob.group(1)))
    cells = [
        cell
        for runs in data["tests"].values()
        for run in runs
        for cell in run["resultsTableRow"]
        if "col-testId" in cell
    ]
    assert len(cells) == 2
    for cell in cells:
        assert "<img" not in cell and "<script" not in cell, cell
    assert any(html.escape(ATTACK) in cell for cell in cells)
