"""The whole GPU run on a bare box, in one command, within a time budget:

    python3 scripts/gpu/run.py [--out reports/gpu-run] [--budget 480] [--collect DIR]

1. installs `.wheelhouse/` (no index) into `.gpu-site/` and puts it and the checkout on
   PYTHONPATH; the plugins load with `-p` from the checkout (no `pip install -e`, no setuptools,
   nothing written into the system Python, so PEP 668 cannot refuse it);
2. probes: torch and its CUDA device, triton, a C compiler and Python.h (triton builds its
   launchers with them at run time), and says what is missing;
3. runs the stages in order, each with its own timeout (a hang loses only that stage: it gets
   SIGINT first, so pytest still writes its reports, then SIGKILL), never stopping at a failing
   one: claims (every claim check on CUDA, no training), kernels (our Triton kernels' tests, both
   modes), bench (the kernel benchmark), training (the gpu preset, only if time remains);
4. writes everything under --out (one folder per stage, each stage's log, summary.json and
   summary.txt) and prints the summary: what ran, exit status and wall time of each, what did not
   run and why, the torch/triton/CUDA versions and the device.

`--rehearsal` runs the same commands on CPU on a tiny selection (one claim, the kernel tests under
TRITON_INTERPRET=1, the benchmark's --dry-run, the smoke training preset) and fails if any stage
fails: `nox -s gpu_rehearsal` runs it in a fresh virtualenv so a typo cannot waste GPU minutes.
Exit status: 0 when every stage that ran passed, 1 otherwise, 2 when the setup failed (no GPU,
wheels missing).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tarfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import wheelhouse  # noqa: E402

PLUGINS = "-p softmax_claimcheck.claimcheck.plugin -p softmax_claimcheck.impl.pytest_plugin"
GRACE_S = 20  # after SIGINT, before SIGKILL: pytest writes its reports in this time
REHEARSAL_CLAIM = "shift-invariance"


@dataclass
class Stage:
    name: str
    what: str
    command: list[str]
    budget_s: int
    env: dict[str, str] = field(default_factory=dict)
    optional: bool = False  # runs only if its whole budget still fits
    status: str = "not run"
    returncode: int | None = None
    wall_s: float = 0.0
    reason: str = ""
    log: str = ""


# The gpu training preset takes about 10 minutes on one H100-class GPU: starting it with less
# left only ends in a timeout (seen on an H200: killed after 404 s).
OPTIONAL_MIN_S = 540


def _workers() -> list[str]:
    """pytest-xdist over 4 of the box's cores when it is installed (one file per worker, so a
    compiled kernel is compiled once per file), else a serial run."""
    import importlib.util

    # pytest-benchmark (present on some boxes) warns under xdist, an error with -W error.
    parallel = ["-p", "no:benchmark", "-n", "4", "--dist", "loadfile"]
    return parallel if importlib.util.find_spec("xdist") else []


def stages(out: Path, rehearsal: bool) -> list[Stage]:
    py = sys.executable
    pytest = [py, "-m", "pytest", "-p", "no:cacheprovider"]
    if rehearsal:
        return [
            Stage("wheels", "a wheelhouse short of one wheel fails (tests/gpu/test_wheelhouse.py)",
                  [*pytest, "tests/gpu/test_wheelhouse.py", "--no-reports", "-rs"], 120,
                  {"CLAIMCHECK_GPU_REHEARSAL": "1"}),
            Stage("claims", f"claim {REHEARSAL_CLAIM} (CPU; CUDA cases skip)",
                  [*pytest, "tests/checks", "-m", "not training", "--claim", REHEARSAL_CLAIM,
                   "--reports-dir", str(out / "claims")], 120),
            Stage("kernels", "Triton kernel tests under TRITON_INTERPRET=1 (+ sm_90 build child)",
                  [*pytest, "tests/kernels/test_triton_kernels.py", "-rs",
                   "--reports-dir", str(out / "kernels")], 150,
                  {"TRITON_INTERPRET": "1"}),
            Stage("bench", "benchmark --dry-run (interpreter, toy sizes)",
                  [py, "benchmarks/bench_softmax_gpu.py", "--dry-run",
                   "--json", str(out / "bench" / "bench-softmax-gpu.json")], 120),
            Stage("training", "training checks, smoke preset",
                  [*pytest, "tests/checks", "-m", "training",
                   "--reports-dir", str(out / "training")], 150,
                  {"CLAIMCHECK_TRAINING_PRESET": "smoke"}),
        ]  # fmt: skip
    return [
        Stage("claims", "every claim check on CPU and CUDA, no training",
              [*pytest, "tests/checks", "-m", "not training", "--require-all-run", *_workers(),
               "--reports-dir", str(out / "claims")], 240),
        Stage("kernels", "our Triton kernels' tests: compiled on the GPU, then interpreted",
              [*pytest, "tests/kernels/test_triton_kernels.py", "-rs",
               "--reports-dir", str(out / "kernels")], 100),
        Stage("bench", "softmax and attention kernel benchmark (--quick)",
              [py, "benchmarks/bench_softmax_gpu.py", "--quick",
               "--json", str(out / "bench" / "bench-softmax-gpu.json")], 120),
        Stage("training", "training checks, gpu preset (only if time remains)",
              [*pytest, "tests/checks", "-m", "training",
               "--reports-dir", str(out / "training")], 0,
              {"CLAIMCHECK_TRAINING_PRESET": "gpu"}, optional=True),
    ]  # fmt: skip


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


def run_stage(stage: Stage, env: dict[str, str], out: Path, timeout: float) -> None:
    log_path = out / f"{stage.name}.log"
    stage.log = str(log_path.relative_to(out))
    started = time.monotonic()
    with open(log_path, "w") as log:
        log.write(f"$ {' '.join(stage.command)}\n(timeout {timeout:.0f} s)\n")
        log.flush()
        process = subprocess.Popen(
            stage.command, cwd=ROOT, env={**env, **stage.env}, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            stage.returncode = process.wait(timeout=timeout)
            stage.status = "passed" if stage.returncode == 0 else "failed"
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGINT)  # pytest writes its reports on an interrupt
            try:
                process.wait(timeout=GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            stage.returncode = process.returncode
            stage.status = "timed out"
            stage.reason = f"stopped after its {timeout:.0f} s timeout"
    stage.wall_s = round(time.monotonic() - started, 1)
    tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or [""]
    print(f"[{stage.name}] {stage.status} (exit {stage.returncode}) in {stage.wall_s} s: {tail[0]}",
          flush=True)  # fmt: skip


def summary_text(facts: dict, missing: list[str], ran: list[Stage], total_s: float) -> str:
    lines = [
        "GPU run summary",
        "  " + "  ".join(f"{k}={facts.get(k, '?')}" for k in
                         ("device", "capability", "driver", "torch", "cuda", "triton", "python")),
        f"  c_compiler={facts.get('c_compiler')}  python_h={facts.get('python_h')}",
    ]  # fmt: skip
    lines += [f"  MISSING: {m}" for m in missing]
    lines.append(f"{'stage':9} {'status':10} {'exit':>4} {'wall s':>7} {'budget':>6}  what / why")
    for s in ran:
        note = s.reason or s.what
        code = "" if s.returncode is None else str(s.returncode)
        lines.append(f"{s.name:9} {s.status:10} {code:>4} {s.wall_s:7.1f} {s.budget_s:6d}  {note}")
    lines.append(f"total {total_s:.1f} s; reports under each stage's folder, logs as <stage>.log")
    return "\n".join(lines)


def collect(out: Path, into: Path) -> None:
    """At most 8 flat files for a tool that returns few files: the summary, the key reports and
    one archive of the whole folder."""
    into.mkdir(parents=True, exist_ok=True)
    picks = {
        "summary.txt": out / "summary.txt",
        "summary.json": out / "summary.json",
        "claims-verdict.json": out / "claims" / "verdict.json",
        "kernels-junit.xml": out / "kernels" / "junit.xml",
        "bench-softmax-gpu.json": out / "bench" / "bench-softmax-gpu.json",
        "training-verdict.json": out / "training" / "verdict.json",
    }
    for name, path in picks.items():
        if path.exists():
            shutil.copy2(path, into / name)
    with tarfile.open(into / "gpu-run.tar.gz", "w:gz") as archive:
        archive.add(out, arcname=out.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "gpu-run")
    parser.add_argument("--budget", type=int, default=480, help="seconds for all stages")
    parser.add_argument("--wheels", type=Path, default=wheelhouse.DEFAULT_DEST)
    parser.add_argument("--site", type=Path, default=ROOT / ".gpu-site")
    parser.add_argument("--skip-install", action="store_true", help="packages are all present")
    parser.add_argument("--stages", default="wheels,claims,kernels,bench,training")
    parser.add_argument("--rehearsal", action="store_true", help="CPU, tiny selection")
    parser.add_argument("--collect", type=Path, help="also copy the key files and an archive here")
    args = parser.parse_args(argv)
    started = time.monotonic()
    out = args.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "bench").mkdir()

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(args.site.resolve()), *filter(None, [env.get("PYTHONPATH")])]
    )
    if not _plugins_registered(env):  # PYTEST_ADDOPTS: the kernel tests' child run needs them too
        env["PYTEST_ADDOPTS"] = f"{PLUGINS} {env.get('PYTEST_ADDOPTS', '')}".strip()
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("TRITON_INTERPRET", None)

    missing: list[str] = []
    if not args.skip_install:
        try:
            wheelhouse.install(args.wheels, args.site)
        except (subprocess.CalledProcessError, SystemExit) as exc:
            missing.append(f"the wheels in {args.wheels} did not install ({exc})")
        sys.path.insert(0, str(args.site.resolve()))
        missing += wheelhouse.check(args.site)
    facts, probed = probe(args.rehearsal)
    missing += probed
    # Without torch, a GPU or the wheels no stage can say anything; without a compiler or
    # Python.h the claims on CUDA still run (only the Triton parts fail, and say so).
    fatal = [m for m in missing if not m.startswith(("a C compiler", "Python.h"))]
    print(summary_text(facts, missing, [], 0).split("\nstage")[0], flush=True)

    selected = set(args.stages.split(","))
    plan = [s for s in stages(out, args.rehearsal) if s.name in selected]
    for stage in plan:
        left = args.budget - (time.monotonic() - started)
        if fatal and not args.rehearsal:
            stage.reason = "setup incomplete: " + "; ".join(fatal)
        elif stage.optional:
            if left < OPTIONAL_MIN_S:
                stage.reason = f"only {left:.0f} s of the {args.budget} s budget left"
            else:
                stage.budget_s = int(left)
                run_stage(stage, env, out, stage.budget_s)
        elif left < 30:
            stage.reason = f"only {left:.0f} s of the {args.budget} s budget left"
        else:
            run_stage(stage, env, out, min(stage.budget_s, left))
    total = time.monotonic() - started
    text = summary_text(facts, missing, plan, total)
    (out / "summary.txt").write_text(text + "\n")
    (out / "summary.json").write_text(
        json.dumps(
            {"environment": facts, "missing": missing, "budget_s": args.budget,
             "total_s": round(total, 1), "stages": [asdict(s) for s in plan]},
            indent=2,
        )
    )  # fmt: skip
    print("\n" + text, flush=True)
    if args.collect:
        collect(out, args.collect)
    if fatal:
        return 2
    failed = [s for s in plan if s.status not in ("passed", "not run")]
    if args.rehearsal:
        failed += [s for s in plan if s.status == "not run"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
