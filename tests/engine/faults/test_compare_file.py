"""Issue 13, item 6: a bad --compare-with file is one clear line naming the file, raised by
`load_previous` so the plugin can stop with exit status 4 before any check runs; `compare`
itself never raises, whatever the file holds."""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

import pytest

from softmax_claimcheck.claimcheck.report.compare import (
    CompareFileError,
    compare,
    load_previous,
    resolve_path,
)
from tests.engine.conftest import claim_entry

GOOD = {
    "schema_version": 2,
    "environment": {"torch": "2.4.0"},
    "claims": [{"id": "a", "verdict": "SUPPORTED", "checks": []}],
}


def write(tmp_path: Path, content: str | bytes, name: str = "old.json") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def one_line(tmp_path: Path, path: Path, *words: str) -> str:
    with pytest.raises(CompareFileError) as info:
        load_previous(path)
    line = str(info.value)
    assert "\n" not in line and len(line) < 500, line
    assert path.name in line and line.startswith("--compare-with "), line
    for word in words:
        assert word in line, (word, line)
    # compare() (the report) says the same and never raises
    result = compare({"claims": []}, path)
    assert result["error"] and result["verdicts_changed"] == []
    return line


def test_missing_file(tmp_path):
    one_line(tmp_path, tmp_path / "nope.json", "cannot open", "No such file")


def test_truncated_file(tmp_path):
    text = json.dumps(GOOD)
    one_line(tmp_path, write(tmp_path, text[: len(text) // 2]), "truncated JSON")


def test_empty_file(tmp_path):
    one_line(tmp_path, write(tmp_path, ""), "empty")


@pytest.mark.parametrize(
    "content", ["not json at all", "{'single': 'quotes'}", "NaN garbage", "<html></html>"]
)
def test_not_json(tmp_path, content):
    one_line(tmp_path, write(tmp_path, content), "not valid JSON")


def test_binary_file(tmp_path):
    one_line(tmp_path, write(tmp_path, b"\x89PNG\r\n\x1a\n\xff\xfe"), "not UTF-8")


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ([1, 2], "top level is a JSON list"),
        ("a string", "top level is a JSON str"),
        ({"claims": []}, "no 'schema_version'"),
        ({**GOOD, "schema_version": 1}, "schema_version 1"),
        ({**GOOD, "schema_version": "2"}, "schema_version '2'"),
        ({**GOOD, "schema_version": True}, "schema_version True"),
        ({**GOOD, "claims": {"a": 1}}, "'claims'"),
        ({**GOOD, "claims": [{"no_id": 1}]}, "claims[0]"),
        ({**GOOD, "claims": [{"id": "a", "verdict": "X", "checks": [1]}]}, "claims[0]"),
        ({**GOOD, "environment": []}, "'environment'"),
    ],
)
def test_foreign_json(tmp_path, data, words):
    one_line(tmp_path, write(tmp_path, json.dumps(data)), words)


@pytest.mark.parametrize("depth", [300, 100_000])
def test_deep_json(tmp_path, depth):
    content = '{"schema_version": 2, "claims": [], "x": ' + "[" * depth + "]" * depth + "}"
    one_line(tmp_path, write(tmp_path, content), "nested")


def test_deep_objects(tmp_path):
    content = '{"a": ' * 100_000 + "1" + "}" * 100_000
    one_line(tmp_path, write(tmp_path, content), "nested")


def test_huge_integer(tmp_path):
    content = '{"schema_version": ' + "9" * 5000 + "}"
    one_line(tmp_path, write(tmp_path, content), "unreadable JSON value")


def test_directory(tmp_path):
    (tmp_path / "dir.json").mkdir()
    one_line(tmp_path, tmp_path / "dir.json", "not a regular file")


def test_fifo_does_not_hang(tmp_path):
    os.mkfifo(tmp_path / "pipe.json")
    out: list[str] = []
    worker = threading.Thread(
        target=lambda: out.append(one_line(tmp_path, tmp_path / "pipe.json")), daemon=True
    )
    worker.start()
    worker.join(10)
    assert not worker.is_alive() and "not a regular file" in out[0]


def test_dev_zero_is_not_read(tmp_path):
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    one_line(tmp_path, tmp_path / "zero.json", "not a regular file")


def test_socket(tmp_path):
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "s.json"))
    except OSError:
        pytest.skip("path too long for a UNIX socket")
    try:
        one_line(tmp_path, tmp_path / "s.json", "not a regular file")
    finally:
        sock.close()


def test_broken_symlink(tmp_path):
    (tmp_path / "gone.json").symlink_to("nowhere.json")
    one_line(tmp_path, tmp_path / "gone.json", "cannot open")


def test_unreadable(tmp_path, monkeypatch):
    path = write(tmp_path, json.dumps(GOOD))
    from softmax_claimcheck.claimcheck.report import compare as module

    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(module.os, "open", deny)
    one_line(tmp_path, path, "Permission denied")


def test_long_path_is_bounded_in_the_message(tmp_path):
    path = tmp_path / ("x" * 200) / ("y" * 200) / "old.json"
    with pytest.raises(CompareFileError) as info:
        load_previous(path)
    assert len(str(info.value)) < 400


def test_good_file_loads_and_compares(tmp_path):
    path = write(tmp_path, json.dumps(GOOD))
    assert load_previous(path)["claims"][0]["id"] == "a"
    assert "error" not in compare({"claims": [], "environment": {}}, path)


def test_relative_path_resolves_against_the_invocation_dir(tmp_path):
    assert resolve_path("old/verdict.json", tmp_path) == tmp_path / "old" / "verdict.json"
    assert resolve_path("/abs/v.json", tmp_path) == Path("/abs/v.json")


def test_values_deep_inside_measured_do_not_break_compare(tmp_path):
    deep: list = []
    node = deep
    for _ in range(150):
        node.append([])
        node = node[0]
    check = {
        "nodeid": "n",
        "label": "l",
        "outcome": "holds",
        "evidence": {"comparisons": [{"quantity": "q", "measured": deep}]},
    }
    data = {**GOOD, "claims": [{"id": "a", "verdict": "SUPPORTED", "checks": [check]}]}
    path = write(tmp_path, json.dumps(data))
    current = {"claims": [{"id": "a", "verdict": "SUPPORTED", "checks": [check]}]}
    assert "error" not in compare(current, path)


# -- end to end: needs the plugin to call load_previous when the run starts (lead) ------------


@pytest.mark.parametrize("content", [None, "{trunc", '{"schema_version": 7, "claims": []}'])
def test_bad_compare_with_stops_the_run_with_exit_4(claims_project, content):
    claims_project.claims(claim_entry("good-claim"))
    claims_project.checks(
        """
        import pytest
        @pytest.mark.claim("good-claim")
        def test_good(evidence):
            evidence.property_holds("one", True, 1, "1")
        """
    )
    old = claims_project.root / "old.json"
    if content is not None:
        old.write_text(content)
    result = claims_project.run("--compare-with", "old.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "old.json" in result.stderr.str() and "Traceback" not in result.stderr.str()
