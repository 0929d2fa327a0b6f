"""The conformance stage of the GPU run: `python -m softmax_claimcheck conform` on each subject,
one command per subject, several at a time, each with its own timeout.

    python scripts/gpu/conform_subjects.py --devices cuda --out DIR [--subjects ID,...] [--jobs 4]

The subjects are the built-in implementations of the registry, named by id (`sdpa-flash`,
`triton-softmax-fused`, `torch-softmax`, ...): by default every SDPA backend, our Triton kernels
and torch.softmax. The conform command loads them from this module (`conform_subjects:<id>`,
this folder on PYTHONPATH), so each is judged with its known deviations, exactly as the claim
checks judge it. Writes DIR/<id>/conformance.{json,html}, DIR/<id>.log and DIR/summary.json;
exit status 0 when every subject conforms, 1 otherwise (a failing property, a usage or internal
error, a timeout), the outcome of each in the summary.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
OUTCOMES = {0: "conforms", 1: "fails a property", 2: "usage error", 3: "internal error"}


def implementations() -> dict[str, Any]:
    from softmax_claimcheck.impl import catalogue

    return {i.id: i for i in catalogue.builtin()}


def __getattr__(name: str) -> Any:
    """`conform_subjects:<registry id>` -> that Implementation (PEP 562)."""
    found = implementations().get(name)
    if found is None:
        raise AttributeError(name)
    return found


def default_subjects() -> list[str]:
    """Every SDPA backend, our Triton kernels (where triton imports), torch.softmax."""
    ids = list(implementations())
    return [i for i in ids if i.startswith(("sdpa-", "triton-"))] + ["torch-softmax"]


def judge(subject: str, devices: str, out: Path, timeout: float) -> dict[str, Any]:
    command = [sys.executable, "-m", "softmax_claimcheck", "conform", f"conform_subjects:{subject}",
               "--devices", devices, "--out", str(out / subject), "-q"]  # fmt: skip
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(ROOT), env.get("PYTHONPATH", "")])
    started = time.monotonic()
    log = out / f"{subject}.log"
    try:
        with open(log, "w") as handle:
            code = subprocess.run(command, cwd=ROOT, env=env, stdout=handle,
                                  stderr=subprocess.STDOUT, timeout=timeout).returncode  # fmt: skip
        outcome = OUTCOMES.get(code, f"exit {code}")
    except subprocess.TimeoutExpired:
        code, outcome = None, f"timed out after {timeout:.0f} s"
    lines = log.read_text(errors="replace").strip().splitlines()
    wall = round(time.monotonic() - started, 1)
    print(f"[conform] {subject}: {outcome} in {wall} s", flush=True)
    return {"subject": subject, "devices": devices, "exit": code, "outcome": outcome,
            "wall_s": wall, "summary": lines[-1] if lines else "", "log": log.name}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", default="cuda")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--subjects", help="comma-separated registry ids (default: see above)")
    parser.add_argument("--jobs", type=int, default=4, help="subjects judged at a time")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per subject")
    args = parser.parse_args(argv)
    known = implementations()
    subjects = args.subjects.split(",") if args.subjects else default_subjects()
    unknown = [s for s in subjects if s not in known]
    if unknown:
        print(f"unknown subjects: {', '.join(unknown)}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    # on a GPU our Triton kernels are subjects too: a run without them has not judged them
    absent = []
    if (
        not args.subjects
        and "cuda" in args.devices
        and not any(s.startswith("triton-") for s in subjects)
    ):
        absent.append(
            "our Triton kernels (triton does not import here, so they are not registered)"
        )
        print(f"not judged: {absent[0]}", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = list(pool.map(lambda s: judge(s, args.devices, args.out, args.timeout), subjects))
    (args.out / "summary.json").write_text(
        json.dumps({"subjects": results, "not_judged": absent}, indent=2) + "\n"
    )
    for result in results:
        print(f"{result['subject']:28} {result['outcome']:18} {result['wall_s']:6.1f} s  "
              f"{result['summary']}")  # fmt: skip
    return 0 if all(r["exit"] == 0 for r in results) and not absent else 1


if __name__ == "__main__":
    sys.exit(main())
