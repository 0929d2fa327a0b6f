"""Run-to-run comparison: what changed since a previous verdict.json (torch or driver upgrades).

Checks are matched by node id (stable across runs; labels such as 'float32 / torch-cpu' repeat
across the checks of one claim), and a quantity recorded several times in one check by its order.
A previous file that cannot be read, or is not a verdict.json, gives an `error` the report shows,
never an empty "nothing changed".

`load_previous(path)` reads and checks that file up front and raises `CompareFileError` with one
line naming the file (missing, not a regular file, too large, truncated or not JSON, nested too
deeply, not a verdict.json, another `schema_version`): the plugin calls it when the run starts,
so a bad `--compare-with` stops the run with exit status 4 before any check runs.

Paths: `--compare-with` is resolved against the directory pytest was invoked from (as a shell
user expects of a path typed on the command line), through `resolve_path`; `--reports-dir` is an
output location and resolves against the rootdir, like the ini option it overrides.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from softmax_claimcheck.claimcheck.errors import excerpt, shorten
from softmax_claimcheck.claimcheck.model import Kind, Verdict
from softmax_claimcheck.claimcheck.report.verdict_json import (  # the layouts this code compares
    READABLE_VERSIONS,
)

MAX_BYTES = 512 * 1024 * 1024
MAX_DEPTH = 200  # a verdict.json is about 12 levels deep; deeper data is not one of ours

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
        "relabelled": [],
        "added": [],
        "removed": [],
        "outcomes_changed": [],
        "values_moved": [],
    }
    if error:
        out["error"] = error
    return out


class CompareFileError(ValueError):
    """The file given to --compare-with cannot be compared with; the message is one line that
    names the file."""

    def __init__(self, file: Path, why: str, *, unreadable: bool = False) -> None:
        self.file = file
        self.why = why
        self.unreadable = unreadable
        super().__init__(f"--compare-with {excerpt(str(file), 160)}: {why}")


def resolve_path(value: str | os.PathLike[str], invocation_dir: Path) -> Path:
    """Where --compare-with points: relative paths resolve against the directory pytest was
    invoked from (`config.invocation_params.dir`), not the rootdir."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else Path(invocation_dir, path)


def _read_bytes(file: Path) -> bytes:
    try:  # stat first: opening a socket fails with a cryptic ENXIO, a FIFO could block
        mode = os.stat(file).st_mode
    except OSError:
        mode = stat.S_IFREG  # let open() say what is wrong
    if not stat.S_ISREG(mode):
        raise CompareFileError(file, "not a regular file (a verdict.json is expected)")
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise CompareFileError(
            file, f"cannot open: {exc.strerror or exc}", unreadable=True
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CompareFileError(file, "not a regular file (a verdict.json is expected)")
        if info.st_size > MAX_BYTES:
            raise CompareFileError(file, f"larger than {MAX_BYTES} bytes; not a verdict.json")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise CompareFileError(
            file, f"cannot read: {exc.strerror or exc}", unreadable=True
        ) from None
    finally:
        os.close(fd)


def _depth_exceeds(data: Any, limit: int) -> bool:
    """Whether containers nest deeper than limit (iterative: no recursion on hostile data)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return False


def _shape_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return f"not a verdict.json: the top level is a JSON {type(data).__name__}, not an object"
    if "schema_version" not in data:
        return "not a verdict.json: it has no 'schema_version'"
    version = data["schema_version"]
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        return (
            f"written with verdict.json schema_version {excerpt(version, 40)}; this version "
            f"compares schema_version {' and '.join(map(str, READABLE_VERSIONS))} only"
        )
    claims = data.get("claims")
    if not isinstance(claims, list):
        return "not a verdict.json: 'claims' is missing or not a list"
    for i, claim in enumerate(claims):
        if not (
            isinstance(claim, dict)
            and isinstance(claim.get("id"), str)
            and isinstance(claim.get("verdict"), str)
            and isinstance(claim.get("checks", []), list)
            and all(isinstance(c, dict) for c in claim.get("checks", []))
        ):
            return f"not a verdict.json: claims[{i}] lacks a string 'id' and 'verdict'"
    if not isinstance(data.get("environment", {}), dict):
        return "not a verdict.json: 'environment' is not an object"
    return None


def load_previous(file: Path) -> dict[str, Any]:
    """A previous verdict.json, checked enough to be compared; raises CompareFileError."""
    raw = _read_bytes(file)
    if not raw.strip():
        raise CompareFileError(file, "the file is empty")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CompareFileError(
            file, f"not UTF-8 text (offset {exc.start}); not a verdict.json"
        ) from None
    except json.JSONDecodeError as exc:
        text = raw.decode("utf-8", "replace").rstrip()
        truncated = exc.pos >= len(text) - 1 or exc.msg.startswith("Unterminated string")
        what = "truncated JSON" if truncated else "not valid JSON"
        raise CompareFileError(
            file, f"{what} (line {exc.lineno}, column {exc.colno}: {shorten(exc.msg, 80)})"
        ) from None
    except RecursionError:
        raise CompareFileError(file, "JSON nested too deeply to read; not a verdict.json") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise CompareFileError(file, f"unreadable JSON value: {shorten(str(exc), 120)}") from None
    if _depth_exceeds(data, MAX_DEPTH):
        raise CompareFileError(
            file, f"JSON nested more than {MAX_DEPTH} levels deep; not a verdict.json"
        )
    problem = _shape_problem(data)
    if problem:
        raise CompareFileError(file, problem)
    return data


def compare(current: dict[str, Any], previous_file: Path) -> dict[str, Any]:
    """The comparison the report shows; a bad previous file gives an `error` entry (the plugin
    should have stopped the run earlier through load_previous)."""
    try:
        previous = load_previous(previous_file)
    except CompareFileError as exc:
        prefix = "cannot read" if exc.unreadable else "not a verdict.json"
        why = exc.why if exc.why.startswith("not a verdict.json") else f"{prefix}: {exc.why}"
        return _empty(previous_file, why)
    return compare_loaded(current, previous, previous_file)


def compare_loaded(
    current: dict[str, Any], previous: dict[str, Any], previous_file: Path
) -> dict[str, Any]:
    """The comparison with a file already read by load_previous (at configure time); never
    raises."""
    try:
        return _compare(current, previous, previous_file)
    except (AttributeError, KeyError, TypeError, ValueError, RecursionError) as exc:
        return _empty(
            previous_file,
            f"not a verdict.json ({type(exc).__name__}: {shorten(str(exc), 160)})",
        )


def _relabel(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """An experiment's verdict from a schema-2 file (SUPPORTED / REFUTED / PARTLY SUPPORTED)
    that now reads in the experiment family (REPRODUCED / NOT REPRODUCED / PARTLY REPRODUCED):
    the same outcome under its new name, not a change."""
    if after.get("family") != "experiment":
        return False
    try:
        old = Verdict(before["verdict"])
    except ValueError:
        return False
    return old.for_kind(Kind.EMPIRICAL).value == after["verdict"] and old.value != after["verdict"]


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
            and not _relabel(before[cid], after[cid])
        ],
        relabelled=[
            {"claim_id": cid, "before": before[cid]["verdict"], "after": after[cid]["verdict"]}
            for cid in sorted(set(before) & set(after))
            if before[cid]["verdict"] != after[cid]["verdict"] and _relabel(before[cid], after[cid])
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
