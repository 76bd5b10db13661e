"""Type stubs for ``ledkde_fast._core``, the compiled C++/OpenMP core (cpp/bindings/register_*.cpp).

Every array kernel is bound twice, for float32 and float64 queries/data (the overloads below).
Arrays marked ``noconvert`` in the bindings must already be C-contiguous with exactly the dtype
given here; ``log_weights`` and ``state_acc`` are converted to C-contiguous float64 when needed.
"""

from typing import List, Optional, Tuple, overload

import numpy as np
from numpy.typing import NDArray

compiler: str

# --- streaming log-sum-exp state (register_empirical.cpp) -------------------------------------

@overload
def lse_accumulate(
    x: NDArray[np.float32],
    data: NDArray[np.float32],
    log_weights: Optional[NDArray[np.float64]],
    t: float,
    state_max: NDArray[np.float64],
    state_sum: NDArray[np.float64],
    state_acc: Optional[NDArray[np.float64]],
    n_threads: int = 0,
    tile_m: int = 48,
    block_n: int = 256,
) -> None: ...
@overload
def lse_accumulate(
    x: NDArray[np.float64],
    data: NDArray[np.float64],
    log_weights: Optional[NDArray[np.float64]],
    t: float,
    state_max: NDArray[np.float64],
    state_sum: NDArray[np.float64],
    state_acc: Optional[NDArray[np.float64]],
    n_threads: int = 0,
    tile_m: int = 48,
    block_n: int = 256,
) -> None: ...

# --- shared-sample double-KDE (register_double_kde.cpp) ---------------------------------------

# The ignore below: type checkers treat NDArray[float32] and NDArray[float64] as possibly
# overlapping (unrelated non-final classes), the usual false positive for dtype-keyed overloads.
@overload
def matmul_nt(  # type: ignore[overload-overlap]
    z: NDArray[np.float32],
    basis: NDArray[np.float32],
    scale: float,
    n_threads: int = 0,
    tile_m: int = 48,
    block_n: int = 256,
) -> NDArray[np.float32]: ...
@overload
def matmul_nt(
    z: NDArray[np.float64],
    basis: NDArray[np.float64],
    scale: float,
    n_threads: int = 0,
    tile_m: int = 48,
    block_n: int = 256,
) -> NDArray[np.float64]: ...
@overload
def dkde_normalisers(
    x: NDArray[np.float32],
    data: NDArray[np.float32],
    log_weights: Optional[NDArray[np.float64]],
    t: float,
    c_matrix: NDArray[np.float32],
    n_threads: int = 0,
    tile_m: int = 8,
    block_n: int = 256,
) -> Tuple[NDArray[np.float64], NDArray[np.float64]]: ...
@overload
def dkde_normalisers(
    x: NDArray[np.float64],
    data: NDArray[np.float64],
    log_weights: Optional[NDArray[np.float64]],
    t: float,
    c_matrix: NDArray[np.float64],
    n_threads: int = 0,
    tile_m: int = 8,
    block_n: int = 256,
) -> Tuple[NDArray[np.float64], NDArray[np.float64]]: ...
@overload
def dkde_weighted_sum(
    x: NDArray[np.float32],
    data: NDArray[np.float32],
    log_weights: Optional[NDArray[np.float64]],
    t: float,
    c_matrix: NDArray[np.float32],
    log_norm: NDArray[np.float64],
    n_threads: int = 0,
    tile_m: int = 8,
    block_n: int = 256,
) -> NDArray[np.float64]: ...
@overload
def dkde_weighted_sum(
    x: NDArray[np.float64],
    data: NDArray[np.float64],
    log_weights: Optional[NDArray[np.float64]],
    t: float,
    c_matrix: NDArray[np.float64],
    log_norm: NDArray[np.float64],
    n_threads: int = 0,
    tile_m: int = 8,
    block_n: int = 256,
) -> NDArray[np.float64]: ...
@overload
def double_kde_accumulate(
    x: NDArray[np.float32],
    data: NDArray[np.float32],
    log_weights: Optional[NDArray[np.float64]],
    t: float,
    c_matrix: NDArray[np.float32],
    wbar: NDArray[np.float64],
    zsum: NDArray[np.float64],
    n_threads: int = 0,
    tile_m: int = 16,
    block_n: int = 256,
) -> None: ...
@overload
def double_kde_accumulate(
    x: NDArray[np.float64],
    data: NDArray[np.float64],
    log_weights: Optional[NDArray[np.float64]],
    t: float,
    c_matrix: NDArray[np.float64],
    wbar: NDArray[np.float64],
    zsum: NDArray[np.float64],
    n_threads: int = 0,
    tile_m: int = 16,
    block_n: int = 256,
) -> None: ...

@overload
def double_kde_per_query(
    x: NDArray[np.float32],
    data: NDArray[np.float32],
    log_weights: Optional[NDArray[np.float64]],
    t: float,
    c_matrix: NDArray[np.float32],
    wbar: NDArray[np.float64],
    zsum: NDArray[np.float64],
    n_threads: int = 0,
    tile_m: int = 16,
    block_n: int = 256,
) -> None: ...
@overload
def double_kde_per_query(
    x: NDArray[np.float64],
    data: NDArray[np.float64],
    log_weights: Optional[NDArray[np.float64]],
    t: float,
    c_matrix: NDArray[np.float64],
    wbar: NDArray[np.float64],
    zsum: NDArray[np.float64],
    n_threads: int = 0,
    tile_m: int = 16,
    block_n: int = 256,
) -> None: ...

# --- exact k-nearest neighbours (register_knn.cpp) ---------------------------------------------

@overload
def knn_select(
    x: NDArray[np.float32],
    data: NDArray[np.float32],
    k: int,
    n_threads: int = 0,
    tile_m: int = 96,
    block_n: int = 256,
) -> NDArray[np.int64]: ...
@overload
def knn_select(
    x: NDArray[np.float64],
    data: NDArray[np.float64],
    k: int,
    n_threads: int = 0,
    tile_m: int = 96,
    block_n: int = 256,
) -> NDArray[np.int64]: ...

# --- build and run-time configuration (register_info.cpp) --------------------------------------

def compiled_isas() -> List[str]: ...
def active_isa() -> str: ...
def select_isa(name: str) -> None: ...
def openmp_enabled() -> bool: ...
def max_threads() -> int: ...

# --- kernel draws (register_draws.cpp) ----------------------------------------------------------

def orthogonal_rows(z: NDArray[np.float64], n_threads: int = 0) -> None: ...
def normal_rows(seed: int, n: int, r: int, n_threads: int = 0) -> NDArray[np.float64]: ...
