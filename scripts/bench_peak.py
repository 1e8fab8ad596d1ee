"""The machine's matmul peak: GFLOP/s of square float32 and bfloat16 matrix products with torch.

Every RNN workload in the benchmark suite can be read as a fraction of this figure (a GRU step is
a few matmuls: FLOPs per token ≈ 2 × parameters in the recurrent and output layers, × 3 for
forward + backward), which says how much of the hardware a training loop leaves unused.

    python scripts/bench.py peak                      # or: python scripts/bench_peak.py --sizes 1024 2048
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file, find `scripts`
from scripts.bench_table import ratio_table  # noqa: E402

MEASURED: dict[str, float] = {}
"""Peak GFLOP/s by dtype name, once `main` has run in this process (read by `bench_flops.peak_gflops`)."""


def matmul_gflops(size: int, dtype: torch.dtype, repeats: int) -> float:
    """Best-of-`repeats` GFLOP/s of one (size x size) @ (size x size) product in `dtype`."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(dtype)
    b = torch.randn(size, size, generator=generator).to(dtype)
    torch.mm(a, b)  # warm-up: kernel selection, page faults
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args, _ = parser.parse_known_args(argv)  # other sections' flags pass through `scripts/bench.py`
    results: dict = {"threads": torch.get_num_threads(), "gflops": {}}
    for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        rates = {size: matmul_gflops(size, dtype, args.repeats) for size in args.sizes}
        results["gflops"][name] = {"by_size": rates, "peak": max(rates.values())}
        MEASURED[name] = max(rates.values())
    peak = results["gflops"]
    results["bfloat16_vs_float32"] = peak["bfloat16"]["peak"] / peak["float32"]["peak"]
    results["tables"] = [ratio_table(
        "matmul peak", "GFLOP/s", {name: peak[name]["peak"] for name in peak}, "float32", "bfloat16",
        f"square products of {', '.join(map(str, args.sizes))}, {results['threads']} threads, best of {args.repeats}",
        notes={name: "by size: " + ", ".join(f"{size}: {rate:,.0f}" for size, rate in peak[name]["by_size"].items())
               for name in peak})]
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
