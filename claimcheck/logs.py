"""The detailed logs a claims run routes beside its verdict report: junit.xml (pytest's junitxml)
and tests.html (pytest-html), unless the user chose other paths.

They belong to the report: a usage error that keeps the last report keeps the last logs too, and
a reports folder that is gone or replaced by a file when the run ends costs one line in the run's
problems, never a traceback from the log's writer.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

OWN_KEY = pytest.StashKey[dict[str, Path]]()


def route(config: pytest.Config, reports: Path) -> None:
    """Send the logs beside the verdict report unless the user chose their paths."""
    own: dict[str, Path] = {}
    if getattr(config.option, "xmlpath", None) is None:
        config.option.xmlpath = str(reports / "junit.xml")
        own["junit.xml"] = reports / "junit.xml"
    if hasattr(config.option, "htmlpath") and not config.option.htmlpath:
        config.option.htmlpath = str(reports / "tests.html")
        config.option.self_contained_html = True
        own["tests.html"] = reports / "tests.html"
    config.stash[OWN_KEY] = own


def _writers(config: pytest.Config) -> dict[str, Any]:
    """The plugin objects that write our logs at the end of the session."""
    found: dict[str, Any] = {}
    own = config.stash.get(OWN_KEY, {})
    if "junit.xml" in own:
        from _pytest.junitxml import xml_key

        xml = config.stash.get(xml_key, None)
        if xml is not None:
            found["junit.xml"] = xml
    if "tests.html" in own:
        for plugin in config.pluginmanager.get_plugins():
            if type(plugin).__module__.startswith("pytest_html") and hasattr(
                plugin, "_report_path"
            ):
                found["tests.html"] = plugin
    return found


def _unregister(config: pytest.Config, name: str, writer: Any) -> None:
    config.pluginmanager.unregister(writer)
    if name == "junit.xml":  # junitxml's own unconfigure would unregister it a second time
        from _pytest.junitxml import xml_key

        del config.stash[xml_key]


def drop(config: pytest.Config) -> None:
    """Write none of our logs in this run (call before pytest_sessionfinish)."""
    for name, writer in _writers(config).items():
        _unregister(config, name, writer)


def unwritable(config: pytest.Config) -> list[str]:
    """Before pytest_sessionfinish: drop each of our logs whose folder cannot take it now, and
    say which, in one line each."""
    lines = []
    writers = _writers(config)
    for name, path in config.stash.get(OWN_KEY, {}).items():
        folder = path.parent
        if folder.is_dir() and os.access(folder, os.W_OK | os.X_OK):
            continue
        why = "is not a folder" if folder.exists() else "no longer exists"
        if name in writers:
            _unregister(config, name, writers[name])
        lines.append(f"{name} was not written: {folder} {why}")
    return lines
