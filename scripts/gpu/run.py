"""The whole GPU run on a bare box, in one command, inside a time limit:

    python3 scripts/gpu/run.py [--out reports/gpu-run] [--limit 420] [--collect DIR]
                               [--stages claims,kernels,bench,conformance,training] [--commit SHA]
    python3 scripts/gpu/run.py --check      # the plan and its budgets; runs nothing

1. checks the plan first: the selected stages' budgets plus the setup's reserve must fit --limit
   (default 420 s, 7 minutes, so a second try still fits a 15-minute device lease), and each
   stage's program and files must be there; otherwise it stops before installing anything (exit 2);
2. installs `.wheelhouse/` (no index) into `.gpu-site/` and puts it and the checkout on
   PYTHONPATH; the plugins load with `-p` from the checkout (no `pip install -e`, no setuptools,
   nothing written into the system Python, so PEP 668 cannot refuse it);
3. probes: torch and its CUDA device, triton, a C compiler and Python.h (triton builds its
   launchers with them at run time), and says what is missing;
4. runs the stages in order under the budget rules of budget.py (a stage may use its budget plus
   what earlier stages left; over its time it is stopped, SIGINT then SIGKILL, and recorded; the
   rest still run): claims (every claim check on CUDA, no training), kernels (our Triton kernels'
   tests), bench (the kernel benchmark), conformance (`softmax-claimcheck conform --devices cuda`
   on every SDPA backend, our Triton kernels and torch.softmax), training (the gpu preset);
5. writes everything under --out (one folder and one log per stage, summary.json, summary.txt)
   and, with --collect DIR, copies each stage's files there as soon as the stage ends (one
   <stage>.tar.gz each, summary.json/summary.txt refreshed, training-verdict.json): at most 8
   flat files, for a tool that returns few files, and nothing lost if the command is killed later.

`--rehearsal` runs the same plan on CPU on a tiny selection (the wheelhouse test, one claim, the
kernel tests under TRITON_INTERPRET=1, the benchmark's --dry-run, conformance on CPU subjects with
--devices cpu, the smoke training preset) and fails if any stage does not pass:
`nox -s gpu_rehearsal` runs it in a fresh virtualenv so a typo cannot waste GPU minutes.
Exit status: 0 when every stage passed (on the GPU: every stage that ran), 1 when a stage failed,
timed out or could not start, 2 when the plan does not fit or the setup failed (no GPU, wheels).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import budget  # noqa: E402
import wheelhouse  # noqa: E402
from budget import BudgetError, Stage  # noqa: E402

PLUGINS = "-p softmax_claimcheck.claimcheck.plugin -p softmax_claimcheck.impl.pytest_plugin"
REHEARSAL_CLAIM = "shift-invariance"
LIMIT_S = 420  # the command's wall limit on the box, the wheelhouse install included
SETUP_RESERVE_S = 25  # wheel install (~1 MiB, no index) and the probes (two torch imports)
REHEARSAL_LIMIT_S = 900
REHEARSAL_SETUP_RESERVE_S = 60
STAGE_NAMES = ("wheels", "claims", "kernels", "bench", "conformance", "training")
# Budgets on one H100-class GPU, from last round's H200 run (claims 145 s, kernels 39.5 s,
# bench 19.7 s) and the CPU rehearsal; README "On a GPU machine" gives the estimate per stage.
BUDGETS = {"claims": 170, "kernels": 45, "bench": 25, "conformance": 50, "training": 105}
REHEARSAL_BUDGETS = {"wheels": 120, "claims": 150, "kernels": 240, "bench": 90,
                     "conformance": 120, "training": 120}  # fmt: skip
# Conformance subjects judged on CPU in the rehearsal (the GPU run takes every default subject).
REHEARSAL_SUBJECTS = "torch-softmax,sdpa-math"


def _workers(n: int) -> list[str]:
    """pytest-xdist over n of the box's cores when it is installed (one file per worker, so a
    compiled kernel is compiled once per file), else a serial run."""
    import importlib.util

    # pytest-benchmark (present on some boxes) warns under xdist, an error with -W error.
    parallel = ["-p", "no:benchmark", "-n", str(n), "--dist", "loadfile"]
    return parallel if importlib.util.find_spec("xdist") else []


def stages(out: Path, rehearsal: bool) -> list[Stage]:
    """Every stage of the run (GPU, or its CPU rehearsal), in order, with its budget."""
    py = sys.executable
    pytest = [py, "-m", "pytest", "-p", "no:cacheprovider"]
    conform = [py, "scripts/gpu/conform_subjects.py", "--out", str(out / "conformance")]
    if rehearsal:
        b = REHEARSAL_BUDGETS
        return [
            Stage("wheels", "a wheelhouse short of one wheel fails (tests/gpu/test_wheelhouse.py)",
                  [*pytest, "tests/gpu/test_wheelhouse.py", "--no-reports", "-rs"], b["wheels"],
                  {"CLAIMCHECK_GPU_REHEARSAL": "1"}, ["tests/gpu/test_wheelhouse.py"]),
            Stage("claims", f"claim {REHEARSAL_CLAIM} (CPU; CUDA cases skip)",
                  [*pytest, "tests/checks", "-m", "not training", "--claim", REHEARSAL_CLAIM,
                   "--reports-dir", str(out / "claims")], b["claims"], needs=["tests/checks"]),
            Stage("kernels", "Triton kernel tests under TRITON_INTERPRET=1 (+ sm_90 build child)",
                  [*pytest, "tests/kernels/test_triton_kernels.py", "-rs",
                   "--reports-dir", str(out / "kernels")], b["kernels"],
                  {"TRITON_INTERPRET": "1"}, ["tests/kernels/test_triton_kernels.py"]),
            Stage("bench", "benchmark --dry-run (interpreter, toy sizes)",
                  [py, "benchmarks/bench_softmax_gpu.py", "--dry-run",
                   "--json", str(out / "bench" / "bench-softmax-gpu.json")], b["bench"],
                  needs=["benchmarks/bench_softmax_gpu.py"]),
            Stage("conformance", f"softmax-claimcheck conform --devices cpu: {REHEARSAL_SUBJECTS}",
                  [*conform, "--devices", "cpu", "--subjects", REHEARSAL_SUBJECTS, "--jobs", "2",
                   "--timeout", str(b["conformance"] - 20)], b["conformance"],
                  needs=["scripts/gpu/conform_subjects.py"]),
            Stage("training", "training checks, smoke preset",
                  [*pytest, "tests/checks", "-m", "training",
                   "--reports-dir", str(out / "training")], b["training"],
                  {"CLAIMCHECK_TRAINING_PRESET": "smoke"}, ["tests/checks"]),
        ]  # fmt: skip
    b = BUDGETS
    return [
        Stage("claims", "every claim check on CPU and CUDA, no training",
              [*pytest, "tests/checks", "-m", "not training", "--require-all-run", *_workers(6),
               "--reports-dir", str(out / "claims")], b["claims"], needs=["tests/checks"]),
        Stage("kernels", "our Triton kernels' tests: compiled on the GPU, then interpreted",
              [*pytest, "tests/kernels/test_triton_kernels.py", "-rs",
               "--reports-dir", str(out / "kernels")], b["kernels"],
              needs=["tests/kernels/test_triton_kernels.py"]),
        Stage("bench", "softmax and attention kernel benchmark (--quick)",
              [py, "benchmarks/bench_softmax_gpu.py", "--quick",
               "--json", str(out / "bench" / "bench-softmax-gpu.json")], b["bench"],
              needs=["benchmarks/bench_softmax_gpu.py"]),
        Stage("conformance", "softmax-claimcheck conform --devices cuda: every SDPA backend, "
              "our Triton kernels, torch.softmax",
              [*conform, "--devices", "cuda", "--jobs", "8",
               "--timeout", str(b["conformance"] - 15)], b["conformance"],
              needs=["scripts/gpu/conform_subjects.py"]),
        Stage("training", "training checks, gpu preset (findings at GPU scale)",
              [*pytest, "tests/checks", "-m", "training",
               "--reports-dir", str(out / "training")], b["training"],
              {"CLAIMCHECK_TRAINING_PRESET": "gpu"}, ["tests/checks"]),
    ]  # fmt: skip


def select(plan: list[Stage], names: str) -> list[Stage]:
    """The stages named in `names` (comma-separated), in the plan's order."""
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in {s.name for s in plan}]
    if unknown:
        raise BudgetError(f"unknown stage(s) {', '.join(unknown)}; "
                          f"this plan has {', '.join(s.name for s in plan)}")  # fmt: skip
    return [s for s in plan if s.name in wanted]


def probe(rehearsal: bool) -> tuple[dict[str, str], list[str]]:
    """Versions and device, and what is missing for the GPU run (empty list: nothing)."""
    facts: dict[str, str] = {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": sysconfig.get_platform(),
    }
    missing: list[str] = []
    code = (
        "import json, torch; c = torch.cuda.is_available(); "
        "print(json.dumps({'torch': torch.__version__, 'cuda': str(torch.version.cuda), "
        "'cuda_available': str(c), 'device': torch.cuda.get_device_name() if c else '', "
        "'capability': '.'.join(map(str, torch.cuda.get_device_capability())) if c else '', "
        "'device_count': str(torch.cuda.device_count())}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if result.returncode == 0:
        facts.update(json.loads(result.stdout.strip().splitlines()[-1]))
        if facts.get("cuda_available") != "True" and not rehearsal:
            missing.append("a CUDA device (torch.cuda.is_available() is False)")
    else:
        missing.append(f"torch (it does not import: {result.stderr.strip()[-300:]})")
    result = subprocess.run(
        [sys.executable, "-c", "import triton; print(triton.__version__)"],
        capture_output=True, text=True,
    )  # fmt: skip
    facts["triton"] = result.stdout.strip() if result.returncode == 0 else "missing"
    if result.returncode:
        missing.append("triton (it does not import)")
    compiler = os.environ.get("CC") or next(
        (shutil.which(c) for c in ("cc", "gcc", "clang") if shutil.which(c)), None
    )
    facts["c_compiler"] = compiler or "missing"
    header = Path(sysconfig.get_paths()["include"]) / "Python.h"
    facts["python_h"] = str(header) if header.exists() else f"missing ({header})"
    if not rehearsal:  # triton builds its launchers at run time (the interpreter needs neither)
        if not compiler:
            missing.append("a C compiler (cc, gcc or clang; or set CC): triton builds launchers")
        if not header.exists():
            missing.append(f"Python.h ({header}; e.g. apt-get install python3-dev)")
    smi = shutil.which("nvidia-smi")
    if smi:
        r = subprocess.run([smi, "--query-gpu=driver_version", "--format=csv,noheader"],
                           capture_output=True, text=True)  # fmt: skip
        facts["driver"] = r.stdout.strip()
    return facts, missing


def _plugins_registered(env: dict[str, str]) -> bool:
    """True when the project is installed (or its egg-info is on the path): pytest then loads the
    plugins by entry point, and `-p` would register them a second time (an error)."""
    code = (
        "import importlib.metadata as m; "
        "print(any(e.name == 'claimcheck' for e in m.entry_points(group='pytest11')))"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT,
                            capture_output=True, text=True)  # fmt: skip
    return result.stdout.strip() == "True"


def git_commit() -> str:
    """The checkout's commit (a box's copy may have no .git: then --commit or "unknown")."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=5)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def summary_text(facts: dict, missing: list[str], plan: list[Stage], total_s: float) -> str:
    lines = [
        "GPU run summary" + (" (CPU rehearsal)" if facts.get("rehearsal") else ""),
        "  " + "  ".join(f"{k}={facts.get(k, '?')}" for k in
                         ("device", "capability", "driver", "torch", "cuda", "triton", "python")),
        f"  c_compiler={facts.get('c_compiler')}  python_h={facts.get('python_h')}  "
        f"commit={facts.get('commit')}",
    ]  # fmt: skip
    lines += [f"  MISSING: {m}" for m in missing]
    lines.append(f"{'stage':11} {'status':15} {'exit':>4} {'wall s':>7} {'budget':>6}  what / why")
    for s in plan:
        note = s.reason or s.what
        code = "" if s.returncode is None else str(s.returncode)
        lines.append(f"{s.name:11} {s.status:15} {code:>4} {s.wall_s:7.1f} {s.budget_s:6d}  {note}")
    lines.append(f"total {total_s:.1f} s; reports under each stage's folder, logs as <stage>.log")
    return "\n".join(lines)


class Recorder:
    """Writes summary.json/summary.txt (in --out, and in --collect) and each stage's files to
    --collect the moment the stage ends."""

    def __init__(self, out: Path, into: Path | None, facts: dict, missing: list[str],
                 plan: list[Stage], limit_s: int, started: float) -> None:  # fmt: skip
        self.out, self.into, self.facts, self.missing = out, into, facts, missing
        self.plan, self.limit_s, self.started = plan, limit_s, started
        if into:
            into.mkdir(parents=True, exist_ok=True)

    def summary(self) -> str:
        total = time.monotonic() - self.started
        text = summary_text(self.facts, self.missing, self.plan, total)
        data = {"environment": self.facts, "missing": self.missing, "limit_s": self.limit_s,
                "total_s": round(total, 1), "stages": [asdict(s) for s in self.plan]}  # fmt: skip
        for folder in filter(None, (self.out, self.into)):
            _write(folder / "summary.txt", text + "\n")
            _write(folder / "summary.json", json.dumps(data, indent=2) + "\n")
        return text

    def stage_ended(self, stage: Stage) -> None:
        self.summary()
        if not self.into:
            return
        with tarfile.open(self.into / f"{stage.name}.tar.gz.part", "w:gz") as archive:
            for path in (self.out / stage.name, self.out / f"{stage.name}.log"):
                if path.exists():
                    archive.add(path, arcname=path.name)
        os.replace(self.into / f"{stage.name}.tar.gz.part", self.into / f"{stage.name}.tar.gz")
        verdict = self.out / stage.name / "verdict.json"
        if stage.name == "training" and verdict.exists():  # what the page generator reads
            shutil.copy2(verdict, self.into / "training-verdict.json")


def _write(path: Path, text: str) -> None:
    """Whole or not at all: a command killed mid-write leaves the previous file."""
    part = path.with_name(path.name + ".part")
    part.write_text(text)
    os.replace(part, path)


def _environment(site: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(site.resolve()), *filter(None, [env.get("PYTHONPATH")])]
    )
    if not _plugins_registered(env):  # PYTEST_ADDOPTS: the kernel tests' child run needs them too
        env["PYTEST_ADDOPTS"] = f"{PLUGINS} {env.get('PYTEST_ADDOPTS', '')}".strip()
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("TRITON_INTERPRET", None)
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "gpu-run")
    parser.add_argument("--limit", "--budget", dest="limit", type=int,
                        help=f"the command's wall limit in seconds (default {LIMIT_S}; "
                        f"rehearsal {REHEARSAL_LIMIT_S})")  # fmt: skip
    parser.add_argument("--wheels", type=Path, default=wheelhouse.DEFAULT_DEST)
    parser.add_argument("--site", type=Path, default=ROOT / ".gpu-site")
    parser.add_argument("--skip-install", action="store_true", help="packages are all present")
    parser.add_argument("--stages", help=f"comma-separated, from {', '.join(STAGE_NAMES)}")
    parser.add_argument("--rehearsal", action="store_true", help="CPU, tiny selection")
    parser.add_argument("--check", action="store_true", help="check the plan, run nothing")
    parser.add_argument(
        "--commit",
        default=os.environ.get("CLAIMCHECK_COMMIT") or git_commit(),
        help="the commit checked out (the box's copy may have no .git)",
    )
    parser.add_argument("--collect", type=Path, help="copy each stage's files here as it ends")
    args = parser.parse_args(argv)
    started = time.monotonic()
    out = args.out.resolve()
    limit = args.limit or (REHEARSAL_LIMIT_S if args.rehearsal else LIMIT_S)
    reserve = REHEARSAL_SETUP_RESERVE_S if args.rehearsal else SETUP_RESERVE_S
    plan = stages(out, args.rehearsal)
    try:
        if args.stages:
            plan = select(plan, args.stages)
        budget.check_plan(plan, limit, reserve)
    except BudgetError as exc:
        print(f"run.py: {exc}", file=sys.stderr)
        return 2
    blocked = {s.name: why for s in plan if (why := budget.cannot_start(s, ROOT))}
    if args.check:
        for s in plan:
            print(f"{s.name:11} budget {s.budget_s:4d} s  {blocked.get(s.name, 'can start')}")
        print(f"setup {reserve} s + stages {sum(s.budget_s for s in plan)} s <= limit {limit} s")
        return 1 if blocked else 0
    if out.exists():
        shutil.rmtree(out)
    (out / "bench").mkdir(parents=True)

    missing: list[str] = []
    if not args.skip_install:
        try:
            wheelhouse.install(args.wheels, args.site)
        except (subprocess.CalledProcessError, SystemExit) as exc:
            missing.append(f"the wheels in {args.wheels} did not install ({exc})")
        sys.path.insert(0, str(args.site.resolve()))
        missing += wheelhouse.check(args.site)
    env = _environment(args.site)
    facts, probed = probe(args.rehearsal)
    facts.update(commit=args.commit, rehearsal=args.rehearsal)
    missing += probed
    # Without torch, a GPU or the wheels no stage can say anything; without a compiler or
    # Python.h the claims on CUDA still run (only the Triton parts fail, and say so).
    fatal = [m for m in missing if not m.startswith(("a C compiler", "Python.h"))]
    recorder = Recorder(out, args.collect, facts, missing, plan, limit, started)
    print(recorder.summary().split("\nstage")[0], flush=True)
    if fatal and not args.rehearsal:
        for stage in plan:
            stage.status, stage.reason = "not run", "setup incomplete: " + "; ".join(fatal)
    else:
        budget.run_plan(plan, env, ROOT, out, limit, started, recorder.stage_ended)
    print("\n" + recorder.summary(), flush=True)
    if fatal:
        return 2
    return 0 if all(s.ok for s in plan) else 1


if __name__ == "__main__":
    sys.exit(main())
