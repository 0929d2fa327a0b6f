"""Shared helpers of the fault suite: throwaway claim directories and the one-line rule."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from softmax_claimcheck.claimcheck.errors import ClaimErrors
from softmax_claimcheck.claimcheck.loader import load_claims

SCHEMA = Path(__file__).resolve().parents[3] / "claims" / "schema.json"
HEADER = 'section: "What Is Softmax, Really?"\nclaims:\n'
CLAIM = """\
  - id: good-claim
    quote: "Shift: Subtract the maximum value"
    statement: softmax is shift invariant.
    kind: math-property
    expect: SUPPORTED
    version: 1
    rationale: the reading in context
    scope: math
"""
GOOD = HEADER + CLAIM
MAX_MESSAGE = 1000  # no single error line may be longer (a bounded excerpt, never a whole value)


def claims_dir(tmp_path: Path, files: dict[str, str | bytes] | None = None) -> Path:
    claims = tmp_path / "claims"
    claims.mkdir(exist_ok=True)
    shutil.copy(SCHEMA, claims / "schema.json")
    for name, content in (files or {}).items():
        target = claims / name
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(textwrap.dedent(content), encoding="utf-8")
    return claims


def load_errors(claims: Path) -> list[str]:
    """The loader's messages for a claims directory that must not load."""
    with pytest.raises(ClaimErrors) as info:
        load_claims(claims)
    lines = [str(e) for e in info.value.errors]
    for line in lines:
        assert "\n" not in line, line
        assert len(line) <= MAX_MESSAGE, f"{len(line)} characters: {line[:300]}"
        assert "Traceback" not in line
    return lines


def one_error(claims: Path, file: str, *words: str) -> str:
    """Exactly one error, naming the file and containing every word."""
    [line] = load_errors(claims)
    assert file in line, line
    for word in words:
        assert word in line, (word, line)
    return line
