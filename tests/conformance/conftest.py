"""The conformance tests call the command in-process (`softmax_claimcheck.cli.main`) and, once
each, as the installed console script and as `python -m softmax_claimcheck`."""

from __future__ import annotations

import pytest

from softmax_claimcheck import cli


@pytest.fixture
def conform(capsys: pytest.CaptureFixture[str]):
    """conform("MODULE:FUNCTION", "--dtypes", ...) -> (exit code, what it printed)."""

    def run(*args: str, files: bool = False) -> tuple[int, str]:
        argv = ["conform", *args] + ([] if files else ["--no-files"])
        code = cli.main(argv)
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    return run
