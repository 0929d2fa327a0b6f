"""Run-to-run comparison: what changed since a previous verdict.json (torch or driver upgrades).

Checks are matched by node id (stable across runs; labels such as 'float32 / torch-cpu' repeat
across the checks of one claim), and a quantity recorded several times in one check by its order.
A previous file that cannot be read, or is not a verdict.json, gives an `error` the report shows,
never an empty "nothing changed".
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

# Environment entries whose change explains moved values (an upgrade of torch, the GPU driver...).
ENVIRONMENT_KEYS = ("python", "numpy", "torch", "mpmath", "hypothesis", "gpu", "cpu", "platform")

Key = tuple[str, str, str, int]


def _checks(data: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every check of a report by node id, with the claim it belongs to."""
    return {
        check["nodeid"]: (claim["id"], check)
        for claim in data.get("claims", [])
        for check in claim.get("checks", [])
    }


def _measured(data: dict[str, Any]) -> dict[Key, tuple[str, Any]]:
    out: dict[Key, tuple[str, Any]] = {}
    for nodeid, (claim_id, check) in _checks(data).items():
        seen: dict[str, int] = {}
        for c in check.get("evidence", {}).get("comparisons", []):
            n = seen[c["quantity"]] = seen.get(c["quantity"], -1) + 1
            out[(claim_id, nodeid, c["quantity"], n)] = (check.get("label", nodeid), c["measured"])
    return out


def _moved(before: Any, after: Any, rel: float = 1e-9) -> bool:
    if isinstance(before, (int, float)) and isinstance(after, (int, float)):
        if math.isnan(before) or math.isnan(after):
            return not (math.isnan(before) and math.isnan(after))
        return abs(before - after) > rel * max(1.0, abs(before), abs(after))
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return any(_moved(b, a, rel) for b, a in zip(before, after, strict=True))
    return bool(before != after)


def _empty(previous_file: Path, error: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "previous_file": str(previous_file),
        "previous_date": "?",
        "previous_commit": "?",
        "environment_changed": [],
        "verdicts_changed": [],
        "added": [],
        "removed": [],
        "outcomes_changed": [],
        "values_moved": [],
    }
    if error:
        out["error"] = error
    return out


def compare(current: dict[str, Any], previous_file: Path) -> dict[str, Any]:
    try:
        previous = json.loads(previous_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return _empty(previous_file, f"cannot read: {exc}")
    try:
        return _compare(current, previous, previous_file)
    except (AttributeError, KeyError, TypeError) as exc:
        return _empty(previous_file, f"not a verdict.json ({type(exc).__name__}: {exc})")


def _compare(current: dict[str, Any], previous: dict[str, Any], file: Path) -> dict[str, Any]:
    before = {c["id"]: c for c in previous["claims"]}
    after = {c["id"]: c for c in current["claims"]}
    old_values, new_values = _measured(previous), _measured(current)
    old_checks, new_checks = _checks(previous), _checks(current)
    old_env, new_env = previous.get("environment", {}), current.get("environment", {})
    out = _empty(file)
    out.update(
        previous_date=old_env.get("date", "?"),
        previous_commit=old_env.get("git_commit", "?"),
        environment_changed=[
            {"key": k, "before": old_env.get(k), "after": new_env.get(k)}
            for k in ENVIRONMENT_KEYS
            if old_env.get(k) != new_env.get(k)
        ],
        verdicts_changed=[
            {"claim_id": cid, "before": before[cid]["verdict"], "after": after[cid]["verdict"]}
            for cid in sorted(set(before) & set(after))
            if before[cid]["verdict"] != after[cid]["verdict"]
        ],
        added=sorted(set(after) - set(before)),
        removed=sorted(set(before) - set(after)),
        outcomes_changed=[
            {
                "claim_id": new_checks[n][0],
                "check": new_checks[n][1]["label"],
                "nodeid": n,
                "before": old_checks[n][1]["outcome"],
                "after": new_checks[n][1]["outcome"],
            }
            for n in sorted(set(old_checks) & set(new_checks))
            if old_checks[n][1]["outcome"] != new_checks[n][1]["outcome"]
        ],
        values_moved=[
            {
                "claim_id": k[0],
                "check": new_values[k][0],
                "nodeid": k[1],
                "quantity": k[2],
                "before": old_values[k][1],
                "after": new_values[k][1],
            }
            for k in sorted(set(old_values) & set(new_values))
            if _moved(old_values[k][1], new_values[k][1])
        ],
    )
    return out
