"""Malformed claim files: every error names the file, the line and the field."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from softmax_claimcheck.claimcheck.errors import ClaimErrors
from softmax_claimcheck.claimcheck.loader import load_claims
from softmax_claimcheck.claimcheck.model import Kind, Verdict

SCHEMA = Path(__file__).resolve().parents[2] / "claims" / "schema.json"

GOOD_CLAIM = """\
section: "What Is Softmax, Really?"
claims:
  - id: good-claim
    quote: "Shift: Subtract the maximum value"
    statement: softmax is shift invariant.
    kind: math-property
    expect: SUPPORTED
    version: 1
    rationale: the reading in context
    scope: math
"""


def write_project(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    claims = tmp_path / "claims"
    claims.mkdir()
    shutil.copy(SCHEMA, claims / "schema.json")
    for name, content in files.items():
        target = claims / name
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(textwrap.dedent(content), encoding="utf-8")
    return claims


def load_error(tmp_path: Path, content: str | bytes, name: str = "bad.yaml") -> str:
    claims = write_project(tmp_path, {name: content})
    with pytest.raises(ClaimErrors) as info:
        load_claims(claims)
    return str(info.value)


def test_good_file_loads(tmp_path):
    claims = load_claims(write_project(tmp_path, {"good.yaml": GOOD_CLAIM}))
    claim = claims["good-claim"]
    assert claim.kind is Kind.MATH_PROPERTY and claim.expect is Verdict.SUPPORTED
    assert claim.source is not None and claim.source.name == "good.yaml" and claim.line == 3


def replace(old: str, new: str) -> str:
    assert old in GOOD_CLAIM
    return GOOD_CLAIM.replace(old, new)


# (name, file content, expected line, expected field, expected words in the message)
MALFORMED = [
    (
        "unclosed flow sequence",
        replace("version: 1", "version: [1, 2"),
        9,
        "<document>",
        "malformed YAML",
    ),
    (
        "bad indentation",
        replace("    kind: math-property", "   kind: math-property"),
        6,
        "<document>",
        "malformed YAML",
    ),
    (
        "duplicate key",
        replace("    version: 1", "    version: 1\n    version: 2"),
        9,
        "claims[0].version",
        "duplicate key 'version' (first at line 8)",
    ),
    (
        "unknown claim field",
        replace("    version: 1", "    version: 1\n    verdict: SUPPORTED"),
        9,
        "claims[0].verdict",
        "unknown field 'verdict'",
    ),
    ("unknown top-level field", "author: me\n" + GOOD_CLAIM, 1, "author", "unknown field"),
    (
        "version of wrong type",
        replace("version: 1", 'version: "one"'),
        8,
        "claims[0].version",
        "is not of type 'integer'",
    ),
    (
        "readings not a list",
        replace("    version: 1", "    version: 1\n    readings: exact"),
        9,
        "claims[0].readings",
        "is not of type 'array'",
    ),
    (
        "missing statement",
        replace("    statement: softmax is shift invariant.\n", ""),
        3,
        "claims[0]",
        "missing required field: 'statement'",
    ),
    (
        "id not kebab-case",
        replace("id: good-claim", "id: GoodClaim"),
        3,
        "claims[0].id",
        "does not match",
    ),
    (
        "not-checkable without reason",
        replace("kind: math-property", "kind: not-checkable").replace("SUPPORTED", "NOT CHECKABLE"),
        3,
        "claims[0]",
        "missing required field: 'reason'",
    ),
    (
        "not-checkable expecting a verdict",
        replace("kind: math-property", "kind: not-checkable\n    reason: opinion"),
        8,
        "claims[0].expect",
        "NOT CHECKABLE",
    ),
    (
        "training claim expecting a statement verdict",
        replace("kind: math-property", "kind: empirical").replace(
            "expect: SUPPORTED", "expect: REFUTED"
        ),
        7,
        "claims[0].expect",
        "use NOT REPRODUCED",
    ),
    (
        "statement expecting a training verdict",
        replace("expect: SUPPORTED", "expect: REPRODUCED"),
        7,
        "claims[0].expect",
        "for kind 'empirical' only",
    ),
    (
        "unknown verdict value",
        replace("expect: SUPPORTED", "expect: TRUE-ISH"),
        7,
        "claims[0].expect",
        "is not one of",
    ),
    (
        "unknown kind",
        replace("kind: math-property", "kind: vibes"),
        6,
        "claims[0].kind",
        "is not one of",
    ),
    (
        "unknown section",
        replace("What Is Softmax, Really?", "What Is Softmax"),
        1,
        "section",
        "is not one of",
    ),
    (
        "python object tag",
        replace("version: 1", "version: !!python/object/apply:os.system [ls]"),
        8,
        "claims[0].version",
        "not allowed",
    ),
    (
        "anchor and alias",
        replace("    version: 1", "    version: &v 1\n    notes: *v"),
        9,
        "claims[0].notes",
        "aliases are not allowed",
    ),
    ("merge key", GOOD_CLAIM + "  - <<: {id: x}\n", 11, "claims[1]", "merge keys"),
    (
        "empty claims list",
        'section: "What Is Softmax, Really?"\nclaims: []\n',
        2,
        "claims",
        "should be non-empty",
    ),
    (
        "tolerance with two bounds",
        replace("    version: 1", "    version: 1\n    tolerance: {decimals: 2, absolute: 0.1}"),
        9,
        "claims[0].tolerance",
        "has too many properties",
    ),
    (
        "duplicate reading ids",
        replace(
            "    version: 1",
            "    version: 1\n    readings:\n      - {id: a, text: one}\n      - {id: a, text: two}",
        ),
        11,
        "claims[0].readings[1].id",
        "duplicate reading id 'a'",
    ),
    ("empty file", "", 1, "<document>", "empty"),
    (
        "a list instead of a mapping",
        "- just\n- a list\n",
        1,
        "<document>",
        "is not of type 'object'",
    ),
    (
        "date where a string is expected",
        replace("statement: softmax is shift invariant.", "statement: 2024-01-01"),
        5,
        "claims[0].statement",
        "date values are not allowed",
    ),
]


@pytest.mark.parametrize(
    ("content", "line", "field", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in MALFORMED],
)
def test_malformed_file_names_file_line_and_field(tmp_path, content, line, field, words):
    message = load_error(tmp_path, content)
    assert f"bad.yaml:{line}: field '{field}'" in message, message
    assert words in message, message


def test_not_utf8_names_the_line(tmp_path):
    content = GOOD_CLAIM.encode().replace(b"shift invariant", b"shift \xff invariant")
    message = load_error(tmp_path, content)
    assert "bad.yaml:5: field '<document>'" in message and "not valid UTF-8" in message


def test_very_large_file_is_refused(tmp_path):
    content = GOOD_CLAIM + "# " + "x" * 1_100_000 + "\n"
    message = load_error(tmp_path, content)
    assert "bad.yaml:1:" in message and "limited to" in message


def test_billion_laughs_is_refused_quickly(tmp_path):
    bomb = 'section: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for level in "bcdefghi":
        prev = chr(ord(level) - 1)
        bomb += f"{level}: &{level} [" + ",".join([f"*{prev}"] * 9) + "]\n"
    message = load_error(tmp_path, bomb)
    assert "aliases are not allowed" in message


def test_duplicate_id_across_files_names_both_places(tmp_path):
    claims = write_project(tmp_path, {"a.yaml": GOOD_CLAIM, "b.yaml": GOOD_CLAIM})
    with pytest.raises(ClaimErrors) as info:
        load_claims(claims)
    message = str(info.value)
    assert "b.yaml:3: field 'claims[].id (good-claim)'" in message
    assert "duplicate claim id 'good-claim'" in message and "a.yaml:3" in message


def test_every_bad_file_is_reported_at_once(tmp_path):
    claims = write_project(
        tmp_path,
        {
            "one.yaml": replace("version: 1", "version: x"),
            "two.yaml": replace("kind: math-property", "kind: nope").replace("good-claim", "other"),
        },
    )
    with pytest.raises(ClaimErrors) as info:
        load_claims(claims)
    assert len(info.value.errors) == 2
    assert "one.yaml:8" in str(info.value) and "two.yaml:6" in str(info.value)


def test_missing_schema_is_an_error(tmp_path):
    claims = write_project(tmp_path, {"good.yaml": GOOD_CLAIM})
    (claims / "schema.json").unlink()
    with pytest.raises(ClaimErrors, match="claim schema not found"):
        load_claims(claims)


def test_the_projects_own_claim_files_are_valid():
    claims = load_claims(SCHEMA.parent)
    assert claims, "the project ships claims"
