"""Sessions: verify (the main job), tests (what CI runs), lint, gpu (CUDA runners), wheelhouse
and gpu_rehearsal (the bare-GPU-box run, scripts/gpu/, rehearsed on CPU).

On a machine without a GPU the sessions install the CPU build of torch first (torch==2.13.0, a few
hundred MB) so the project's `torch>=2.4` requirement installs nothing more; the gpu session reuses
the runner's own CUDA torch (the python on the PATH, no virtualenv) and never downloads one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["verify"]

TORCH_CPU = "torch==2.13.0"
PYTHON = "3.11"
# What a bare GPU box has besides its CUDA torch (the rehearsal's venv holds just these).
BOX_PACKAGES = ("triton==3.7.1", "numpy", "pytest", "hypothesis", "pyyaml", "jinja2", "matplotlib",
                "mpmath")  # fmt: skip


# Hosted CI sets this to https://download.pytorch.org/whl/cpu: from PyPI alone torch==2.13.0 on
# Linux is the multi-GB CUDA build.
TORCH_INDEX = os.environ.get("CLAIMCHECK_TORCH_INDEX")


# The versions the verdicts depend on (Hypothesis draws other examples in another release): every
# session installs under this one constraints file.
CONSTRAINTS = ("-c", "constraints.txt")
# No bytecode at install time: pip would compile every module of torch, scipy and matplotlib
# (about half the install time of a fresh venv); Python compiles the few it imports on first use.
NO_COMPILE = "--no-compile"


def _install_torch(session: nox.Session) -> None:
    if os.environ.get("CLAIMCHECK_SYSTEM_TORCH") == "1":
        return
    index = ["--index-url", TORCH_INDEX] if TORCH_INDEX else []
    session.install(NO_COMPILE, TORCH_CPU, *index, *CONSTRAINTS)


def _install(session: nox.Session, extras: str = "") -> None:
    """The project and its extras, with torch's CPU build: in the same pip call (one
    resolution), or first from its own index where one is set (that index lacks the rest)."""
    project = ["-e", f".[{extras}]" if extras else "."]
    if os.environ.get("CLAIMCHECK_SYSTEM_TORCH") != "1":
        if TORCH_INDEX:
            _install_torch(session)
        else:
            project.insert(0, TORCH_CPU)
    session.install(NO_COMPILE, *CONSTRAINTS, *project)


@nox.session(python=PYTHON)
def verify(session: nox.Session) -> None:
    """Every claim on every available device; writes reports/ and prints the verdict summary.
    The test extra (scipy) serves the README's `--impl scipy.special:softmax` example."""
    _install(session, extras="test")
    started = time.time()
    session.run(
        "pytest",
        "tests/checks",
        "--reports-dir=reports",
        "-p",
        "no:cacheprovider",
        *session.posargs,
    )
    _require_finished_and_ok(session, "reports", started)


def _require_finished_and_ok(session: nox.Session, reports: str, started: float) -> None:
    """An exit status of 0 is not enough: the report itself must say this run finished and is
    ok (a process can end with 0 early; a run that wrote nothing leaves an older report)."""
    session.run(
        "python", "-m", "softmax_claimcheck.claimcheck.run_status", reports, f"--since={started}"
    )


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The fast test suite: the engine's unit tests and every claim check (no training), over
    two workers (pytest-xdist). The tests that start whole pytest runs are `slow_tests`."""
    _install(session, extras="triton,test")
    started = time.time()
    session.run(
        "pytest",
        "tests",
        "-m",
        "not training and not slow",
        "-n",
        "2",
        "--reports-dir=reports/tests",
        *session.posargs,
    )
    if not session.posargs:  # the whole suite: its claim checks must have finished and be ok
        _require_finished_and_ok(session, "reports/tests", started)


@nox.session(python=PYTHON)
def slow_tests(session: nox.Session) -> None:
    """The tests that start whole pytest runs in subprocesses: fault injection, stopped and
    parallel runs, determinism, the conformance command on the broken catalogue, isolation in a
    throwaway project, the Triton kernels' child run (tests/conftest.py, SLOW)."""
    _install(session, extras="triton,test")
    session.run(
        "pytest",
        "tests",
        "-m",
        "slow and not training",
        "-n",
        "2",
        "--reports-dir=reports/slow-tests",
        *session.posargs,
    )


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (lint and format); mypy over every module of the distribution (the package
    `softmax_claimcheck`, whose folders match its import names: docs/design.md, "Layout");
    import-linter's layering contracts (pyproject.toml, [tool.importlinter]); and the GitHub
    workflows: their JSON schema (check-jsonschema's bundled copy) and a security audit
    (zizmor), both offline."""
    session.install("ruff>=0.5", "mypy>=1.10", "types-PyYAML", "types-jsonschema",
                    "import-linter>=2.1")  # fmt: skip
    session.install(*CONSTRAINTS, "check-jsonschema", "zizmor")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    workflows = sorted(str(p) for p in Path(".github/workflows").glob("*.yml"))
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)
    session.run("zizmor", "--offline", *workflows)
    _install(session)
    session.run("mypy")
    session.run("lint-imports")


@nox.session(python=False)
def gpu(session: nox.Session) -> None:
    """Every check on CUDA with the runner's own torch (python on the PATH), then our Triton
    kernels' tests; fails (never skips) without a GPU. Downloads nothing: that python must
    already hold the project's dependencies (README, "On a GPU machine")."""
    probe = (
        "import sys, torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, "
        "'device', torch.cuda.get_device_name() if torch.cuda.is_available() else None); "
        "sys.exit(0 if torch.cuda.is_available() else 3)"
    )
    try:
        session.run("python", "-c", probe)
    except nox.command.CommandFailed:
        session.error(
            "no CUDA device: the gpu session needs torch with a visible CUDA GPU "
            "(torch.cuda.is_available() is False, or torch does not import)"
        )
    session.run("python", "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-e", ".")
    ci: dict[str, str] = {}  # the default profile is deterministic
    # Training claims run with their own preset (README, "Training experiments").
    started = time.time()
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/checks",
        "-m",
        "not training",
        "--require-all-run",
        "--reports-dir=reports/gpu",
        *session.posargs,
        env=ci,
    )
    _require_finished_and_ok(session, "reports/gpu", started)
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/kernels/test_triton_kernels.py",
        "-rs",
        "--reports-dir=reports/gpu-triton-kernels",
        env=ci,
    )


@nox.session(python=PYTHON)
def triton(session: nox.Session) -> None:
    """Our Triton kernels without a GPU: their tests (Triton's interpreter, and the sm_90 build
    by the bundled ptxas), then every claim check run on them under the interpreter."""
    _install(session, extras="triton")
    session.run("pytest", "tests/kernels/test_triton_kernels.py", "-rs", "--no-reports")
    session.run(
        "pytest",
        "tests/checks",
        "-m",
        "not training",
        "--reports-dir=reports/triton-interpreter",
        *session.posargs,
        env={"TRITON_INTERPRET": "1"},
    )


@nox.session(python=PYTHON)
def frameworks(session: nox.Session) -> None:
    """JAX, SciPy and ONNX Runtime (torch as the reference) under the conformance properties,
    measured as values: writes docs/frameworks.md and reports/frameworks/ (frameworks.json,
    frameworks.html, each kernel's conformance page). Installs the `frameworks` extra, CPU
    builds only: about 121 MB of wheels (jaxlib 85 MB, onnxruntime 28 MB, onnx 9 MB; about
    490 MB installed) besides torch. About 3.5 minutes on a 2-core machine after the installs.
    Fails when a framework of the table is not run (posargs go to the generator)."""
    _install(session, extras="frameworks,test")
    session.run("python", "-m", "softmax_claimcheck.frameworks", "--require", "all",
                *session.posargs)  # fmt: skip


WHEELHOUSE = ".wheelhouse"


@nox.session(python=False)
def wheelhouse(session: nox.Session) -> None:
    """The wheels a bare GPU box lacks (scripts/gpu/wheelhouse.py), into .wheelhouse/ (ignored;
    carry it to the box), and its size. Default CPython 3.12 manylinux x86-64; other versions:
    `nox -s wheelhouse -- 3.11 3.12`. Needs network; the run on the box needs none."""
    versions = session.posargs or ["3.12"]
    session.run("python", "scripts/gpu/wheelhouse.py", "download",
                *(f"--python={v}" for v in versions))  # fmt: skip
    for version in versions:
        session.run("python", "scripts/gpu/wheelhouse.py", "dry-run", f"--python={version}")


@nox.session(python=PYTHON, venv_backend="venv")
def gpu_rehearsal(session: nox.Session) -> None:
    """The GPU box's run on CPU, on a tiny selection, so a typo cannot waste GPU minutes:
    (1) the GPU plan's stage budgets fit its 7-minute limit and every stage can start
    (`run.py --check`); (2) the wheelhouse (cached in .wheelhouse/, downloaded once) resolves for
    CPython 3.12 with no index; (3) in this fresh virtualenv, holding only what a box has (the
    local CPU torch, triton, pytest, hypothesis, pyyaml, jinja2, matplotlib, numpy, mpmath),
    scripts/gpu/run.py installs the wheelhouse exactly as on the box (no index, --target, plugins
    by -p) and runs each stage's real command under the same budget rules: one claim, the kernel
    tests under TRITON_INTERPRET=1, the benchmark's dry run, conformance of CPU subjects with
    --devices cpu, the smoke training preset; (4) the scale page is generated from that training
    stage into reports/gpu-rehearsal/ (never docs/). Fails if any step fails. posargs: another
    wheel folder (the test that removes a wheel uses it)."""
    wheels = session.posargs[0] if session.posargs else WHEELHOUSE
    session.run("python", "scripts/gpu/run.py", "--check")
    version = session.run("python", "-c", "import sys; print('%d.%d' % sys.version_info[:2])",
                          silent=True).strip()  # fmt: skip
    pythons = ["--python=3.12", f"--python={version}"]  # the box's, and this venv's (rpds-py)
    script = "scripts/gpu/wheelhouse.py"
    if wheels == WHEELHOUSE:  # cached between runs: download only when the folder falls short
        check = subprocess.run([sys.executable, script, "dry-run", *pythons], capture_output=True)
        if check.returncode:
            session.run("python", script, "download", *pythons)
    session.run("python", script, "dry-run", "--dest", wheels, *pythons)
    _install_torch(session)
    session.install(*BOX_PACKAGES)
    site = Path(session.create_tmp()) / "gpu-site"
    if site.exists():
        shutil.rmtree(site)
    out = "reports/gpu-rehearsal"
    session.run("python", "scripts/gpu/run.py", "--rehearsal", "--wheels", wheels,
                "--site", str(site), "--out", out, "--collect", f"{out}/collected")  # fmt: skip
    page = ["--page", f"{out}/scale-page.md", "--sidecar", f"{out}/scale-page.json"]
    session.run("python", "scripts/gpu/scale_page.py", f"{out}/collected", "--any-preset", *page)
