"""Render verdict.html: one self-contained page, server-side, readable with JavaScript off.

Autoescaping is on for every value: a quote holding <script> shows as text.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jinja2

BADGE_ORDER = (
    "SUPPORTED",
    "PARTLY SUPPORTED",
    "REFUTED",
    "REPRODUCED",
    "PARTLY REPRODUCED",
    "NOT REPRODUCED",
    "INCONCLUSIVE",
    "NOT CHECKABLE",
    "NOT RUN",
    "ERROR",
)


def _css_class(verdict: str) -> str:
    return verdict.lower().replace(" ", "-")


def _fmt(value: Any) -> str:
    """Numbers as a reader wants them: short, but never hiding a difference."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        if len(value) > 12:
            return "[" + ", ".join(_fmt(v) for v in value[:12]) + f", … ({len(value)} values)]"
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, dict) and {"count", "first"} <= value.keys():
        shown = ", ".join(_fmt(v) for v in value["first"])
        return (
            f"[{shown}, … ({value['count']} values, min {_fmt(value['min'])}, "
            f"max {_fmt(value['max'])})]"
        )
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


CUT = 160  # characters of a value shown in a key/value table; the rest is in verdict.json


def _cut(value: Any, limit: int = CUT) -> str:
    """A value for a short key/value table: formatted, long text cut with "…"."""
    text = _fmt(value) if not isinstance(value, str) else value
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rows(value: Any) -> list[tuple[str, Any]]:
    """A mapping as (key, value) rows; nested mappings flattened one level as "key.sub"."""
    if not isinstance(value, dict):
        return [("", value)]
    rows: list[tuple[str, Any]] = []
    for key, item in value.items():
        if isinstance(item, dict) and not ({"count", "first"} <= item.keys()) and len(item) <= 16:
            rows += [(f"{key}.{sub}", v) for sub, v in item.items()]
        else:
            rows.append((str(key), item))
    return rows


def _figures(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The figures of a claim's deciding checks, each once (by caption): shown beside the
    finding of a training claim."""
    seen: dict[str, dict[str, Any]] = {}
    for check in checks:
        if check.get("standing") != "decides":
            continue
        for figure in (check.get("evidence") or {}).get("figures") or []:
            seen.setdefault(figure.get("caption", ""), figure)
    return list(seen.values())


def _closest(comparisons: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The numeric comparison nearest its bound: what a reader of a passing check wants to see."""
    numeric = [
        c
        for c in comparisons
        if isinstance(c.get("deviation"), (int, float))
        and isinstance(c.get("allowed"), (int, float))
        and c["allowed"] > 0
    ]
    return max(numeric, key=lambda c: c["deviation"] / c["allowed"], default=None)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("softmax_claimcheck.claimcheck", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["css"] = _css_class
    env.filters["fmt"] = _fmt
    env.filters["closest"] = _closest
    env.filters["cut"] = _cut
    env.filters["rows"] = _rows
    env.filters["figures"] = _figures
    return env


def render(data: dict[str, Any]) -> str:
    css = (
        resources.files("softmax_claimcheck.claimcheck")
        .joinpath("templates/report.css")
        .read_text("utf-8")
    )
    template = _environment().get_template("verdict.html")
    return template.render(data=data, css=css, badge_order=BADGE_ORDER)
