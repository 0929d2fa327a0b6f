"""How fast is the suite itself? A benchmark to run by hand or in CI, not a timed test.

Measures, on this machine:
  1. `pytest tests -m "not training"` (what `nox -s tests` runs): wall time and pytest's own time;
  2. the claim checks alone (`pytest tests/checks -m "not training"`), by phase as the plugin
     records them (state.phase_s: link, collection, checks, report, render);
  3. the report: size of each file, and the time to render verdict.html from verdict.json
     (claimcheck.report.html.render, best of N) and to serialize verdict.json.

Goals: the pytest part of the test run ≤ 60 s, rendering ≤ 2 s, verdict report ≤ 5 MB.
Wall times swing on a busy machine; CPU seconds (user + system) are reported beside them.

    python benchmarks/bench_suite.py [--repeat 5] [--json results.json] [--strict] [--checks-only]

--strict exits 1 when a goal is missed. Run from the repository root; the Hypothesis profile is
`ci` (derandomized) unless CLAIMCHECK_PROFILE says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GOALS = {"suite_pytest_s": 60.0, "render_s": 2.0, "report_mb": 5.0}
REPORT_FILES = ("verdict.json", "verdict.html", "tests.html", "junit.xml")


def cpu_s(who: int) -> float:
    """User + system CPU seconds so far (of this process, or of its finished children): on a
    busy machine wall times swing, CPU time much less."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_suite(reports: Path) -> dict[str, Any]:
    """`pytest tests -m "not training"` in a fresh interpreter, as CI runs it."""
    command = [sys.executable, "-m", "pytest", "tests", "-m", "not training", "-q",
               "-p", "no:cacheprovider", "--reports-dir", str(reports)]  # fmt: skip
    started, cpu = time.perf_counter(), cpu_s(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    cpu = cpu_s(resource.RUSAGE_CHILDREN) - cpu
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-500:]
    reported = re.search(r" in ([0-9.]+)s", tail)
    return {
        "command": " ".join(command[2:]),
        "exit_code": done.returncode,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "pytest_s": float(reported.group(1)) if reported else None,
        "summary": tail,
    }


class PhaseProbe:
    """Reads the plugin's own phase timings once the session is over (all phases, including the
    report, which verdict.json cannot hold about itself)."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}

    def pytest_unconfigure(self, config: Any) -> None:
        from softmax_claimcheck.claimcheck.plugin import RUN_KEY

        state = config.stash.get(RUN_KEY, None)
        if state is not None:
            self.phases = {k: round(v, 3) for k, v in state.phase_s.items()}


def run_checks(reports: Path) -> dict[str, Any]:
    """The claim checks alone, in this process, with the plugin's phase timings."""
    import pytest

    probe = PhaseProbe()
    args = ["tests/checks", "-m", "not training", "-q", "-p", "no:cacheprovider",
            "--reports-dir", str(reports)]  # fmt: skip
    started, cpu = time.perf_counter(), cpu_s(resource.RUSAGE_SELF)
    exit_code = pytest.main(args, plugins=[probe])
    wall = time.perf_counter() - started
    cpu = cpu_s(resource.RUSAGE_SELF) - cpu
    measured = sum(probe.phases.get(k, 0.0) for k in ("collection", "checks", "report"))
    return {
        "exit_code": int(exit_code),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "phases_s": probe.phases,
        # plugin loading (impl's plugin imports torch), pytest-html's tests.html, the summary
        "outside_phases_s": round(wall - measured, 2),
    }


def best_of(repeat: int, action: Any) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def measure_report(reports: Path, repeat: int) -> dict[str, Any]:
    from softmax_claimcheck.claimcheck.report.html import render

    sizes = {
        name: (reports / name).stat().st_size for name in REPORT_FILES if (reports / name).exists()
    }
    data = json.loads((reports / "verdict.json").read_text(encoding="utf-8"))
    return {
        "bytes": sizes,
        "verdict_mb": round((sizes["verdict.json"] + sizes["verdict.html"]) / 1e6, 3),
        "claims": data["summary"]["claims"],
        "checks": data["summary"]["checks"],
        "render_s": round(best_of(repeat, lambda: render(data)), 4),
        "json_dump_s": round(
            best_of(repeat, lambda: json.dumps(data, indent=1, allow_nan=False)), 4
        ),
        "verdict_json_timings_s": data.get("timings_s", {}),
    }


def goals(results: dict[str, Any]) -> list[tuple[str, float | None, float, bool]]:
    suite = results.get("suite", {}).get("pytest_s")
    report = results["report"]
    rows = [
        ("pytest tests -m 'not training' (s)", suite, GOALS["suite_pytest_s"]),
        ("render verdict.html (s, best of N)", report["render_s"], GOALS["render_s"]),
        ("verdict.json + verdict.html (MB)", report["verdict_mb"], GOALS["report_mb"]),
    ]
    return [(name, value, goal, value is None or value <= goal) for name, value, goal in rows]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="renders to time (best of N)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument("--checks-only", action="store_true", help="skip the whole-suite run")
    args = parser.parse_args()
    os.environ.setdefault("CLAIMCHECK_PROFILE", "ci")
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    results: dict[str, Any] = {"profile": os.environ["CLAIMCHECK_PROFILE"], "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as tmp:
        if not args.checks_only:
            results["suite"] = run_suite(Path(tmp, "suite"))
        results["checks"] = run_checks(Path(tmp, "checks"))
        results["report"] = measure_report(Path(tmp, "checks"), args.repeat)

    print(json.dumps(results, indent=1))
    print("\ngoal                                  measured     goal   ok")
    rows = goals(results)
    for name, value, goal, ok in rows:
        shown = "-" if value is None else f"{value:.3g}"
        print(f"{name:<37} {shown:>8} {goal:>8g}   {'yes' if ok else 'NO'}")
    for part in ("suite", "checks"):
        code = results.get(part, {}).get("exit_code")
        if code not in (None, 0, 1):
            print(f"WARNING: the {part} run ended with exit code {code} (stopped or broken): "
                  "its figures do not describe a full run")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 1 if args.strict and not all(ok for *_, ok in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
