"""Shared fixtures for engine tests: small synthetic claims projects run through pytester.

`claims_project` builds a throwaway project (ini, claims dir with the real schema, YAML files,
check files) and runs it in-process or in a subprocess; its verdict.json is read back as data.
The checks of such a project must be able to fail, so each test states the verdict it expects.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

# Imported once before any in-process run: pytester restores sys.modules after each run, and
# extension modules (numpy) cannot be loaded twice in one process.
import softmax_claimcheck.impl.registry  # noqa: F401  # isort: skip
import numpy  # noqa: F401  # isort: skip

# The plugins a claims run in a fresh interpreter needs (autoloading them all imports torch
# through impl's plugin and costs seconds per run).
CLAIMS_RUN_PLUGINS = ("softmax_claimcheck.claimcheck.plugin", "pytest_timeout",
                      "_hypothesis_pytestplugin")  # fmt: skip

SECTION = "The Solution: Converting Scores to Probabilities"


def claim_entry(claim_id: str, expect: str = "SUPPORTED", **fields: Any) -> dict[str, Any]:
    """A valid claim as data; fields override or extend the defaults."""
    entry: dict[str, Any] = {
        "id": claim_id,
        "quote": f"quote of {claim_id}",
        "statement": f"statement of {claim_id}",
        "kind": "math-property",
        "expect": expect,
        "version": 1,
    }
    entry.update(fields)
    if entry["kind"] != "not-checkable":  # every checkable claim states its reading and scope
        entry.setdefault("rationale", f"rationale of {claim_id}")
        entry.setdefault("scope", "math")
    return entry


class ClaimsProject:
    """A synthetic claims project inside pytester's directory."""

    def __init__(
        self, pytester: pytest.Pytester, schema: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.pytester = pytester
        self._monkeypatch = monkeypatch
        self.root = pytester.path
        self.claims_dir = self.root / "claims"
        self.claims_dir.mkdir()
        (self.claims_dir / "schema.json").write_bytes(schema.read_bytes())
        pytester.makeini(
            "[pytest]\nclaimcheck_claims_dir = claims\nclaimcheck_reports_dir = reports\n"
        )

    # -- writing ------------------------------------------------------------------------------
    def claims(self, *entries: dict[str, Any], file: str = "claims.yaml", section: str = SECTION):
        """Write a claim file holding these claims (dumped as YAML, unicode kept)."""
        text = yaml.safe_dump(
            {"section": section, "claims": list(entries)}, allow_unicode=True, sort_keys=False
        )
        return self.raw_claims(text, file)

    def raw_claims(self, text: str | bytes, file: str = "claims.yaml") -> Path:
        """Write a claim file verbatim (for malformed input)."""
        path = self.claims_dir / file
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def checks(self, source: str, name: str = "test_checks") -> Path:
        """Write a check module (dedented); it imports pytest itself."""
        return self.pytester.makepyfile(**{name: textwrap.dedent(source)})

    # -- running ------------------------------------------------------------------------------
    def run(self, *args: str, reports: str = "reports") -> pytest.RunResult:
        """Run in-process (fast); pytest-html is off, as it adds time and is not under test."""
        return self.pytester.runpytest("-p", "no:html", "--reports-dir", reports, *args)

    def run_subprocess(self, *args: str, reports: str = "reports") -> pytest.RunResult:
        """Run in a fresh interpreter: for state that must not leak (signals, seeds, profiles).
        Only the plugins a claims run needs are loaded: autoloading them all imports torch
        (through impl's plugin) and costs seconds per run."""
        plugins = CLAIMS_RUN_PLUGINS
        with self._monkeypatch.context() as patch:
            patch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
            return self.pytester.runpytest_subprocess(
                *(arg for name in plugins for arg in ("-p", name)),
                *("-p", "no:cacheprovider", "--reports-dir", reports, *args),
            )

    # -- reading ------------------------------------------------------------------------------
    def report(self, reports: str = "reports") -> dict[str, Any]:
        return json.loads((self.root / reports / "verdict.json").read_text(encoding="utf-8"))

    def html(self, reports: str = "reports") -> str:
        return (self.root / reports / "verdict.html").read_text(encoding="utf-8")

    def verdicts(self, reports: str = "reports") -> dict[str, str]:
        return {c["id"]: c["verdict"] for c in self.report(reports)["claims"]}


@pytest.fixture
def claims_project(
    pytester: pytest.Pytester, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> ClaimsProject:
    """An empty synthetic project with the real claim schema; see ClaimsProject."""
    return ClaimsProject(pytester, request.config.rootpath / "claims" / "schema.json", monkeypatch)
