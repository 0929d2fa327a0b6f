"""Write verdict.json and verdict.html for a finished session."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from claimcheck.report import environment, html, model


def seeds() -> dict[str, Any]:
    return {
        "hypothesis_profile": os.environ.get("CLAIMCHECK_PROFILE", "dev"),
        "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "random"),
        "checks": "each check seeds its own generator; see its inputs",
    }


def write_reports(state: Any, out_dir: Path) -> dict[str, Path]:
    from claimcheck.plugin import problems

    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = model.build(
        state.verdicts,
        environment.collect(state.config.rootpath, seeds()),
        state.stop_errors,
        problems(state) if not state.stop_errors else [],
        state.phase_s,
    )
    previous_path = state.config.getoption("--compare-with")
    if previous_path:
        from claimcheck.report.compare import compare

        data["comparison"] = compare(data, Path(previous_path))
    json_path = out_dir / "verdict.json"
    json_path.write_text(
        json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False) + "\n",
        encoding="utf-8",
    )
    html_path = out_dir / "verdict.html"
    html_path.write_text(html.render(data), encoding="utf-8")
    state.phase_s["render"] = time.perf_counter() - started
    return {"json": json_path, "html": html_path}
