"""Safe YAML reading that remembers where every value came from.

PyYAML's safe loader gives values but forgets lines, and silently keeps the last of two duplicate
keys. We compose the node tree with the safe loader, then build plain data ourselves, so every
error can name the file, the line and the field, duplicates are errors, and aliases (the
"billion laughs" bomb) are refused outright: claim files have no use for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from claimcheck.errors import ClaimFileError, Location

MAX_FILE_BYTES = 1_000_000
MAX_NODES = 100_000
PLAIN_SCALARS = (str, int, float, bool, type(None))

Path_ = tuple[str | int, ...]


def field_name(path: Path_) -> str:
    """Render a data path as a field name users recognise: claims[2].readings[0].id."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "<document>"


class PositionedDocument:
    """Plain YAML data plus the line of each value, addressed by its path."""

    def __init__(self, file: Path, data: Any, lines: dict[Path_, int]) -> None:
        self.file = file
        self.data = data
        self._lines = lines

    def line_of(self, path: Path_) -> int:
        """Line of the value at path, or of its nearest enclosing value that has one."""
        while path not in self._lines and path:
            path = path[:-1]
        return self._lines.get(path, 1)

    def location(self, path: Path_) -> Location:
        return Location(self.file, self.line_of(path), field_name(path))


def read_yaml(file: Path) -> PositionedDocument:
    raw = file.read_bytes()
    if len(raw) > MAX_FILE_BYTES:
        raise ClaimFileError(
            Location(file, 1, "<document>"),
            f"file is {len(raw)} bytes; claim files are limited to {MAX_FILE_BYTES} bytes",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ClaimFileError(
            Location(file, line, "<document>"),
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
        ) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ClaimFileError(
            Location(file, line, "<document>"), f"malformed YAML: {exc.problem or exc}"
        ) from None
    except yaml.YAMLError as exc:
        raise ClaimFileError(Location(file, 1, "<document>"), f"malformed YAML: {exc}") from None
    if node is None:
        raise ClaimFileError(Location(file, 1, "<document>"), "the file is empty")
    builder = _Builder(file)
    data = builder.build(node, ())
    return PositionedDocument(file, data, builder.lines)


class _Builder:
    def __init__(self, file: Path) -> None:
        self.file = file
        self.lines: dict[Path_, int] = {}
        self._seen: set[int] = set()
        self._constructor = yaml.SafeLoader("")

    def _error(self, node: yaml.Node, path: Path_, message: str) -> ClaimFileError:
        return ClaimFileError(
            Location(self.file, node.start_mark.line + 1, field_name(path)), message
        )

    def build(self, node: yaml.Node, path: Path_) -> Any:
        if id(node) in self._seen:
            # An alias is the anchored node itself: report the line where the alias is used.
            line = self.lines.get(path, node.start_mark.line + 1)
            raise ClaimFileError(
                Location(self.file, line, field_name(path)),
                "YAML anchors and aliases are not allowed in claim files",
            )
        self._seen.add(id(node))
        if len(self._seen) > MAX_NODES:
            raise self._error(node, path, f"more than {MAX_NODES} YAML nodes")
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                raise self._error(node, path, f"tag {node.tag!r} is not allowed")
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        if node.tag != "tag:yaml.org,2002:map":
            raise self._error(node, path, f"tag {node.tag!r} is not allowed")
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise self._error(key_node, path, "YAML merge keys ('<<') are not allowed")
            key = self._scalar(key_node, path)
            if not isinstance(key, str):
                raise self._error(key_node, path, f"key {key!r} is not a string")
            if key in out:
                raise self._error(
                    key_node,
                    (*path, key),
                    f"duplicate key {key!r} (first at line {self.lines[(*path, key)]})",
                )
            self.lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = self.build(value_node, (*path, key))
        return out

    def _scalar(self, node: yaml.Node, path: Path_) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self._error(node, path, "a mapping key must be a plain scalar")
        try:
            value = self._constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            raise self._error(node, path, f"unsupported YAML value: {exc.problem}") from None
        if not isinstance(value, PLAIN_SCALARS):
            # Dates and !!binary would reach the report as objects JSON cannot hold.
            raise self._error(
                node, path, f"{type(value).__name__} values are not allowed; quote it as text"
            )
        return value
