"""Issue 22, class 8: the GitHub workflows are checked like code (nox -s lint runs the same two
tools): their JSON schema (check-jsonschema's bundled copy) and a security audit (zizmor,
offline). The repository's workflows pass; each fault below, written into a copy, is found."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

WORKFLOWS = Path(__file__).resolve().parents[3] / ".github" / "workflows"
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (the test extra and nox -s lint install it)")
    return found


def schema_check(*files: Path) -> subprocess.CompletedProcess[str]:
    command = [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows"]
    return subprocess.run([*command, *map(str, files)], capture_output=True, text=True, timeout=120)


def audit(*files: Path) -> subprocess.CompletedProcess[str]:
    command = [tool("zizmor"), "--offline", "--no-progress", *map(str, files)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_the_repositorys_workflows_pass_both_checks():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert files
    schema = schema_check(*files)
    assert schema.returncode == 0, schema.stdout + schema.stderr
    audited = audit(*files)
    assert audited.returncode == 0, audited.stdout + audited.stderr


CI = (WORKFLOWS / "ci.yml").read_text(encoding="utf-8")
PINNED_CHECKOUT = next(
    line.split("uses: ")[1] for line in CI.splitlines() if "actions/checkout@" in line
)

CREDENTIALS_OFF = (
    "        with:\n"
    "          # The job pushes nothing: no token is left in .git/config for later steps.\n"
    "          persist-credentials: false\n"
)
AUDIT_FAULTS = {
    "unpinned-action": (CI.replace(PINNED_CHECKOUT, "actions/checkout@v4"), "unpinned-uses"),
    "persisted-credentials": (CI.replace(CREDENTIALS_OFF, "", 1), "artipacked"),
    "template-injection": (
        CI.replace(
            "run: python -m nox -s tests",
            'run: echo "${{ github.event.pull_request.title }}" && python -m nox -s tests',
        ),
        "template-injection",
    ),
    "pull-request-target": (
        CI.replace("  pull_request:\n", "  pull_request_target:\n"),
        "dangerous-triggers",
    ),
}


@pytest.mark.parametrize("case", list(AUDIT_FAULTS))
def test_the_audit_finds_each_fault(tmp_path, case):
    text, rule = AUDIT_FAULTS[case]
    assert text != CI, "the fault was not written into the copy"
    copy = tmp_path / "ci.yml"
    copy.write_text(text, encoding="utf-8")
    audited = audit(copy)
    assert audited.returncode != 0, audited.stdout + audited.stderr
    assert rule in audited.stdout + audited.stderr


SCHEMA_FAULTS = {
    "misspelled-trigger": CI.replace("  pull_request:\n", "  pull_requets:\n"),
    "step-with-uses-and-run": CI.replace(
        "      - name: Install nox\n", "      - name: Install nox\n        uses: actions/cache@v4\n"
    ),
    "job-without-runs-on": CI.replace("    runs-on: ubuntu-latest\n", ""),
}


@pytest.mark.parametrize("case", list(SCHEMA_FAULTS))
def test_the_schema_check_finds_each_fault(tmp_path, case):
    text = SCHEMA_FAULTS[case]
    assert text != CI, "the fault was not written into the copy"
    copy = tmp_path / "ci.yml"
    copy.write_text(text, encoding="utf-8")
    result = schema_check(copy)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
