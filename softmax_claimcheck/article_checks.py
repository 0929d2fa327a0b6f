"""`softmax-claimcheck check [--impl MODULE:FUNCTION] [pytest options]`: the article's checks
from the installed package, no checkout needed.

The wheel ships the claims and the checks (`softmax_claimcheck/article-checks/`: in a checkout,
links to the top-level `claims/` and `tests/checks/`, like the package's other folders) with a
pytest.ini that repeats the project's pytest settings. This command runs pytest on them, in this
process, with the reports in `./reports/` of the current folder (unless `--reports-dir` is
given) and without a cache folder: the installed package is never written to. The training
checks are left out unless asked for (`-m training`, or `-m ""` for everything): they train
small transformers for minutes and never call an `--impl`.
"""

from __future__ import annotations

import sys
from pathlib import Path

SUITE = Path(__file__).resolve().parent / "article-checks"
USAGE = (
    "usage: softmax-claimcheck check [--impl MODULE:FUNCTION] [--impl-dtypes ...] [pytest options]"
)


def arguments(args: list[str], cwd: Path) -> list[str]:
    """The pytest command line: the shipped suite and settings first, the user's options last
    (for a repeated option such as -m, pytest keeps the last)."""
    ours = [
        "-c", str(SUITE / "pytest.ini"),
        "--rootdir", str(SUITE),
        "-p", "no:cacheprovider",
        "-m", "not training",
    ]  # fmt: skip
    if not any(a == "--reports-dir" or a.startswith("--reports-dir=") for a in args):
        ours += ["--reports-dir", str(cwd / "reports")]
    targets = [str(SUITE / "tests" / "checks")]
    return [*ours, *targets, *args]


def main(args: list[str]) -> int:
    if any(a in ("-h", "--help") for a in args):
        print(USAGE + "\n")
        print("Runs the article's checks, shipped with the package, on your implementation (and")
        print("the built-ins) from any folder; reports go to ./reports/. The training checks")
        print("are left out unless asked for (-m training). Any pytest option may follow")
        print("(pytest --help lists them), e.g. -k axis -x. --impl takes what `conform` takes.")
        return 0
    if not (SUITE / "pytest.ini").is_file() or not (SUITE / "tests" / "checks").is_dir():
        print(
            f"softmax-claimcheck check: error: the article's checks are not installed beside "
            f"the package ({SUITE}); reinstall softmax-claimcheck",
            file=sys.stderr,
        )
        return 2
    import pytest

    return int(pytest.main(arguments(args, Path.cwd())))
