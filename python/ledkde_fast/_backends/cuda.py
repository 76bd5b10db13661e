"""The CUDA backend (opt-in, never chosen by ``backend="auto"``): thin calls into the optional
``ledkde_fast._core_cuda`` module, built with ``-Ccmake.define.LEDKDE_USE_CUDA=ON``.

It offers the log-sum-exp accumulation and the one-pass double-KDE loop. It has no two-round
double-KDE kernels (so a sharded data set cannot be smoothed on it) and no nearest-neighbour
selection: asking for those raises a ValueError naming the backend.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .. import _core_cuda
from .._lse import LseState

SMOOTHS_BY_DEFINITION = False
TWO_ROUNDS_FOR_LARGE_PROBLEMS = False


def lse_accumulate(x: np.ndarray, data: np.ndarray, log_w: Optional[np.ndarray], t: float, state: LseState,
                   n_threads: int = 0) -> None:
    mx, sm, acc = _core_cuda.lse_state(x, data, log_w, t, state.acc is not None)
    state.merge_rows(slice(None), LseState(mx, sm, acc))


def double_kde_accumulate(x: np.ndarray, data: np.ndarray, log_w: Optional[np.ndarray], t: float,
                          c_matrix: np.ndarray, wbar: np.ndarray, zsum: np.ndarray, n_threads: int = 0) -> None:
    _core_cuda.double_kde_accumulate(x, data, log_w, t, c_matrix, wbar, zsum)


def matmul_nt(a: np.ndarray, b: np.ndarray, scale: float, n_threads: int = 0) -> np.ndarray:
    # The draws' logits C are formed on the host; the GPU module has no GEMM.
    from .reference import matmul_nt as host_matmul_nt

    return host_matmul_nt(a, b, scale, n_threads)
