"""Load claim files: YAML → schema validation → Claim objects, with every error located."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from claimcheck.errors import ClaimErrors, ClaimFileError, Location
from claimcheck.model import Claim, Kind, Reading, Role, Verdict
from claimcheck.yaml_source import PositionedDocument, read_yaml

SCHEMA_FILE = "schema.json"


@cache
def _validator(schema_path: Path) -> jsonschema.Draft202012Validator:
    try:
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ClaimErrors([exc]) from None
    return jsonschema.Draft202012Validator(schema)


def _schema_errors(doc: PositionedDocument, validator: Any) -> list[ClaimFileError]:
    errors = []
    for err in sorted(validator.iter_errors(doc.data), key=lambda e: list(map(str, e.path))):
        path = tuple(err.absolute_path)
        message = err.message
        if err.validator == "additionalProperties":
            # Point at the unknown key itself, not at its parent mapping.
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            if extra:
                path = (*path, extra[0])
                message = (
                    f"unknown field {extra[0]!r} (allowed: {', '.join(err.schema['properties'])})"
                )
        elif err.validator == "required":
            message = f"missing required field: {err.message.split(' is a required')[0]}"
        errors.append(ClaimFileError(doc.location(path), message))
    return errors


def _claim_from(doc: PositionedDocument, index: int, raw: dict[str, Any], section: str) -> Claim:
    return Claim(
        id=raw["id"],
        section=section,
        quote=raw["quote"],
        statement=raw["statement"],
        kind=Kind(raw["kind"]),
        expect=Verdict(raw["expect"]),
        version=raw["version"],
        readings=tuple(
            Reading(r["id"], r["text"], Role(r.get("role", "part")))
            for r in raw.get("readings", [])
        ),
        rationale=raw.get("rationale"),
        scope=raw.get("scope"),
        claimed=dict(raw.get("claimed", {})),
        parameters=dict(raw.get("parameters", {})),
        tolerance=raw.get("tolerance"),
        reason=raw.get("reason"),
        notes=raw.get("notes"),
        source=doc.file,
        line=doc.line_of(("claims", index)),
    )


def _reading_rule_errors(
    doc: PositionedDocument, index: int, raw: dict[str, Any]
) -> list[ClaimFileError]:
    """The primary-reading rules that a schema cannot say (docs/design.md)."""
    readings = raw.get("readings", [])
    roles = [r.get("role", "part") for r in readings]
    where = doc.location(("claims", index, "readings"))
    errors = []
    if readings and roles.count("alternative") == len(roles):
        errors.append(
            ClaimFileError(
                where, f"claim {raw['id']!r}: only alternative readings; one must decide"
            )
        )
    if "ambiguous" in roles and (roles.count("ambiguous") != 2 or "part" in roles):
        errors.append(
            ClaimFileError(
                where,
                f"claim {raw['id']!r}: 'ambiguous' marks exactly two readings as both primary "
                "(and then no 'part')",
            )
        )
    if ("ambiguous" in roles or "alternative" in roles) and not raw.get("rationale"):
        errors.append(
            ClaimFileError(
                doc.location(("claims", index)),
                f"claim {raw['id']!r}: a claim with alternative or ambiguous readings needs a "
                "'rationale' saying why the context picks its primary reading (or neither)",
            )
        )
    return errors


def load_file(file: Path, schema_path: Path) -> list[Claim]:
    """Claims of one file; raises ClaimErrors listing every problem found in it."""
    doc = read_yaml(file)
    errors: list[Exception] = list(_schema_errors(doc, _validator(schema_path)))
    if errors:
        raise ClaimErrors(errors)
    claims = []
    for index, raw in enumerate(doc.data["claims"]):
        seen_readings: dict[str, int] = {}
        for r_index, reading in enumerate(raw.get("readings", [])):
            if reading["id"] in seen_readings:
                errors.append(
                    ClaimFileError(
                        doc.location(("claims", index, "readings", r_index, "id")),
                        f"duplicate reading id {reading['id']!r} in claim {raw['id']!r}",
                    )
                )
            seen_readings[reading["id"]] = r_index
        errors.extend(_reading_rule_errors(doc, index, raw))
        claims.append(_claim_from(doc, index, raw, doc.data["section"]))
    if errors:
        raise ClaimErrors(errors)
    return claims


def load_claims(claims_dir: Path) -> dict[str, Claim]:
    """All claims of a directory, keyed by id; every problem of every file is reported at once."""
    schema_path = claims_dir / SCHEMA_FILE
    if not claims_dir.is_dir():
        raise ClaimErrors([FileNotFoundError(f"claims directory not found: {claims_dir}")])
    if not schema_path.is_file():
        raise ClaimErrors([FileNotFoundError(f"claim schema not found: {schema_path}")])
    registry: dict[str, Claim] = {}
    errors: list[Exception] = []
    for file in sorted(claims_dir.glob("*.yaml")) + sorted(claims_dir.glob("*.yml")):
        try:
            claims = load_file(file, schema_path)
        except ClaimErrors as exc:
            errors.extend(exc.errors)
            continue
        except ClaimFileError as exc:
            errors.append(exc)
            continue
        for claim in claims:
            first = registry.get(claim.id)
            if first is not None:
                errors.append(
                    ClaimFileError(
                        Location(file, claim.line, f"claims[].id ({claim.id})"),
                        f"duplicate claim id {claim.id!r} (first defined at "
                        f"{first.source}:{first.line})",
                    )
                )
            else:
                registry[claim.id] = claim
    if errors:
        raise ClaimErrors(errors)
    return _in_article_order(registry, schema_path)


def _in_article_order(registry: dict[str, Claim], schema_path: Path) -> dict[str, Claim]:
    """Claims in the order a reader meets them: sections as the schema lists them (the article's
    order), then file and line."""
    schema: dict[str, Any] = dict(_validator(schema_path).schema)  # type: ignore[arg-type]
    sections = schema.get("$defs", {}).get("section", {}).get("enum", [])
    rank = {name: i for i, name in enumerate(sections)}

    def key(claim: Claim) -> tuple[int, str, int]:
        return (rank.get(claim.section, len(rank)), str(claim.source), claim.line)

    return {claim.id: claim for claim in sorted(registry.values(), key=key)}
