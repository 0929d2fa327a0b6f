"""Safe YAML reading that remembers where every value came from.

PyYAML's safe loader gives values but forgets lines, and silently keeps the last of two duplicate
keys. We compose the node tree with the safe loader, then build plain data ourselves, so every
error can name the file, the line and the field, duplicates are errors, and aliases (the
"billion laughs" bomb) are refused outright: claim files have no use for them.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from softmax_claimcheck.claimcheck.errors import ClaimFileError, Location, excerpt, shorten

MAX_FILE_BYTES = 1_000_000
MAX_NODES = 100_000
MAX_DEPTH = 50  # a claim file needs about 7 levels; 600 nested lists overflow the composer's stack
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


class _TooDeep(Exception):
    def __init__(self, mark: Any) -> None:
        self.mark = mark


class _Loader(yaml.SafeLoader):
    """The safe loader with two changes: the composer refuses nesting deeper than
    MAX_DEPTH (its recursion would otherwise end in a RecursionError), and an exponent without a
    dot (`1e-9`) is a float, as in YAML 1.2 and JSON (YAML 1.1 reads it as the string '1e-9')."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        # Aliases compose to the anchored node itself (never expanded); _Builder refuses them
        # where they are used, naming the field.
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _read_regular(file: Path) -> bytes:
    """The bytes of a regular file, at most MAX_FILE_BYTES + 1 of them. Never blocks on a FIFO or
    a device (opened non-blocking and checked with fstat before reading), never reads an endless
    file (/dev/zero) whole."""
    where = Location(file, 1, "<document>")
    try:  # stat first: opening a socket fails with a cryptic ENXIO
        mode = os.stat(file).st_mode
    except OSError:
        mode = stat.S_IFREG  # let open() say what is wrong
    if not stat.S_ISREG(mode):
        raise ClaimFileError(where, f"is {file_kind(mode)}, not a regular claim file")
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ENOENT and file.is_symlink():
            raise ClaimFileError(
                where, f"broken symbolic link (points to {excerpt(os.readlink(file))})"
            ) from None
        raise ClaimFileError(where, f"cannot open: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ClaimFileError(where, f"is {file_kind(mode)}, not a regular claim file")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ClaimFileError(where, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def _unprintable(text: str) -> tuple[int, str] | None:
    """The first character YAML does not allow in a stream (PyYAML's own rule), if any."""
    match = yaml.reader.Reader.NON_PRINTABLE.search(text)
    return (match.start(), match.group()) if match else None


def read_yaml(file: Path) -> PositionedDocument:
    raw = _read_regular(file)
    if len(raw) > MAX_FILE_BYTES:
        raise ClaimFileError(
            Location(file, 1, "<document>"),
            f"file is larger than {MAX_FILE_BYTES} bytes; "
            f"claim files are limited to {MAX_FILE_BYTES} bytes",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ClaimFileError(
            Location(file, line, "<document>"),
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
        ) from None
    bad = _unprintable(text)
    if bad is not None:  # PyYAML's reader raises on it before any mark exists
        position, character = bad
        raise ClaimFileError(
            Location(file, text.count("\n", 0, position) + 1, "<document>"),
            f"control character U+{ord(character):04X} ({character!r}) is not allowed in YAML; "
            "remove it or write it as an escape in a double-quoted string",
        )
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except _TooDeep as exc:
        raise ClaimFileError(
            Location(file, exc.mark.line + 1, "<document>"),
            f"values nested more than {MAX_DEPTH} levels deep",
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ClaimFileError(
            Location(file, line, "<document>"),
            f"malformed YAML: {shorten(exc.problem or str(exc))}",
        ) from None
    except yaml.YAMLError as exc:
        raise ClaimFileError(
            Location(file, 1, "<document>"), f"malformed YAML: {shorten(str(exc))}"
        ) from None
    except RecursionError:  # belt and braces: MAX_DEPTH should stop this first
        raise ClaimFileError(
            Location(file, 1, "<document>"), "values nested too deeply to read"
        ) from None
    finally:
        loader.dispose()
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
                raise self._error(node, path, f"tag {excerpt(node.tag)} is not allowed")
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        if node.tag != "tag:yaml.org,2002:map":
            raise self._error(node, path, f"tag {excerpt(node.tag)} is not allowed")
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise self._error(key_node, path, "YAML merge keys ('<<') are not allowed")
            if id(key_node) in self._seen:  # an aliased key: the anchored scalar itself
                raise self._error(
                    key_node, path, "YAML anchors and aliases are not allowed in claim files"
                )
            self._seen.add(id(key_node))
            key = self._scalar(key_node, path)
            if not isinstance(key, str):
                raise self._error(key_node, path, f"key {excerpt(key)} is not a string")
            if key in out:
                raise self._error(
                    key_node,
                    (*path, key),
                    f"duplicate key {excerpt(key)} (first at line {self.lines[(*path, key)]})",
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
            raise self._error(
                node, path, f"unsupported YAML value: {shorten(str(exc.problem))}"
            ) from None
        except Exception as exc:
            # `!!float abc`, `!!bool maybe`, `!!timestamp x`, an integer of more than 4300 digits
            # (int() refuses it)...: the safe constructor raises whatever its parser raises.
            tag = (
                "!!" + node.tag.rsplit(":", 1)[-1]
                if node.tag.startswith("tag:yaml.org")
                else node.tag
            )
            why = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else str(exc)
            raise self._error(
                node,
                path,
                f"cannot read {excerpt(node.value)} as {shorten(tag, 60)}: {shorten(why)}",
            ) from None
        if not isinstance(value, PLAIN_SCALARS):
            # Dates and !!binary would reach the report as objects JSON cannot hold.
            raise self._error(
                node, path, f"{type(value).__name__} values are not allowed; quote it as text"
            )
        return value
