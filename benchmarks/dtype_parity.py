"""float32 against float64 at every shape the asv suite times (issue #13: "float32 is never slower than
float64"), side by side: for each shape the two dtypes alternate ``--pairs`` times on the same seeded
problem and the median of the per-pair ratios t32 / t64 is printed (a ratio above 1 is a failure of
that promise). Shapes are those of benchmarks/benchmarks/*.py.

    python benchmarks/dtype_parity.py [--pairs 5] [--quick]
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np

import ledkde_fast as lk
from ledkde_fast.kernels import Local


def problem(m: int, n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, d)), rng.normal(size=(n, d)), float(d)


def cases(quick: bool) -> list[tuple[str, Callable[[np.dtype], Callable[[], object]]]]:
    out = []
    for m, n, d in [(256, 2000, 3), (256, 2000, 784), (1000, 20000, 16), (1000, 20000, 784)][: 2 if quick else None]:
        def empirical(dt, m=m, n=n, d=d):
            x, data, t = problem(m, n, d)
            x, data = x.astype(dt), data.astype(dt)
            return lambda: lk.empirical_denoiser(x, data, t)
        out.append((f"empirical_denoiser m={m} N={n} d={d}", empirical))
    for m, d, k in [(64, 16, 256), (256, 784, 1024)][: 1 if quick else None]:
        def smoothed(dt, m=m, d=d, k=k):
            x, data, t = problem(m, 1000, d)
            x, data = x.astype(dt), data.astype(dt)
            return lambda: lk.smoothed_score(x, data, t, 0.5, n_kernel=k, seed=0)
        out.append((f"smoothed_score m={m} N=1000 d={d} n_kernel={k}", smoothed))

    def small(dt):
        x, data, _ = problem(10, 10, 784)
        x, data = x.astype(dt), data.astype(dt)
        return lambda: lk.smoothed_score(x, data, 0.5, 1.1, n_kernel=50_000, seed=0)
    out.append(("smoothed_score m=10 N=10 d=784 n_kernel=50000", small))

    def small_sample(dt):
        _, data, _ = problem(10, 10, 784)
        data = data.astype(dt)
        return lambda: lk.sample(data, 10, bandwidth=1.1, n_kernel=50_000, n_steps=20 if quick else 100, seed=0)
    out.append(("sample 10 samples N=10 d=784 n_kernel=50000", small_sample))

    def brute(dt):
        x, data, _ = problem(10, 10, 784)
        x, data = x.astype(dt), data.astype(dt)
        return lambda: lk.smoothed_score(x, data, 0.5, 1.1, n_kernel=1024, independent=True, seed=0)
    out.append(("smoothed_score independent m=10 N=10 d=784 n_kernel=1024", brute))

    def local(dt):
        x, data, _ = problem(64, 300, 784)
        x, data = x.astype(dt), data.astype(dt)
        return lambda: lk.smoothed_score(x, data, 0.5, 4.0, kernel=Local(8), n_kernel=64, seed=0)
    out.append(("smoothed_score Local(8) m=64 N=300 d=784 n_kernel=64", local))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print("| shape | float32 (ms) | float64 (ms) | median t32/t64 |")
    print("|---|---|---|---|")
    worst = 0.0
    for name, make in cases(args.quick):
        f32, f64 = make(np.dtype(np.float32)), make(np.dtype(np.float64))
        f32(), f64()  # warm-up
        t32, t64 = [], []
        for _ in range(args.pairs):
            for fn, out in ((f32, t32), (f64, t64)):
                start = time.perf_counter()
                fn()
                out.append(time.perf_counter() - start)
        ratio = float(np.median(np.array(t32) / np.array(t64)))
        worst = max(worst, ratio)
        print(f"| {name} | {np.median(t32) * 1e3:.1f} | {np.median(t64) * 1e3:.1f} | {ratio:.2f} |", flush=True)
    print(f"worst median ratio: {worst:.2f}")


if __name__ == "__main__":
    main()
