"""Measurement behind the "own micro-kernels or a BLAS per tile" decision (docs/design.rst,
"Where the time goes, and the limit"; the numbers are in docs/performance.rst, "Run-time dispatch,
and why not a BLAS inside the core").

Times, on one thread, (a) the GEMMs that one tile of the fused kernel needs, done by
scipy-openblas32's sgemm/dgemm (the DYNAMIC_ARCH OpenBLAS NumPy ships, called through ctypes with
its threads set to 1, as it would run inside our OpenMP region), against (b) the whole fused
empirical kernel on one thread (both products, exp and the online merge). Requires
``pip install scipy-openblas32``; not part of the package.

    python benchmarks/blas_tile.py
"""

from __future__ import annotations

import ctypes
import os

import numpy as np
from _timing import median_time

import ledkde_fast as lk

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112


def load_openblas():
    import scipy_openblas32 as sob

    lib = ctypes.CDLL(os.path.join(sob.get_lib_dir(), "libscipy_openblas.so"))
    lib.scipy_openblas_set_num_threads(1)
    return lib


def gemm(lib, a, b, trans_b):
    """C = A . B^T (trans_b) or A . B, row-major, through cblas."""
    m, k = a.shape
    n = b.shape[0] if trans_b else b.shape[1]
    c = np.empty((m, n), dtype=a.dtype)
    fn = lib.scipy_cblas_sgemm if a.dtype == np.float32 else lib.scipy_cblas_dgemm
    scalar = ctypes.c_float if a.dtype == np.float32 else ctypes.c_double
    fn(ROW_MAJOR, NO_TRANS, TRANS if trans_b else NO_TRANS, m, n, k, scalar(1.0), a.ctypes.data_as(ctypes.c_void_p),
       k, b.ctypes.data_as(ctypes.c_void_p), b.shape[1], scalar(0.0), c.ctypes.data_as(ctypes.c_void_p), n)
    return c


def main():
    lib = load_openblas()
    m, n, d, block = 1000, 20000, 784, 256
    print("one thread; m=1000 queries, N=20000 points, d=784; tiles of 96 queries x 256 points\n")
    print("| dtype | BLAS GEMMs of the tiles (logits + weighted sum) | fused kernel, everything | BLAS GFLOP/s "
          "| fused GFLOP/s (4mNd) |")
    print("|---|---|---|---|---|")
    for dtype in (np.float32, np.float64):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((96, d)).astype(dtype)
        blk = rng.standard_normal((block, d)).astype(dtype)
        w = rng.random((96, block)).astype(dtype)
        tiles = (m / 96) * (n / block)

        def tile_gemms():
            gemm(lib, x, blk, True)   # logits: 96 x 256
            gemm(lib, w, blk, False)  # weighted sum: 96 x 784

        blas = median_time(tile_gemms, 20) * tiles
        data = rng.standard_normal((n, d)).astype(dtype)
        queries = rng.standard_normal((m, d)).astype(dtype)
        fused = median_time(lambda: lk.empirical_denoiser(queries, data, float(d), n_threads=1), 3)
        flops = 4.0 * m * n * d
        print(f"| {np.dtype(dtype).name} | {blas:.3f} s | {fused:.3f} s | {flops / blas / 1e9:.0f} "
              f"| {flops / fused / 1e9:.0f} |")


if __name__ == "__main__":
    main()
