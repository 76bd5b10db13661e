"""The Numba fallback against the compiled core, side by side in one run: the empirical denoiser
(and optionally the KDE log-density) timed alternately on both backends, median of --repeats,
with the ratio numba / cpp (issue #13: within 3x at d = 784, m = 1000, N = 20,000).

Data and queries are standard normal times --scale (0.15) with t = --t (0.5): at d = 784 the logits
-|x - x_i|^2 / 2t spread over about 1.5 (standard deviation), so the weights are neither one-hot
nor uniform (about a tenth of the points carry the weight: the "effective points" column, the
median of 1 / sum_i w_i^2, estimated on 2000 points and scaled to N). --pause seconds separate the
calls, so that neither backend's idle threads (OpenMP's, OpenBLAS's) still spin into the other's.

    python benchmarks/numba_vs_cpp.py [--repeats 5] [--shapes 1000,20000,784 10,2000,64] [--log-density]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import ledkde_fast as lk


def effective_points(x, data, t):
    """Median over the first queries of 1 / sum_i w_i^2 (the softmax's effective number of points)."""
    x64, d64 = x[:8].astype(np.float64), data.astype(np.float64)
    logits = -0.5 * ((x64[:, None, :] - d64[None, :, :]) ** 2).sum(axis=2) / t
    w = np.exp(logits - logits.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    return float(np.median(1.0 / (w * w).sum(axis=1)))


def side_by_side(fns, repeats, pause):
    """Median wall time of each function, the calls alternating (one warm-up call each first)."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            time.sleep(pause)
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(v)) for name, v in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shapes", nargs="+", default=["1000,20000,784", "10,2000,64"], help="m,N,d")
    parser.add_argument("--t", type=float, default=0.5)
    parser.add_argument("--scale", type=float, default=0.15)
    parser.add_argument("--pause", type=float, default=0.2)
    parser.add_argument("--log-density", action="store_true", help="time kde_log_density too")
    args = parser.parse_args()
    have = lk.available_backends()
    backends = [b for b in ("cpp", "numba") if b in have]
    ops = {"empirical_denoiser": lk.empirical_denoiser}
    if args.log_density:
        ops["kde_log_density"] = lk.kde_log_density
    print(f"t = {args.t}, data and queries N(0, {args.scale}^2 I); medians of {args.repeats}, alternating\n")
    print("| operation | m | N | d | dtype | effective points (est.) | " + " | ".join(f"{b} s" for b in backends)
          + " | numba / cpp |")
    print("|---|---|---|---|---|---|" + "---|" * len(backends) + "---|")
    for shape in args.shapes:
        m, n, d = (int(v) for v in shape.split(","))
        rng = np.random.default_rng(0)
        data64 = rng.standard_normal((n, d)) * args.scale
        x64 = rng.standard_normal((m, d)) * args.scale
        eff = effective_points(x64, data64[:2000], args.t) * n / min(n, 2000)
        for dtype in (np.float32, np.float64):
            x, data = x64.astype(dtype), data64.astype(dtype)
            for op, fn in ops.items():
                med = side_by_side({b: (lambda b=b: fn(x, data, args.t, backend=b)) for b in backends}, args.repeats,
                                   args.pause)
                ratio = f"{med['numba'] / med['cpp']:.2f}" if len(backends) == 2 else "-"
                print(f"| {op} | {m} | {n} | {d} | {np.dtype(dtype).name} | {eff:.0f} | "
                      + " | ".join(f"{med[b]:.4f}" for b in backends) + f" | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
