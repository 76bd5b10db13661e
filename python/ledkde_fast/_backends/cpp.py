"""The C++/OpenMP backend: thin calls into the compiled module ``ledkde_fast._core``."""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from .. import _core, _env
from .._lse import LseState
from .reference import matmul_nt as numpy_matmul_nt

#: Queries per OpenMP task and data points per packed block (tuned on the build machine).
TILE_M = 96
BLOCK_N = 256
#: Smallest packed block (a multiple of 32).
SMALL_BLOCK_N = 32
#: Queries per task of the double-KDE loop (each holds two rows of length N; each task streams the
#: whole C matrix, so larger tiles read it less often).
DKDE_TILE = 16
#: Products of at most this many multiply-adds go to NumPy's BLAS: there the core's call costs tens
#: of microseconds of packing and thread start-up (46 us against NumPy's 3 us for 300 x 2 x 40, a
#: sampler step's weighted sums on a 40-point circle), and OpenBLAS keeps them on the calling thread
#: (it starts its threads above 65,536 x 4 multiply-adds), so no BLAS thread is left spinning.
SMALL_PRODUCT = 1 << 18

#: The reference evaluates the smoothed quantities by their definition; this backend by the
#: shared-sample factorisation (docs/design.rst, "The double-KDE factorisation").
SMOOTHS_BY_DEFINITION = False
#: For a large (queries x N) weight accumulator, the two-round kernels (normalisers, then weighted
#: sums over cache-sized data slabs) replace the one-pass loop: O(m x draws) memory instead.
TWO_ROUNDS_FOR_LARGE_PROBLEMS = True

_isa = os.environ.get(_env.ISA, "").strip().lower()
if _isa:
    _core.select_isa(_isa)


def build_info() -> dict:
    """Compiler, OpenMP, thread count and instruction sets of the compiled core."""
    return {
        "compiler": _core.compiler,
        "openmp": _core.openmp_enabled(),
        "max_threads": _core.max_threads(),
        "isas_compiled": _core.compiled_isas(),
        "isa_active": _core.active_isa(),
    }


def lse_accumulate(x: np.ndarray, data: np.ndarray, log_w: Optional[np.ndarray], t: float, state: LseState,
                   n_threads: int, *, tile_m: int = TILE_M, block_n: int = BLOCK_N) -> None:
    mx, sm, acc = state
    _core.lse_accumulate(x, data, log_w, t, mx, sm, acc, n_threads, tile_m, block_n)


def double_kde_accumulate(x: np.ndarray, data: np.ndarray, log_w: Optional[np.ndarray], t: float,
                          c_matrix: np.ndarray, wbar: np.ndarray, zsum: np.ndarray, n_threads: int, *,
                          tile_m: int = DKDE_TILE, block_n: int = BLOCK_N) -> None:
    _core.double_kde_accumulate(x, data, log_w, t, c_matrix, wbar, zsum, n_threads, tile_m, block_n)


def double_kde_per_query(x: np.ndarray, data: np.ndarray, log_w: Optional[np.ndarray], t: float,
                         c_matrix: np.ndarray, wbar: np.ndarray, zsum: np.ndarray, n_threads: int, *,
                         tile_m: int = DKDE_TILE, block_n: int = BLOCK_N) -> None:
    _core.double_kde_per_query(x, data, log_w, t, c_matrix, wbar, zsum, n_threads, tile_m, block_n)


def dkde_normalisers(x: np.ndarray, data: np.ndarray, log_w: Optional[np.ndarray], t: float, c_matrix: np.ndarray,
                     n_threads: int) -> tuple[np.ndarray, np.ndarray]:
    return _core.dkde_normalisers(x, data, log_w, t, c_matrix, n_threads)


def dkde_weighted_sum(x: np.ndarray, data: np.ndarray, log_w: Optional[np.ndarray], t: float, c_matrix: np.ndarray,
                      log_norm: np.ndarray, n_threads: int) -> np.ndarray:
    return _core.dkde_weighted_sum(x, data, log_w, t, c_matrix, np.ascontiguousarray(log_norm), n_threads)


def matmul_nt(a: np.ndarray, b: np.ndarray, scale: float, n_threads: int) -> np.ndarray:
    # In the core's own threads: a multithreaded BLAS call just before the double-KDE loop leaves
    # its threads spinning on the cores the loop needs (the loop measured 20 % slower after one).
    b = np.ascontiguousarray(b)
    if a.shape[0] * a.shape[1] * b.shape[0] <= SMALL_PRODUCT:
        return numpy_matmul_nt(a, b, scale)
    # b's rows are packed in blocks of block_n: for a few rows (a small training set's C matrix)
    # the smallest block wastes least (7x faster for 10 rows than blocks of 256)
    block_n = SMALL_BLOCK_N if b.shape[0] <= SMALL_BLOCK_N else BLOCK_N
    return _core.matmul_nt(np.ascontiguousarray(a, dtype=b.dtype), b, scale, n_threads, block_n=block_n)


def knn_select(x: np.ndarray, data: np.ndarray, k: int, n_threads: int) -> np.ndarray:
    return _core.knn_select(x, data, k, n_threads)


def orthogonal_rows(z: np.ndarray) -> None:
    _core.orthogonal_rows(z)


def normal_rows(seed: int, n: int, r: int) -> np.ndarray:
    return _core.normal_rows(seed, n, r)
