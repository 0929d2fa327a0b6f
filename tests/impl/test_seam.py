"""The implementation seam (impl/loading.py, impl/calling.py): only it imports a user's module,
reads a signature or captures output, and its two consumers (`--impl` and `softmax-claimcheck
conform`) learn the same kind, backend and convention and capture the same output."""

from __future__ import annotations

import ast
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from softmax_claimcheck import cli
from softmax_claimcheck.impl import pytest_plugin
from tests.conformance.controls import no_float16_softmax  # noqa: F401  (a table entry, by name)

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_FOLDERS = ("claimcheck", "impl", "experiments", "softmax_claimcheck")
SEAM = {"impl/loading.py", "impl/calling.py"}
# Uses that concern no user's code (the scan still finds any new one).
ALLOWED = {
    ("impl/library.py", "catch_warnings"): "torch's own kernel-choice diagnostics in our adapters",
    ("experiments/data.py", "import_module"): "the standard library's modules (training corpus)",
    ("experiments/data.py", "catch_warnings"): "typing.io's deprecation while reading docstrings",
}
WATCHED = {"import_module", "__import__", "signature", "redirect_stdout", "redirect_stderr"}
WATCHED |= {"catch_warnings"}


def seam_violations(root: Path) -> list[str]:
    """Every call outside the seam that imports a module by name, reads a signature or
    captures output or warnings: 'path:line: name'."""
    found = []
    for folder in PACKAGE_FOLDERS:
        base = root / folder
        for path in sorted(base.rglob("*.py")):
            if any(
                p.is_symlink() for p in (path, *path.parents) if p != root and root in p.parents
            ):
                continue  # softmax_claimcheck/impl etc. link the top-level folders
            relative = path.relative_to(root).as_posix()
            if relative in SEAM:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in WATCHED and (relative, name) not in ALLOWED:
                    found.append(f"{relative}:{node.lineno}: {name}")
    return found


def test_only_the_seam_loads_inspects_or_captures_a_users_code() -> None:
    assert seam_violations(ROOT) == []


def test_the_scan_finds_a_second_loader(tmp_path: Path) -> None:
    """The scan has teeth: a consumer with its own loader and call wrapper is found."""
    consumer = tmp_path / "softmax_claimcheck" / "conformance"
    consumer.mkdir(parents=True)
    (consumer / "own_loader.py").write_text(
        "import importlib, inspect, warnings\n"
        "def load(spec):\n"
        "    module = importlib.import_module(spec)\n"
        "    inspect.signature(module.f)\n"
        "    with warnings.catch_warnings():\n"
        "        return module\n"
    )
    assert seam_violations(tmp_path) == [
        "softmax_claimcheck/conformance/own_loader.py:3: import_module",
        "softmax_claimcheck/conformance/own_loader.py:4: signature",
        "softmax_claimcheck/conformance/own_loader.py:5: catch_warnings",
    ]


# -- the callables of the table ------------------------------------------------------------------
def np_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def np_log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def torch_softmax(x: Any, dim: int = -1) -> Any:
    return torch.softmax(x, dim=dim)


def torch_log_softmax(x: Any, dim: int = -1) -> Any:
    return torch.log_softmax(x, dim=dim)


def sdpa_style(
    query: Any, key: Any, value: Any, attn_mask: Any = None, is_causal: bool = False
) -> Any:
    return torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=attn_mask, is_causal=is_causal
    )


def warning_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    warnings.warn("warning_softmax warns on every call", UserWarning, stacklevel=2)
    return np_softmax(x, axis)


def printing_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    print("printing_softmax was called")
    print("and says so on stderr", file=sys.stderr)
    return np_softmax(x, axis)


def exits_on_float16(x: np.ndarray, axis: int = -1) -> np.ndarray:
    if x.dtype == np.float16:
        sys.exit(5)
    return np_softmax(x, axis)


TABLE = [
    # name, kind, backend, convention, dtype the captured call runs in
    ("np_softmax", "softmax", "numpy", "axis", "float64"),
    ("np_log_softmax", "log-softmax", "numpy", "axis", "float64"),
    ("torch_softmax", "softmax", "torch", "dim", "float32"),
    ("torch_log_softmax", "log-softmax", "torch", "dim", "float32"),
    ("sdpa_style", "attention", "torch", "sdpa", "float64"),
    ("warning_softmax", "softmax", "numpy", "axis", "float64"),
    ("printing_softmax", "softmax", "numpy", "axis", "float32"),
    ("no_float16_softmax", "softmax", "torch", "dim", "float16"),
    ("exits_on_float16", "softmax", "numpy", "axis", "float16"),
]


def _through_impl(name: str, dtype: str) -> dict[str, Any]:
    """What `--impl` learns and captures (pytest_plugin.from_option is what --impl calls)."""
    implementation = pytest_plugin.from_option(f"{__name__}:{name}")
    fn = implementation.fn
    x = np.array([[0.0, 1.0, 2.0], [3.0, 1.0, -1.0]], dtype=dtype)
    try:
        if implementation.role == "attention":
            q = torch.tensor(np.ones((1, 2, 4)), dtype=getattr(torch, dtype))
            fn(q, q, q)
        elif implementation.backend == "torch":
            fn(torch.tensor(x), axis=-1)
        else:
            fn(x, axis=-1)
    except AssertionError:
        pass  # the implementation's failure: its Call says why
    call = fn.last_call
    return {
        "kind": implementation.role,
        "backend": implementation.backend,
        "convention": fn.callee.convention,
        "warnings": call.warnings,
        "printed": call.printed,
        "exception": call.exception,
    }


def _through_conform(name: str, dtype: str, tmp_path: Path) -> dict[str, Any]:
    """What `softmax-claimcheck conform` learns and captures (its conformance.json)."""
    prop = "deterministic"
    code = cli.main(
        [
            "conform",
            f"{__name__}:{name}",
            "--dtypes",
            dtype,
            "--property",
            prop,
            "--out",
            str(tmp_path),
        ]
    )
    assert code in (0, 1)
    data = json.loads((tmp_path / "conformance.json").read_text(encoding="utf-8"))
    check = next(c for c in data["checks"] if c["dtype"] == dtype)
    return {
        "kind": data["kind"],
        "backend": data["backend"],
        "convention": data["convention"],
        "warnings": check["warnings"],
        "printed": check["output"],
        "exception": check["exception"],
    }


@pytest.mark.parametrize(("name", "kind", "backend", "convention", "dtype"), TABLE)
def test_both_consumers_learn_and_capture_the_same(
    name: str, kind: str, backend: str, convention: str, dtype: str, tmp_path: Path, capsys: Any
) -> None:
    by_impl = _through_impl(name, dtype)
    by_conform = _through_conform(name, dtype, tmp_path)
    capsys.readouterr()
    learned = (kind, backend, convention)
    assert (by_impl["kind"], by_impl["backend"], by_impl["convention"]) == learned
    assert (by_conform["kind"], by_conform["backend"], by_conform["convention"]) == learned
    # the property calls twice on one input: the same per-call output, twice (exceptions: once)
    assert by_conform["warnings"] == by_impl["warnings"]
    assert by_conform["printed"] in (by_impl["printed"], by_impl["printed"] * 2)
    assert by_conform["exception"] == by_impl["exception"]


def test_the_captured_output_is_what_the_function_did() -> None:
    """The table's expectations are not vacuous: each special callable's Call records it."""
    assert _through_impl("warning_softmax", "float64")["warnings"] == [
        "UserWarning: warning_softmax warns on every call"
    ]
    printed = _through_impl("printing_softmax", "float64")["printed"]
    assert printed == "printing_softmax was called\nand says so on stderr\n"
    assert _through_impl("no_float16_softmax", "float16")["exception"] == (
        "TypeError: no_float16_softmax: float16 is not supported"
    )
    assert _through_impl("exits_on_float16", "float16")["exception"] == "called sys.exit(5)"


def test_a_function_that_always_raises_is_refused_alike(capsys: Any) -> None:
    with pytest.raises(pytest.UsageError, match="raised ValueError: always") as by_impl:
        pytest_plugin.from_option("tests.conformance.controls:always_raises")
    assert cli.main(["conform", "tests.conformance.controls:always_raises", "--no-files"]) == 2
    by_conform = capsys.readouterr().err
    reason = str(by_impl.value).split(": ", 1)[1]  # after "--impl SPEC"
    assert reason.split("(", 1)[1] in by_conform
