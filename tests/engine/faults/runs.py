"""Issue 22's fault suite: a throwaway claims project run as a user runs it (a fresh interpreter,
any command line, any working directory), and what a run must never end in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.engine.conftest import CLAIMS_RUN_PLUGINS

SCHEMA = Path(__file__).resolve().parents[3] / "claims" / "schema.json"
# The plugins a claims run needs, loaded by -p.
PLUGINS = CLAIMS_RUN_PLUGINS
CLAIM = """\
section: "What Is Softmax, Really?"
claims:
  - id: good-claim
    quote: "Shift: Subtract the maximum value"
    statement: softmax is shift invariant.
    kind: math-property
    expect: {expect}
    version: 1
    rationale: the reading in context
    scope: math
"""
CHECK = """\
import pytest

@pytest.mark.claim("good-claim")
def test_good(evidence):
    evidence.property_holds("one", True, 1, "1")
"""


@dataclass
class Run:
    ret: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def last_line(self) -> str:
        lines = [line for line in self.text.splitlines() if line.strip()]
        return lines[-1] if lines else ""


def project(root: Path, expect: str = "SUPPORTED", check: str = CHECK) -> Path:
    """A claims project: an ini that opts in, one claim, one check (tests/test_checks.py)."""
    (root / "claims").mkdir(parents=True)
    (root / "claims" / "schema.json").write_bytes(SCHEMA.read_bytes())
    (root / "claims" / "claims.yaml").write_text(CLAIM.format(expect=expect))
    (root / "tests").mkdir()
    (root / "tests" / "test_checks.py").write_text(textwrap.dedent(check))
    (root / "pytest.ini").write_text(
        "[pytest]\nclaimcheck_claims_dir = claims\nclaimcheck_reports_dir = reports\ntimeout = 60\n"
    )
    return root


def run(
    cwd: Path,
    *args: str,
    plugins: tuple[str, ...] | None = PLUGINS,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> Run:
    """pytest in a fresh interpreter, in cwd, with exactly these arguments (no --reports-dir is
    added); a run that does not end within `timeout` fails the test (a hang). plugins=None:
    every installed plugin, as a user's plain `pytest` loads them."""
    environ = dict(os.environ, **(env or {}))
    if plugins is None:
        environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    else:
        environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    for inherited in ("PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER", "PYTEST_CURRENT_TEST"):
        if inherited not in (env or {}):
            environ.pop(inherited, None)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
    command += [arg for name in plugins or () for arg in ("-p", name)]
    try:
        done = subprocess.run(
            [*command, *args],
            cwd=cwd,
            env=environ,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"the run hung (no end within {timeout} s): {exc}") from None
    return Run(done.returncode, done.stdout, done.stderr)


def flags(reports: Path) -> tuple[bool, bool] | None:
    """verdict.json's (finished, ok), or None when there is no report."""
    path = reports / "verdict.json"
    if not path.exists():
        return None
    summary: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["summary"]
    return summary["finished"], summary["ok"]


def assert_clean_failure(result: Run, *words: str) -> None:
    """Non-zero, no traceback, and one line saying why (every word in it)."""
    assert result.ret != 0, result.text[-3000:]
    assert "Traceback" not in result.text and "INTERNALERROR" not in result.text, result.text[
        -3000:
    ]
    matching = [line for line in result.text.splitlines() if all(w in line for w in words)]
    assert matching, (words, result.text[-3000:])
