"""What the sampler costs beyond its core calls: 100 reverse-diffusion steps on 1000 samples over
5000 MNIST-sized points (d = 784) at bandwidth 0, against 100 single ``empirical_denoiser`` calls
on the same arrays. Run in pairs, side by side; prints each pair's ratio and the median.

    python benchmarks/sampler_overhead.py [--pairs 3] [--dtype float32]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import ledkde_fast as lk


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    data = rng.uniform(0.0, 1.0, size=(5000, 784)).astype(args.dtype)
    x = rng.normal(size=(1000, 784)).astype(args.dtype)
    t = 1.0

    def sampler():
        lk.sample(data, 1000, n_steps=args.steps, bandwidth=0.0, seed=1)

    def core_calls():
        for _ in range(args.steps):
            lk.empirical_denoiser(x, data, t)

    lk.empirical_denoiser(x[:10], data, t)  # warm-up: first touch of the pooled buffers
    ratios = []
    for pair in range(args.pairs):
        start = time.perf_counter()
        sampler()
        t_sampler = time.perf_counter() - start
        start = time.perf_counter()
        core_calls()
        t_core = time.perf_counter() - start
        ratios.append(t_sampler / t_core)
        print(f"pair {pair}: sampler {t_sampler:.2f} s, {args.steps} core calls {t_core:.2f} s, "
              f"ratio {ratios[-1]:.3f}")
    print(f"median ratio ({args.dtype}): {np.median(ratios):.3f}")


if __name__ == "__main__":
    main()
