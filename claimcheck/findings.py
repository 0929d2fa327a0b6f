"""Findings: what a reader sees beside a verdict (docs/design.md, "Findings").

One or two sentences, rendered from the numbers the checks measured: what the article says, what
was measured, what decides. Each check contributes one short sentence from its evidence (its own
`Evidence.conclude` sentence, or one rendered here from its comparisons: claimed beside measured,
the interval against the region); the claim's finding composes them per deciding part. A finding
never falls back to a check's name or parameter label, and checks that could not run on this
machine (no CUDA) are listed apart by the report, never inside the finding.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from softmax_claimcheck.claimcheck.model import Claim

if TYPE_CHECKING:
    from softmax_claimcheck.claimcheck.verdicts import CheckResult

SHOWN = 4  # values of an array shown in a sentence
# Which failing comparison speaks for a check: the article's own number, then a property with
# the value that decided it, then a statistic, then a deviation from the exact oracle.
SOURCE_ORDER = ("article", "property", "statistic", "oracle")
MAX_CHECK_SENTENCE = 320  # characters of one check's sentence


def number(value: Any) -> str:
    """A value as a sentence shows it: short, exact enough to see a difference."""
    if isinstance(value, bool) or value is None:
        return str(value).lower() if isinstance(value, bool) else "none"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return {"inf": "∞", "-inf": "−∞"}.get(str(value), "NaN")
        return f"{value:.4g}"
    if isinstance(value, str) and value in ("inf", "-inf", "nan"):
        return {"inf": "∞", "-inf": "−∞", "nan": "NaN"}[value]
    if isinstance(value, list):
        shown = ", ".join(number(v) for v in value[:SHOWN])
        more = f", … ({len(value)} values)" if len(value) > SHOWN else ""
        return f"[{shown}{more}]"
    if isinstance(value, dict) and {"count", "min", "max"} <= value.keys():
        return f"{value['count']} values in [{number(value['min'])}, {number(value['max'])}]"
    if isinstance(value, dict):
        return ", ".join(f"{k} {number(v)}" for k, v in list(value.items())[:SHOWN])
    return str(value)


def printed(c: dict[str, Any]) -> str:
    """The article's value as the article prints it (its decimals), where known."""
    value, decimals = c.get("expected"), c.get("decimals")
    if isinstance(decimals, int) and _scalar(value) and 0 <= decimals <= 12:
        return f"{value:.{decimals}f}"
    return number(value)


def _scalar(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def comparison_sentence(c: dict[str, Any]) -> str:
    """One comparison as a clause: claimed (or exact) beside measured, and what decides."""
    quantity, expected, measured = c.get("quantity", "?"), c.get("expected"), c.get("measured")
    deviation, allowed, holds = c.get("deviation"), c.get("allowed"), c.get("holds")
    source = c.get("source")
    if source == "article":
        if holds:
            return (
                f"the article's {printed(c)} for {quantity} matches the exact "
                f"{number(measured)} to its printed precision"
            )
        return (
            f"the article prints {printed(c)} for {quantity}, the exact value is "
            f"{number(measured)} (off by {number(deviation)}; its printed precision allows "
            f"{number(allowed)})"
        )
    if source == "oracle":
        values = (
            f" (measured {number(measured)}, exact {number(expected)})"
            if _scalar(measured) or _scalar(expected)
            else ""
        )
        if holds:
            return (
                f"{quantity} is within {number(allowed)} of the exact value "
                f"(off by {number(deviation)}){values}"
            )
        off = "NaN or a shape mismatch" if deviation is None else number(deviation)
        values = values or _worst_entry(expected, measured)
        return (
            f"{quantity} is off the exact value by {off}, beyond the {number(allowed)} "
            f"allowed{values}"
        )
    if source == "statistic":
        low_high = measured if isinstance(measured, list) and len(measured) == 2 else None
        interval = f"[{number(low_high[0])}, {number(low_high[1])}]" if low_high else "?"
        where = (
            "inside it"
            if holds
            else "straddling its boundary"
            if c.get("inconclusive")
            else "outside it"
        )
        needed = f"; {c['needed']}" if c.get("inconclusive") and c.get("needed") else ""
        claimed = _region(expected)
        return (
            f"{quantity}: confidence interval {interval} against the claimed {claimed}, "
            f"{where}{needed}"
        )
    # a yes/no property: what was expected and the value that decided it
    if holds:
        return f"{quantity}: {number(measured)}, as expected ({expected})"
    return f"{quantity}: {number(measured)}, where {expected} is expected"


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict) and "first" in value:
        value = value["first"]
    if not isinstance(value, list):
        return [value]
    return [leaf for item in value for leaf in _leaves(item)]


def _worst_entry(expected: Any, measured: Any) -> str:
    """The entry of two arrays that differs most, as "(worst entry: measured a, exact b)"."""
    pairs = [
        (e, m)
        for e, m in zip(_leaves(expected), _leaves(measured), strict=False)
        if _scalar(e) and _scalar(m)
    ]
    if not pairs:
        return f" (measured {number(measured)}, exact {number(expected)})"
    e, m = max(pairs, key=lambda p: abs(float(p[0]) - float(p[1])))
    return f" (worst entry: measured {number(m)}, exact {number(e)})"


def _region(shown: Any) -> str:
    """A statistic's region "[lo, hi]" as words: "below hi", "above lo" or "range [lo, hi]"."""
    match = re.fullmatch(r"\[(.+), (.+)\]", str(shown))
    if not match:
        return f"region {shown}"
    low, high = match.groups()
    if low in ("-∞", "-inf") and high not in ("∞", "inf"):
        return f"region below {high}"
    if high in ("∞", "inf") and low not in ("-∞", "-inf"):
        return f"region above {low}"
    return f"range [{low}, {high}]"


def _cleaned_message(message: str) -> str:
    """An assertion's own message as a clause (no exception type, no pytest's assert dump)."""
    text = re.sub(r"^(AssertionError|Failed):\s*", "", message.strip())
    text = text.split("\nassert ", 1)[0].split("\n", 1)[0].strip()
    return "" if text.startswith("assert ") else text


def check_sentence(check: CheckResult) -> str:
    """The sentence one check contributes: its own, or one rendered from its comparisons."""
    evidence = check.evidence or {}
    own = evidence.get("finding")
    if isinstance(own, str) and own.strip():
        return _bounded(own)
    comparisons = [c for c in evidence.get("comparisons", []) if isinstance(c, dict)]
    if check.outcome == "fails":
        picked = [c for c in comparisons if not c.get("holds") and not c.get("inconclusive")]
        picked.sort(key=_source_rank)
    elif check.outcome == "inconclusive":
        picked = [c for c in comparisons if c.get("inconclusive")]
    else:
        picked = sorted(comparisons, key=_closeness, reverse=True)[:1]
    articles = [c for c in picked if c.get("source") == "article"]
    if check.outcome == "fails" and len(articles) > 1:
        return _bounded(_printed_numbers_sentence(articles))
    if picked:
        more = len(picked) - 1
        text = comparison_sentence(picked[0])
        tail = f" (and {more} more that fail{'s' * (more == 1)})" if more else ""
        return _bounded(text + tail)
    if check.outcome == "fails":
        cleaned = _cleaned_message(check.message)
        if cleaned:
            return _bounded(cleaned)
        example = evidence.get("falsifying_example")
        if example:
            return _bounded(f"counterexample: {' '.join(str(example).split())}")
    return ""


def _source_rank(c: dict[str, Any]) -> int:
    source = c.get("source")
    return SOURCE_ORDER.index(source) if source in SOURCE_ORDER else len(SOURCE_ORDER)


def _printed_numbers_sentence(wrong: list[dict[str, Any]]) -> str:
    """Several printed numbers that miss: all of them beside their exact values."""
    shown = wrong[:SHOWN]
    quantities = ", ".join(str(c.get("quantity")) for c in shown)
    values = ", ".join(printed(c) for c in shown)
    exact = ", ".join(number(c.get("measured")) for c in shown)
    allowed = {number(c.get("allowed")) for c in shown}
    bound = f" (its printed precision allows ±{allowed.pop()})" if len(allowed) == 1 else ""
    more = f", and {len(wrong) - SHOWN} more" if len(wrong) > SHOWN else ""
    return (
        f"the article prints {values} for {quantities}, the exact values are {exact}{bound}"
        f"{more}: each misses its printed precision"
    )


def _closeness(c: dict[str, Any]) -> float:
    deviation, allowed = c.get("deviation"), c.get("allowed")
    if isinstance(deviation, (int, float)) and isinstance(allowed, (int, float)) and allowed > 0:
        return float(deviation) / float(allowed)
    return -1.0


def _bounded(text: str) -> str:
    text = " ".join(text.split()).rstrip(".")
    return text if len(text) <= MAX_CHECK_SENTENCE else text[: MAX_CHECK_SENTENCE - 1] + "…"


def unit_sentence(checks: Sequence[CheckResult], outcome: str) -> str:
    """What the deciding checks of one part say for the part's outcome: the first distinct
    sentence, and how many of the part's checks share the outcome when there are several."""
    with_outcome = [c for c in sorted(checks, key=lambda c: c.nodeid) if c.outcome == outcome]
    sentences = [s for s in (check_sentence(c) for c in with_outcome) if s]
    if not sentences:
        return ""
    ran = [c for c in checks if c.outcome in ("holds", "fails", "inconclusive")]
    plural = {"holds": "hold", "fails": "fail", "inconclusive": "are undecided"}[outcome]
    share = f" ({len(with_outcome)} of {len(ran)} cases {plural})" if len(ran) > 1 else ""
    return sentences[0] + share


def brief_unit(checks: Sequence[CheckResult]) -> str:
    """A part that holds beside one that fails: how many cases, without the detail."""
    ran = [c for c in checks if c.outcome in ("holds", "fails", "inconclusive")]
    return f"in all {len(ran)} cases checked" if len(ran) > 1 else "in the case checked"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def _unit_name(unit: str) -> str:
    return f"'{unit}'" if unit else "the statement"


def scale_phrase(checks: Iterable[CheckResult]) -> str:
    """The scale of a training claim's deciding runs, from the checks' evidence."""
    scale = merged_scale(checks)
    if not scale:
        return ""
    bits = []
    if scale.get("steps"):
        bits.append(f"{_joined(scale['steps'])} steps")
    if scale.get("parameters"):
        bits.append(f"{_joined(scale['parameters'], thousands=True)} parameters")
    if scale.get("seeds"):
        bits.append(f"{_joined(scale['seeds'])} seeds")
    if scale.get("tasks"):
        bits.append(" and ".join(scale["tasks"]))
    preset = scale.get("preset", "?")
    return f"At the {preset} preset's scale ({', '.join(bits)})"


def _joined(values: Any, thousands: bool = False) -> str:
    values = values if isinstance(values, list) else [values]
    shown = [
        f"{v / 1000:.0f}k" if thousands and _scalar(v) and v >= 1000 else str(v) for v in values
    ]
    return "/".join(shown)


def merged_scale(checks: Iterable[CheckResult]) -> dict[str, Any]:
    """One scale for a claim: each key's distinct values over its deciding checks, in order."""
    merged: dict[str, list[Any]] = {}
    for check in sorted(checks, key=lambda c: c.nodeid):
        scale = (check.evidence or {}).get("scale") or {}
        for key, value in scale.items():
            key = "tasks" if key == "task" else key
            for v in value if isinstance(value, list) else [value]:
                if v not in merged.setdefault(key, []):
                    merged[key].append(v)
    return {k: (v if k == "tasks" or len(v) > 1 else v[0]) for k, v in merged.items() if v}


def compose(
    claim: Claim,
    parts: dict[str, str],
    alternatives: dict[str, str],
    checks: Sequence[CheckResult],
) -> str:
    """A claim's finding for a decided verdict (holds, fails, partly, inconclusive), in one or
    two sentences, from its deciding checks' sentences per part."""
    deciding = [c for c in checks if c.standing == "decides"]
    by_unit = {u: [c for c in deciding if (c.reading or "") == u] for u in parts}
    named = len(parts) > 1

    mixed = any(o != "holds" for o in parts.values())

    def say(unit: str, outcome: str) -> str:
        if mixed and outcome == "holds":  # the numbers that matter are the failing part's
            return f"{_unit_name(unit)} holds {brief_unit(by_unit[unit])}"
        text = unit_sentence(by_unit[unit], outcome)
        if not text:  # the checks recorded no measurement: say how many cases, never a label
            text = f"{_verb(outcome)} {brief_unit(by_unit[unit])}"
            return f"{_unit_name(unit)} {text}" if named else text
        return f"{_unit_name(unit)} {_verb(outcome)}: {text}" if named else text

    order = ("fails", "inconclusive", "holds")
    shown = [u for o in order for u in parts if parts[u] == o]
    clauses = [say(u, parts[u]) for u in shown]
    first = "; ".join(clauses)
    if claim.empirical:
        scale = scale_phrase(deciding)
        first = f"{scale}: {first}" if scale else _capital(first)
    else:
        first = _capital(first)
    sentences = [first.rstrip(".") + "."]
    alt = _alternatives_sentence(alternatives, checks)
    if alt:
        sentences.append(alt)
    return " ".join(sentences)


def _verb(outcome: str) -> str:
    return {"holds": "holds", "fails": "fails", "inconclusive": "is undecided"}.get(
        outcome, outcome
    )


def _alternatives_sentence(alternatives: dict[str, str], checks: Sequence[CheckResult]) -> str:
    shown = [(a, o) for a, o in alternatives.items() if o in ("holds", "fails", "inconclusive")]
    if not shown:
        return ""
    bits = []
    for reading_id, outcome in shown:
        mine = [c for c in checks if c.reading == reading_id]
        text = unit_sentence(mine, outcome)
        bits.append(f"'{reading_id}' {_verb(outcome)}" + (f" ({text})" if text else ""))
    return "Shown, not deciding: under the other reading " + "; ".join(bits) + "."


def first_sentences(text: str, n: int = 2) -> str:
    """The first n sentences of a text (a NOT CHECKABLE claim's reason as its finding)."""
    parts = split_sentences(text)
    return " ".join(parts[:n])


def split_sentences(text: str) -> list[str]:
    """Sentences of a finding: a full stop, ! or ? followed by a space and a capital letter or
    a digit ends one (decimals such as 0.38 and abbreviations such as e.g. do not)."""
    text = " ".join(text.split())
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9])", text) if s]
