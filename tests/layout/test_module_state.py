"""No run state in modules: the engine and the experiments keep what a run learns in objects the
run owns (ClaimRun, TrainingGrids in the config's stash), so two runs in one process (pytester,
a user's own session) never see each other's state. Module-level names are constants: immutable
values, never a dict, list or set to be filled, never rebound through `global`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATELESS_PACKAGES = ("claimcheck", "experiments")
MUTABLE_CALLS = frozenset(
    ("dict", "list", "set", "defaultdict", "OrderedDict", "Counter", "deque", "Event", "Lock",
     "RLock", "local", "WeakKeyDictionary", "WeakValueDictionary", "Queue")
)  # fmt: skip
MUTABLE_DISPLAYS = (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)


def module_state(source: str) -> list[str]:
    """Each module-level binding of a mutable value, and each `global` statement, as
    'line: code'."""
    tree = ast.parse(source)
    found = []
    for node in tree.body:
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if value is None:
            continue
        called = ast.unparse(value.func).split(".")[-1] if isinstance(value, ast.Call) else ""
        if isinstance(value, MUTABLE_DISPLAYS) or called in MUTABLE_CALLS:
            found.append(f"{node.lineno}: {ast.unparse(node)[:80]}")
    found += [f"{n.lineno}: global {', '.join(n.names)}" for n in ast.walk(tree)
              if isinstance(n, ast.Global)]  # fmt: skip
    return found


@pytest.mark.parametrize("package", STATELESS_PACKAGES)
def test_no_module_holds_run_state(package: str) -> None:
    problems = {
        str(path.relative_to(ROOT)): found
        for path in sorted((ROOT / package).rglob("*.py"))
        if (found := module_state(path.read_text(encoding="utf-8")))
    }
    assert problems == {}


@pytest.mark.parametrize(
    "source",
    ["_MEMO: dict[str, int] = {}", "_RUNNING = []",
     "import threading\n_WAITING = threading.Event()", "def f():\n    global X\n    X = 1"],
)  # fmt: skip
def test_the_scan_finds_module_state(source: str) -> None:
    assert module_state(source)


def test_constants_are_not_state() -> None:
    assert not module_state("from types import MappingProxyType\nA = (1, 2)\nB = frozenset()\n"
                            "C = MappingProxyType({'a': 1})\nD = 'text'\n")  # fmt: skip
