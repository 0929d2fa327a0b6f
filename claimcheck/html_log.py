"""Claim and verdict columns in pytest-html's tests.html (the detailed log, not the verdict page).

pytest-html builds a row when a test finishes, before verdicts exist, so the verdict cell holds a
placeholder that is filled in once the file is written.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest

PLACEHOLDER = "@@claim-verdict:{}@@"
TEST_ID_CELL = '<td class="col-testId">'


def escape_test_id(report: pytest.TestReport, cells: list[str]) -> None:
    """pytest-html puts the node id into its test-id cell unescaped, and its page inserts the
    cell with innerHTML: a parametrize id such as `<img src=x onerror=...>` would be live HTML.
    Rebuild that cell from the node id, escaped."""
    test_id = report.nodeid if report.when == "call" else f"{report.nodeid}::{report.when}"
    for index, cell in enumerate(cells):
        if isinstance(cell, str) and cell.startswith(TEST_ID_CELL):
            cells[index] = f"{TEST_ID_CELL}{html.escape(test_id, quote=True)}</td>"
            return


class HtmlLogColumns:
    def __init__(self, state: Any) -> None:
        self.state = state

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(1, '<th class="sortable" data-column-type="claim">Claim</th>')
        cells.insert(2, '<th class="sortable" data-column-type="verdict">Verdict</th>')

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        escape_test_id(report, cells)
        # The result a check's report carries names its claim (also on pytest-xdist's
        # controller, which learns the links only when the workers are done).
        data = getattr(report, "claimcheck", None) or {}
        link = self.state.links.get(report.nodeid)
        claim_id = data.get("claim_id") or (link.claim_id if link else "")
        cells.insert(1, f'<td class="col-claim">{html.escape(claim_id)}</td>')
        verdict = PLACEHOLDER.format(claim_id) if claim_id else ""
        cells.insert(2, f'<td class="col-verdict">{verdict}</td>')

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        path = getattr(config.option, "htmlpath", None)
        if not path or not Path(path).is_file():
            return
        text = Path(path).read_text(encoding="utf-8")
        for result in self.state.verdicts:
            text = text.replace(PLACEHOLDER.format(result.claim.id), result.verdict.value)
        text = re.sub(PLACEHOLDER.format("[a-z0-9-]*"), "not decided", text)
        from softmax_claimcheck.claimcheck.report.write import atomic_write

        atomic_write(Path(path), text)
