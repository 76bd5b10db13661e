"""Exact k-nearest neighbours through the blocked core: no m x N distance matrix."""

from __future__ import annotations

import numbers

import numpy as np

from ._backends import available_backends, resolve_name
from ._validation import as_data, as_queries, as_threads, result_dtype

__all__ = ["nearest_neighbors"]

#: Queries per chunk of the reference and Numba paths (bounds their (chunk, N) temporaries).
_CHUNK_BYTES = 32 << 20


def _select_reference(x, data, k):
    out = np.empty((x.shape[0], k), dtype=np.int64)
    step = max(1, _CHUNK_BYTES // (8 * data.shape[0]))
    x64, d64 = x.astype(np.float64), data.astype(np.float64)
    for start in range(0, x.shape[0], step):
        diff = x64[start:start + step, None, :] - d64[None, :, :]
        d2 = np.einsum("mnd,mnd->mn", diff, diff)
        out[start:start + step] = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return out


def _select_numba(x, data, k, n_threads):
    from ._backends.numba import knn_select

    return knn_select(x, data, k, n_threads)


def _select_cpp(x, data, k, n_threads):
    from . import _core

    return _core.knn_select(x, data, k, n_threads)


def nearest_neighbors(x, data, k=1, *, backend="auto", n_threads=None):
    """The k nearest training points of each query.

    Returns ``(distances, indices)``, both of shape (m, k) (or (k,) for a 1-D ``x``): Euclidean
    distances in float64, recomputed exactly from the selected points and sorted ascending (ties by
    smaller index), and int64 indices into ``data``. The selection streams over the data in blocks.
    """
    from .distributed import streamed

    data = streamed(data)
    sharded = getattr(data, "_ledkde_sharded", False)
    if not sharded:
        data = as_data(data)
    n, d = (data.n, data.d) if sharded else data.shape
    xq, one_point = as_queries(x, d)
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of data points ({n}), got {k}")
    threads = as_threads(n_threads)
    if sharded:
        dist, idx = data.knn(np.ascontiguousarray(xq, dtype=np.float64), int(k), backend, threads)
        return (dist[0], idx[0]) if one_point else (dist, idx)
    name = resolve_name(backend)
    dtype = result_dtype(xq.dtype, data.dtype)
    xc = np.ascontiguousarray(xq, dtype=dtype)
    dc = np.ascontiguousarray(data, dtype=dtype)
    if xc.shape[0] == 0:
        idx = np.zeros((0, k), dtype=np.int64)
    elif name == "cpp" or (name == "cuda" and "cpp" in available_backends()):
        # the CUDA module has no selection kernel: the CPU core selects for it
        idx = _select_cpp(xc, dc, int(k), threads)
    elif name == "numba":
        idx = _select_numba(xc, dc, int(k), threads)
    else:
        idx = _select_reference(xc, dc, int(k))
    # exact float64 distances of the selected points; re-sort so rounding in the selection cannot
    # misorder near-ties
    diff = xq.astype(np.float64)[:, None, :] - np.asarray(data, dtype=np.float64)[idx]
    dist = np.sqrt(np.einsum("mkd,mkd->mk", diff, diff))
    order = np.lexsort((idx, dist), axis=1) if dist.size else np.zeros_like(idx)
    dist = np.take_along_axis(dist, order, axis=1)
    idx = np.take_along_axis(idx, order, axis=1)
    return (dist[0], idx[0]) if one_point else (dist, idx)
