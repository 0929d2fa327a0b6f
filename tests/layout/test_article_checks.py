"""The article's checks as the package ships them (`softmax-claimcheck check`,
softmax_claimcheck/article_checks.py): its folder links to the checkout's claims and checks, and
its pytest.ini repeats the project's pytest settings (one rule, kept in step here)."""

from __future__ import annotations

import configparser
import tomllib
from pathlib import Path

from softmax_claimcheck import article_checks

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "softmax_claimcheck" / "article-checks"


def test_the_shipped_folder_is_the_checkouts() -> None:
    assert article_checks.SUITE == SUITE
    assert (SUITE / "claims").resolve() == ROOT / "claims"
    assert (SUITE / "tests" / "checks").resolve() == ROOT / "tests" / "checks"
    assert (SUITE / "tests" / "conftest.py").resolve() == ROOT / "tests" / "conftest.py"
    assert (SUITE / "tests" / "__init__.py").resolve() == ROOT / "tests" / "__init__.py"


def test_its_pytest_ini_repeats_the_projects_settings() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    ours = project["tool"]["pytest"]["ini_options"]
    ini = configparser.ConfigParser()
    ini.read(SUITE / "pytest.ini", encoding="utf-8")
    shipped = ini["pytest"]

    def lines(value: str) -> list[str]:
        return [line.strip() for line in value.strip().splitlines() if line.strip()]

    assert lines(shipped["markers"]) == ours["markers"]
    assert lines(shipped["filterwarnings"]) == ours["filterwarnings"]
    # the repository's own tests add pytester; the shipped checks do not need it
    assert shipped["addopts"].split() == [a for a in ours["addopts"] if a not in ("-p", "pytester")]
    for key in ("minversion", "xfail_strict", "timeout", "timeout_method",
                "claimcheck_claims_dir", "claimcheck_reports_dir"):  # fmt: skip
        expected = ours[key]
        assert shipped[key] == (str(expected).lower() if expected is True else str(expected))


def test_the_users_options_come_last_and_reports_go_to_the_current_folder(tmp_path) -> None:
    args = article_checks.arguments(["--impl", "m:f", "-m", ""], tmp_path)
    assert args[-4:] == ["--impl", "m:f", "-m", ""]  # pytest keeps the last -m
    assert args[args.index("--reports-dir") + 1] == str(tmp_path / "reports")
    assert "no:cacheprovider" in args  # nothing written into the installed package
    given = article_checks.arguments(["--reports-dir", "out"], tmp_path)
    assert given.count("--reports-dir") == 1
