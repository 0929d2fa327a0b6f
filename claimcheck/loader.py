"""Load claim files: YAML → schema validation → Claim objects, with every error located."""

from __future__ import annotations

import json
import math
import os
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from softmax_claimcheck.claimcheck.errors import (
    ClaimErrors,
    ClaimFileError,
    Location,
    excerpt,
    shorten,
)
from softmax_claimcheck.claimcheck.model import Claim, Kind, Reading, Role, Verdict
from softmax_claimcheck.claimcheck.yaml_source import PositionedDocument, read_yaml

SCHEMA_FILE = "schema.json"
MAX_SCHEMA_BYTES = 1_000_000
# Editors write these beside a file being edited: Emacs' lock file `.#name.yaml` is a dangling
# symlink. They are not claim files and are skipped.
EDITOR_LOCK_PREFIX = ".#"


class SchemaFileError(Exception):
    """claims/schema.json itself cannot be used."""


def _strict_integer(checker: Any, instance: Any) -> bool:
    # JSON Schema counts 1.0 as an integer; a claim's `version: 1.0` is a typo to refuse.
    return isinstance(instance, int) and not isinstance(instance, bool)


_TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_integer)
_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=_TYPES)


@cache
def _validator(schema_path: Path) -> Any:
    def fail(why: str) -> ClaimErrors:
        return ClaimErrors([SchemaFileError(f"{schema_path}: {why}")])

    try:
        raw = schema_path.read_bytes()[: MAX_SCHEMA_BYTES + 1]
    except OSError as exc:
        raise fail(f"cannot read the claim schema: {exc.strerror or exc}") from None
    if len(raw) > MAX_SCHEMA_BYTES:
        raise fail(f"the claim schema is larger than {MAX_SCHEMA_BYTES} bytes")
    try:
        schema = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise fail(f"the claim schema is not valid UTF-8 (offset {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise fail(f"line {exc.lineno}: the claim schema is not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise fail("the claim schema is nested too deeply to read") from None
    if not isinstance(schema, dict) or "$defs" not in schema:
        raise fail("not a claim schema (a JSON object with '$defs' is expected)")
    try:
        _Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(map(str, exc.absolute_path)) or "<root>"
        raise fail(f"not a valid JSON Schema at {where}: {shorten(exc.message)}") from None
    except RecursionError:
        raise fail("the claim schema is nested too deeply to check") from None
    return _Validator(schema)


def _schema_message(err: Any) -> str:
    """jsonschema's message with the offending value quoted as a bounded excerpt (its messages
    embed the whole value: a 500 KB quote, or a system file's content)."""
    message = str(err.message)
    try:
        whole = repr(err.instance)
    except Exception:
        whole = ""
    if whole and whole in message and len(whole) > 80:
        message = message.replace(whole, excerpt(err.instance, 80))
    return shorten(message, 400)


def _schema_errors(doc: PositionedDocument, validator: Any) -> list[ClaimFileError]:
    errors = []
    for err in sorted(validator.iter_errors(doc.data), key=lambda e: list(map(str, e.path))):
        path = tuple(err.absolute_path)
        message = _schema_message(err)
        if err.validator == "additionalProperties":
            # Point at the unknown key itself, not at its parent mapping.
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            if extra:
                path = (*path, extra[0])
                message = (
                    f"unknown field {excerpt(extra[0])} "
                    f"(allowed: {', '.join(err.schema['properties'])})"
                )
        elif err.validator == "required":
            message = f"missing required field: {err.message.split(' is a required')[0]}"
        errors.append(ClaimFileError(doc.location(path), message))
    return errors + _value_errors(doc)


def _value_errors(doc: PositionedDocument) -> list[ClaimFileError]:
    """What JSON Schema cannot say: a tolerance must be a finite number (NaN passes both
    `exclusiveMinimum: 0` and `maximum`, as every comparison with NaN is false)."""
    errors = []
    claims = doc.data.get("claims") if isinstance(doc.data, dict) else None
    for index, raw in enumerate(claims if isinstance(claims, list) else []):
        tolerance = raw.get("tolerance") if isinstance(raw, dict) else None
        for key, value in tolerance.items() if isinstance(tolerance, dict) else ():
            if isinstance(value, float) and math.isnan(value):  # ±inf fail the schema's bounds
                errors.append(
                    ClaimFileError(
                        doc.location(("claims", index, "tolerance", key)),
                        "a tolerance must be a finite number, not NaN",
                    )
                )
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


def _family_errors(
    doc: PositionedDocument, index: int, raw: dict[str, Any]
) -> list[ClaimFileError]:
    """`expect` comes from the claim's own verdict family (docs/design.md, "Empirical claims"):
    a training outcome is REPRODUCED / NOT REPRODUCED / PARTLY REPRODUCED / INCONCLUSIVE, a
    statement SUPPORTED / REFUTED / PARTLY SUPPORTED / INCONCLUSIVE. A claim that mixes an
    experiment with mathematics is split into two claims, one of each kind."""
    kind, expect = Kind(raw["kind"]), Verdict(raw["expect"])
    if expect.allowed_for(kind):
        return []
    if kind is Kind.EMPIRICAL:
        hint = f"use {expect.for_kind(kind).value}: a training outcome is reported as reproduced"
    else:
        hint = "REPRODUCED / NOT REPRODUCED / PARTLY REPRODUCED are for kind 'empirical' only"
    return [
        ClaimFileError(
            doc.location(("claims", index, "expect")),
            f"claim {raw['id']!r} (kind {kind.value}): expect {expect.value!r} is not a verdict "
            f"of its family ({hint}; a claim mixing an experiment with mathematics is split)",
        )
    ]


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
        errors.extend(_family_errors(doc, index, raw))
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
    _validator(schema_path)  # a broken schema is one error, not one per claim file
    registry: dict[str, Claim] = {}
    errors: list[Exception] = []
    try:
        files = sorted(claims_dir.glob("*.yaml")) + sorted(claims_dir.glob("*.yml"))
    except OSError as exc:
        raise ClaimErrors([OSError(f"{claims_dir}: cannot list: {exc.strerror or exc}")]) from None
    for file in files:
        if file.name.startswith(EDITOR_LOCK_PREFIX):
            continue
        try:
            _check_inside(file, claims_dir)
            claims = load_file(file, schema_path)
        except ClaimErrors as exc:
            errors.extend(exc.errors)
            continue
        except ClaimFileError as exc:
            errors.append(exc)
            continue
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # The schema let through something the claim model cannot take (an edited schema).
            errors.append(
                ClaimFileError(
                    Location(file, 1, "<document>"),
                    "does not have the structure of a claim file although the schema accepts "
                    f"it ({type(exc).__name__}: {shorten(str(exc), 120)}); check the claim schema",
                )
            )
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


def _check_inside(file: Path, claims_dir: Path) -> None:
    """Refuse a claim file that resolves outside the claims directory (a symlink to a system file
    would otherwise be read, and quoted in errors that CI uploads)."""
    where = Location(file, 1, "<document>")
    try:
        real = Path(os.path.realpath(file))
        home = Path(os.path.realpath(claims_dir))
    except (OSError, RuntimeError, ValueError) as exc:
        raise ClaimFileError(where, f"cannot resolve the path: {shorten(str(exc), 120)}") from None
    if not real.is_relative_to(home):
        raise ClaimFileError(
            where,
            f"resolves outside the claims directory ({excerpt(str(real), 120)}); "
            "claim files must live in it",
        )


def _in_article_order(registry: dict[str, Claim], schema_path: Path) -> dict[str, Claim]:
    """Claims in the order a reader meets them: sections as the schema lists them (the article's
    order), then file and line."""
    schema: dict[str, Any] = dict(_validator(schema_path).schema)
    sections = schema.get("$defs", {}).get("section", {}).get("enum", [])
    rank = {name: i for i, name in enumerate(sections)}

    def key(claim: Claim) -> tuple[int, str, int]:
        return (rank.get(claim.section, len(rank)), str(claim.source), claim.line)

    return {claim.id: claim for claim in sorted(registry.values(), key=key)}
