"""The GPU box's wheelhouse (scripts/gpu/wheelhouse.py): a folder missing one wheel must fail the
rehearsal's first step (the no-index dry run for CPython 3.12) and the box's own install check,
naming the wheel, before any GPU minute is spent. Uses a copy of `.wheelhouse/` (made by
`nox -s wheelhouse` or `nox -s gpu_rehearsal`, which runs this file); skips without it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu" / "wheelhouse.py"
WHEELHOUSE = ROOT / ".wheelhouse"

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("CLAIMCHECK_GPU_REHEARSAL") != "1",
        reason="part of nox -s gpu_rehearsal (pip subprocesses: kept out of nox -s tests' time)",
    ),
    pytest.mark.skipif(
        not any(WHEELHOUSE.glob("*.whl")),
        reason="no .wheelhouse/ here (nox -s wheelhouse makes it; nox -s gpu_rehearsal runs this)",
    ),
]


# The scripts run without PYTHONPATH: the rehearsal puts the installed wheels there.
CLEAN_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=CLEAN_ENV
    )


def _has_referencing() -> bool:
    code = "import importlib.util as u; print(u.find_spec('referencing') is not None)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=CLEAN_ENV
    )
    return result.stdout.strip() == "True"


def _copy_without(tmp_path: Path, prefix: str) -> Path:
    copy = tmp_path / "wheels"
    shutil.copytree(WHEELHOUSE, copy)
    removed = list(copy.glob(f"{prefix}-*.whl"))
    assert removed, f"no {prefix} wheel in {WHEELHOUSE}"
    for wheel in removed:
        wheel.unlink()
    return copy


def test_the_full_wheelhouse_resolves_for_cpython_3_12():
    result = _run("dry-run", "--dest", str(WHEELHOUSE), "--python", "3.12")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("prefix", ["attrs", "pytest_timeout"])
def test_a_missing_wheel_fails_the_dry_run(tmp_path, prefix):
    """attrs: a dependency of a dependency (jsonschema's); pytest_timeout: one the project names."""
    result = _run("dry-run", "--dest", str(_copy_without(tmp_path, prefix)), "--python", "3.12")
    assert result.returncode != 0
    if prefix == "attrs":
        assert "attrs (needed by jsonschema" in result.stdout + result.stderr


@pytest.mark.skipif(
    _has_referencing(),
    reason="this environment has referencing itself (the rehearsal's box-like one has not)",
)
def test_a_missing_wheel_fails_the_install_check_on_the_box(tmp_path):
    copy = _copy_without(tmp_path, "referencing")
    result = _run("install", "--dest", str(copy), "--target", str(tmp_path / "site"))
    assert result.returncode == 1
    assert "referencing is missing" in result.stderr
