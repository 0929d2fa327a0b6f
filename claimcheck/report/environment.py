"""Where the verdicts were produced: versions, hardware, seeds, date, commit."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit(root: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = out.stdout.strip() or "unknown"
    return commit + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def _version(distribution: str) -> str:
    """Installed version, read from metadata: importing torch just to ask is slow."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _gpu() -> dict[str, Any]:
    torch = sys.modules.get("torch")  # the checks imported it if any check used it
    if torch is None:
        return {"available": False, "why": "torch was not used in this run"}
    if not torch.cuda.is_available():
        return {"available": False, "why": "no CUDA device"}
    return {
        "available": True,
        "name": torch.cuda.get_device_name(0),
        "cuda": torch.version.cuda,
        "count": torch.cuda.device_count(),
    }


def _constraints(root: Path) -> dict[str, str]:
    """The pinned versions file the run was installed from (constraints.txt), by hash."""
    path = root / "constraints.txt"
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return {"file": "absent"}
    return {"file": "constraints.txt", "sha256": digest}


def collect(root: Path, seeds: dict[str, Any]) -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": _cpu(),
        "cpu_count": os.cpu_count(),
        "numpy": _version("numpy"),
        "torch": _version("torch"),
        "mpmath": _version("mpmath"),
        "hypothesis": _version("hypothesis"),
        "pytest": _version("pytest"),
        "pytest-xdist": _version("pytest-xdist"),
        "constraints": _constraints(root),
        "gpu": _gpu(),
        "seeds": seeds,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git_commit": _git_commit(root),
    }
