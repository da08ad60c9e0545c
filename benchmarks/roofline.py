"""The machine's own limits, measured through torch: matmul peak in fp32 and bf16, and memory bandwidth.

Every other benchmark can then say how far a phase is from what this machine can do: achieved GFLOP/s
(FLOPs counted from the model's config) as a fraction of the matmul peak, and the time of a
memory-bound phase (a decoder step reads every weight once) against the bandwidth.

- **matmul peak**: the best of several square GEMMs (n = 1024, 2048, 4096; 2·n³ FLOPs each), each timed
  as the median of repeated calls after a warm-up, in fp32 and in bf16 (bf16 runs on the CPU's AMX or
  AVX-512 BF16 units where it has them: the ISA flags are printed);
- **bandwidth**: copying a 1 GiB fp32 tensor into another (bytes read + bytes written) per second;
- **decode-shaped GEMMs**: a batch of 1, 4, 16 or 64 token vectors times each weight matrix of a
  flan-t5-base decoder step (768x768, 768x2048, 2048x768 and the 768x32128 output head), cycling
  through copies of the weights larger than the caches, as a decode step reads them. These small-M
  matmuls are what a decode step is made of; their rate, not the square-GEMM peak, bounds it.

    python benchmarks/roofline.py [--threads 2] [--json runs/benchmarks/roofline.json]

Run on an idle machine (the load average is printed with the result).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch
from _common import machine

from genai_course.precision import cpu_flags

SIZES = (1024, 2048, 4096)
DECODE_BATCHES = (1, 4, 16, 64)
# (in, out) of flan-t5-base's matmuls in a decode step: attention projections, the gated FF's wi_0/wi_1
# and wo, and the output head; the weight each multiplies in every step, with how many there are.
DECODE_SHAPES = {(768, 768): 6 * 12, (768, 2048): 2 * 12, (2048, 768): 12, (768, 32128): 1}
CACHE_BEATING_BYTES = 256 << 20  # copies of a weight past any L3, so every call reads memory
ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def timed(fn, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls, after two warm-up calls."""
    fn()
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_gflops(n: int, dtype: torch.dtype, repeats: int = 5) -> float:
    a = torch.randn(n, n, dtype=torch.float32).to(dtype)
    b = torch.randn(n, n, dtype=torch.float32).to(dtype)
    out = torch.empty(n, n, dtype=dtype)
    seconds = timed(lambda: torch.matmul(a, b, out=out), repeats)
    return 2 * n**3 / seconds / 1e9


def bandwidth_gbs(n_bytes: int = 1 << 30, repeats: int = 5) -> float:
    source = torch.ones(n_bytes // 4, dtype=torch.float32)
    target = torch.empty_like(source)
    seconds = timed(lambda: target.copy_(source), repeats)
    return 2 * n_bytes / seconds / 1e9  # read + write


def decode_gemm(m: int, k: int, n: int, repeats: int = 3) -> dict:
    """``m`` token vectors times a ``k``x``n`` fp32 weight, as ``nn.Linear`` applies it, over copies of the
    weight that do not fit in a cache: GFLOP/s and the weight bytes read per second."""
    copies = max(2, CACHE_BEATING_BYTES // (4 * k * n))
    weights = [torch.randn(n, k) for _ in range(copies)]
    x = torch.randn(m, k)

    def sweep() -> None:
        for w in weights:
            torch.nn.functional.linear(x, w)

    seconds = timed(sweep, repeats) / copies
    return {"gflops": 2 * m * k * n / seconds / 1e9, "weight_gbs": 4 * k * n / seconds / 1e9, "seconds": seconds}


def decode_gemms() -> dict:
    """:func:`decode_gemm` for every decoder shape and batch, and a whole step's matmul time per batch."""
    rows = {}
    for m in DECODE_BATCHES:
        shapes = {f"{k}x{n}": decode_gemm(m, k, n) for k, n in DECODE_SHAPES}
        step = sum(count * shapes[f"{k}x{n}"]["seconds"] for (k, n), count in DECODE_SHAPES.items())
        flops = sum(count * 2 * m * k * n for (k, n), count in DECODE_SHAPES.items())
        rows[m] = {"shapes": shapes, "step_matmul_s": step, "step_gflops": flops / step / 1e9}
    return rows


def measure(threads: int) -> dict:
    torch.set_num_threads(threads)
    peaks = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        by_size = {n: matmul_gflops(n, dtype) for n in SIZES}
        peaks[name] = {"gflops": max(by_size.values()), "by_size": by_size}
    return {
        "threads": threads,
        "matmul": peaks,
        "bandwidth_gbs": bandwidth_gbs(),
        "decode_gemm": decode_gemms(),
        "isa": [flag for flag in ISA_FLAGS if flag in cpu_flags()],
        "load_average": os.getloadavg(),
        "torch": torch.__version__,
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=Path("runs/benchmarks/roofline.json"))
    args = parser.parse_args()
    result = measure(args.threads)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, default=str))
    for name, peak in result["matmul"].items():
        sizes = ", ".join(f"n={n}: {g:.0f}" for n, g in peak["by_size"].items())
        print(f"matmul {name}: peak {peak['gflops']:.0f} GFLOP/s ({sizes})")
    print(f"bandwidth: {result['bandwidth_gbs']:.1f} GB/s (1 GiB fp32 copy, read + write)")
    for m, row in result["decode_gemm"].items():
        shapes = ", ".join(f"{name}: {r['gflops']:.0f}" for name, r in row["shapes"].items())
        print(
            f"decode step, batch {m:>2}: matmuls {1e3 * row['step_matmul_s']:.1f} ms at "
            f"{row['step_gflops']:.0f} GFLOP/s fp32 ({shapes})"
        )
    print(f"bf16 / fp32 matmul peak: {result['matmul']['bf16']['gflops'] / result['matmul']['fp32']['gflops']:.2f}x")
    print(f"threads {args.threads}, ISA {', '.join(result['isa']) or 'unknown'}, load average {result['load_average']}")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
