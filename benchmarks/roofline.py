"""The machine's own limits, measured through torch: matmul peak in fp32 and bf16, and memory bandwidth.

Every other benchmark can then say how far a phase is from what this machine can do: achieved GFLOP/s
(FLOPs counted from the model's config) as a fraction of the matmul peak, and the time of a
memory-bound phase (a decoder step reads every weight once) against the bandwidth.

- **matmul peak**: the best of several square GEMMs (n = 1024, 2048, 4096; 2·n³ FLOPs each), each timed
  as the median of repeated calls after a warm-up, in fp32 and in bf16 (bf16 runs on the CPU's AMX or
  AVX-512 BF16 units where it has them: the ISA flags are printed);
- **bandwidth**: copying a 1 GiB fp32 tensor into another (bytes read + bytes written) per second.

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
    print(f"bf16 / fp32 matmul peak: {result['matmul']['bf16']['gflops'] / result['matmul']['fp32']['gflops']:.2f}x")
    print(f"threads {args.threads}, ISA {', '.join(result['isa']) or 'unknown'}, load average {result['load_average']}")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
