"""Small synthetic claim projects for in-process pytest runs (pytester)."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest

# Import heavy extension modules once, before any in-process pytester run: pytester restores
# sys.modules after each run, and torch cannot be imported a second time in one process.
import numpy  # noqa: F401  # isort: skip
import torch  # noqa: F401  # isort: skip

SCHEMA = Path(__file__).resolve().parents[2] / "claims" / "schema.json"
SECTION = "What Is Softmax, Really?"


def claim_yaml(
    claim_id: str,
    expect: str = "SUPPORTED",
    kind: str = "math-property",
    quote: str = "a quote",
    extra: str = "",
) -> str:
    """One claim entry, indented for a `claims:` list."""
    body = (
        f"  - id: {claim_id}\n    quote: {json.dumps(quote)}\n    statement: a statement\n"
        f"    kind: {kind}\n    expect: {expect}\n    version: 1\n"
    )
    if kind != "not-checkable" and "rationale:" not in extra:
        body += "    rationale: the careful reading\n"
    if kind != "not-checkable" and "scope:" not in extra:
        body += "    scope: math\n"
    return body + textwrap.indent(textwrap.dedent(extra), "    ") if extra else body


def make_project(
    pytester: pytest.Pytester, claims: list[str], checks: str, ini_extra: str = ""
) -> Path:
    """A project with claims/ (schema + one file), a check module and an ini enabling the plugin."""
    pytester.makeini(
        "[pytest]\nclaimcheck_claims_dir = claims\nclaimcheck_reports_dir = reports\n"
        "filterwarnings =\n    error\n"
        "    ignore:Module already imported so cannot be rewritten"
        ":pytest.PytestAssertRewriteWarning\n" + ini_extra
    )
    claims_dir = pytester.path / "claims"
    claims_dir.mkdir(exist_ok=True)
    shutil.copy(SCHEMA, claims_dir / "schema.json")
    (claims_dir / "section.yaml").write_text(
        f'section: "{SECTION}"\nclaims:\n' + "".join(claims), encoding="utf-8"
    )
    pytester.makepyfile(test_checks=textwrap.dedent(checks))
    return pytester.path


def verdicts(project: Path) -> dict[str, Any]:
    data = json.loads((project / "reports" / "verdict.json").read_text(encoding="utf-8"))
    return {c["id"]: c for c in data["claims"]}


def report(project: Path) -> dict[str, Any]:
    return json.loads((project / "reports" / "verdict.json").read_text(encoding="utf-8"))
