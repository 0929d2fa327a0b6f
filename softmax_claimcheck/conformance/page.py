"""The conformance page: one self-contained HTML file (no JavaScript, no network) rendered from
a `Result`, beside conformance.json (the same data)."""

from __future__ import annotations

import html
import json
from pathlib import Path

from softmax_claimcheck.conformance.results import (
    BEHAVIOUR,
    ERROR,
    EXPECTED_FAIL,
    FAIL,
    NOT_SUPPORTED,
    PASS,
    UNEXPECTED_PASS,
    PropertyCheck,
    Result,
)
from softmax_claimcheck.impl.loading import described

SHORT = {
    PASS: "pass",
    FAIL: "FAIL",
    NOT_SUPPORTED: "n/s",
    BEHAVIOUR: "beh",
    EXPECTED_FAIL: "xfail",
    UNEXPECTED_PASS: "XPASS",
    ERROR: "ERROR",
}
CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f4f4f4}
.pass{background:#e6f4e6}.fail,.unexpected-pass,.error{background:#fbdada;font-weight:bold}
.not-supported{background:#eee;color:#666}.behaviour{background:#e6eefc}
.expected-fail{background:#fff3d6}pre{white-space:pre-wrap;background:#f8f8f8;padding:.5em}
.ok{color:#175917}.bad{color:#a00}
"""


def cell_text(check: PropertyCheck) -> str:
    if check.outcome == BEHAVIOUR:
        return f"behaviour: {check.behaviour}"
    return check.outcome


def not_supported(result: Result) -> list[str]:
    """Why each check was not supported, one line per reason: where (the properties and the
    device/dtype columns) and the reason, e.g. "gradient on cpu/float64, cpu/float32: numpy
    input: no autograd"."""
    by_reason: dict[str, tuple[list[str], list[str]]] = {}
    for check in result.checks:
        if check.outcome != NOT_SUPPORTED:
            continue
        props, cases = by_reason.setdefault(check.message, ([], []))
        if check.property not in props:
            props.append(check.property)
        if check.case not in cases:
            cases.append(check.case)
    lines = []
    every = len(result.properties)
    for reason, (props, cases) in by_reason.items():
        which = f"all {every} properties" if len(props) == every > 1 else ", ".join(props)
        lines.append(f"{which} on {', '.join(cases)}: {reason}")
    return lines


def render(result: Result) -> str:
    e = html.escape
    columns = [(d, t) for d in result.devices for t in result.dtypes]
    verdict = "conforms" if result.ok else "does not conform"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Conformance: {e(result.implementation)}</title><style>{CSS}</style></head><body>",
        f"<h1>Conformance of <code>{e(result.implementation)}</code></h1>",
        f"<p class='{'ok' if result.ok else 'bad'}'><b>{e(result.kind)} ({e(result.backend)}): "
        f"{verdict}</b>. {e(result.summary())}</p>",
        f"<p>{e(described(result.convention))}. Declared: {e(json.dumps(result.declared))}. "
        f"Took {result.seconds:.1f} s.</p>",
        "<table><tr><th>property</th>",
        *(f"<th>{e(d)}/{e(t)}</th>" for d, t in columns),
        "</tr>",
    ]
    for prop in result.properties:
        parts.append(
            f"<tr><th title='{e(prop.statement)}'>{e(prop.id)}<br>"
            f"<small>{e(prop.title)}</small></th>"
        )
        for device, dtype in columns:
            check = result.cell(prop.id, device, dtype)
            if check is None:
                parts.append("<td></td>")
                continue
            css = check.outcome.replace(" ", "-")
            parts.append(f"<td class='{css}' title='{e(check.message)}'>{e(cell_text(check))}</td>")
        parts.append("</tr>")
    parts.append("</table>")
    failures = result.failures
    if failures:
        parts.append("<h2>Failing checks</h2>")
        for check in failures:
            parts.append(f"<h3>{e(check.property)} on {e(check.case)}: {e(check.outcome)}</h3>")
            parts.append(f"<p>{e(check.message)}</p>")
            if check.exception:
                parts.append(f"<p>Exception:</p><pre>{e(check.exception)}</pre>")
            if check.inputs:
                parts.append(f"<p>Input:</p><pre>{e(check.inputs)}</pre>")
    reasons = not_supported(result)
    if reasons:
        parts.append("<h2>Not supported, and why</h2><ul>")
        parts += [f"<li>{e(line)}</li>" for line in reasons]
        parts.append("</ul>")
    noted = [c for c in result.checks if c.outcome in (BEHAVIOUR, EXPECTED_FAIL) or c.warnings]
    if noted:
        parts.append("<h2>Behaviours, known deviations and warnings</h2><ul>")
        for check in noted:
            warned = f" Warned: {'; '.join(check.warnings)}." if check.warnings else ""
            parts.append(
                f"<li><b>{e(check.property)}</b> [{e(check.case)}] {e(check.outcome)}: "
                f"{e(check.message)}{e(warned)}</li>"
            )
        parts.append("</ul>")
    parts.append("<h2>Properties</h2><dl>")
    for prop in result.properties:
        parts.append(f"<dt><b>{e(prop.id)}</b>: {e(prop.title)}</dt><dd>{e(prop.statement)}</dd>")
    parts.append("</dl><h2>Environment</h2><ul>")
    parts += [f"<li>{e(k)}: {e(v)}</li>" for k, v in result.environment.items()]
    parts.append("</ul></body></html>")
    return "\n".join(parts)


def write(result: Result, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    page, data = out_dir / "conformance.html", out_dir / "conformance.json"
    page.write_text(render(result), encoding="utf-8")
    data.write_text(json.dumps(result.to_json(), indent=1, default=str) + "\n", encoding="utf-8")
    return page, data


def table(result: Result) -> str:
    """The per-property console table."""
    columns = [(d, t) for d in result.devices for t in result.dtypes]
    heads = [f"{d}/{t}" if len(result.devices) > 1 else t for d, t in columns]
    width = max(len(p.id) for p in result.properties)
    cols = [max(len(h), 13) for h in heads]
    lines = ["  ".join([" " * width, *(h.ljust(w) for h, w in zip(heads, cols, strict=True))])]
    for prop in result.properties:
        row = [prop.id.ljust(width)]
        for (device, dtype), w in zip(columns, cols, strict=True):
            check = result.cell(prop.id, device, dtype)
            text = "" if check is None else SHORT[check.outcome]
            if check is not None and check.outcome == BEHAVIOUR:
                text = f"beh: {check.behaviour}"
            row.append(text.ljust(w))
        lines.append("  ".join(row).rstrip())
    return "\n".join(lines)
