"""Issue 13, item 7: a corrupt training-cache file is named in one line and treated as a cache
miss (the run is trained again), never an ERROR on every training claim."""

from __future__ import annotations

import json
import os

import pytest

from softmax_claimcheck.experiments import grid
from softmax_claimcheck.experiments.presets import SMOKE


@pytest.fixture
def runner_and_path(tmp_path, capsys):
    runner = grid._Runner(SMOKE, tmp_path / "training-cache")
    cfg = grid.run_config(SMOKE, SMOKE.arms()[0], 1e-3, 0)
    path = runner._path(cfg)
    path.parent.mkdir(parents=True)
    return runner, cfg, path


CORRUPT = {
    "truncated": '{"config": {"steps": 1',
    "not-json": "garbage",
    "binary": b"\xff\xfe\x00",
    "empty": "",
    "a-list": "[1, 2]",
    "deep": "[" * 100_000 + "]" * 100_000,
    "wrong-shape": None,  # filled in below: the right config, no results
}


@pytest.mark.parametrize("kind", list(CORRUPT))
def test_corrupt_cache_file_is_a_named_miss(runner_and_path, kind, capsys):
    runner, cfg, path = runner_and_path
    content = CORRUPT[kind]
    if content is None:
        content = json.dumps({"config": cfg.key()})
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert runner._load(cfg) is None
    [problem] = runner.problems
    assert str(path) in problem and "treated as a miss" in problem and "\n" not in problem
    assert len(problem) < 600
    assert str(path) in capsys.readouterr().err


def test_directory_in_place_of_a_cache_file(runner_and_path):
    runner, cfg, path = runner_and_path
    path.mkdir()
    assert runner._load(cfg) is None and "not a regular file" in runner.problems[0]


def test_fifo_in_place_of_a_cache_file_does_not_hang(runner_and_path):
    runner, cfg, path = runner_and_path
    os.mkfifo(path)
    assert runner._load(cfg) is None and "not a regular file" in runner.problems[0]


def test_missing_cache_file_is_a_silent_miss(runner_and_path):
    runner, cfg, _ = runner_and_path
    assert runner._load(cfg) is None and runner.problems == []


def test_unwritable_cache_is_named_not_raised(tmp_path):
    (tmp_path / "file").write_text("x")
    runner = grid._Runner(SMOKE, tmp_path / "file" / "training-cache")  # parent is a file
    cfg = grid.run_config(SMOKE, SMOKE.arms()[0], 1e-3, 0)

    class Result:
        def as_dict(self):
            return {}

    runner._store(cfg, Result())  # type: ignore[arg-type]
    assert "cannot write the cache file" in runner.problems[0]


def test_a_stored_run_is_read_back_as_a_hit(runner_and_path):
    """The round trip the cache exists for: a stored run (its weights live in a .pt file, never
    in the JSON) loads again with no problem reported, also with its weights."""
    import torch

    from softmax_claimcheck.experiments.train import RunResult

    runner, cfg, _ = runner_and_path
    result = RunResult(
        config=cfg.key(),
        eval_steps=[1],
        val_loss=[2.5],
        val_accuracy=[0.1],
        train_loss=[3.0],
        entropy=[1.0],
        max_weight=[0.5],
        temperatures=[],
        state={"w": torch.zeros(2)},
    )
    runner._store(cfg, result, with_state=True)
    loaded = runner._load(cfg, with_state=True)
    assert loaded is not None and runner.problems == []
    assert loaded.val_loss == [2.5] and torch.equal(loaded.state["w"], torch.zeros(2))
    assert runner._load(cfg) is not None and runner.problems == []
