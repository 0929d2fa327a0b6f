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
        return f"{self.file}:{self.line}: field '{self.field}'"


class ClaimFileError(Exception):
    """A claim file that cannot be trusted: malformed YAML, schema violation, duplicate id."""

    def __init__(self, location: Location, message: str) -> None:
        self.location = location
        self.message = message
        super().__init__(f"{location}: {message}")


class ClaimErrors(Exception):
    """Several problems found at once, so a user fixes them in one pass."""

    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))
