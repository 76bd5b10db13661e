"""Side-by-side speed of the kernel-smoothed score: the shared-sample double-KDE (one GEMM for C per
call, then the fused exp loop) against the brute-force estimator written with NumPy + BLAS (fresh
kernel draws for every query, one GEMM per query), measured in this one run. Medians of --repeats.

    python benchmarks/compare_smoothed.py [--m 256 --n 1000 --d 784 --n-kernel 4096] [--repeats 3]
"""

from __future__ import annotations

import argparse

import numpy as np
from _timing import median_time

import ledkde_fast as lk


def brute_force_smoothed_score(x, data, t, h, n_kernel, rng):
    """mean_j s_t(x - Y_j) with fresh Y_j ~ N(0, h^2 I) per query: a GEMM for the logits and one for the
    weighted sum per query, softmax in between."""
    half_sq = 0.5 * np.einsum("nd,nd->n", data, data)
    out = np.empty_like(x)
    inv_t = x.dtype.type(1.0 / t)
    for q in range(x.shape[0]):
        shifted = x[q] - (h * rng.standard_normal((n_kernel, x.shape[1]))).astype(x.dtype)
        logits = (shifted @ data.T - half_sq) * inv_t
        logits -= logits.max(axis=1, keepdims=True)
        w = np.exp(logits)
        w /= w.sum(axis=1, keepdims=True)
        out[q] = ((w @ data - shifted).mean(axis=0)) * inv_t
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--m", type=int, default=256)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--d", type=int, default=784)
    parser.add_argument("--n-kernel", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtypes", default="float32,float64")
    args = parser.parse_args()
    m, n, d, nk = args.m, args.n, args.d, args.n_kernel
    print(f"m={m} N={n} d={d} n_kernel={nk}; kernel-weight throughput = m * n_kernel * N / time\n")
    print("| dtype | estimator | median s | kernel weights / s | speed-up |")
    print("|---|---|---|---|---|")
    for name in args.dtypes.split(","):
        dtype = np.dtype(name)
        rng = np.random.default_rng(0)
        data = rng.standard_normal((n, d)).astype(dtype)
        x = (data[:m] + 0.5 * rng.standard_normal((m, d))).astype(dtype)
        t, h = 0.05 * d, 0.5
        shared = median_time(lambda: lk.smoothed_score(x, data, t, h, n_kernel=nk, seed=1), args.repeats)
        brute = median_time(lambda: brute_force_smoothed_score(x, data, t, h, nk, rng), args.repeats)
        for label, sec in (("shared-sample (ledkde_fast)", shared), ("brute force NumPy+BLAS", brute)):
            print(f"| {name} | {label} | {sec:.3f} | {m * nk * n / sec:.3g} | {brute / sec:.1f} |")


if __name__ == "__main__":
    main()
