"""Fixtures of the training checks: the shared experiment grid (trained once per pytest process,
cached on disk under the reports directory). When a run selects training checks, the grid
starts training in the background right after collection, so its worker processes train while
the other checks run; the first training check waits for what is left."""

from __future__ import annotations

from pathlib import Path

import pytest


def _grid_source(config: pytest.Config):
    """(preset, cache directory) of this run's grid, or the reason it gives no verdict."""
    from softmax_claimcheck.experiments.reporting import PRESET, cache_dir

    if not PRESET.yields_verdicts:
        return f"the {PRESET.name} preset only exercises the pipeline; it gives no verdict"
    if PRESET.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return f"the {PRESET.name} preset needs a CUDA device; none is available"
    reports = config.getoption("--reports-dir") or config.getini("claimcheck_reports_dir")
    return PRESET, cache_dir(reports, Path(config.rootpath))


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
        from softmax_claimcheck.experiments import grid

        grid.start(*source)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A background grid nobody waited for (the run stopped early) stops with the run."""
    import sys

    grid = sys.modules.get("softmax_claimcheck.experiments.grid")
    if grid is not None:
        grid.stop()


@pytest.fixture(scope="session")
def training_grid(request: pytest.FixtureRequest):
    """The shared experiment grid of the selected preset (CLAIMCHECK_TRAINING_PRESET), an
    experiments.grid.GridResult. Imported here, not at the top: checks without training do
    not pay for the experiment code."""
    source = _grid_source(request.config)
    if isinstance(source, str):
        pytest.skip(source)
    from softmax_claimcheck.experiments.grid import results

    return results(*source)
