"""Did this claims run finish, and is it ok? Read from the report itself, not the exit status.

A process can end with status 0 before the run finished (C code calling exit(0), a check that
slipped past claimcheck/process_guard.py) and a run that wrote nothing leaves an older report in
place. The main job (`nox -s verify`) and CI therefore run, after pytest:

    python -m softmax_claimcheck.claimcheck.run_status REPORTS_DIR --since EPOCH_SECONDS

which exits 0 only when REPORTS_DIR/verdict.json was written by this run (not before --since),
says `finished` and `ok`, and otherwise prints one line saying why and exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def problem(reports: Path, since: float | None) -> str | None:
    """Why the report in `reports` does not show a finished, ok run (None when it does)."""
    path = reports / "verdict.json"
    try:
        written = path.stat().st_mtime
        data = json.loads(path.read_text(encoding="utf-8"))
        summary = data["summary"]
        finished, ok = summary["finished"], summary["ok"]
    except FileNotFoundError:
        return f"{path}: no report; the run wrote none"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"{path}: not a complete verdict report ({type(exc).__name__}: {exc})"[:300]
    if since is not None and written < since - 1.0:  # 1 s for file systems' coarse times
        return f"{path}: written before this run started; this run wrote no report"
    if finished is not True:
        return f"{path}: the run did not finish (the report says finished: {finished})"
    if ok is not True:
        problems = summary.get("problems") or summary.get("stop_errors") or ["see the report"]
        return f"{path}: the run is not ok: {str(problems[0])[:200]}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", type=Path, help="the run's reports folder")
    parser.add_argument("--since", type=float, help="when the run started (seconds since epoch)")
    args = parser.parse_args(argv)
    why = problem(args.reports, args.since)
    if why is None:
        print(f"claims run finished and ok: {args.reports / 'verdict.json'}")
        return 0
    print(f"claims run FAILED: {why}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
