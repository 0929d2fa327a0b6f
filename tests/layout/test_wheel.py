"""The distribution as a user gets it: the wheel built from this checkout, installed in a fresh
virtualenv, serves the conformance command and the pytest plugins from another folder, and puts
one top-level name into site-packages (a generic `impl` or `experiments` there would shadow
other projects' modules)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TORCH_CPU = "torch==2.13.0"  # the noxfile's CPU build: from this machine's disk, in seconds


def _run(*args: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # From a copy of the tracked files (pip builds in the source tree and would leave build/ in
    # the checkout), as a user's pip builds it: in an isolated build environment.
    source = tmp_path_factory.mktemp("source")
    tracked = _ok(_run("git", "ls-files", "-z", cwd=ROOT)).split("\0")
    for name in filter(None, tracked):
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_symlink():
            target.symlink_to(os.readlink(ROOT / name))
        elif (ROOT / name).is_file():
            shutil.copy2(ROOT / name, target)
    _ok(_run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", out, source, cwd=out))
    (built,) = out.glob("softmax_claimcheck-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory) -> Path:
    """A fresh virtualenv holding the wheel and its dependencies (torch's CPU build)."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    _ok(_run(python, "-m", "pip", "install", "-q", "--no-compile", "-c", ROOT / "constraints.txt",
             TORCH_CPU, wheel, cwd=env_dir))  # fmt: skip
    return env_dir


def test_the_wheel_installs_one_top_level_name(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"softmax_claimcheck"}
    for package in ("claimcheck", "impl", "experiments", "conformance"):
        assert f"softmax_claimcheck/{package}/__init__.py" in names


def test_the_installed_wheel_serves_the_command_and_the_plugins(installed: Path, tmp_path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    bin_dir = installed / "bin"
    where = _ok(_run(bin_dir / "python", "-c",
                     "import softmax_claimcheck.impl.oracle as m; print(m.__file__)",
                     cwd=elsewhere))  # fmt: skip
    assert "site-packages" in where and str(ROOT) not in where

    conform = _run(bin_dir / "softmax-claimcheck", "conform", "torch:softmax", "--dtypes",
                   "float64", "--no-files", "-q", cwd=elsewhere)  # fmt: skip
    assert conform.returncode == 0, conform.stdout + conform.stderr
    assert "CONFORMS" in conform.stdout

    checks = _run(bin_dir / "python", "-m", "pytest", ROOT / "tests" / "checks", "--impl",
                  "torch:softmax", "--claim", "outputs-sum-to-one", "-p", "no:cacheprovider",
                  "--reports-dir", tmp_path / "reports", "-q", cwd=elsewhere)  # fmt: skip
    assert checks.returncode == 0, checks.stdout[-3000:] + checks.stderr[-3000:]
    assert (tmp_path / "reports" / "verdict.json").is_file()


def test_the_wheel_ships_the_article_checks(wheel: Path) -> None:
    """`softmax-claimcheck check` runs the claims and checks of the package itself."""
    names = set(zipfile.ZipFile(wheel).namelist())
    suite = "softmax_claimcheck/article-checks"
    for name in ("pytest.ini", "tests/__init__.py", "tests/conftest.py", "claims/schema.json"):
        assert f"{suite}/{name}" in names
    for source in [*(ROOT / "claims").glob("*.yaml"), *(ROOT / "tests" / "checks").rglob("*.py")]:
        relative = source.relative_to(ROOT).as_posix()
        assert f"{suite}/{relative}" in names, relative


def test_the_article_checks_run_from_an_empty_folder(installed: Path, tmp_path) -> None:
    """Without a checkout: `softmax-claimcheck check --impl torch:softmax` from an empty folder
    runs every article check but the training ones, with the reports in that folder and
    nothing written into the installed package; a bare `pytest --impl` there says so."""
    empty = tmp_path / "empty"
    empty.mkdir()
    bin_dir = installed / "bin"
    package = Path(_ok(_run(bin_dir / "python", "-c",
                            "import softmax_claimcheck; print(softmax_claimcheck.__file__)",
                            cwd=empty)).strip()).parent  # fmt: skip
    before = sorted(
        p.relative_to(package) for p in package.rglob("*") if "__pycache__" not in p.parts
    )

    checks = _run(bin_dir / "softmax-claimcheck", "check", "--impl", "torch:softmax", "-q",
                  cwd=empty)  # fmt: skip
    assert checks.returncode == 0, checks.stdout[-3000:] + checks.stderr[-3000:]
    assert " passed" in checks.stdout and " failed" not in checks.stdout
    verdict = json.loads((empty / "reports" / "verdict.json").read_text(encoding="utf-8"))
    assert "user-softmax" in json.dumps(verdict)
    after = sorted(
        p.relative_to(package) for p in package.rglob("*") if "__pycache__" not in p.parts
    )
    assert after == before

    bare = _run(bin_dir / "python", "-m", "pytest", "--impl", "torch:softmax", "-p",
                "no:cacheprovider", cwd=empty)  # fmt: skip
    assert bare.returncode == 5
    assert "softmax-claimcheck check --impl torch:softmax" in bare.stdout
