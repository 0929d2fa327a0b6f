"""Fixtures of the training checks: the shared experiment grid (trained once per pytest process,
cached on disk under the reports directory)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def training_grid(request: pytest.FixtureRequest):
    """The shared experiment grid of the selected preset (CLAIMCHECK_TRAINING_PRESET), an
    experiments.grid.GridResult. Imported here, not at the top: checks without training do
    not pay for the experiment code."""
    from softmax_claimcheck.experiments.grid import results
    from softmax_claimcheck.experiments.reporting import PRESET, cache_dir

    if not PRESET.yields_verdicts:
        pytest.skip(f"the {PRESET.name} preset only exercises the pipeline; it gives no verdict")
    if PRESET.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            pytest.skip(f"the {PRESET.name} preset needs a CUDA device; none is available")
    config = request.config
    reports = config.getoption("--reports-dir") or config.getini("claimcheck_reports_dir")
    return results(PRESET, cache_dir(reports, config.rootpath))
