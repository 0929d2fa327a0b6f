"""Our Triton kernels on a GPU: a benchmark to run by hand or in a GPU job, not a timed test.

  1. Softmax over rows of 1k–64k columns (powers of two, other lengths, and strided rows of a
     wider tensor) in float16, bfloat16, float32: our fused kernel (one read; rows past
     FUSED_MAX_COLS run the online kernel, and the row is named by the kernel that ran), our online
     kernel (two reads: at most 2/3 of copy bandwidth by construction), and torch.softmax,
     each in GB/s (one read and one write of the tensor) and as a fraction of the device's copy
     bandwidth, measured here with a device-to-device copy of a tensor of the same size.
  2. Attention forward: our flash-style kernel against F.scaled_dot_product_attention (whatever
     backend torch picks), in TFLOP/s.

Targets (printed as PASS / MISS, never asserted): softmax ≥ 85% of copy bandwidth at large sizes
(every softmax row here moves 2 × 256 MiB in float32, 2 × 128 MiB in 16-bit types), and within
10% of torch.softmax. Each result is checked against torch first, so a fast wrong kernel shows
as WRONG, not as a speed.

    python benchmarks/bench_softmax_gpu.py [--json results.json] [--quick]
    python benchmarks/bench_softmax_gpu.py --dry-run    # CPU, Triton's interpreter, toy sizes

Without a CUDA device it refuses (exit 2) unless --dry-run: the dry run only proves the script
itself works; its timings mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET_COPY_FRACTION = 0.85
TARGET_VS_TORCH = 0.90  # ours ≥ 90% of torch.softmax's GB/s: "within 10%"
ROW_LENGTHS = (1024, 2048, 4096, 8192, 16384, 32768, 65536)
QUICK_ROW_LENGTHS = (1024, 8192, 32768, 65536)
ODD_ROW_LENGTHS = (1000, 5000, 30000)  # not powers of two: the kernels pad to the next one
STRIDED_ROW_LENGTHS = (4096,)  # rows of a wider tensor (row stride > row length)
ELEMENTS = 1 << 26  # per softmax input: 256 MiB in float32
ATTENTION_SHAPES = ((4, 16, 1024, 64), (4, 16, 4096, 64), (2, 16, 8192, 128))  # B, H, n, d
DTYPES = ("float16", "bfloat16", "float32")
SOFTMAX_ERROR = {"float32": 1e-5, "float16": 2e-3, "bfloat16": 1.6e-2}  # max |ours − torch|
ATTENTION_ERROR = {"float16": 1e-2, "bfloat16": 4e-2}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, interpreter, toy sizes")
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repetitions")
    parser.add_argument("--json", type=Path, help="also write the results here (dirs made)")
    return parser.parse_args(argv)


@dataclass
class SoftmaxRow:
    dtype: str
    n_cols: int
    n_rows: int
    layout: str  # "contiguous", or "strided": rows of a wider tensor
    impl: str  # the kernel that really ran (the fused entry point hands long rows to online)
    reads: int  # passes over the input: 1 fused, 2 online; at best (1 + 1) / (reads + 1) of copy
    ms: float
    gb_per_s: float
    copy_fraction: float
    max_abs_error: float
    verdict: str


@dataclass
class AttentionRow:
    dtype: str
    shape: str
    causal: bool
    impl: str
    ms: float
    tflops: float
    vs_sdpa: float
    max_abs_error: float


def _imports(dry_run: bool) -> tuple[Any, Any]:
    """torch and our kernels; the interpreter must be switched on before triton is imported."""
    if dry_run:
        os.environ["TRITON_INTERPRET"] = "1"
    sys.path.insert(0, str(ROOT))
    import torch

    try:
        from softmax_claimcheck.impl import triton_kernels
    except ImportError as exc:
        sys.exit(f"refusing: our kernels need triton ({exc}); pip install -e '.[triton]'")
    return torch, triton_kernels


def _timer(torch: Any, on_gpu: bool, quick: bool) -> Callable[[Callable[[], Any]], float]:
    """Milliseconds per call: triton's do_bench (CUDA events, L2 flushed, median) on a GPU;
    a plain median of a few calls on CPU (dry run)."""
    if on_gpu:
        from triton.testing import do_bench

        rep = 40 if quick else 200
        return lambda fn: float(do_bench(fn, warmup=10, rep=rep, return_mode="median"))

    def cpu_time(fn: Callable[[], Any]) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            fn()
            times.append((time.perf_counter() - started) * 1e3)
        return sorted(times)[1]

    return cpu_time


def softmax_cases(sizes: dict) -> list[tuple[int, str]]:
    """(row length, layout) pairs: powers of two, others, and strided rows."""
    cases = [(n, "contiguous") for n in sizes["row_lengths"]]
    cases += [(n, "contiguous") for n in sizes.get("odd_lengths", ())]
    cases += [(n, "strided") for n in sizes.get("strided_lengths", ())]
    return cases


def bench_softmax(torch: Any, tk: Any, device: str, sizes: dict, timer: Callable) -> list:
    rows: list[SoftmaxRow] = []
    for dtype_name in DTYPES:
        dtype = getattr(torch, dtype_name)
        for n_cols, layout in softmax_cases(sizes):
            n_rows = max(1, sizes["elements"] // n_cols)
            width = n_cols + 64 if layout == "strided" else n_cols
            full = torch.randn(n_rows, width, device=device, dtype=torch.float32).mul_(4)
            x = full.to(dtype)[:, :n_cols]  # strided: a view, row stride = width
            moved = 2 * x.numel() * x.element_size()  # one read, one write
            copy_target = torch.empty_like(x)
            copy_ms = timer(lambda: copy_target.copy_(x))  # noqa: B023
            expected = torch.softmax(x.float(), dim=-1)
            fused_ran = "triton-fused" if n_cols <= tk.FUSED_MAX_COLS else "triton-online"
            candidates = {
                ("copy", 1): lambda: copy_target.copy_(x),  # noqa: B023
                ("torch.softmax", 1): lambda: torch.softmax(x, dim=-1),  # noqa: B023
                # the fused entry point: rows past FUSED_MAX_COLS run the online kernel (named so)
                (f"{fused_ran} (softmax_fused)", 1 if fused_ran == "triton-fused" else 2): (
                    lambda: tk.softmax_fused(x)  # noqa: B023
                ),
                ("triton-online", 2): lambda: tk.softmax_online(x),  # noqa: B023
            }
            for (name, reads), fn in candidates.items():
                ms = copy_ms if name == "copy" else timer(fn)
                error = 0.0 if name == "copy" else float((fn().float() - expected).abs().max())
                rows.append(
                    SoftmaxRow(
                        dtype_name,
                        n_cols,
                        n_rows,
                        layout,
                        name,
                        reads,
                        ms,
                        moved / ms / 1e6,
                        copy_ms / ms,
                        error,
                        "",
                    )
                )
            _judge_softmax(rows[-4:], dtype_name)
    return rows


def _judge_softmax(group: list[SoftmaxRow], dtype: str) -> None:
    """PASS / MISS against the targets; WRONG when the output is off (then no speed counts)."""
    bound = SOFTMAX_ERROR[dtype]
    torch_row = next(r for r in group if r.impl == "torch.softmax")
    for row in group:
        if row.impl in ("copy", "torch.softmax"):
            row.verdict = "baseline"
        elif row.max_abs_error > bound:
            row.verdict = f"WRONG (error {row.max_abs_error:.2g} > {bound:g})"
        elif row.impl.startswith("triton"):
            copy_ok = row.copy_fraction >= TARGET_COPY_FRACTION
            torch_ok = row.gb_per_s >= TARGET_VS_TORCH * torch_row.gb_per_s
            row.verdict = " ".join(
                [
                    f"{'PASS' if copy_ok else 'MISS'} ≥{TARGET_COPY_FRACTION:.0%} copy",
                    f"{'PASS' if torch_ok else 'MISS'} ≥{TARGET_VS_TORCH:.0%} torch",
                ]
            )
            if row.reads > 1:  # bytes moved: reads + 1 writes against copy's 1 + 1
                row.verdict += f" (reads {row.reads}×: ≤{2 / (row.reads + 1):.0%} copy at best)"


def bench_attention(torch: Any, tk: Any, device: str, shapes: tuple, timer: Callable) -> list:
    from torch.nn.functional import scaled_dot_product_attention as sdpa

    rows: list[AttentionRow] = []
    for dtype_name in ("float16", "bfloat16"):
        dtype = getattr(torch, dtype_name)
        for b, h, n, d in shapes:
            q, k, v = (torch.randn(b, h, n, d, device=device, dtype=dtype) for _ in range(3))
            for causal in (False, True):
                flops = 4 * b * h * n * n * d * (0.5 if causal else 1.0)
                expected = sdpa(q, k, v, is_causal=causal).float()
                results = {}
                for name, fn in {
                    "sdpa": lambda: sdpa(q, k, v, is_causal=causal),  # noqa: B023
                    "triton-flash": lambda: tk.attention_flash(q, k, v, is_causal=causal),  # noqa: B023
                }.items():
                    ms = timer(fn)
                    error = float((fn().float() - expected).abs().max())
                    results[name] = (ms, error)
                for name, (ms, error) in results.items():
                    rows.append(
                        AttentionRow(
                            dtype_name,
                            f"{b}x{h}x{n}x{d}",
                            causal,
                            name,
                            ms,
                            flops / ms / 1e9,
                            results["sdpa"][0] / ms,
                            error,
                        )
                    )
    return rows


def environment(torch: Any, on_gpu: bool) -> dict[str, str]:
    import triton

    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "triton": triton.__version__,
        "interpreter": os.environ.get("TRITON_INTERPRET", "0"),
    }
    if on_gpu:
        env["gpu"] = torch.cuda.get_device_name()
        env["cuda"] = str(torch.version.cuda)
    return env


def print_tables(env: dict, softmax: list[SoftmaxRow], attention: list[AttentionRow]) -> None:
    print("  ".join(f"{k}={v}" for k, v in env.items()))
    print("\nsoftmax (GB/s = 2 × bytes / time; copy = device-to-device copy of the same tensor)")
    print("(reads: passes over the input; a kernel reading it twice reaches at most 2/3 of copy)")
    print(
        f"{'dtype':9} {'cols':>6} {'layout':10} {'impl':30} {'reads':>5} {'ms':>9} {'GB/s':>8} "
        f"{'×copy':>6}  verdict"
    )
    for r in softmax:
        print(
            f"{r.dtype:9} {r.n_cols:>6} {r.layout:10} {r.impl:30} {r.reads:>5} {r.ms:9.4f} "
            f"{r.gb_per_s:8.1f} {r.copy_fraction:6.2f}  {r.verdict}"
        )
    print("\nattention forward (TFLOP/s = 4·B·H·n²·d, halved when causal)")
    print(
        f"{'dtype':9} {'BxHxnxd':16} {'causal':6} {'impl':13} {'ms':>9} {'TFLOP/s':>8} {'×sdpa':>6}"
    )
    for a in attention:
        print(
            f"{a.dtype:9} {a.shape:16} {a.causal!s:6} {a.impl:13} {a.ms:9.4f} {a.tflops:8.2f} "
            f"{a.vs_sdpa:6.2f}  max|Δ| {a.max_abs_error:.2g}"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch, tk = _imports(args.dry_run)
    on_gpu = torch.cuda.is_available() and not args.dry_run
    if not on_gpu and not args.dry_run:
        print(
            "refusing: this benchmark needs a CUDA GPU (torch.cuda.is_available() is False).\n"
            "  On a GPU machine:  python benchmarks/bench_softmax_gpu.py\n"
            "  To check the script itself on CPU (interpreter, toy sizes, meaningless timings):\n"
            "                     python benchmarks/bench_softmax_gpu.py --dry-run",
            file=sys.stderr,
        )
        return 2
    if args.dry_run:
        device = "cpu"
        sizes = {"row_lengths": (16, 64), "odd_lengths": (37,), "strided_lengths": (16,),
                 "elements": 256}  # fmt: skip
        shapes: tuple = ((1, 2, 32, 16),)
    else:
        device = "cuda"
        lengths = QUICK_ROW_LENGTHS if args.quick else ROW_LENGTHS
        sizes = {"row_lengths": lengths, "odd_lengths": ODD_ROW_LENGTHS,
                 "strided_lengths": STRIDED_ROW_LENGTHS, "elements": ELEMENTS}  # fmt: skip
        shapes = ATTENTION_SHAPES[:1] if args.quick else ATTENTION_SHAPES
    timer = _timer(torch, on_gpu, args.quick)
    env = environment(torch, on_gpu)
    softmax = bench_softmax(torch, tk, device, sizes, timer)
    attention = bench_attention(torch, tk, device, shapes, timer)
    print_tables(env, softmax, attention)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)  # a fresh clone has no reports/
        args.json.write_text(
            json.dumps(
                {
                    "environment": env,
                    "targets": {"copy_fraction": TARGET_COPY_FRACTION, "vs_torch": TARGET_VS_TORCH},
                    "softmax": [asdict(r) for r in softmax],
                    "attention": [asdict(a) for a in attention],
                },
                indent=2,
            )
        )
        print(f"\nresults: {args.json}")
    wrong = [r for r in softmax if r.verdict.startswith("WRONG")]
    wrong += [a for a in attention if a.max_abs_error > ATTENTION_ERROR[a.dtype]]
    if wrong:
        print(f"\n{len(wrong)} result(s) disagree with torch beyond the bound: see above")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
