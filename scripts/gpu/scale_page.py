"""The training claims at GPU scale, from the GPU run's own files, as a committed page and its
machine-readable sidecar (the CPU report reads the sidecar; /work/briefs/scale-sidecar.md):

    python scripts/gpu/scale_page.py RUN [--page docs/training-at-gpu-scale.md]
                                         [--sidecar docs/training-at-gpu-scale.json]

RUN is the GPU run's output folder (reports/gpu-run: training/verdict.json and summary.json), the
folder it collected into (training-verdict.json and summary.json), or a verdict.json. Every value
on the page comes from those files: the device, versions, commit and date from the run's
environment, each training claim's verdict and finding as the run decided them, the scale from the
evidence the training checks recorded. Nothing is typed in here.

Reads both verdict.json schemas: the findings schema (REPRODUCED / NOT REPRODUCED / PARTLY
REPRODUCED / INCONCLUSIVE, a per-claim `family` and `scale`) and the earlier one, whose
SUPPORTED / REFUTED / PARTLY SUPPORTED it maps to REPRODUCED / NOT REPRODUCED / PARTLY REPRODUCED.
Refuses a run of another preset than `gpu` (a smoke or cpu run says nothing about GPU scale)
unless --any-preset (the tests' synthetic runs).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = "claimcheck-scale/1"
PAGE = "docs/training-at-gpu-scale.md"
SIDECAR = "docs/training-at-gpu-scale.json"
VERDICTS = ("REPRODUCED", "NOT REPRODUCED", "PARTLY REPRODUCED", "INCONCLUSIVE", "ERROR", "NOT RUN")
OLD_VERDICTS = {"SUPPORTED": "REPRODUCED", "REFUTED": "NOT REPRODUCED",
                "PARTLY SUPPORTED": "PARTLY REPRODUCED"}  # fmt: skip
TRAINING_FAMILIES = {"training", "empirical", "experiment", "reproduced"}
# the scale's fields, and the names the evidence or a claim's `scale` may give them
SCALE_ALIASES = {
    "steps": ("steps",), "parameters": ("parameters", "n_parameters"),
    "context": ("context", "seq_len"), "layers": ("layers", "n_layers"), "seeds": ("seeds",),
}  # fmt: skip


class RunFilesError(ValueError):
    """The run's files are missing or not what a GPU run writes (one line, with the file)."""


def load_run(path: Path) -> tuple[dict[str, Any], dict[str, Any], Path]:
    """(verdict.json, summary.json or {}, the verdict file) of a run folder or a verdict file."""
    if path.is_file():
        verdict_file, summary_file = path, path.parent / "summary.json"
        if not summary_file.exists():
            summary_file = path.parent.parent / "summary.json"
    else:
        candidates = [path / "training" / "verdict.json", path / "training-verdict.json",
                      path / "verdict.json"]  # fmt: skip
        verdict_file = next((c for c in candidates if c.exists()), candidates[0])
        summary_file = path / "summary.json"
    verdict = _read_json(verdict_file)
    if not isinstance(verdict.get("claims"), list) or not isinstance(
        verdict.get("environment"), dict
    ):
        raise RunFilesError(f"{verdict_file}: not a verdict.json (no claims or environment)")
    summary = _read_json(summary_file) if summary_file.exists() else {}
    return verdict, summary, verdict_file


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunFilesError(f"{path}: no such file (the run's training stage writes it)") from None
    except json.JSONDecodeError as exc:
        raise RunFilesError(f"{path}:{exc.lineno}: not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise RunFilesError(f"{path}: expected a JSON object")
    return data


def is_training(claim: dict[str, Any]) -> bool:
    family = str(claim.get("family") or "").lower()
    return (
        family in TRAINING_FAMILIES
        or claim.get("scope") == "training"
        or (not family and claim.get("kind") == "empirical")
    )


def verdict_of(claim: dict[str, Any]) -> str:
    value = str(claim.get("verdict"))
    value = OLD_VERDICTS.get(value, value)
    if value not in VERDICTS:
        raise RunFilesError(f"claim {claim.get('id')}: verdict {value!r} is not one of "
                            f"{', '.join(VERDICTS)}")  # fmt: skip
    return value


def finding_of(claim: dict[str, Any]) -> str:
    finding = claim.get("finding")
    if isinstance(finding, dict):
        finding = finding.get("text") or finding.get("sentence")
    text = finding if isinstance(finding, str) and finding else claim.get("explanation") or ""
    return " ".join(str(text).split())


def _scales_in_inputs(inputs: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """One scale per arm the training checks recorded (record_scale: arm name -> its sizes)."""
    for name, value in inputs.items():
        if isinstance(value, dict) and "parameters" in value and "steps" in value:
            yield {**value, "task": name.split("-", 1)[0]}


def merge(scales: Iterable[dict[str, Any]], **top: Any) -> dict[str, Any]:
    """The largest of each size over the arms (or claims), the tasks they cover."""
    merged: dict[str, Any] = {}
    tasks: set[str] = set()
    for scale in scales:
        for field, aliases in SCALE_ALIASES.items():
            values = [scale[a] for a in aliases if isinstance(scale.get(a), (int, float))]
            if values:
                merged[field] = max([merged.get(field, values[0]), *values])
        task = scale.get("task")
        tasks.update(scale.get("tasks") or ([task] if isinstance(task, str) else []))
    if tasks:
        merged["tasks"] = sorted(tasks)
    merged.update({k: v for k, v in top.items() if v is not None})
    return merged


def _inputs(claim: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for check in claim.get("checks") or []:
        inputs = (check.get("evidence") or {}).get("inputs")
        if isinstance(inputs, dict):
            found.append(inputs)
    return found


def claim_scale(claim: dict[str, Any]) -> dict[str, Any]:
    """The claim's own `scale` (findings schema), else the sizes its checks recorded."""
    own = claim.get("scale")
    if isinstance(own, dict) and own:
        return dict(own)
    inputs = _inputs(claim)
    first = inputs[0] if inputs else {}
    return merge(
        (s for i in inputs for s in _scales_in_inputs(i)),
        preset=first.get("preset"),
        seeds=first.get("seeds"),
    )


def _date(environment: dict[str, Any]) -> str:
    """'2026-12-06 16:36 UTC' (the plugin's) -> '2026-12-06T16:36:00Z'."""
    text = str(environment.get("date") or "")
    match = re.fullmatch(r"(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d)(:\d\d)?(?: ?UTC|Z)?", text)
    if not match:
        raise RunFilesError(
            f"the run's environment has no date like 2026-12-06 16:36 UTC: {text!r}"
        )
    return f"{match[1]}T{match[2]}{match[3] or ':00'}Z"


def sidecar(verdict: dict[str, Any], summary: dict[str, Any], any_preset: bool = False,
            page: str = PAGE) -> dict[str, Any]:  # fmt: skip
    """The sidecar's content, every value from the run's files."""
    environment = verdict["environment"]
    facts = summary.get("environment") or {}
    claims = [c for c in verdict["claims"] if is_training(c)]
    if not claims:
        raise RunFilesError("the run's verdict.json holds no training claim")
    scales = {c["id"]: claim_scale(c) for c in claims}
    stage = next((s for s in summary.get("stages", []) if s.get("name") == "training"), {})
    preset = next((s["preset"] for s in scales.values() if s.get("preset")), None)
    preset = preset or (stage.get("env") or {}).get("CLAIMCHECK_TRAINING_PRESET")
    if preset != "gpu" and not any_preset:
        raise RunFilesError(
            f"the run used the {preset or 'unknown'} preset, not gpu: its "
            "verdicts say nothing about GPU scale (--any-preset to go on)"
        )
    gpu = environment.get("gpu") if isinstance(environment.get("gpu"), dict) else {}
    device = gpu.get("name") if gpu.get("available") else None
    device = device or facts.get("device") or f"CPU ({environment.get('cpu', 'unknown')})"
    inputs = [i for c in claims for i in _inputs(c)]
    walls = [i["grid_wall_s"] for i in inputs if isinstance(i.get("grid_wall_s"), (int, float))]
    grid_wall = max(walls, default=None)
    scale = merge(scales.values(), preset=preset, device=device,
                  wall_s=stage.get("wall_s") or grid_wall)  # fmt: skip
    versions = {
        "torch": environment.get("torch") or facts.get("torch"),
        "cuda": gpu.get("cuda") or facts.get("cuda"),
        "python": environment.get("python") or facts.get("python"),
        "triton": facts.get("triton"),
    }
    commit = environment.get("git_commit")
    if not commit or str(commit).startswith("unknown"):
        commit = facts.get("commit") or "unknown"
    status = verdict.get("summary") or {}
    return {
        "schema": SCHEMA,
        "page": page,
        "scale": scale,
        "environment": {
            k: str(v) for k, v in versions.items() if v not in (None, "", "None", "missing")
        },
        "commit": str(commit),
        "date": _date(environment),
        "finished": bool(status.get("finished", True))
        and stage.get("status", "passed") == "passed",
        "claims": {
            c["id"]: {"verdict": verdict_of(c), "finding": finding_of(c), "scale": scales[c["id"]]}
            for c in claims
        },
    }


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _size(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value if value is not None else "?")


def render(data: dict[str, Any], statements: dict[str, str], sidecar_link: str) -> str:
    """The page: what ran where, then one row per training claim."""
    scale, env = data["scale"], data["environment"]
    counts: dict[str, int] = {}
    for claim in data["claims"].values():
        counts[claim["verdict"]] = counts.get(claim["verdict"], 0) + 1
    lines = [
        "# Training claims at GPU scale",
        "",
        "Generated by `python scripts/gpu/scale_page.py` from the GPU run's own files "
        "(`scripts/gpu/run.py`, training stage); every value below comes from that run. "
        f"Machine-readable: [`{Path(sidecar_link).name}`]({sidecar_link}).",
        "",
        f"- device: {scale.get('device')}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in env.items()),
        f"- commit: `{data['commit']}`, date: {data['date']}",
        f"- scale: preset `{_size(scale.get('preset'))}`; up to {_size(scale.get('parameters'))} "
        f"parameters, {_size(scale.get('layers'))} layers, context up to "
        f"{_size(scale.get('context'))} tokens, {_size(scale.get('steps'))} steps per run, "
        f"{_size(scale.get('seeds'))} seeds per arm; tasks: "
        f"{', '.join(scale.get('tasks', [])) or '?'}; training took {_size(scale.get('wall_s'))} s",
        "- outcomes: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())),
    ]  # fmt: skip
    if not data["finished"]:
        lines.append("- **the training stage did not finish**: claims it did not reach are NOT RUN")
    lines += [
        "",
        "Each outcome holds at this scale only, as the CPU report's do at theirs; where the two "
        "disagree, the disagreement is the finding (the CPU report shows both). The reviewed "
        "`expect` values apply to the cpu preset, not to this page.",
        "",
        "| claim | statement | at GPU scale | finding |",
        "|---|---|---|---|",
    ]
    for claim_id, claim in data["claims"].items():
        lines.append(f"| `{claim_id}` | {_cell(statements.get(claim_id, ''))} | "
                     f"{claim['verdict']} | {_cell(claim['finding'])} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    """Whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    part.write_text(text)
    os.replace(part, path)


def generate(run: Path, page: Path, sidecar_path: Path, any_preset: bool = False) -> dict[str, Any]:
    verdict, summary, _ = load_run(run)
    try:
        shown = page.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        shown = page.as_posix()
    data = sidecar(verdict, summary, any_preset=any_preset, page=shown)
    statements = {c["id"]: c.get("statement", "") for c in verdict["claims"]}
    link = Path(os.path.relpath(sidecar_path.resolve(), page.resolve().parent)).as_posix()
    _write(page, render(data, statements, link))
    _write(sidecar_path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "run", type=Path, help="the run's output folder, collect folder or verdict.json"
    )
    parser.add_argument("--page", type=Path, default=ROOT / PAGE)
    parser.add_argument("--sidecar", type=Path, default=ROOT / SIDECAR)
    parser.add_argument("--any-preset", action="store_true", help="accept a smoke or cpu run")
    args = parser.parse_args(argv)
    try:
        data = generate(args.run, args.page, args.sidecar, args.any_preset)
    except RunFilesError as exc:
        print(f"scale_page.py: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.page} and {args.sidecar}: {len(data['claims'])} training claims on "
          f"{data['scale'].get('device')}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
