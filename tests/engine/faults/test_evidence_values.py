"""Issue 13, item 3 (first case): whatever a check records as evidence, report writing cannot
fail on it; Evidence.as_dict() is always strict JSON (no NaN literals) and bounded."""

from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import json
import math
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from softmax_claimcheck.claimcheck.evidence import Evidence, json_safe
from tests.engine.conftest import claim_entry


class BrokenStr:
    def __str__(self):
        raise RuntimeError("no str")

    __repr__ = __str__


class Slots:
    __slots__ = ("x",)


def cyclic_list():
    x: list = [1]
    x.append(x)
    return x


def cyclic_dict():
    d: dict = {"a": 1}
    d["self"] = d
    return d


def deep_list(depth):
    root: list = []
    node = root
    for _ in range(depth):
        node.append([])
        node = node[0]
    return root


VALUES = {
    "np.float32": np.float32(0.25),
    "np.float16-nan": np.float16("nan"),
    "np.float64-inf": np.float64("inf"),
    "np.int64": np.int64(7),
    "np.uint8": np.uint8(255),
    "np.bool_": np.bool_(True),
    "np.complex64": np.complex64(1 + 2j),
    "np.str_": np.str_("s"),
    "np.datetime64": np.datetime64("2024-01-01"),
    "np.array-float32-nan": np.array([1.0, np.nan, np.inf], dtype=np.float32),
    "np.array-object": np.array([object(), 1], dtype=object),
    "np.array-0d": np.array(3.5),
    "np.array-long": np.arange(10_000, dtype=np.float32),
    "np.array-2d": np.ones((3, 3)),
    "np.array-strings": np.array(["a", "b"]),
    "torch-bfloat16": torch.tensor([1.0, float("nan")], dtype=torch.bfloat16),
    "torch-bool": torch.tensor([True, False]),
    "torch-int": torch.tensor(3),
    "torch-complex": torch.tensor([1 + 1j]),
    "torch-requires-grad": torch.ones(2, requires_grad=True),
    "tuple": (1, 2.5, "x"),
    "nested-tuple-nan": ((float("nan"),), [float("-inf")]),
    "set": {3, 1, 2},
    "mixed-set": {1, "a", (2, 3)},
    "frozenset": frozenset({1.5}),
    "path": Path("/tmp/x"),
    "bytes": b"\xff\x00abc",
    "bytearray": bytearray(b"ab"),
    "object": object(),
    "slots-object": Slots(),
    "broken-str": BrokenStr(),
    "lambda": lambda: 1,
    "type": int,
    "lock": threading.Lock(),
    "generator": (i for i in range(3)),
    "nan-in-dict": {"a": {"b": [float("nan")]}},
    "non-string-keys": {(1, 2): 1, None: 2, 3.5: float("inf"), b"k": 1},
    "huge-int": 10**5000,
    "big-int": 2**80,
    "decimal": decimal.Decimal("1.1"),
    "fraction": fractions.Fraction(1, 3),
    "complex": 1 + 2j,
    "date": datetime.date(2024, 1, 1),
    "ordered-dict": collections.OrderedDict(a=np.float32(1)),
    "deque": collections.deque([np.float32(1)]),
    "cyclic-list": cyclic_list(),
    "cyclic-dict": cyclic_dict(),
    "deep-list": deep_list(5000),
    "huge-string": "x" * 100_000,
    "float-subclass-inf": np.float64(np.inf),
}


def strict_json(value) -> str:
    return json.dumps(value, allow_nan=False, ensure_ascii=False)


@pytest.mark.parametrize("name", list(VALUES))
def test_any_value_is_json_safe_everywhere_it_can_be_recorded(name):
    value = VALUES[name]
    record = Evidence()
    record.record_inputs(x=value)
    record.note(value)
    record.notes.append(value)  # written directly, bypassing note()
    record.inputs["direct"] = value
    record.property_holds("q", True, value, "expected")
    record.printed_value("p", 0.5, 0.5, 0.005, "2 decimals")
    record.comparisons[-1].expected = value
    record.falsifying_example = value
    out = strict_json(record.as_dict())
    assert len(out) < 1_000_000


def test_json_safe_keeps_ordinary_values():
    assert json_safe({"a": [1, 2.5, "s", None, True]}) == {"a": [1, 2.5, "s", None, True]}
    assert json_safe(np.float32(0.25)) == 0.25 and json_safe(np.bool_(False)) is False
    assert json_safe(float("nan")) == "nan" and json_safe([float("-inf")]) == ["-inf"]
    assert json_safe((1, 2)) == [1, 2] and json_safe({2, 1}) == [1, 2]
    assert json_safe(Path("/a")) == "/a"


def test_close_to_with_numpy_scalars_and_nan(tmp_path):
    record = Evidence()
    record.close_to("x", np.float32(1), np.float32("nan"), 1e-3, "tol")
    data = json.loads(strict_json(record.as_dict()))
    assert data["comparisons"][0]["holds"] is False and data["comparisons"][0]["deviation"] == "inf"


def test_float32_note_end_to_end_writes_every_report(claims_project):
    """The issue's case: evidence.note(np.float32(0.25)) lost verdict.json and every report."""
    claims_project.claims(claim_entry("good-claim"))
    claims_project.checks(
        """
        import pytest, numpy as np
        from pathlib import Path

        @pytest.mark.claim("good-claim")
        def test_good(evidence):
            evidence.note(np.float32(0.25))
            evidence.record_inputs(t=(1, np.float32(2)), s={1, 2}, p=Path("x"), b=b"\\xff")
            evidence.inputs["raw"] = {"nan": float("nan"), "obj": object()}
            evidence.property_holds("one", True, np.bool_(True), "1")
        """
    )
    result = claims_project.run()
    assert result.ret == 0, result.stdout.str()[-2000:]
    data = claims_project.report()
    assert data["claims"][0]["verdict"] == "SUPPORTED"
    assert data["claims"][0]["checks"][0]["evidence"]["notes"] == ["0.25"]
    assert math.isfinite(len(claims_project.html()))
