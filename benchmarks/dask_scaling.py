"""Scaling of the sharded reductions on a Dask LocalCluster of this machine (1 and 2 worker
processes) against the local call, and the communication volume per call (or sampler step).

    python benchmarks/dask_scaling.py [--n 1000000] [--d 16] [--m 256] [--n-kernel 64] [--repeats 3]
"""

from __future__ import annotations

import argparse

import numpy as np
from _timing import median_time

import ledkde_fast as lk
from ledkde_fast.distributed import ShardedData, communication_bytes


def main():
    from distributed import Client, LocalCluster

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=16)
    parser.add_argument("--m", type=int, default=256)
    parser.add_argument("--n-kernel", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    data = rng.standard_normal((args.n, args.d)).astype(np.float32)
    x = rng.standard_normal((args.m, args.d)).astype(np.float32)
    t, h = 0.5, 0.3
    ops = {
        "empirical_denoiser": lambda D: lk.empirical_denoiser(x, D, t),
        "smoothed_score": lambda D: lk.smoothed_score(x, D, t, h, n_kernel=args.n_kernel, seed=0),
    }
    local = {name: median_time(lambda: op(data), args.repeats) for name, op in ops.items()}
    print(f"N={args.n} d={args.d} m={args.m} n_kernel={args.n_kernel} float32; medians of {args.repeats}\n")
    print("| operation | local s | workers x threads | shards | Dask s | Dask / local |")
    print("|---|---|---|---|---|---|")
    for workers, threads in ((1, 2), (2, 1)):
        with LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster, Client(cluster) as client:
            shards = 2 * workers
            cuts = np.linspace(0, args.n, shards + 1).astype(int)
            sd = ShardedData.from_arrays([data[a:b] for a, b in zip(cuts[:-1], cuts[1:])], client=client)
            for name, op in ops.items():
                sec = median_time(lambda: op(sd), args.repeats)
                print(f"| {name} | {local[name]:.3f} | {workers} x {threads} | {shards} | {sec:.3f} "
                      f"| {sec / local[name]:.2f} |")
    print("\nCommunication per call (bytes, client <-> workers), from the protocol:")
    print("| m | d | n_kernel | shards | empirical: client out / back in all | smoothed: client out / back in all |")
    print("|---|---|---|---|---|---|")
    for m, d, nk, s in ((256, 16, 64, 4), (1000, 64, 256, 4), (1000, 784, 1024, 8), (1000, 784, 1024, 64)):
        v = communication_bytes(m, d, nk, s, itemsize=4)
        e, sm = v["empirical"], v["smoothed"]
        print(f"| {m} | {d} | {nk} | {s} | {e['to_workers']:,} / {e['from_workers']:,} | "
              f"{sm['to_workers']:,} / {sm['from_workers']:,} |")


if __name__ == "__main__":
    main()
