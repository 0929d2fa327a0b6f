"""Installed in an environment, this package must be harmless to every other project there: in a
throwaway project (pytester) `pytest` behaves exactly as if the package were absent, unless the
run opts in (this project's ini setting `claimcheck_claims_dir`, `--claims-dir`, `--claim`,
`--impl`). "Absent" is the same run with both of our plugins disabled (`-p no:...`).

Each run is a subprocess, so the plugins load through their pytest11 entry points as they do for
any user of the environment.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

PLUGINS_OFF = ("-p", "no:claimcheck", "-p", "no:claimcheck_impl")
COMMON = ("-p", "no:cacheprovider", "-rA", "-p", "no:randomly")

PROJECT_INI = """
[pytest]
testpaths = tests
addopts = --strict-markers
markers =
    claim(name): this project's own marker, nothing to do with claims of an article
    cases(*names): this project's own marker too
"""

TESTS = """
import pytest


def test_passes():
    assert 1 + 1 == 2


def test_fails():
    assert 1 + 1 == 3


@pytest.mark.skip(reason="not today")
def test_skipped():
    pass


@pytest.mark.xfail(reason="known", strict=True)
def test_xfails():
    assert False


@pytest.mark.parametrize("n", [1, 2, 3])
def test_param(n):
    assert n < 3


@pytest.mark.claim("invoice-total")
def test_own_claim_marker(request):
    assert request.node.get_closest_marker("claim").args == ("invoice-total",)


@pytest.mark.cases("a", "b")
def test_own_cases_marker(request):
    assert request.node.get_closest_marker("cases").args == ("a", "b")
"""


def _project(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest=PROJECT_INI)
    pytester.mkdir("tests")
    (pytester.path / "tests" / "test_project.py").write_text(TESTS)


# What pytester itself writes beside the project: the subprocess' basetemp and captured output.
PYTESTER_OWN = re.compile(r"^(runpytest-[^/]+|stdout|stderr)(/|$)")


def _files(root: Path) -> set[str]:
    return {
        rel
        for p in root.rglob("*")
        if "__pycache__" not in p.parts
        and not p.name.endswith(".pyc")
        and not PYTESTER_OWN.match(rel := str(p.relative_to(root)))
    }


def _outcomes(output: str) -> list[str]:
    """`-rA` summary lines: 'PASSED tests/test_project.py::test_passes', ..."""
    pattern = re.compile(r"^(PASSED|FAILED|SKIPPED|XFAIL|XPASS|ERROR) (\S+)", re.M)
    return sorted(f"{m[1]} {m[2]}" for m in pattern.finditer(output))


ROOT = Path(__file__).resolve().parents[2]
PYTEST = str(Path(sys.executable).with_name("pytest"))


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """The environment's `pytest` command, run in the project (as its users run it)."""
    return pytester.run(PYTEST, *COMMON, *args, timeout=180)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "CLAIMCHECK_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")


def test_unrelated_project_runs_as_if_the_package_were_absent(pytester: pytest.Pytester) -> None:
    _project(pytester)
    before = _files(pytester.path)
    present = _run(pytester)
    written = _files(pytester.path) - before
    absent = _run(pytester, *PLUGINS_OFF)
    assert present.ret == absent.ret == 1, present.stdout.str()
    assert _outcomes(present.stdout.str()) == _outcomes(absent.stdout.str())
    assert "PASSED tests/test_project.py::test_own_claim_marker" in _outcomes(present.stdout.str())
    assert "PASSED tests/test_project.py::test_own_cases_marker" in _outcomes(present.stdout.str())
    assert not written, f"files written into an unrelated project: {sorted(written)}"
    assert not (pytester.path / "reports").exists()


def test_collected_ids_are_the_same(pytester: pytest.Pytester) -> None:
    _project(pytester)
    present = _run(pytester, "--collect-only", "-q")
    absent = _run(pytester, "--collect-only", "-q", *PLUGINS_OFF)
    assert present.ret == absent.ret == 0
    ids = [line for line in present.stdout.lines if "::" in line]
    assert ids == [line for line in absent.stdout.lines if "::" in line]
    assert len(ids) == 9


def test_the_projects_own_options_and_fixtures_are_not_hijacked(pytester: pytest.Pytester) -> None:
    """A conftest fixture named like ours (`evidence`) is the project's own."""
    _project(pytester)
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def evidence():
            return "the project's evidence"
        """
    )
    pytester.makepyfile(
        test_fixture="""
        def test_uses_own_fixture(evidence):
            assert evidence == "the project's evidence"
        """
    )
    result = _run(pytester, "test_fixture.py")
    assert result.ret == 0, result.stdout.str()


def test_the_distribution_claims_no_generic_top_level_names() -> None:
    """The wheel's top-level packages: only the namespaced one, so a project with its own
    `impl` (or `experiments`, `claimcheck`) package is never shadowed by ours."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = config["tool"]["setuptools"]["packages"]
    assert {name.split(".")[0] for name in packages} == {"softmax_claimcheck"}
    entry_points = config["project"]["entry-points"]["pytest11"].values()
    assert all(target.startswith("softmax_claimcheck.") for target in entry_points)


def test_the_projects_own_impl_package_imports(pytester: pytest.Pytester) -> None:
    """A project's own `impl` package imports as its own in an environment where this
    distribution is installed."""
    _project(pytester)
    pkg = pytester.mkpydir("impl")
    (pkg / "__init__.py").write_text("OWN = 'the project impl'\n")
    pytester.makepyfile(
        test_impl=textwrap.dedent(
            """
            def test_own_impl():
                import impl
                assert getattr(impl, "OWN", None) == "the project impl", impl.__file__
            """
        )
    )
    ini = pytester.path / "pytest.ini"
    ini.write_text(ini.read_text().replace("[pytest]", "[pytest]\npythonpath = ."))
    result = _run(pytester, "test_impl.py")
    assert result.ret == 0, result.stdout.str()
