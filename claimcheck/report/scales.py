"""The outcome of the training claims at another scale, read from a sidecar file.

A GPU run writes `docs/training-at-gpu-scale.json` (schema "claimcheck-scale/1", beside its
page `docs/training-at-gpu-scale.md`); every value in it comes from that run's verdict.json. The
CPU report shows, for each training claim, that outcome beside its own (docs/design.md,
"Empirical claims": scale is evidence). A disagreement between scales is shown on the page,
never a failed run; a sidecar that cannot be read is one line on the page, never a crash.

Path: `--scales FILE` or the ini option `claimcheck_scales` (relative to the rootdir); by
default `docs/training-at-gpu-scale.json` under the rootdir when that file exists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from softmax_claimcheck.claimcheck.errors import shorten
from softmax_claimcheck.claimcheck.model import Family, Verdict

SCHEMA = "claimcheck-scale/1"
DEFAULT = Path("docs") / "training-at-gpu-scale.json"
MAX_BYTES = 4 * 1024 * 1024
OPTION, INI = "--scales", "claimcheck_scales"


def add_options(group: Any, parser: pytest.Parser) -> None:
    group.addoption(
        OPTION,
        metavar="FILE",
        help="training outcomes at another scale (default: docs/training-at-gpu-scale.json "
        "when it exists); the report shows them beside this run's",
    )
    parser.addini(INI, "training outcomes at another scale (a claimcheck-scale/1 file)", default="")


def sidecar_path(config: pytest.Config) -> tuple[Path | None, bool]:
    """(path, named): the file named by the option or ini setting, else the default if it
    exists; `named` says the user asked for it (then a missing file is worth a line)."""
    value = config.getoption(OPTION, None) or config.getini(INI)
    if value:
        path = Path(value).expanduser()
        return (path if path.is_absolute() else Path(config.rootpath, path)), True
    default = Path(config.rootpath, DEFAULT)
    return (default if default.is_file() else None), False


def _scale_text(scale: dict[str, Any]) -> str:
    bits = [f"{scale.get('preset', '?')} preset"]
    if scale.get("device"):
        bits[0] += f" on {scale['device']}"
    for key, label in (("steps", "steps"), ("seeds", "seeds"), ("layers", "layers")):
        if isinstance(scale.get(key), int):
            bits.append(f"{scale[key]:,} {label}")
    if isinstance(scale.get("parameters"), int):
        bits.append(f"{scale['parameters'] / 1e6:.2g}M parameters")
    if isinstance(scale.get("context"), int):
        bits.append(f"context {scale['context']}")
    return ", ".join(bits)


def load(path: Path, root: Path | None = None) -> dict[str, Any]:
    """The sidecar as the report shows it, or {"file", "error"} saying in one line why not."""
    shown = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
    try:
        raw = path.read_bytes()[: MAX_BYTES + 1]
        if len(raw) > MAX_BYTES:
            raise ValueError(f"larger than {MAX_BYTES} bytes")
        data = json.loads(raw.decode("utf-8"))
        return {"file": shown, **_checked(data)}
    except (OSError, ValueError, RecursionError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return {"file": shown, "error": f"{shown} cannot be read: {shorten(why, 160)}"}


def _checked(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ValueError(f"not a {SCHEMA} file")
    claims = data.get("claims")
    scale = data.get("scale")
    if not isinstance(claims, dict) or not isinstance(scale, dict):
        raise ValueError("'claims' and 'scale' must be objects")
    out: dict[str, dict[str, str]] = {}
    for claim_id, entry in claims.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("finding"), str):
            raise ValueError(f"claims.{claim_id}: needs a 'verdict' and a 'finding'")
        try:
            verdict = Verdict(str(entry.get("verdict")))
        except ValueError:
            raise ValueError(
                f"claims.{claim_id}: unknown verdict {entry.get('verdict')!r}"
            ) from None
        if verdict.family is Family.STATEMENT:
            raise ValueError(f"claims.{claim_id}: {verdict.value} is not a training verdict")
        out[str(claim_id)] = {"verdict": verdict.value, "finding": entry["finding"]}
    return {
        "page": str(data.get("page") or ""),
        "scale": scale,
        "scale_text": _scale_text(scale),
        "environment": data.get("environment") if isinstance(data.get("environment"), dict) else {},
        "commit": str(data.get("commit", "?")),
        "date": str(data.get("date", "?")),
        "claims": out,
    }


def for_run(config: pytest.Config) -> dict[str, Any] | None:
    """What the report shows about another scale: the sidecar, a line on why it cannot be
    read, or nothing (no sidecar, none named)."""
    path, _ = sidecar_path(config)  # the default only when it exists; a named one always
    if path is None:
        return None
    return load(path, Path(config.rootpath))
