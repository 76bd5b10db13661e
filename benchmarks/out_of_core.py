"""Out-of-core check: one sampler step over an 8,000,000 x 64 float32 array on disk (about 2 GB),
streamed in row slabs, with the process's peak RSS; and, on a smaller array, equality of the
streamed and the in-memory results. Not part of CI (it writes 2 GB).

    python benchmarks/out_of_core.py [--rows 8000000] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
import time

import numpy as np


def write_array(path, rows, d, chunk=1_000_000):
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, d))
    rng = np.random.default_rng(0)
    for start in range(0, rows, chunk):
        stop = min(rows, start + chunk)
        out[start:stop] = rng.standard_normal((stop - start, d), dtype=np.float32)
    out.flush()
    del out


STEP = textwrap.dedent("""
    import sys, time, numpy as np, ledkde_fast as lk
    data = np.load(sys.argv[1], mmap_mode="r")
    bandwidth = float(sys.argv[2])
    start = time.perf_counter()
    s = lk.sample(data, 100, bandwidth=bandwidth, n_kernel=32, t_max=10.0, t_min=5.0, n_steps=1, seed=0)
    seconds = time.perf_counter() - start
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
    print(int(hwm.split()[1]) // 1024, round(seconds, 1), bool(np.isfinite(s).all()))
""")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=8_000_000)
    parser.add_argument("--dir", default="/tmp")
    args = parser.parse_args()
    d = 64
    big = os.path.join(args.dir, "ledkde_out_of_core.npy")
    if not os.path.exists(big) or np.load(big, mmap_mode="r").shape != (args.rows, d):
        start = time.perf_counter()
        write_array(big, args.rows, d)
        print(f"wrote {args.rows} x {d} float32 ({os.path.getsize(big) / 2**30:.2f} GiB) "
              f"in {time.perf_counter() - start:.0f} s")
    print("| sampler step (100 samples) | peak RSS (MB) | seconds |")
    print("|---|---|---|")
    for bandwidth in (0.0, 0.5):
        out = subprocess.run([sys.executable, "-c", STEP, big, str(bandwidth)], capture_output=True, text=True,
                             check=True)
        peak, seconds, finite = out.stdout.split()
        assert finite == "True"
        print(f"| bandwidth {bandwidth} | {peak} | {seconds} |")
    # equality on a smaller array: streamed from disk versus in memory (float64, exact merges)
    import ledkde_fast as lk
    from ledkde_fast import _streaming

    small = os.path.join(args.dir, "ledkde_out_of_core_small.npy")
    rng = np.random.default_rng(1)
    np.save(small, rng.standard_normal((200_000, d)))
    mm = np.load(small, mmap_mode="r")
    _streaming.SLAB_BYTES = 8 << 20  # several slabs
    kw = dict(bandwidth=0.5, n_kernel=16, t_max=10.0, t_min=5.0, n_steps=2, seed=0)
    a = lk.sample(mm, 20, **kw)
    b = lk.sample(np.load(small), 20, **kw)
    rel = np.abs(a - b).max() / np.abs(b).max()
    print(f"streamed vs in-memory (200,000 x 64, float64): max relative difference {rel:.2e}")


if __name__ == "__main__":
    main()
