"""The wheels a bare GPU box needs beyond what it already has, and the checks that they suffice.

A GPU box (README, "On a GPU machine") has Python with its own CUDA torch and triton, pytest,
hypothesis, pyyaml, jinja2, matplotlib, numpy and mpmath, and no package index. Everything else the
project imports travels as wheels in one ignored folder (`.wheelhouse/`), carried with the working
tree. This module is stdlib-only (it runs on the box before anything is installed):

    python scripts/gpu/wheelhouse.py download [--dest .wheelhouse] [--python 3.12 ...]
    python scripts/gpu/wheelhouse.py dry-run  [--dest .wheelhouse] [--python 3.12]
    python scripts/gpu/wheelhouse.py install  [--dest .wheelhouse] --target .gpu-site
    python scripts/gpu/wheelhouse.py check    --target .gpu-site   # every requirement met

`install` puts the wheels into a --target folder (put it on PYTHONPATH): no setuptools, no build,
nothing written into the system Python, so PEP 668 (externally managed) never refuses it.
`check` then proves, from the installed metadata, that every requirement of every installed wheel
is met by the box's packages or the folder: a missing wheel is named, not found at collection.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DEST = ROOT / ".wheelhouse"
# What a GPU box already has (the list), and what those packages bring with them.
BOX = {
    "torch", "triton", "numpy", "pytest", "hypothesis", "pyyaml", "jinja2", "matplotlib", "mpmath",
    # their own dependencies (torch, pytest, jinja2, matplotlib, hypothesis)
    "filelock", "typing-extensions", "sympy", "networkx", "fsspec", "setuptools", "markupsafe",
    "iniconfig", "packaging", "pluggy", "pygments", "sortedcontainers", "contourpy", "cycler",
    "fonttools", "kiwisolver", "pillow", "pyparsing", "python-dateutil", "six", "exceptiongroup",
    "tomli", "nvidia-*", "cuda-*",
}  # fmt: skip
# The project's runtime dependencies the box lacks (pyproject's list minus BOX), with the
# dependencies they bring that the box lacks too. The GPU run needs each: the plugin imports
# jsonschema, conftest threadpoolctl, impl array_api_compat; pytest-timeout provides the `timeout`
# ini keys and marker (--strict-config/--strict-markers); tqdm and pytest-html serve the training
# stage and the tests.html log.
NEEDED = (
    "jsonschema", "pytest-timeout", "array-api-compat", "threadpoolctl", "tqdm", "pytest-html",
    "pytest-xdist",  # the claims stage spreads over the box's cores (-n 4)
)  # fmt: skip
PLATFORMS = (
    "manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64", "linux_x86_64",
)  # fmt: skip


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def on_box(name: str) -> bool:
    name = canonical(name)
    return any(name == b or (b.endswith("*") and name.startswith(b[:-1])) for b in BOX)


def wheel_name(path: Path) -> str:
    return canonical(path.name.split("-")[0])


def _pip(*args: str, isolated: bool = False) -> list[str]:
    return [sys.executable, "-m", "pip", *(["--isolated"] if isolated else []), *args]


def _target_args(python: str, platforms: tuple[str, ...] = PLATFORMS) -> list[str]:
    digits = python.replace(".", "")
    args = ["--only-binary=:all:", "--python-version", python, "--implementation", "cp"]
    args += ["--abi", f"cp{digits}", "--abi", "abi3", "--abi", "none"]
    for platform in platforms:
        args += ["--platform", platform]
    return args


def download(dest: Path, pythons: list[str]) -> None:
    """The NEEDED packages and their dependencies for each Python version, minus what the box
    has. Downloads with dependencies into a scratch folder, then keeps only the box's gaps."""
    dest.mkdir(parents=True, exist_ok=True)
    for python in pythons:
        with tempfile.TemporaryDirectory() as scratch:
            subprocess.run(
                _pip("download", "-q", "-d", scratch, *_target_args(python), *NEEDED), check=True
            )
            for wheel in sorted(Path(scratch).glob("*.whl")):
                if not on_box(wheel_name(wheel)) and not (dest / wheel.name).exists():
                    shutil.copy2(wheel, dest / wheel.name)
    print(f"wheelhouse {dest}: {describe(dest)}")


def describe(dest: Path) -> str:
    wheels = sorted(dest.glob("*.whl"))
    size = sum(w.stat().st_size for w in wheels)
    names = ", ".join(w.name for w in wheels)
    return f"{len(wheels)} wheels, {size / 2**20:.2f} MiB: {names}"


def dry_run(dest: Path, python: str) -> None:
    """Proves that the folder alone (no index, no pip configuration) holds an installable wheel
    of every NEEDED package and of every dependency the box lacks, for CPython `python`."""
    with tempfile.TemporaryDirectory() as target:
        subprocess.run(
            _pip(
                "install",
                "--dry-run",
                "-q",
                "--no-index",
                "--find-links",
                str(dest),
                "--target",
                target,
                "--no-deps",
                *_target_args(python),
                *NEEDED,
                *sorted({wheel_name(w) for w in dest.glob("*.whl")}),
                isolated=True,
            ),
            check=True,
        )
    missing = closure_gaps(dest, python)
    if missing:
        sys.exit(f"the wheelhouse {dest} lacks, for Python {python}: {'; '.join(missing)}")
    print(f"wheelhouse {dest} resolves for CPython {python} with no index")


def _requirements(metadata: str) -> list[str]:
    return [line.split(":", 1)[1].strip() for line in metadata.splitlines()
            if line.startswith("Requires-Dist:")]  # fmt: skip


def _applies(requirement: str, python: str) -> bool:
    """Whether a requirement's marker holds on Linux x86-64 CPython `python`, no extras asked."""
    if ";" not in requirement:
        return True
    try:
        from packaging.markers import Marker
    except ImportError:  # pip always carries its own copy
        from pip._vendor.packaging.markers import Marker
    environment = {
        "python_version": python, "python_full_version": f"{python}.0", "extra": "",
        "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
        "platform_machine": "x86_64", "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }  # fmt: skip
    return bool(Marker(requirement.split(";", 1)[1]).evaluate(environment))


def _requirement_name(requirement: str) -> str:
    return canonical(re.split(r"[\s\[<>=!~;(]", requirement.strip(), maxsplit=1)[0])


def closure_gaps(dest: Path, python: str) -> list[str]:
    """Every dependency (for `python`) of every wheel in the folder and of NEEDED must be in the
    folder or on the box; returns what is neither."""
    import zipfile

    have = {wheel_name(w) for w in dest.glob("*.whl")}
    gaps = [
        f"{name} (needed by the project)" for name in map(canonical, NEEDED) if name not in have
    ]
    for wheel in sorted(dest.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            text = archive.read(meta).decode()
        for requirement in _requirements(text):
            name = _requirement_name(requirement)
            if _applies(requirement, python) and name not in have and not on_box(name):
                gaps.append(f"{name} (needed by {wheel.name})")
    return gaps


def install(dest: Path, target: Path) -> None:
    """The wheels into `target` (no index, no dependencies resolved here: `check` proves them)."""
    target.mkdir(parents=True, exist_ok=True)
    wheels = [str(w) for w in sorted(dest.glob("*.whl"))]
    if not wheels:
        sys.exit(f"no wheels in {dest}: run `nox -s wheelhouse` on a machine with network")
    subprocess.run(
        _pip(
            "install",
            "-q",
            "--no-index",
            "--no-deps",
            "--no-compile",
            "--no-cache-dir",
            "--upgrade",
            "--target",
            str(target),
            "--find-links",
            str(dest),
            *sorted({wheel_name(Path(w)) for w in wheels}),
            isolated=True,
        ),
        check=True,
    )


def check(target: Path) -> list[str]:
    """Unmet requirements of the distributions in `target`, against sys.path plus `target`
    (the box's packages, versions included)."""
    import importlib.metadata as md

    sys.path.insert(0, str(target))
    installed = {canonical(d.metadata["Name"]): d.version for d in md.distributions()}
    problems = []
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    for dist in md.distributions(path=[str(target)]):
        for requirement in dist.requires or []:
            if not _applies(requirement, python):
                continue
            name = _requirement_name(requirement)
            if name not in installed:
                problems.append(f"{name} is missing (needed by {dist.metadata['Name']})")
    for name in map(canonical, NEEDED):
        if name not in installed:
            problems.append(f"{name} is missing (needed by the project)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("download", "dry-run", "install", "check", "describe"))
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="the wheel folder")
    parser.add_argument("--python", action="append", help="CPython version(s), default 3.12")
    parser.add_argument("--target", type=Path, help="install/check: the --target folder")
    args = parser.parse_args(argv)
    pythons = args.python or ["3.12"]
    if args.action == "download":
        download(args.dest, pythons)
    elif args.action == "dry-run":
        for python in pythons:
            dry_run(args.dest, python)
    elif args.action == "describe":
        print(describe(args.dest))
    elif args.action == "install":
        if not args.target:
            parser.error("install needs --target")
        install(args.dest, args.target)
        problems = check(args.target)
        if problems:
            print("\n".join(problems), file=sys.stderr)
            return 1
        print(f"installed {describe(args.dest)} into {args.target}; every requirement is met")
    elif args.action == "check":
        problems = check(args.target or args.dest)
        print("\n".join(problems) or "every requirement is met")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
