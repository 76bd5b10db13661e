"""Exact k-nearest neighbours through the blocked kernels: no m x N distance matrix."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np
from numpy.typing import ArrayLike

from ._backends import BackendName, resolve_name
from ._data import as_source
from ._validation import as_int, as_queries, as_threads

if TYPE_CHECKING:
    from .distributed import ShardedData

__all__ = ["nearest_neighbors"]


def nearest_neighbors(x: ArrayLike, data: ArrayLike | ShardedData, k: int = 1, *, backend: BackendName = "auto",
                      n_threads: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest training points of each query.

    The selection streams over the data in blocks (and over slabs or shards for out-of-core and
    sharded data); the distances of the selected points are then recomputed exactly in float64, so
    rounding in the selection cannot misorder them.

    Parameters
    ----------
    x : array_like, shape (m, d) or (d,)
        Query points; a 1-D ``x`` is one point and gives 1-D results.
    data : array_like, shape (N, d), or ShardedData
        Training points (a memmap streams from disk).
    k : int
        Number of neighbours, 1 <= k <= N.
    backend : {"auto", "cpp", "numba", "reference"}
        Compute backend (``cuda`` has no selection kernel and raises a ValueError).
    n_threads : int, optional
        Threads for the kernel; default LEDKDE_NUM_THREADS or all cores.

    Returns
    -------
    distances : numpy.ndarray of float64, shape (m, k) or (k,)
        Euclidean distances, ascending (ties by smaller index).
    indices : numpy.ndarray of int64, shape (m, k) or (k,)
        Row indices into ``data``.

    Raises
    ------
    TypeError
        A non-int ``k`` or another argument of the wrong kind.
    ValueError
        ``k`` out of range, mismatched dimensions, NaN or infinite points, an unknown or unavailable
        backend, or a backend without a selection kernel.

    Examples
    --------
    >>> import numpy as np
    >>> import ledkde_fast as lk
    >>> data = np.array([[0.0], [1.0], [3.0]])
    >>> dist, idx = lk.nearest_neighbors([[0.9]], data, k=2)
    >>> idx, np.round(dist, 6)
    (array([[1, 0]]), array([[0.1, 0.9]]))
    """
    source = as_source(data)
    xq, one_point = as_queries(x, source.d)
    k = as_int(k, "k")
    if not 1 <= k <= source.n:
        raise ValueError(f"k must be between 1 and the number of data points ({source.n}), got {k}")
    dist, idx = source.knn(xq, k, resolve_name(backend), as_threads(n_threads))
    return (dist[0], idx[0]) if one_point else (dist, idx)
