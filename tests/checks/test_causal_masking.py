"""Checks of the section 'Causal Masking: The Elegant Trick'."""

from __future__ import annotations

import itertools
import math

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from softmax_claimcheck.impl import attention
from softmax_claimcheck.impl.registry import to_numpy
from tests.checks.support.claims import (
    Worst,
    compare_printed_vector,
    compare_to_exact,
    numeric_bound,
)
from tests.checks.support.dtypes import exp_op, finfo, op_cases
from tests.checks.support.masking import (
    NEG_INF,
    attention_inputs,
    cached_exact_masked_softmax,
    call_attention,
    exact_masked_softmax,
    fill_masked,
    fully_masked_attention_row,
    fully_masked_exact,
    fully_masked_softmax,
    mp_softmax_through_exp,
    normal_masked_rows,
)

SOFTMAX = pytest.mark.cases("softmax")
ATTENTION = pytest.mark.cases("masking-attention")
EXP_CASES = op_cases("exp", exp_op, "elementwise exp in the dtype")


def apply(case, array):
    """The implementation applied to an array already in its backend and dtype (no float64
    round trip), with overflow to inf/NaN treated as a result, not an error."""
    with np.errstate(all="ignore"):
        return case.impl.fn(array, axis=-1)


def added_mask(case, scores, allowed, fill):
    """scores + mask computed in the case's dtype, the mask 0 where allowed and `fill` elsewhere:
    the additive form many kernels use (`attn_mask` as a float tensor)."""
    mask = [0.0 if a else fill for a in allowed]
    with np.errstate(all="ignore"):
        return case.asarray(scores) + case.asarray(mask)


def exact_attention(q, k, v, allowed) -> np.ndarray:
    """softmax(QKᵀ/√d) over the allowed keys of each row (mpmath weights), times V in float64."""
    scores = (q @ k.T) / math.sqrt(q.shape[-1])
    weights = [
        exact_masked_softmax(row.tolist(), mask.tolist())
        for row, mask in zip(scores, allowed, strict=True)
    ]
    return np.array(weights) @ v


# -- you cannot attend to future tokens -----------------------------------------------------------
CALLS = {
    "causal=True": {"is_causal": True},
    "allowed=causal mask": {"attn_mask": attention.causal_allowed(6, like=np.zeros(1))},
}


def _largest_leak(case, future_keys, call_kwargs) -> tuple[float, dict | None]:
    """Change the keys and values of tokens t… (for every t) and return the largest change of an
    output before t (NaN counts as ∞), with the case that gave it; (0, None) if none moved."""
    q, k, v = attention_inputs(seed=9)
    base = call_attention(case, q, k, v, **call_kwargs)
    rng = np.random.default_rng(19)
    worst, where = 0.0, None
    for t in range(1, q.shape[0]):
        k2, v2 = k.copy(), v.copy()
        k2[t:] = future_keys(rng, k[t:].shape)
        v2[t:] = rng.normal(0.0, 1.0, v[t:].shape).round(3)
        earlier = call_attention(case, q, k2, v2, **call_kwargs)[:t]
        if np.array_equal(earlier, base[:t]):
            continue
        with np.errstate(invalid="ignore"):
            change = float(np.nanmax(np.abs(earlier - base[:t]), initial=0.0))
        change = math.inf if np.isnan(earlier).any() else change
        if where is None or change > worst:
            worst, where = change, {"future_from": t, "earlier_rows": earlier}
    return worst, where


def _record_leak(evidence, label: str, worst: float, where: dict | None) -> None:
    if where:
        evidence.record_inputs(**{f"worst case ({label})": where})
    evidence.property_holds(
        f"{label}: largest change of an earlier output (NaN counts as ∞)",
        where is None,
        worst,
        "0 (bitwise unchanged)",
    )


def _normal_keys(rng, shape):
    return rng.normal(0.0, 1.0, shape).round(3)


@pytest.mark.parametrize(
    "label",
    [
        pytest.param(
            "causal=True",
            marks=pytest.mark.claim("causal-mask-blocks-future", reading="causal-flag"),
        ),
        pytest.param(
            "allowed=causal mask",
            marks=pytest.mark.claim("causal-mask-blocks-future", reading="allowed-mask"),
        ),
    ],
)
@ATTENTION
def test_future_tokens_do_not_change_earlier_outputs(evidence, case, label):
    evidence.record_inputs(seed=9, n=6, d=8, perturbation_seed=19)
    _record_leak(evidence, label, *_largest_leak(case, _normal_keys, CALLS[label]))


@pytest.mark.claim("causal-mask-blocks-future", reading="overflowing-future-keys")
@ATTENTION
def test_overflowing_future_keys_stay_hidden(evidence, case):
    big = float(finfo(case.dtype).max) / 4
    patterns = {
        "+big": lambda rng, shape: np.full(shape, big),
        "−big": lambda rng, shape: np.full(shape, -big),
        "±big": lambda rng, shape: big * np.where(rng.random(shape) < 0.5, -1.0, 1.0),
    }
    evidence.record_inputs(seed=9, n=6, d=8, perturbation_seed=19, big=big)
    evidence.note(
        f"Future keys are finfo({case.dtype}).max/4 = {big:.3g} in every component (+big, "
        "−big, or random signs): their scores overflow to ±∞ or NaN before the mask."
    )
    for call_label, call_kwargs in CALLS.items():
        for name, keys in patterns.items():
            label = f"{call_label}, keys {name}"
            _record_leak(evidence, label, *_largest_leak(case, keys, call_kwargs))


# -- zero additional complexity -------------------------------------------------------------------
def _recorded_elements(causal: bool, n: int, d: int = 16) -> dict[str, int]:
    """Every torch operation of the reference attention with the number of elements it
    produced, summed per operation name."""
    import torch
    from torch.overrides import TorchFunctionMode

    class Recorder(TorchFunctionMode):
        def __init__(self) -> None:
            super().__init__()
            self.elements: dict[str, int] = {}

        def __torch_function__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            outputs = out if isinstance(out, (tuple, list)) else [out]
            size = sum(o.numel() for o in outputs if isinstance(o, torch.Tensor))
            name = getattr(func, "__name__", str(func))
            self.elements[name] = self.elements.get(name, 0) + size
            return out

    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(n, d, generator=generator) for _ in range(3))
    with Recorder() as recorder:
        attention.reference_attention(q, k, v, is_causal=causal)
    return recorder.elements


def _extra_elements(n: int) -> tuple[int, list[str]]:
    plain, causal = _recorded_elements(False, n), _recorded_elements(True, n)
    extra = sum(causal.values()) - sum(plain.values())
    names = sorted(k for k in causal if causal[k] != plain.get(k, 0))
    return extra, names


@pytest.mark.claim("masking-zero-additional-complexity", reading="same-asymptotic-cost")
def test_mask_adds_work_of_the_order_of_the_score_matrix(evidence):
    sizes, d = (8, 16, 32, 64), 16
    extra = {n: _extra_elements(n) for n in sizes}
    per_score = [extra[n][0] / (n * n) for n in sizes]
    evidence.record_inputs(n=sizes, d=d, implementation="torch-attention (reference), cpu float32")
    evidence.note(
        "The mask is not free: extra elements produced by the masked run "
        + ", ".join(f"n = {n}: {e} ({', '.join(names)})" for n, (e, names) in extra.items())
    )
    evidence.note(
        f"Computing the scores alone is n·m·d = {d}·n² multiply-adds; the mask's extra elements "
        "per score entry are listed below (a count that does not grow with n is Θ(n·m) work)."
    )
    evidence.property_holds(
        "extra elements produced per score entry, n = 8 … 64",
        all(b <= a for a, b in itertools.pairwise(per_score)),
        per_score,
        "not growing with n: Θ(n·m)",
    )


# -- the example ----------------------------------------------------------------------------------
@pytest.mark.claim("masked-example-future-tokens", reading="same-query-as-the-problem")
def test_future_tokens_for_the_problem_query(claim, evidence):
    """A key is a future token for the query when every occurrence of its word in the sentence
    (case-insensitive) comes after the query's position."""
    sequence = [t.lower() for t in claim.printed("problem_sequence")]
    query = claim.printed("problem_query_position")
    keys = claim.printed("keys")
    occurrences = {key: [i for i, t in enumerate(sequence) if t == key.lower()] for key in keys}
    future = [key for key in keys if min(occurrences[key]) > query]
    evidence.record_inputs(
        sequence=claim.printed("problem_sequence"),
        query=f"{sequence[query]!r} at position {query}",
        key_positions=occurrences,
    )
    evidence.property_holds(
        f"keys after the query {sequence[query]!r} (masked by a causal mask)",
        future == claim.printed("masked"),
        future,
        str(claim.printed("masked")),
    )
    where = ", ".join(f"{key!r} at {occurrences[key]}" for key in claim.printed("masked"))
    evidence.conclude(
        f"the article masks {claim.printed('masked')} as future tokens of the query "
        f"{sequence[query]!r} (position {query}), but they stand at positions {where}, not after "
        f"it: the keys a causal mask hides in this row are {future}"
    )


def _example_exact(claim) -> np.ndarray:
    scores = claim.printed("masked_scores")
    return cached_exact_masked_softmax(tuple(scores), tuple(math.isfinite(s) for s in scores))


@pytest.mark.claim("masked-example-weights")
def test_masked_example_against_exact(claim, evidence):
    exact = _example_exact(claim)
    evidence.record_inputs(masked_scores=claim.printed("masked_scores"), oracle="mpmath")
    names = [f"w[{t}]" for t in claim.printed("tokens")]
    compare_printed_vector(evidence, claim, names, claim.printed("weights"), exact)


@pytest.mark.claim("masked-example-weights")
@SOFTMAX
def test_masked_example_per_implementation(claim, evidence, case):
    scores = claim.printed("masked_scores")
    evidence.record_inputs(masked_scores=scores)
    compare_to_exact(
        evidence, "output vs exact", _example_exact(claim), case.run_float64(scores), case.dtype
    )


# -- exp(−∞) = 0 ----------------------------------------------------------------------------------
def _exp_of_neg_inf(exact_reading, dtype_reading):
    """One check for the two sentences that say exp(−∞) = 0: "Because exp(−∞) = 0" here and
    "exp(−∞) = 0 ← Always zero" in Brain Teaser #4."""
    return pytest.mark.parametrize(
        "sentence",
        [
            pytest.param(
                "because", marks=pytest.mark.claim("exp-of-neg-inf-is-zero", reading=exact_reading)
            ),
            pytest.param(
                "always", marks=pytest.mark.claim("exp-neg-inf-always-zero", reading=dtype_reading)
            ),
        ],
    )


@_exp_of_neg_inf("exact", "exp-value")
def test_exp_of_neg_inf_exact(evidence, sentence):
    value = mpmath.exp(mpmath.mpf("-inf"))
    evidence.property_holds("mpmath exp(−∞)", value == 0, str(value), "0")


@_exp_of_neg_inf("floating-point", "exp-value")
@pytest.mark.parametrize("case", EXP_CASES)
def test_exp_of_neg_inf_in_dtype(evidence, case, sentence):
    value = float(case.run_float64([NEG_INF])[0])
    evidence.property_holds(
        "exp(−∞) in the dtype", value == 0 and math.copysign(1, value) > 0, value, "+0.0"
    )


# -- masked positions get zero weight -------------------------------------------------------------
def _masked_weights(outputs: list[np.ndarray]) -> tuple[bool, float, int]:
    """(all masked weights exactly 0, largest |masked weight| with NaN as ∞, rows that failed)."""
    largest, failed = 0.0, 0
    for row_out, (_, allowed) in zip(outputs, normal_masked_rows(11), strict=True):
        masked = np.asarray(row_out)[~np.asarray(allowed)]
        if masked.size and not (masked == 0).all():
            failed += 1
            largest = (
                math.inf if np.isnan(masked).any() else max(largest, float(np.abs(masked).max()))
            )
    return failed == 0, largest, failed


@pytest.mark.claim("masked-positions-get-zero-weight", reading="exact")
def test_masked_weight_zero_exact(evidence):
    largest = 0.0
    for scores, allowed in normal_masked_rows(11):
        weights = mp_softmax_through_exp(fill_masked(scores, allowed, NEG_INF))
        for w, a in zip(weights, allowed, strict=True):
            if not a:
                largest = max(largest, abs(float(w)))
    evidence.record_inputs(
        seed=11, rows=len(normal_masked_rows(11)), precision="mpmath, exp(−∞ − max)"
    )
    evidence.property_holds("largest masked weight", largest == 0, largest, "0")


def _replaced(case, scores, allowed):
    return case.run_float64(fill_masked(scores, allowed, NEG_INF))


def _added(case, scores, allowed):
    return to_numpy(apply(case, added_mask(case, scores, allowed, NEG_INF)))


@pytest.mark.parametrize(
    ("masking", "fill"),
    [
        pytest.param(
            _replaced,
            "−∞ (replaces the score)",
            marks=pytest.mark.claim("masked-positions-get-zero-weight", reading="neg-inf-replaced"),
            id="replaced",
        ),
        pytest.param(
            _added,
            "score + (−∞), added in the dtype",
            marks=pytest.mark.claim("masked-positions-get-zero-weight", reading="neg-inf-added"),
            id="added",
        ),
    ],
)
@SOFTMAX
def test_masked_weight_zero(evidence, case, masking, fill):
    outputs = [masking(case, s, a) for s, a in normal_masked_rows(11)]
    ok, largest, failed = _masked_weights(outputs)
    evidence.record_inputs(seed=11, rows=len(outputs), fill=fill)
    evidence.property_holds(
        "masked weights exactly 0.0 (rows failing, largest |weight|)", ok, [failed, largest], "0"
    )


def _stand_ins(dtype: str) -> dict[str, float]:
    return {"−1e4": -1e4, "−1e9": -1e9, "finfo.min": float(finfo(dtype).min)}


@pytest.mark.claim("masked-positions-get-zero-weight", reading="finite-stand-ins")
@SOFTMAX
def test_masked_weight_zero_finite_fill(evidence, case):
    evidence.record_inputs(seed=11, rows=len(normal_masked_rows(11)))
    for name, fill in _stand_ins(case.dtype).items():
        stored = float(case.rounded([fill])[0])
        replaced = [case.run_float64(fill_masked(s, a, fill)) for s, a in normal_masked_rows(11)]
        added_arrays = [added_mask(case, s, a, fill) for s, a in normal_masked_rows(11)]
        added_scores = [to_numpy(x) for x in added_arrays]
        added = [to_numpy(apply(case, x)) for x in added_arrays]
        overflowed = sum(int(np.isneginf(x).sum()) for x in added_scores)
        evidence.note(
            f"fill {name}: stored in {case.dtype} as {stored:g}; score + fill is −∞ "
            f"at {overflowed} masked positions."
        )
        for how, outputs in (("replaced", replaced), ("added", added)):
            ok, largest, failed = _masked_weights(outputs)
            evidence.property_holds(
                f"fill {name} {how}: masked weights exactly 0.0 (rows failing, largest |weight|)",
                ok,
                [failed, largest],
                "0",
            )
    evidence.note(f"finfo.min + s computed in {case.dtype}: {_finfo_min_sums(case)}")


def _finfo_min_sums(case) -> dict[str, float]:
    """finfo.min + s in the case's dtype: where an additive finfo.min mask overflows to −∞
    (e.g. two additive masks, causal + padding, added together)."""
    low = float(finfo(case.dtype).min)
    addends = {"−1": -1.0, "−16": -16.0, "−1e4": -1e4, "finfo.min": low}
    return {
        name: float(to_numpy(added_mask(case, [s], [False], low))[0]) for name, s in addends.items()
    }


# -- one trick handles the entire causality constraint --------------------------------------------
@pytest.mark.claim("one-trick-handles-causality", reading="prefix-equivalence")
@ATTENTION
def test_causal_rows_equal_attention_over_the_prefix(evidence, case):
    q, k, v = attention_inputs(seed=10)
    n = q.shape[0]
    exact = exact_attention(q, k, v, attention.causal_allowed(n, like=np.zeros(1)))
    causal = call_attention(case, q, k, v, is_causal=True)
    prefix = np.vstack(
        [call_attention(case, q[i : i + 1], k[: i + 1], v[: i + 1]) for i in range(n)]
    )
    prefix_error = float(np.max(np.abs(prefix - exact)))
    bound = 2 * prefix_error + numeric_bound(case.dtype, exact)
    evidence.record_inputs(seed=10, n=n, d=q.shape[1], prefix_run_error=prefix_error)
    evidence.close_to(
        "causal output vs exact (rows 0 … n−1)",
        exact,
        causal,
        bound,
        f"≤ 2 × error of the unmasked prefix runs ({prefix_error:.3g}) + {case.dtype} tolerance",
    )


# -- no special-case code, no separate masking layer ----------------------------------------------
@pytest.mark.claim("no-special-case-code", reading="softmax-unchanged")
@SOFTMAX
def test_plain_softmax_handles_masked_rows(evidence, case):
    worst = Worst()
    for scores, allowed in normal_masked_rows(13):
        row = fill_masked(scores, allowed, NEG_INF)
        exact = cached_exact_masked_softmax(tuple(case.rounded(scores)), allowed)
        error = float(np.max(np.abs(case.run_float64(row) - exact)))
        worst.update(error / numeric_bound(case.dtype, exact), scores=scores, allowed=allowed)
    evidence.record_inputs(seed=13, rows=len(normal_masked_rows(13)), fill="−∞")
    evidence.close_to(
        "worst row: error vs exact masked softmax, in units of the dtype's tolerance",
        0.0,
        worst.value,
        1.0,
        f"{case.dtype} numerical tolerance",
    )
    if not worst.value <= 1:  # NaN included
        evidence.record_inputs(worst_row=worst.example)


@pytest.mark.claim("no-special-case-code", reading="no-parameters")
def test_masking_adds_no_parameters(evidence):
    import torch

    torch.manual_seed(0)
    layer = torch.nn.MultiheadAttention(8, num_heads=2, batch_first=True, dtype=torch.float64)
    before = {name: tuple(p.shape) for name, p in layer.named_parameters()}
    modules_before = [name for name, _ in layer.named_modules()]
    x = torch.randn(1, 5, 8, dtype=torch.float64)
    # MultiheadAttention's mask: True = may not attend
    blocked = ~torch.as_tensor(attention.causal_allowed(5, like=np.zeros(1)))
    with torch.no_grad():
        _, weights = layer(x, x, x, attn_mask=blocked, need_weights=True)
    after = {name: tuple(p.shape) for name, p in layer.named_parameters()}
    future_weight = float(weights[0][blocked].abs().max())
    evidence.record_inputs(layer="nn.MultiheadAttention(8, 2 heads)", n=5, seed=0)
    evidence.property_holds("parameters after a masked call", after == before, after, str(before))
    evidence.property_holds(
        "modules after a masked call",
        [name for name, _ in layer.named_modules()] == modules_before,
        modules_before,
        "unchanged",
    )
    evidence.property_holds(
        "largest weight on a future token", future_weight == 0, future_weight, "0"
    )


# -- just set some values to −∞ -------------------------------------------------------------------
def _keeps_a_key(reading):
    """The same check for the two sentences it answers: "Just set some values to −∞ before
    softmax" and "the math takes care of the rest" (for rows that keep a key)."""
    return pytest.mark.parametrize(
        "sentence",
        [
            pytest.param(
                reading,
                marks=pytest.mark.claim("masked-softmax-equals-softmax-of-kept", reading=reading),
                id="kept",
            ),
            pytest.param(
                reading,
                marks=pytest.mark.claim(
                    "masking-handles-fully-masked-rows", reading="rows-that-keep-a-key"
                ),
                id="the-rest",
            ),
        ],
    )


@_keeps_a_key("exact")
def test_masked_softmax_is_softmax_of_kept_exact(evidence, sentence):
    worst = Worst()
    scores_st = st.lists(st.floats(-50, 50, allow_nan=False), min_size=2, max_size=12)

    @given(scores_st, st.data())
    def masked_equals_kept(scores, data):
        allowed = data.draw(st.lists(st.booleans(), min_size=len(scores), max_size=len(scores)))
        allowed[data.draw(st.integers(0, len(scores) - 1), label="kept")] = True
        masked = mp_softmax_through_exp(fill_masked(scores, allowed, NEG_INF))
        kept = iter(mp_softmax_through_exp([s for s, a in zip(scores, allowed, strict=True) if a]))
        expected = [next(kept) if a else 0 for a in allowed]
        with mpmath.workdps(50):
            error = max(abs(m - e) for m, e in zip(masked, expected, strict=True))
        worst.update(float(error), scores=scores, allowed=allowed)
        assert error < mpmath.mpf(10) ** -40

    masked_equals_kept()
    evidence.note(f"{worst.count} Hypothesis examples, mpmath, exp taken of −∞ as well.")
    evidence.property_holds("max |masked − softmax of kept|", True, worst.value, "< 1e-40")


@_keeps_a_key("implementations")
@SOFTMAX
def test_masked_softmax_is_softmax_of_kept(evidence, case, sentence):
    worst = Worst()
    for scores, allowed in normal_masked_rows(12):
        exact = cached_exact_masked_softmax(tuple(case.rounded(scores)), allowed)
        masked = case.run_float64(fill_masked(scores, allowed, NEG_INF))
        kept = np.zeros(len(scores))
        kept[np.asarray(allowed)] = case.run_float64(
            [s for s, a in zip(scores, allowed, strict=True) if a]
        )
        bound = 2 * float(np.max(np.abs(kept - exact))) + numeric_bound(case.dtype, exact)
        error = float(np.max(np.abs(masked - exact)))
        worst.update(error / bound if np.isfinite(error) else math.inf, scores=scores)
    evidence.record_inputs(seed=12, rows=len(normal_masked_rows(12)))
    evidence.close_to(
        "worst row: |masked − exact| / (2·|softmax of kept − exact| + tolerance)",
        0.0,
        worst.value,
        1.0,
        "≤ 1 (self-calibrating rule)",
    )


# -- fully masked rows ----------------------------------------------------------------------------
FULLY_MASKED = pytest.mark.parametrize(
    "sentence",
    [
        pytest.param(
            "the math takes care of the rest",
            marks=pytest.mark.claim(
                "masking-handles-fully-masked-rows", reading="fully-masked-row"
            ),
        ),
        pytest.param(
            "handles all edge cases",
            marks=pytest.mark.claim(
                "neg-inf-masking-handles-all-edge-cases", reading="fully-masked-row"
            ),
        ),
    ],
)
"""One set of checks for the two sentences a row with every key masked answers: "the math takes
care of the rest" here and "handles all edge cases" in Brain Teaser #4."""


@FULLY_MASKED
def test_fully_masked_row_exact(evidence, sentence):
    weights = fully_masked_exact()
    evidence.record_inputs(row="[−∞, −∞, −∞, −∞]", precision="mpmath, exp(−∞ − max)")
    evidence.property_holds(
        "fully masked row: mpmath softmax finite",
        all(mpmath.isfinite(w) for w in weights),
        [str(w) for w in weights],
        "no NaN (a 0/0 is NaN)",
    )


@FULLY_MASKED
@SOFTMAX
def test_fully_masked_softmax_is_finite(evidence, case, sentence):
    out = fully_masked_softmax(evidence, case)
    evidence.property_holds(
        "fully masked row: output finite", bool(np.isfinite(out).all()), out, "no NaN, no ±∞"
    )


@FULLY_MASKED
@ATTENTION
def test_fully_masked_attention_is_finite(evidence, case, sentence):
    out = fully_masked_attention_row(evidence, case)
    evidence.property_holds(
        "fully masked row 0: attention output finite",
        bool(np.isfinite(out).all()),
        out,
        "no NaN, no ±∞",
    )
