"""Run-to-run comparison: what changed since a previous verdict.json (torch or driver upgrades)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def _measured(data: dict[str, Any]) -> dict[tuple[str, str, str], Any]:
    out = {}
    for claim in data.get("claims", []):
        for check in claim.get("checks", []):
            for c in check.get("evidence", {}).get("comparisons", []):
                out[(claim["id"], check["label"], c["quantity"])] = c["measured"]
    return out


def _moved(before: Any, after: Any, rel: float = 1e-9) -> bool:
    if isinstance(before, (int, float)) and isinstance(after, (int, float)):
        if math.isnan(before) and math.isnan(after):
            return False
        return abs(before - after) > rel * max(1.0, abs(before), abs(after))
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return any(_moved(b, a, rel) for b, a in zip(before, after, strict=True))
    return bool(before != after)


def compare(current: dict[str, Any], previous_file: Path) -> dict[str, Any]:
    try:
        previous = json.loads(previous_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {
            "previous_file": str(previous_file),
            "error": f"cannot read: {exc}",
            "previous_date": "?",
            "previous_commit": "?",
            "verdicts_changed": [],
            "added": [],
            "removed": [],
            "values_moved": [],
        }
    before = {c["id"]: c for c in previous.get("claims", [])}
    after = {c["id"]: c for c in current.get("claims", [])}
    old_values, new_values = _measured(previous), _measured(current)
    moved = [
        {
            "claim_id": k[0],
            "check": k[1],
            "quantity": k[2],
            "before": old_values[k],
            "after": new_values[k],
        }
        for k in sorted(set(old_values) & set(new_values))
        if _moved(old_values[k], new_values[k])
    ]
    env = previous.get("environment", {})
    return {
        "previous_file": str(previous_file),
        "previous_date": env.get("date", "?"),
        "previous_commit": env.get("git_commit", "?"),
        "verdicts_changed": [
            {"claim_id": cid, "before": before[cid]["verdict"], "after": after[cid]["verdict"]}
            for cid in sorted(set(before) & set(after))
            if before[cid]["verdict"] != after[cid]["verdict"]
        ],
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "values_moved": moved,
    }
