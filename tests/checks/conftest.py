"""Fixtures of the training checks: the shared experiment grid (trained once per run, cached on
disk under the reports directory). The run owns its grids and its preset (read when the run
starts, from CLAIMCHECK_TRAINING_PRESET), both kept in the config's stash. When a run selects
training checks, the grid starts training in the background right after collection, so its
worker processes train while the other checks run; the first training check waits for what is
left."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from softmax_claimcheck.experiments.grid import TrainingGrids
    from softmax_claimcheck.experiments.presets import Preset

PRESET_KEY = pytest.StashKey["Preset"]()
GRIDS_KEY = pytest.StashKey["TrainingGrids"]()


def pytest_configure(config: pytest.Config) -> None:
    """The run's preset, read once when the run starts (a bad name is a usage error then)."""
    from softmax_claimcheck.experiments.presets import selected

    try:
        config.stash[PRESET_KEY] = selected()
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def run_preset(config: pytest.Config) -> Preset:
    return config.stash[PRESET_KEY]


def _grids(config: pytest.Config) -> TrainingGrids:
    if GRIDS_KEY not in config.stash:
        from softmax_claimcheck.experiments.grid import TrainingGrids

        config.stash[GRIDS_KEY] = TrainingGrids()
    return config.stash[GRIDS_KEY]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A training check over head sizes (argument `d_k`) runs at the preset's head sizes. With
    `@pytest.mark.head_sizes(larger, smaller)` (two claim markers) the larger head size, nearest
    the article's own d_k = 64, 512, 2048, names the deciding reading and the smaller an
    alternative one (docs/design.md, "Empirical claims": the article's setting decides)."""
    if "d_k" not in metafunc.fixturenames or not metafunc.definition.get_closest_marker("training"):
        return
    sizes = run_preset(metafunc.config).head_sizes
    readings = metafunc.definition.get_closest_marker("head_sizes")
    if readings is None:
        metafunc.parametrize("d_k", sizes)
        return
    larger, smaller = readings.args
    metafunc.parametrize(
        "d_k",
        [pytest.param(d, marks=larger if d == max(sizes) else smaller, id=str(d)) for d in sizes],
    )


def _grid_source(config: pytest.Config):
    """(preset, cache directory) of this run's grid, or the reason it gives no verdict."""
    from softmax_claimcheck.experiments.reporting import cache_dir

    preset = run_preset(config)
    if not preset.yields_verdicts:
        return f"the {preset.name} preset only exercises the pipeline; it gives no verdict"
    if preset.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return f"the {preset.name} preset needs a CUDA device; none is available"
    reports = config.getoption("--reports-dir") or config.getini("claimcheck_reports_dir")
    return preset, cache_dir(reports, Path(config.rootpath))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the grid in the background when training checks will run. Not on a pytest-xdist
    worker: every worker collects every check, and only one of them may get the training ones."""
    config = session.config
    if config.option.collectonly or hasattr(config, "workerinput"):
        return
    if not any(item.get_closest_marker("training") for item in session.items):
        return
    source = _grid_source(config)
    if isinstance(source, tuple):
        _grids(config).start(*source)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A background grid nobody waited for (the run stopped early) stops with the run."""
    if GRIDS_KEY in session.config.stash:
        session.config.stash[GRIDS_KEY].stop()


@pytest.fixture(scope="session")
def training_grid(request: pytest.FixtureRequest):
    """The shared experiment grid of the run's preset, an experiments.grid.GridResult. The
    experiment code is imported on first use: checks without training do not pay for it."""
    source = _grid_source(request.config)
    if isinstance(source, str):
        pytest.skip(source)
    return _grids(request.config).results(*source)
