"""Write verdict.json, verdict.html and errata.md for a finished run, each atomically.

Each file is written to a temporary file in the same folder and renamed over the old one, so a
reader (or a CI artifact upload) never sees a half-written report: a run killed mid-write leaves
the previous complete file, and a run that cannot write says so in one line.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from softmax_claimcheck.claimcheck.report import environment, errata_md, html, scales, verdict_json

STALE_LOGS = ("junit.xml", "tests.html")


def seeds(profile: str) -> dict[str, Any]:
    return {
        "hypothesis_profile": profile,
        "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "random"),
        "checks": "each check seeds its own generator; see its inputs",
    }


def atomic_write(path: Path, text: str) -> None:
    """Write text to path through a temporary file and a rename (same filesystem)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide the report from other readers
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False) + "\n"


def mark_started(out_dir: Path, rootpath: Path, profile: str) -> None:
    """At the start of a claims run: replace the previous verdict with one that says a run is in
    progress (so a killed run never leaves an older report reading as current), and drop the
    previous run's logs."""
    data = verdict_json.in_progress(environment.collect(rootpath, seeds(profile)))
    atomic_write(out_dir / "verdict.json", to_json(data))
    atomic_write(out_dir / "verdict.html", html.render(data))
    for stale in STALE_LOGS:
        (out_dir / stale).unlink(missing_ok=True)


def write_reports(run: Any, out_dir: Path) -> dict[str, Path]:
    started = time.perf_counter()
    data = verdict_json.build(
        run.verdicts,
        environment.collect(run.config.rootpath, seeds(run.profile)),
        run.stop_errors,
        run.problems,
        run.phase_s,
        run.interrupted,
    )
    other_scale = scales.for_run(run.config)
    if other_scale is not None:
        data["gpu_scale"] = other_scale
    if run.previous is not None:
        from softmax_claimcheck.claimcheck.report.compare import compare_loaded

        data["comparison"] = compare_loaded(data, run.previous["data"], run.previous["path"])
    paths = {
        "json": out_dir / "verdict.json",
        "html": out_dir / "verdict.html",
        "errata": out_dir / "errata.md",
    }
    # The HTML and Markdown are rendered before anything is replaced: a rendering error leaves
    # the previous files whole.
    texts = {"json": to_json(data), "html": html.render(data), "errata": errata_md.render(data)}
    for key in ("errata", "html", "json"):  # verdict.json last: its presence means complete
        atomic_write(paths[key], texts[key])
    run.phase_s["render"] = time.perf_counter() - started
    return paths
