"""Small rooms: no module of the distribution over 600 lines (the conformance properties were
one file of 1,194 lines, harness, softmax, attention and catalogue together)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 600


def test_no_module_of_the_package_is_over_600_lines() -> None:
    modules = [
        Path(folder, name)
        for folder, _, names in os.walk(ROOT / "softmax_claimcheck", followlinks=True)
        for name in names
        if name.endswith(".py")
    ]  # followlinks: the package's claimcheck/, impl/ and experiments/ are links
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for path in modules
    }
    assert len(sizes) > 60  # the links were followed
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
