"""The project's own claim files: quotes are verbatim, and the coverage table lists every claim."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from softmax_claimcheck.claimcheck.loader import load_claims

ROOT = Path(__file__).resolve().parents[2]
ARTICLE = ROOT.parent / "shared" / "article" / "understanding-softmax.txt"


def _normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def claims():
    return load_claims(ROOT / "claims")


def test_every_quote_is_verbatim_in_the_article(claims):
    if not ARTICLE.is_file():
        pytest.skip(f"the article is not beside the checkout ({ARTICLE})")
    article = _normalize(ARTICLE.read_text(encoding="utf-8"))
    missing = [c.id for c in claims.values() if _normalize(c.quote) not in article]
    assert not missing, f"quotes not found verbatim in the article: {missing}"


def test_coverage_table_lists_every_claim_once(claims):
    table = (ROOT / "claims" / "README.md").read_text(encoding="utf-8")
    listed: list[str] = []
    for row in table.split("## Coverage", 1)[1].splitlines():
        cells = [c.strip() for c in row.split("|")]
        if len(cells) >= 4 and cells[2].startswith("`"):
            file = cells[2].strip("`")
            ids = [i.strip() for i in cells[3].split(",") if i.strip()]
            for claim_id in ids:
                assert claim_id in claims, f"coverage table names unknown claim {claim_id!r}"
                assert claims[claim_id].source is not None
                assert claims[claim_id].source.name == file, (claim_id, file)
            listed += ids
    assert sorted(listed) == sorted(claims), (
        f"missing from the table: {sorted(set(claims) - set(listed))}; "
        f"listed twice: {sorted({i for i in listed if listed.count(i) > 1})}"
    )
