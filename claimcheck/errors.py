"""Errors that stop a run before any check runs, each naming where the problem is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Location:
    """A place in a claim file: the file, a 1-based line, the field path (claims[2].kind)."""

    file: Path
    line: int
    field: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: field '{shorten(self.field, 120)}'"


class ClaimFileError(Exception):
    """A claim file that cannot be trusted: malformed YAML, schema violation, duplicate id."""

    def __init__(self, location: Location, message: str) -> None:
        self.location = location
        self.message = shorten(message, 600)  # one bounded line, whatever a caller passes
        super().__init__(f"{location}: {self.message}")


class ClaimErrors(Exception):
    """Several problems found at once, so a user fixes them in one pass."""

    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


EXCERPT_CHARS = 200


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """A bounded, one-line quotation of any value for an error message.

    Messages end up in stderr, verdict.json and verdict.html, which CI uploads: never copy a whole
    value (a 500 KB quote, a system file's content) into them. Strings are quoted with repr (so
    newlines and control characters stay visible on one line); anything longer than `limit`
    characters is cut, with an ellipsis and the total length."""
    try:
        text = value if isinstance(value, str) else repr(value)
    except Exception as exc:  # a broken __repr__ must not break the message about it
        text = f"<{type(value).__name__} whose repr raised {type(exc).__name__}>"
    total = len(text)
    if isinstance(value, str):
        shown = repr(text[:limit])
        return shown if total <= limit else f"{shown}… ({total} characters)"
    if total <= limit:
        return text.replace("\n", "\\n")
    return text[:limit].replace("\n", "\\n") + f"… ({total} characters)"


def shorten(text: str, limit: int = EXCERPT_CHARS) -> str:
    """A message text (not a user's value) cut to one bounded line."""
    text = str(text).replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"
