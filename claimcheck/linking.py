"""The link between claims and checks, validated before any check runs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import pytest

from softmax_claimcheck.claimcheck.model import Claim

MARKER = "claim"


@dataclass(frozen=True)
class Link:
    claim_id: str
    reading: str | None


def link_of(item: pytest.Item) -> Link | None:
    """The claim a check names with @pytest.mark.claim("id", reading="r"), if any."""
    markers = list(item.iter_markers(MARKER))
    if not markers:
        return None
    if len(markers) > 1:
        raise pytest.UsageError(
            f"{item.nodeid}: a check names one claim; it has {len(markers)} claim markers"
        )
    marker = markers[0]
    if len(marker.args) != 1 or not isinstance(marker.args[0], str):
        raise pytest.UsageError(
            f'{item.nodeid}: use @pytest.mark.claim("claim-id", reading="reading-id")'
        )
    unknown = set(marker.kwargs) - {"reading"}
    if unknown:
        raise pytest.UsageError(
            f"{item.nodeid}: unknown claim marker argument(s) {sorted(unknown)}"
        )
    return Link(marker.args[0], marker.kwargs.get("reading"))


def link_errors(
    claims: Mapping[str, Claim],
    links: Mapping[str, Link],
    known_scope: Callable[[str], bool] = lambda scope: True,
) -> list[str]:
    """Every linking problem at once: unknown claims, readings or scopes, claims or readings
    unchecked."""
    errors = [
        f"{_where(c)}: claim {c.id!r} names unknown scope {c.scope!r} (a selection in "
        "impl/selections.py, or math, article, training)"
        for c in claims.values()
        if c.scope is not None and not known_scope(c.scope)
    ]
    checked: dict[str, set[str | None]] = {}
    for nodeid, link in links.items():
        claim = claims.get(link.claim_id)
        if claim is None:
            errors.append(f"{nodeid}: names unknown claim {link.claim_id!r}")
            continue
        if not claim.checkable:
            errors.append(f"{nodeid}: claim {claim.id!r} is not checkable, yet a check names it")
        elif claim.readings and link.reading is None:
            errors.append(
                f"{nodeid}: claim {claim.id!r} has readings "
                f"({', '.join(r.id for r in claim.readings)}); name one with reading=..."
            )
        elif link.reading is not None and claim.reading(link.reading) is None:
            errors.append(f"{nodeid}: claim {claim.id!r} has no reading {link.reading!r}")
        checked.setdefault(claim.id, set()).add(link.reading)
    for claim in claims.values():
        if not claim.checkable:
            continue
        if claim.id not in checked:
            errors.append(f"{_where(claim)}: claim {claim.id!r} has no check")
            continue
        for reading in claim.readings:
            if reading.id not in checked[claim.id]:
                errors.append(
                    f"{_where(claim)}: reading {reading.id!r} of claim {claim.id!r} has no check"
                )
    return errors


def _where(claim: Claim) -> str:
    return f"{claim.source}:{claim.line}"


def selected_claims(claims: Iterable[Claim], wanted: list[str]) -> list[Claim]:
    claims = list(claims)
    if not wanted:
        return claims
    known = {c.id for c in claims}
    missing = [w for w in wanted if w not in known]
    if missing:
        raise pytest.UsageError(f"--claim names unknown claim(s): {', '.join(missing)}")
    return [c for c in claims if c.id in wanted]
