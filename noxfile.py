"""Sessions: verify (the main job), tests (what CI runs), lint, gpu (CUDA runners).

On a machine without a GPU the sessions install the CPU build of torch first (torch==2.13.0, a few
hundred MB) so the project's `torch>=2.4` requirement installs nothing more; the gpu session reuses
the runner's own CUDA torch (the python on the PATH, no virtualenv) and never downloads one.
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["verify"]

TORCH_CPU = "torch==2.13.0"
PYTHON = "3.11"


def _install(session: nox.Session, extras: str = "") -> None:
    if os.environ.get("CLAIMCHECK_SYSTEM_TORCH") != "1":
        session.install(TORCH_CPU)
    session.install("-e", f".[{extras}]" if extras else ".")


@nox.session(python=PYTHON)
def verify(session: nox.Session) -> None:
    """Every claim on every available device; writes reports/ and prints the verdict summary."""
    _install(session)
    session.run(
        "pytest",
        "tests/checks",
        "--reports-dir",
        "reports",
        "-p",
        "no:cacheprovider",
        *session.posargs,
    )


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite CI runs: engine tests and the claim checks, without the training runs.
    Triton is installed so our kernels' tests run (interpreter on CPU, sm_90 build)."""
    _install(session, extras="triton")
    session.run(
        "pytest",
        "tests",
        "-m",
        "not training",
        "--reports-dir",
        "reports/tests",
        *session.posargs,
        env={"CLAIMCHECK_PROFILE": "ci"},
    )


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (lint and format) and mypy."""
    session.install("ruff>=0.5", "mypy>=1.10", "types-PyYAML", "types-jsonschema")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    _install(session)
    session.run("mypy")


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
    ci = {"CLAIMCHECK_PROFILE": "ci"}
    # Training claims run with their own preset (README, "Training experiments").
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/checks",
        "-m",
        "not training",
        "--require-all-run",
        "--reports-dir",
        "reports/gpu",
        *session.posargs,
        env=ci,
    )
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/engine/test_triton_kernels.py",
        "-rs",
        "--reports-dir",
        "reports/gpu-triton-kernels",
        env=ci,
    )


@nox.session(python=PYTHON)
def triton(session: nox.Session) -> None:
    """Our Triton kernels without a GPU: their tests (Triton's interpreter, and the sm_90 build
    by the bundled ptxas), then every claim check run on them under the interpreter."""
    _install(session, extras="triton")
    session.run("pytest", "tests/engine/test_triton_kernels.py", "-rs", "--no-reports")
    session.run(
        "pytest",
        "tests/checks",
        "-m",
        "not training",
        "--reports-dir",
        "reports/triton-interpreter",
        *session.posargs,
        env={"TRITON_INTERPRET": "1", "CLAIMCHECK_PROFILE": "ci"},
    )
