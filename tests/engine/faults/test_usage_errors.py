"""Issue 13, items 4 and 5 end to end: a bad claim file stops the run with exit status 4, one
line naming the file, no traceback, and a report that says no check ran."""

from __future__ import annotations

import os

import pytest

from tests.engine.conftest import claim_entry
from tests.engine.faults.helpers import CLAIM, HEADER

CHECK = """
    import pytest
    from pathlib import Path

    @pytest.mark.claim("good-claim")
    def test_good(evidence):
        Path("check-ran").write_text("yes")
        evidence.property_holds("one", True, 1, "1")
"""


def make(claims_project, special):
    claims_project.claims(claim_entry("good-claim"), file="good.yaml")
    claims_project.checks(CHECK)
    special(claims_project.claims_dir)


CASES = {
    "600-deep-list": lambda d: (d / "bad.yaml").write_text(
        HEADER + CLAIM.replace("good", "bad") + "    claimed: {x: " + "[" * 600 + "]" * 600 + "}\n"
    ),
    "float-tag": lambda d: (d / "bad.yaml").write_text(
        HEADER + CLAIM.replace("good", "bad").replace('quote: "Shift', 'quote: !!float "Shift')
    ),
    "5000-digits": lambda d: (d / "bad.yaml").write_text(
        HEADER + CLAIM.replace("good", "bad") + "    claimed: {n: " + "1" * 5000 + "}\n"
    ),
    "directory": lambda d: (d / "bad.yaml").mkdir(),
    "fifo": lambda d: os.mkfifo(d / "bad.yaml"),
    "outside-symlink": lambda d: (d / "bad.yaml").symlink_to("/etc/passwd"),
    "broken-symlink": lambda d: (d / "bad.yaml").symlink_to("nowhere.yaml"),
    "broken-schema": lambda d: (d / "schema.json").write_text("{"),
    "500kb-quote": lambda d: (d / "bad.yaml").write_text(
        HEADER
        + CLAIM.replace("good", "bad").replace('"Shift: Subtract the maximum value"', "q" * 500_000)
    ),
    "nan-tolerance": lambda d: (d / "bad.yaml").write_text(
        HEADER + CLAIM.replace("good", "bad") + "    tolerance: {absolute: .nan}\n"
    ),
}


WORDS = {
    "600-deep-list": "nested more than",
    "float-tag": "as !!float",
    "5000-digits": "as !!int",
    "directory": "is a directory",
    "fifo": "FIFO",
    "outside-symlink": "outside the claims directory",
    "broken-symlink": "broken symbolic link",
    "broken-schema": "not valid JSON",
    "500kb-quote": "500000 characters",
    "nan-tolerance": "finite number",
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_claim_file_exits_4_with_one_bounded_line(claims_project, case):
    make(claims_project, CASES[case])
    result = claims_project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:]
    err = result.stderr.str()
    assert "Traceback" not in err and "RecursionError" not in err
    assert "bad.yaml" in err or "schema.json" in err
    assert WORDS[case] in err, err[-1500:]
    assert len(err) < 3000, len(err)
    assert "root:x:0:0" not in err
    assert not (claims_project.root / "check-ran").exists()
    data = claims_project.report()
    assert not data["summary"]["ok"] and data["summary"]["stop_errors"]
    assert all(len(e) < 1000 for e in data["summary"]["stop_errors"])


def test_emacs_lock_file_does_not_stop_the_run(claims_project):
    make(claims_project, lambda d: (d / ".#good.yaml").symlink_to("root@host.1:2"))
    assert claims_project.run().ret == 0
