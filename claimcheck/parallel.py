"""pytest-xdist support: the controller decides the verdicts from every worker's results.

With `-n N` the controller collects nothing itself. Each worker, after collection, writes the
links it found (check → claim, reading, parameters), the claims it selected and any stop error to
a file in a folder the controller names; each check's result travels back on its test report.
At the end the controller reads every worker's file, so a check that never reported (a worker
that died, `-x`) is NOT EXECUTED, and decides exactly as a serial run would.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from softmax_claimcheck.claimcheck.linking import Link
from softmax_claimcheck.claimcheck.verdicts import CheckResult, Outcome

if TYPE_CHECKING:
    from softmax_claimcheck.claimcheck.session import ClaimRun

LINKS_DIR_KEY = "claimcheck_links_dir"


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    return (
        not is_worker(config)
        and bool(getattr(config.option, "numprocesses", None))
        and (getattr(config.option, "dist", "no") != "no")
    )


def write_worker_links(run: ClaimRun) -> None:
    folder = run.config.workerinput.get(LINKS_DIR_KEY)  # type: ignore[attr-defined]
    if not folder:
        return
    worker = run.config.workerinput.get("workerid", "gw")  # type: ignore[attr-defined]
    data = {
        "links": {
            nodeid: [r.claim_id, r.reading, r.params, r.implementation, r.precision_bits]
            for nodeid, r in run.results.items()
        },
        "selected": [c.id for c in run.selected],
        "stop_errors": run.stop_errors,
        "collection_errors": run.collection_errors,
    }
    Path(folder, f"links-{worker}.json").write_text(json.dumps(data), encoding="utf-8")


class Controller:
    """The controller's side: names the folder, then gathers the workers' files."""

    def __init__(self, run: ClaimRun) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="claimcheck-xdist-"))
        run.config.pluginmanager.register(self, "claimcheck-xdist-controller")

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[LINKS_DIR_KEY] = str(self.folder)

    def gather(self, run: ClaimRun) -> None:
        files = sorted(self.folder.glob("links-*.json"))
        selected: list[str] = []
        for file in files:
            data = json.loads(file.read_text(encoding="utf-8"))
            for nodeid, (claim_id, reading, params, impl, bits) in data["links"].items():
                run.links.setdefault(nodeid, Link(claim_id, reading))
                run.results.setdefault(
                    nodeid,
                    CheckResult(
                        nodeid,
                        claim_id,
                        reading,
                        params,
                        Outcome.NOT_EXECUTED,
                        "the run stopped before this check ran (worker)",
                        implementation=impl,
                        precision_bits=bits,
                    ),
                )
            selected += [c for c in data["selected"] if c not in selected]
            for error in data["stop_errors"] + data["collection_errors"]:
                if error not in run.stop_errors:
                    run.stop_errors.append(error)
        shutil.rmtree(self.folder, ignore_errors=True)
        if not run.links and not run.stop_errors:
            return
        if not run.claims and run.claims_dir is not None:
            from softmax_claimcheck.claimcheck.loader import load_claims

            run.claims = load_claims(run.claims_dir)
        run.selected = [run.claims[c] for c in run.claims if c in selected]
