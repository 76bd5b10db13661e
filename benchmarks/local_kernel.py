"""What the local kernel (kernels.Local) costs, side by side in one run (issue #12):

* one ``smoothed_score`` call with ``Local(rank)`` against ``rank`` empirical-score calls on the same
  queries and data (the issue's yardstick: "a call costs about r empirical calls");
* the issue's speed target: a 64-sample, 60-step, 64-draw ``sample`` on 300 images of one digit;
* wall time and process CPU time (the CPU time is the honest figure on a shared machine).

Pairs alternate (local call, r empirical calls) and the medians and the median ratio are printed.
Sizes are ours; MNIST "3"s when the offline subset is installed (``ledkde_fast[mnist]``), else
synthetic blob images of the same shape.

    python benchmarks/local_kernel.py [--rank 8] [--pairs 7] [--dtype float32]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import ledkde_fast as lk
from ledkde_fast import datasets
from ledkde_fast.kernels import Local


def images(n: int) -> tuple[np.ndarray, str]:
    try:
        return datasets.load_mnist(digits=3, n=n, seed=0).points, "MNIST 3s"
    except (FileNotFoundError, ImportError):
        rng = np.random.default_rng(0)
        grid = np.stack(np.meshgrid(np.arange(28), np.arange(28)), axis=-1).reshape(-1, 2)
        centres = rng.uniform(8, 20, size=(n, 2))
        widths = rng.uniform(3, 6, size=(n, 1))
        return np.exp(-((grid[None] - centres[:, None]) ** 2).sum(-1) / (2 * widths**2)), "synthetic blobs"


def timed(fn) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--bandwidth", type=float, default=4.0)
    args = parser.parse_args()
    data, name = images(300)
    data = data.astype(args.dtype)
    x = (data[:64] + np.random.default_rng(1).normal(scale=1.0, size=(64, data.shape[1]))).astype(args.dtype)
    t, kernel = 0.5, Local(args.rank)

    def local_call():
        lk.smoothed_score(x, data, t, bandwidth=args.bandwidth, kernel=kernel, n_kernel=64, seed=0)

    def empirical_calls():
        for _ in range(args.rank):
            lk.empirical_score(x, data, t)

    local_call(), empirical_calls()  # warm-up
    rows = []
    for _ in range(args.pairs):
        rows.append(timed(local_call) + timed(empirical_calls))
    rows_arr = np.array(rows)
    print(f"{name}, N = 300, d = {data.shape[1]}, 64 queries, 64 draws, rank {args.rank}, {args.dtype}")
    print(f"one Local smoothed_score call: wall {np.median(rows_arr[:, 0]) * 1e3:.1f} ms, "
          f"cpu {np.median(rows_arr[:, 1]) * 1e3:.1f} ms")
    print(f"{args.rank} empirical_score calls:      wall {np.median(rows_arr[:, 2]) * 1e3:.1f} ms, "
          f"cpu {np.median(rows_arr[:, 3]) * 1e3:.1f} ms")
    print(f"median ratio local / {args.rank} empirical: wall {np.median(rows_arr[:, 0] / rows_arr[:, 2]):.2f}, "
          f"cpu {np.median(rows_arr[:, 1] / rows_arr[:, 3]):.2f}")
    runs = [timed(lambda s=s: lk.sample(data, 64, bandwidth=args.bandwidth, kernel=kernel, n_kernel=64, n_steps=60,
                                        seed=s)) for s in range(3)]
    print(f"sample(64 samples, 60 steps, 64 draws): wall {np.median([r[0] for r in runs]):.2f} s, "
          f"cpu {np.median([r[1] for r in runs]):.2f} s (median of 3)")


if __name__ == "__main__":
    main()
