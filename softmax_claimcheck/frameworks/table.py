"""The framework × property × dtype table: runs the conformance properties and the measured
behaviours (measure.py) on every kernel of every framework, and writes

- docs/frameworks.md (generated: framework versions, git commit and date in its header),
- reports/frameworks/frameworks.json (the same data) and frameworks.html (the conformance page
  of each kernel, beside the table), plus each kernel's own conformance.html / .json.

`python -m softmax_claimcheck.frameworks` (what `nox -s frameworks` runs). Every cell comes from
running code; a framework that does not import is "not run: <reason>" in every one of its cells.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import platform
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from softmax_claimcheck.frameworks import adapters as A
from softmax_claimcheck.frameworks import measure as M


def subject(kernel: A.Kernel, fn: Any, reference: bool = True) -> Any:
    from softmax_claimcheck.conformance.subject import subject_for

    s = subject_for(fn, kernel.id, kind=kernel.kind, backend="torch", dtypes=A.DTYPES)
    if not reference:  # adapted to torch tensors: its gradient is its own framework's
        s.no_autograd = "computed by another framework: torch autograd does not reach it"
    s.available = lambda device, dtype: (
        A.Framework.device_reason(device) or kernel.dtype_reason(dtype)
    )
    return s


def run_kernel(
    kernel: A.Kernel,
    properties: Sequence[str] | None,
    measures: Sequence[str] | None,
    reference: bool = True,
) -> dict[str, Any]:
    from softmax_claimcheck.conformance.harness import Ctx
    from softmax_claimcheck.conformance.runner import run

    start = time.perf_counter()
    entry: dict[str, Any] = {"kernel": kernel.id, "kind": kernel.kind, "note": kernel.note}
    try:
        fn = kernel.build()
    except Exception as exc:
        entry["status"] = "not run"
        entry["reason"] = f"cannot build the adapter: {type(exc).__name__}: {exc}"
        return entry
    s = subject(kernel, fn, reference)
    result = run(s, only=set(properties) if properties is not None else None)
    entry["status"] = "ran"
    entry["conformance"] = result.to_json()
    entry["result"] = result
    values: dict[str, dict[str, Any]] = {}
    for key, (_, measure) in M.MEASURES.items():
        if measures is not None and key not in measures:
            continue
        values[key] = {}
        for dtype in A.DTYPES:
            reason = s.available("cpu", dtype) if s.available else None
            if reason is not None:
                values[key][dtype] = M.Cell(f"n/s: {reason}").to_json()
                continue
            values[key][dtype] = measure(Ctx(s, "cpu", dtype)).to_json()
    entry["measured"] = values
    entry["seconds"] = round(time.perf_counter() - start, 2)
    return entry


def collect(
    frameworks: Sequence[A.Framework] | None = None,
    properties: Sequence[str] | None = None,
    measures: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Run everything; the table's data (JSON-ready apart from each entry's `result`)."""
    A.force_cpu()
    fws = list(A.frameworks() if frameworks is None else frameworks)
    data: dict[str, Any] = {"header": header(fws), "frameworks": [], "rounding": {}}
    for fw in fws:
        reason = fw.unavailable()
        entry: dict[str, Any] = {
            "framework": fw.name,
            "reference": fw.reference,
            "versions": fw.versions(),
            "cuda": f"not run: {A.CUDA_OUT_OF_SCOPE}",
        }
        if reason is not None:
            entry["status"], entry["reason"] = "not run", reason
            entry["kernels"] = [
                {"kernel": k.id, "kind": k.kind, "status": "not run", "reason": reason}
                for k in fw.kernels
            ]
        else:
            entry["status"] = "ran"
            entry["kernels"] = [
                run_kernel(k, properties, measures, fw.reference) for k in fw.kernels
            ]
        data["frameworks"].append(entry)
    for kind in ("softmax", "log-softmax"):
        data["rounding"][kind] = {d: M.rounding_context(d, kind) for d in A.DTYPES}
    data["header"]["seconds"] = None
    return data


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def header(fws: Sequence[A.Framework]) -> dict[str, Any]:
    commit = _git("rev-parse", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    versions: dict[str, str] = {"python": platform.python_version(), "numpy": np.__version__}
    import mpmath

    versions["mpmath"] = mpmath.__version__
    for fw in fws:
        versions.update(fw.versions())
    return {
        "commit": commit + (" (with uncommitted changes)" if dirty not in ("", "unknown") else ""),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "versions": versions,
        "not_run": {fw.name: r for fw in fws if (r := fw.unavailable()) is not None},
    }


# -- rendering ---------------------------------------------------------------------------------
SHORT = {
    "pass": "pass",
    "fail": "**FAIL**",
    "not supported": "n/s",
    "behaviour": "beh",
    "expected fail": "xfail",
    "unexpected pass": "XPASS",
    "error": "ERROR",
}


def _kernels(data: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(fw, k) for fw in data["frameworks"] for k in fw["kernels"]]


def _label(fw: dict[str, Any], k: dict[str, Any]) -> str:
    ref = " (reference)" if fw["reference"] else ""
    return f"{fw['framework']}{ref}: `{k['kernel']}`"


def _short(text: str) -> str:
    return "n/s" if text.startswith("n/s:") else text


def _unsupported(data: dict[str, Any]) -> dict[str, str]:
    """`kernel` dtype -> why it does not run there (once, instead of in every cell)."""
    found: dict[str, str] = {}
    for fw, k in _kernels(data):
        for cells in k.get("measured", {}).values():
            for dtype, cell in cells.items():
                if cell["text"].startswith("n/s:"):
                    found.setdefault(f"{_label(fw, k)} in {dtype}", cell["text"][4:].strip())
    return found


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _conformance_cell(check: dict[str, Any]) -> str:
    outcome = check["outcome"]
    if outcome == "behaviour":
        return f"beh: {check['behaviour']}"
    if outcome == "fail" and check.get("exception"):
        return f"**FAIL** (raises {check['exception'].split(':')[0]})"
    return SHORT.get(outcome, outcome)


def markdown(data: dict[str, Any]) -> str:
    h = data["header"]
    lines = [
        "# Softmax and attention across frameworks",
        "",
        "<!-- Generated by `nox -s frameworks` (python -m softmax_claimcheck.frameworks). "
        "Do not edit: every value below comes from running code. -->",
        "",
        f"Generated {h['date']} at commit `{h['commit']}` on {h['platform']} ({h['machine']}), "
        "CPU only.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in h["versions"].items()) + ".",
        "",
    ]
    if h["not_run"]:
        lines.append("Not run:")
        lines += [f"- {name}: {reason}" for name, reason in h["not_run"].items()]
        lines.append("")
    unsupported = _unsupported(data)
    if unsupported:
        lines.append("Not supported (n/s in the tables below):")
        lines += [f"- {what}: {why}" for what, why in unsupported.items()]
        lines.append("")
    lines += [
        "Every kernel is judged by the conformance properties of `softmax-claimcheck conform` "
        "(`softmax_claimcheck/conformance/catalogue.py`) and measured by "
        "`softmax_claimcheck/frameworks/measure.py`; torch's kernels are the reference rows. "
        f"CUDA: {A.CUDA_OUT_OF_SCOPE}. Inputs are rounded to the dtype first and the exact "
        "oracle (mpmath, 50 digits) is computed on the rounded input, so a difference that "
        "rounding the input causes is never charged to the kernel (see *Input rounding*). "
        "eps: float64 2⁻⁵², float32 2⁻²³, float16 2⁻¹⁰, bfloat16 2⁻⁷.",
        "",
    ]
    dtypes = list(A.DTYPES)
    head = "| kernel | " + " | ".join(dtypes) + " |"
    rule = "|---|" + "---|" * len(dtypes)
    for key, (title, measure) in M.MEASURES.items():
        rows = []
        for fw, k in _kernels(data):
            if k["status"] != "ran":
                rows.append(
                    f"| {_label(fw, k)} | "
                    + " | ".join(_md_escape(f"not run: {k['reason']}") for _ in dtypes)
                    + " |"
                )
                continue
            cells = k.get("measured", {}).get(key)
            if cells is None:
                continue
            if all(c["text"].startswith(("n/a", "n/s")) for c in cells.values()):
                continue
            rows.append(
                f"| {_label(fw, k)} | "
                + " | ".join(_md_escape(_short(cells[d]["text"])) for d in dtypes)
                + " |"
            )
        if not rows:
            continue
        if key == "underflow-gap":
            rows.append(
                "| exact weight, correctly rounded to the dtype (ln(2/smallest subnormal)) | "
                + " | ".join(f"{M.exact_underflow_gap(d):.4g}" for d in dtypes)
                + " |"
            )
        doc = " ".join((measure.__doc__ or "").split())
        lines += [f"## {title[0].upper()}{title[1:]}", "", doc, "", head, rule, *rows, ""]
        if key == "input-rounding":
            lines += ["What rounding the input alone does (no kernel involved):", "", head, rule]
            for kind in ("softmax", "log-softmax"):
                ctx = data["rounding"].get(kind, {})
                for what in ("input in the dtype", "exact on the original input",
                             "exact on the rounded input"):  # fmt: skip
                    lines.append(
                        f"| {kind}: {what} | "
                        + " | ".join(ctx[d][what] if d in ctx else "" for d in dtypes)
                        + " |"
                    )
            lines.append("")
    lines += [
        "## Conformance properties",
        "",
        "pass / **FAIL** / n/s (not supported: the dtype has no kernel, or no autograd graph "
        "through a non-torch framework) / beh (a behaviour, recorded). Each kernel's full "
        "page with the failing inputs: `reports/frameworks/<kernel>/conformance.html`.",
        "",
        "| kernel | property | " + " | ".join(dtypes) + " |",
        "|---|---|" + "---|" * len(dtypes),
    ]
    for fw, k in _kernels(data):
        if k["status"] != "ran":
            lines.append(
                f"| {_label(fw, k)} | all | "
                + " | ".join(_md_escape(f"not run: {k['reason']}") for _ in dtypes)
                + " |"
            )
            continue
        conf = k["conformance"]
        for prop in conf["properties"]:
            cells = []
            for dtype in dtypes:
                check = next(
                    (c for c in conf["checks"] if c["property"] == prop["id"]
                     and c["dtype"] == dtype and c["device"] == "cpu"),
                    None,
                )  # fmt: skip
                cells.append("" if check is None else _md_escape(_conformance_cell(check)))
            lines.append(f"| {_label(fw, k)} | {prop['id']} | " + " | ".join(cells) + " |")
    lines.append("")
    failing = [
        (fw, k, c)
        for fw, k in _kernels(data)
        if k["status"] == "ran"
        for c in k["conformance"]["checks"]
        if c["outcome"] in ("fail", "error", "unexpected pass")
    ]
    if failing:
        lines += ["### Why each failing property fails", ""]
        for fw, k, c in failing:
            why = c["message"] + (f" — raises {c['exception']}" if c.get("exception") else "")
            lines.append(f"- {_label(fw, k)}, {c['property']} [{c['dtype']}]: {_md_escape(why)}")
        lines.append("")
    notes = [(fw, k) for fw, k in _kernels(data) if k.get("note")]
    if notes:
        lines += ["## How each kernel is called", ""]
        lines += [f"- {_label(fw, k)}: {k['note']}" for fw, k in notes]
        lines.append("")
    lines += [
        "Regenerate: `nox -s frameworks` (installs the `frameworks` extra, CPU builds only) or, "
        "in an environment that has them, `python -m softmax_claimcheck.frameworks`.",
        "",
    ]
    return "\n".join(lines)


def to_json(data: dict[str, Any]) -> dict[str, Any]:
    clean = json.loads(json.dumps(data, default=lambda o: None))
    return clean


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


def render_html(data: dict[str, Any], md: str) -> str:
    """The conformance page of the frameworks: the table (as preformatted Markdown, readable
    without JavaScript) and links to each kernel's conformance page."""
    e = html.escape
    links = [
        f"<li><a href='{e(slug(k['kernel']))}/conformance.html'>{e(k['kernel'])}</a> "
        f"({e(fw['framework'])})</li>"
        if k["status"] == "ran"
        else f"<li>{e(k['kernel'])} ({e(fw['framework'])}): not run: {e(k['reason'])}</li>"
        for fw, k in _kernels(data)
    ]
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Softmax across frameworks"
        "</title><style>body{font:14px/1.4 system-ui,sans-serif;margin:2em}"
        "pre{white-space:pre;overflow-x:auto;background:#f8f8f8;padding:1em}</style></head>"
        "<body><h1>Softmax and attention across frameworks</h1><ul>"
        + "".join(links)
        + "</ul><pre>"
        + e(md)
        + "</pre></body></html>"
    )


def write(data: dict[str, Any], md_path: Path | None, reports: Path | None) -> list[Path]:
    written = []
    md = markdown(data)
    if md_path is not None:
        md_path.parent.mkdir(parents=True, exist_ok=True)
        md_path.write_text(md, encoding="utf-8")
        written.append(md_path)
    if reports is not None:
        from softmax_claimcheck.conformance import page

        reports.mkdir(parents=True, exist_ok=True)
        for _, k in _kernels(data):
            if k.get("result") is not None:
                page.write(k["result"], reports / slug(k["kernel"]))
        (reports / "frameworks.json").write_text(
            json.dumps(to_json(data), indent=1) + "\n", encoding="utf-8"
        )
        (reports / "frameworks.html").write_text(render_html(data, md), encoding="utf-8")
        written += [reports / "frameworks.json", reports / "frameworks.html"]
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m softmax_claimcheck.frameworks")
    parser.add_argument("--md", default="docs/frameworks.md", help="the generated table")
    parser.add_argument(
        "--reports", default="reports/frameworks", help="frameworks.json, .html, kernel pages"
    )
    parser.add_argument(
        "--require",
        action="append",
        default=[],
        metavar="FRAMEWORK",
        help="fail (exit 1) when this framework is not run (nox -s frameworks requires all)",
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    data = collect()
    seconds = time.perf_counter() - start
    for path in write(data, Path(args.md), Path(args.reports)):
        print(f"wrote {path}")
    for fw in data["frameworks"]:
        for k in fw["kernels"]:
            status = k["status"] if k["status"] != "ran" else f"ran in {k['seconds']:.1f} s"
            print(f"{fw['framework']:14} {k['kernel']:30} {status} {k.get('reason', '')}")
    print(f"frameworks table in {seconds:.0f} s")
    missing = [f["framework"] for f in data["frameworks"] if f["status"] != "ran"]
    required = {r.lower() for r in args.require}
    if "all" in required:
        required = {f["framework"].lower() for f in data["frameworks"]}
    if any(m.lower() in required for m in missing):
        print(f"required but not run: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0
