"""Numbers the design notes state about the code, read back from the code (they drifted once:
the notes said 45 digits while the oracle used 50)."""

from __future__ import annotations

import re
from pathlib import Path

from softmax_claimcheck.impl import oracle

ROOT = Path(__file__).resolve().parents[2]


def test_the_oracle_precision_in_the_design_notes_is_the_oracle_s() -> None:
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    stated = re.findall(r"mpmath at (\d+) significant digits", text)
    assert stated and {int(n) for n in stated} == {oracle.DIGITS}
