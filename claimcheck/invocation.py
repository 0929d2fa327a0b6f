"""The command line as pytest read it before this plugin's options existed.

pytest chooses its rootdir and ini file before any plugin is loaded, from the arguments it does
not know as options: the value of `--reports-dir /x` (a space, not `=`) is then taken for a test
path, the project's ini is not found, and a claims run would silently become an ordinary run that
checks nothing. Such a command line, and claims options given to a run that is not a claims run,
stop the run with one line (a usage error) before anything runs or is written.
"""

from __future__ import annotations

import itertools
import os
import shlex
from pathlib import Path

import pytest

# The options of ours that take a value (claimcheck's and the implementations' plugin's).
VALUE_OPTIONS = (
    "--claims-dir",
    "--reports-dir",
    "--compare-with",
    "--claim",
    "--impl",
    "--impl-dtypes",
    "--impl-devices",
    "--impl-fully-masked",
)
# Options that only mean something in a claims run.
CLAIMS_RUN_OPTIONS = ("--reports-dir", "--compare-with", "--require-all-run", "--no-reports")


def _command_line(config: pytest.Config) -> list[str]:
    """What pytest parsed before choosing its rootdir: PYTEST_ADDOPTS, then the arguments."""
    extra = shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    return [*extra, *(str(a) for a in config.invocation_params.args)]


def space_separated(config: pytest.Config) -> list[tuple[str, str]]:
    """Our options written `--option VALUE` (two words) whose value names an existing path."""
    words = _command_line(config)
    found = []
    for option, value in itertools.pairwise(words):
        if option in VALUE_OPTIONS and not value.startswith("-"):
            path = Path(config.invocation_params.dir, value)
            if os.path.lexists(path):
                found.append((option, value))
    return found


def _setup_without_misread_values(config: pytest.Config) -> tuple[Path, Path | None] | None:
    """The rootdir and ini file pytest would have chosen had it known our options."""
    try:
        from _pytest.config.findpaths import determine_setup
    except ImportError:  # a pytest that moved it: the first check below still applies
        return None
    try:
        rootpath, inipath, *_ = determine_setup(
            inifile=config.option.inifilename,
            override_ini=config.option.override_ini,
            args=[str(a) for a in config.option.file_or_dir or []],
            rootdir_cmd_arg=config.option.rootdir or None,
            invocation_dir=config.invocation_params.dir,
        )
    except Exception:
        return None
    return Path(rootpath), Path(inipath) if inipath else None


def check_rootdir(config: pytest.Config) -> None:
    """Stop when pytest chose its rootdir or ini file from a value of one of our options."""
    misread = space_separated(config)
    if not misread:
        return
    expected = _setup_without_misread_values(config)
    actual = (Path(config.rootpath), Path(config.inipath) if config.inipath else None)
    if expected is not None and expected == actual:
        return  # the value was read as a path too, but it changed neither rootdir nor ini file
    option, value = misread[0]
    ini = actual[1] or "no ini file"
    raise pytest.UsageError(
        f"{option} {value}: pytest took {value!r} for a test path when it chose its rootdir "
        f"({actual[0]}) and ini file ({ini}), before claimcheck's options were known, so this "
        f"run would check nothing; write {option}={value}"
    )


def check_claims_options(config: pytest.Config) -> None:
    """A run that is not a claims run cannot honour claims options: say so instead of exit 0."""
    given = [
        option
        for option in CLAIMS_RUN_OPTIONS
        if config.getoption(option.lstrip("-").replace("-", "_"), None)
    ]
    if given:
        ini = config.inipath or "no ini file"
        raise pytest.UsageError(
            f"{given[0]} was given, but this is not a claims run: no claimcheck_claims_dir in "
            f"{ini} (rootdir {config.rootpath}) and no --claims-dir; run from the project, or "
            "pass --claims-dir"
        )
