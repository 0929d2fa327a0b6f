"""Teeth: the implementation-level checks must catch every deliberately broken implementation.

One in-process pytest run of the real implementation-level checks (the check files below, with
their real claim files) is given each broken implementation of impl/broken.py through --impl,
plus a correct control: the reference stable softmax through --impl too (so it gets exactly the
user tags and backend), and the registered numpy reference attention. A broken implementation is
caught when some check fails on it while the same check, in the same dtype on the same device,
holds for the control: a check that fails for everyone (e.g. one whose claim is refuted) proves
nothing about a bug. float64 only: every bug here shows in float64, and the run stays fast.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from softmax_claimcheck.impl import broken, registry
from softmax_claimcheck.impl.model import Implementation

ROOT = Path(__file__).resolve().parents[2]
# The checks that run over the registry's softmaxes and attentions, and their claim files.
CHECKS = {
    "test_implementations.py": "implementations.yaml",
    "test_solution.py": "solution.yaml",
    "test_what_is_softmax.py": "what-is-softmax.yaml",
    "test_causal_masking.py": "causal-masking.yaml",
    "test_teaser4_masking_without_softmax.py": "teaser4-masking-without-softmax.yaml",
}
SOFTMAX_CONTROL = ("softmax_claimcheck.impl.reference:stable_softmax", "user-stable_softmax")
ATTENTION_CONTROL = "numpy-attention"
BROKEN_SOFTMAXES = {f"user-{fn.__name__}": fn for fn in broken.SOFTMAXES}
# The broken attentions are Implementation objects of impl.broken, given by their attribute name.
BROKEN_ATTENTIONS = {
    obj.id: (name, obj.fn)
    for name, obj in vars(broken).items()
    if isinstance(obj, Implementation) and obj in broken.ATTENTIONS
}

# Probe the attention kernels now, so the torch modules they import are loaded before pytester
# snapshots sys.modules (it unloads modules first imported during the inner run).
registry.Registry.builtin().cases("attention")


def _what_broke(impl_id: str) -> str:
    fn = BROKEN_SOFTMAXES[impl_id] if impl_id in BROKEN_SOFTMAXES else BROKEN_ATTENTIONS[impl_id][1]
    return (fn.__doc__ or "").strip().splitlines()[0]


def _outcomes(report: dict) -> dict[tuple[str, str, str], dict[str, str]]:
    """(check, device, dtype) -> {implementation: outcome} over every check of every claim."""
    table: dict[tuple[str, str, str], dict[str, str]] = {}
    for claim in report["claims"]:
        for check in claim["checks"]:
            params = check["params"]
            if "implementation" not in params:
                continue
            key = (check["nodeid"].split("[")[0], params["device"], params["dtype"])
            table.setdefault(key, {})[params["implementation"]] = check["outcome"]
    return table


def _caught_by(table, impl_id: str, control: str) -> list[str]:
    return sorted(
        f"{check} [{dtype}]"
        for (check, _device, dtype), outcomes in table.items()
        if outcomes.get(impl_id) == "fails" and outcomes.get(control) == "holds"
    )


def test_every_broken_implementation_is_caught(pytester, monkeypatch):
    # Check modules already imported by this session hold parametrizations made without the
    # broken implementations: let the inner run import them afresh (restored afterwards).
    for name in [m for m in sys.modules if m.startswith("tests.checks.")]:
        monkeypatch.delitem(sys.modules, name)
    claims = pytester.mkdir("claims")
    for file in ["schema.json", *CHECKS.values()]:
        shutil.copy(ROOT / "claims" / file, claims / file)
    impls = [
        SOFTMAX_CONTROL[0],
        *(f"softmax_claimcheck.impl.broken:{fn.__name__}" for fn in broken.SOFTMAXES),
    ]
    impls += [f"softmax_claimcheck.impl.broken:{name}" for name, _ in BROKEN_ATTENTIONS.values()]
    keywords = f"(user- or broken- or {ATTENTION_CONTROL}-cpu) and float64"
    args = [str(ROOT / "tests" / "checks" / file) for file in CHECKS]
    args += ["--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), "-k", keywords]
    args += ["--claims-dir", str(claims), "--reports-dir", str(pytester.path / "reports")]
    args += ["-p", "no:html", "-p", "no:cacheprovider", "-q"]
    args += [f"--impl={spec}" for spec in impls]

    pytester.runpytest_inprocess(*args)

    report = json.loads((pytester.path / "reports" / "verdict.json").read_text(encoding="utf-8"))
    assert not report["summary"]["stop_errors"], report["summary"]["stop_errors"]
    table = _outcomes(report)
    controls = {SOFTMAX_CONTROL[1], ATTENTION_CONTROL}
    crashed = sorted(
        f"{impl} {key}"
        for key, row in table.items()
        for impl, o in row.items()
        if impl in controls and o == "crashed"
    )
    assert not crashed, f"checks crashed on a correct control: {crashed}"
    uncaught = []
    for impl_id in BROKEN_SOFTMAXES:
        if not _caught_by(table, impl_id, SOFTMAX_CONTROL[1]):
            uncaught.append(f"{impl_id}: {_what_broke(impl_id)}")
    for impl_id in BROKEN_ATTENTIONS:
        if not _caught_by(table, impl_id, ATTENTION_CONTROL):
            uncaught.append(f"{impl_id}: {_what_broke(impl_id)}")
    assert not uncaught, "no check catches:\n  " + "\n  ".join(uncaught)
