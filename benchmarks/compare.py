"""Side-by-side speed of the empirical denoiser: the compiled core against a blocked NumPy + BLAS
implementation (GEMM per data block + online log-sum-exp), the Numba backend, and the machine's
GEMM roofline, all measured in this one run. Prints a markdown table; medians of --repeats runs.

    python benchmarks/compare.py [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse

import numpy as np

import ledkde_fast as lk
from _timing import median_time


def blocked_numpy_denoiser(x, data, t, block=4096):
    """The strongest plain-NumPy baseline: BLAS GEMM per data block, online log-sum-exp merge."""
    m = x.shape[0]
    mx = np.full(m, -np.inf)
    sm = np.zeros(m)
    acc = np.zeros((m, x.shape[1]), dtype=x.dtype)
    inv_t = x.dtype.type(1.0 / t)
    for start in range(0, data.shape[0], block):
        blk = data[start:start + block]
        logits = (x @ blk.T - 0.5 * np.einsum("nd,nd->n", blk, blk)) * inv_t
        new_max = np.maximum(mx, logits.max(axis=1))
        scale = np.exp(mx - new_max)
        w = np.exp(logits - new_max[:, None].astype(x.dtype))
        sm = sm * scale + w.sum(axis=1, dtype=np.float64)
        acc = acc * scale[:, None].astype(x.dtype) + w @ blk
        mx = new_max
    return acc / sm[:, None]


def gemm_roofline(dtype, repeats):
    """GFLOP/s of a large BLAS GEMM on this machine, now."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2000, 784)).astype(dtype)
    b = rng.standard_normal((784, 4000)).astype(dtype)
    return 2 * 2000 * 784 * 4000 / median_time(lambda: a @ b, repeats) / 1e9


def run(cases, repeats, with_numba):
    rows = []
    roof = {dt: gemm_roofline(dt, repeats) for dt in (np.float32, np.float64)}
    for m, n, d in cases:
        for dtype in (np.float32, np.float64):
            rng = np.random.default_rng(0)
            data = rng.standard_normal((n, d)).astype(dtype)
            x = rng.standard_normal((m, d)).astype(dtype)
            t = float(d)
            flops = 4.0 * m * n * d
            timings = {
                "cpp": median_time(lambda: lk.empirical_denoiser(x, data, t, backend="cpp"), repeats),
                "numpy_blocked": median_time(lambda: blocked_numpy_denoiser(x, data, t), repeats),
            }
            if with_numba:
                timings["numba"] = median_time(lambda: lk.empirical_denoiser(x, data, t, backend="numba"), repeats)
            rows.append((m, n, d, np.dtype(dtype).name, timings, flops, roof[dtype]))
    return roof, rows


def print_table(roof, rows):
    print(f"GEMM roofline measured in this run: float32 {roof[np.float32]:.0f} GFLOP/s, "
          f"float64 {roof[np.float64]:.0f} GFLOP/s\n")
    print("| m | N | d | dtype | backend | median s | GFLOP/s (4mNd) | % of GEMM roofline | speed-up vs NumPy blocked |")
    print("|---|---|---|---|---|---|---|---|---|")
    for m, n, d, dtype, timings, flops, r in rows:
        base = timings["numpy_blocked"]
        for name, sec in timings.items():
            gf = flops / sec / 1e9
            print(f"| {m} | {n} | {d} | {dtype} | {name} | {sec:.4f} | {gf:.1f} | {100 * gf / r:.0f}% | {base / sec:.2f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--numba", action="store_true", help="include the Numba backend")
    args = parser.parse_args()
    cases = [(100, 2000, 784), (100, 10000, 16)] if args.quick else [(1000, 20000, 784), (1000, 100000, 16)]
    roof, rows = run(cases, args.repeats, args.numba)
    print_table(roof, rows)


if __name__ == "__main__":
    main()
