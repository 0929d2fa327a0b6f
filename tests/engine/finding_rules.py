"""What every finding in a verdict.json must be (docs/design.md, "Findings"): the rules the
engine tests apply to a real run's report and to synthetic ones.

- never the old fallback ("The statement fails: <label>"), a check id, or a list of devices;
- at most two sentences;
- REFUTED, PARTLY SUPPORTED, NOT REPRODUCED and PARTLY REPRODUCED: the article's (claimed)
  value and the measured one of a failing deciding comparison;
- INCONCLUSIVE: the interval, the region it is judged against, and the sample that would
  decide.
"""

from __future__ import annotations

import math
import re
from typing import Any

from softmax_claimcheck.claimcheck.findings import split_sentences

WRONG = ("REFUTED", "PARTLY SUPPORTED", "NOT REPRODUCED", "PARTLY REPRODUCED")
NUMBER = re.compile(r"[-−]?\d+(?:[.,]\d+)*(?:e[-+]?\d+)?")
INTERVAL = re.compile(r"\[\s*[-−]?[\d.e+-]+,\s*[-−]?[\d.e+-]+\s*\]")
DEVICES = re.compile(r"\b(cuda|not run here|not run on this machine)\b", re.IGNORECASE)


def _numbers(text: str) -> list[float]:
    out = []
    for raw in NUMBER.findall(text):
        try:
            out.append(float(raw.replace("−", "-").replace(",", "")))
        except ValueError:
            continue
    return out


def _values(value: Any) -> tuple[list[float], list[str]]:
    """The numbers and the words a recorded value holds (flattened)."""
    if isinstance(value, bool) or value is None:
        return [], []
    if isinstance(value, (int, float)):
        return ([float(value)] if math.isfinite(value) else []), []
    if isinstance(value, str):
        numbers = _numbers(value)
        return numbers, ([] if numbers else [value])
    if isinstance(value, dict):
        items = value.get("first", list(value.values()))
        return _values(items)
    if isinstance(value, list):
        numbers: list[float] = []
        words: list[str] = []
        for item in value:
            n, w = _values(item)
            numbers += n
            words += w
        return numbers, words
    return [], []


def _shows(finding: str, value: Any) -> bool:
    """Whether the finding shows this value: one of its numbers to 3 significant digits, or
    (for a value without numbers, e.g. token names) its words; an empty list shows as []."""
    numbers, words = _values(value)
    if not numbers and not words:
        return (value == [] and "[]" in finding) or value in (None, "") or isinstance(value, bool)
    shown = _numbers(finding)
    if any(any(_close(n, s) for s in shown) for n in numbers):
        return True
    return any(w and w.lower() in finding.lower() for w in words)


def _close(a: float, b: float) -> bool:
    if a == b:
        return True
    scale = max(abs(a), abs(b))
    return scale > 0 and abs(a - b) <= 0.006 * scale


def _failing_comparisons(claim: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        c
        for check in claim.get("checks", [])
        if check.get("standing") == "decides" and check.get("outcome") == "fails"
        for c in (check.get("evidence") or {}).get("comparisons", [])
        if not c.get("holds") and not c.get("inconclusive")
    ]


def problems(data: dict[str, Any]) -> list[str]:
    """Every way the findings of a verdict.json break the rules, one line each."""
    out = []
    nodeids = {
        part
        for claim in data.get("claims", [])
        for check in claim.get("checks", [])
        for part in (check["nodeid"], check["nodeid"].split("::")[-1].split("[")[0])
    }
    for claim in data.get("claims", []):
        cid, verdict = claim["id"], claim["verdict"]
        finding = claim.get("finding")
        where = f"{cid} ({verdict})"
        if not isinstance(finding, str) or not finding.strip():
            out.append(f"{where}: no finding")
            continue
        if re.search(r"statement fails\s*:", finding, re.IGNORECASE):
            out.append(f"{where}: the old fallback 'The statement fails: <label>'")
        named = sorted(n for n in nodeids if n and n in finding)
        if named:
            out.append(f"{where}: names a check id ({named[0]})")
        # A NOT RUN's finding is the reason nothing decided (e.g. no CUDA device): that is
        # the one place a device belongs.
        device = DEVICES.search(finding) if verdict not in ("NOT CHECKABLE", "NOT RUN") else None
        if device:
            out.append(f"{where}: lists devices ({device.group(0)!r})")
        sentences = split_sentences(finding)
        if len(sentences) > 2:
            out.append(f"{where}: {len(sentences)} sentences (at most two)")
        if verdict in WRONG:
            failing = _failing_comparisons(claim)
            if failing and not any(
                _shows(finding, c.get("expected")) and _shows(finding, c.get("measured"))
                for c in failing
            ):
                out.append(f"{where}: neither claimed nor measured value of a failing comparison")
            if not failing and len(_numbers(finding)) < 2:
                out.append(f"{where}: no claimed and measured values")
        if verdict == "INCONCLUSIVE":
            if not INTERVAL.search(finding):
                out.append(f"{where}: no interval")
            if not re.search(r"against the claimed", finding):
                out.append(f"{where}: no region it is judged against")
            if "decide" not in finding:
                out.append(f"{where}: no sample that would decide it")
    return out
