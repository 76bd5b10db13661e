"""Exact k-nearest neighbours of in-memory data: a backend's blocked selection, then exact distances."""

from __future__ import annotations

import numpy as np

from ._backends import operation
from ._validation import result_dtype


def knn_in_memory(x: np.ndarray, data: np.ndarray, k: int, backend: str, n_threads: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(distances, indices), both (m, k): float64 Euclidean distances recomputed exactly from the
    selected points and sorted ascending (ties by smaller index), and int64 indices into ``data``.
    """
    dtype = result_dtype(x.dtype, data.dtype)
    if x.shape[0] == 0:
        idx = np.zeros((0, k), dtype=np.int64)
    else:
        idx = operation(backend, "knn_select")(np.ascontiguousarray(x, dtype=dtype),
                                                np.ascontiguousarray(data, dtype=dtype), int(k), n_threads)
    # exact float64 distances of the selected points; re-sort so rounding in the selection cannot
    # misorder near-ties
    diff = x.astype(np.float64)[:, None, :] - np.asarray(data)[idx].astype(np.float64)
    dist = np.sqrt(np.einsum("mkd,mkd->mk", diff, diff))
    order = np.lexsort((idx, dist), axis=1) if dist.size else np.zeros_like(idx)
    return np.take_along_axis(dist, order, axis=1), np.take_along_axis(idx, order, axis=1)
