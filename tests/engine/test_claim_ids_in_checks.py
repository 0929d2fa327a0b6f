"""Checks receive their claim through the `claim` fixture: outside `pytest.mark.claim(...)`, no
claim id appears in tests/checks/, neither as a string nor through a constant."""

from __future__ import annotations

import re
from pathlib import Path

from softmax_claimcheck.claimcheck.loader import load_claims

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"pytest\.mark\.claim\(\s*\"[a-z0-9-]+\"")


def _sources() -> dict[Path, str]:
    return {
        path: path.read_text(encoding="utf-8") for path in (ROOT / "tests" / "checks").rglob("*.py")
    }


def test_no_claim_id_outside_the_claim_marker():
    ids = sorted(load_claims(ROOT / "claims"), key=len, reverse=True)
    found = []
    for path, text in _sources().items():
        rest = MARKER.sub("pytest.mark.claim(", text)
        for claim_id in ids:
            # As a whole quoted word: reading ids or parameter names that merely share a prefix
            # do not count.
            if re.search(rf"[\"']{re.escape(claim_id)}[\"']", rest):
                found.append(f"{path.relative_to(ROOT)}: {claim_id}")
    assert not found, "claim ids outside pytest.mark.claim(...):\n  " + "\n  ".join(found)


def test_the_scan_finds_an_id_outside_the_marker(tmp_path):
    """The scan itself can fail."""
    text = 'EXAMPLE = "example-probabilities"\n@pytest.mark.claim("example-probabilities")\n'
    rest = MARKER.sub("pytest.mark.claim(", text)
    assert re.search(r"[\"']example-probabilities[\"']", rest)
