"""Type stubs for ``ledkde_fast._core_cuda``, the optional CUDA module (cpp/bindings/cuda_module.cpp).

Built only with ``-Ccmake.define.LEDKDE_USE_CUDA=ON``. Each array kernel is bound for float32 and
float64 queries/data (the overloads below).
"""

from typing import Optional, Tuple, overload

import numpy as np
from numpy.typing import NDArray

def device_count() -> int: ...
def device_name(device: int = 0) -> str: ...
@overload
def lse_state(
    x: NDArray[np.float32],
    data: NDArray[np.float32],
    log_weights: Optional[NDArray[np.float64]],
    t: float,
    want_acc: bool,
) -> Tuple[NDArray[np.float64], NDArray[np.float64], Optional[NDArray[np.float64]]]: ...
@overload
def lse_state(
    x: NDArray[np.float64],
    data: NDArray[np.float64],
    log_weights: Optional[NDArray[np.float64]],
    t: float,
    want_acc: bool,
) -> Tuple[NDArray[np.float64], NDArray[np.float64], Optional[NDArray[np.float64]]]: ...
@overload
def double_kde_accumulate(
    x: NDArray[np.float32],
    data: NDArray[np.float32],
    log_weights: Optional[NDArray[np.float64]],
    t: float,
    c_matrix: NDArray[np.float32],
    wbar: NDArray[np.float64],
    zsum: NDArray[np.float64],
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
) -> None: ...
