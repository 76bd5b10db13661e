"""Exact k-nearest neighbours of in-memory data: a backend's blocked selection, then exact distances."""

from __future__ import annotations

import numpy as np

from ._backends import operation
from ._validation import result_dtype

#: Extra candidates the blocked selection returns beyond k: its distances come from the expansion
#: |x|^2 - 2 x.x_i + |x_i|^2 in the compute dtype, which can misorder near-ties that the exact
#: float64 distances of the candidates then resolve.
EXTRA_CANDIDATES = 8


def _safe_scale(x: np.ndarray, data: np.ndarray, dtype: np.dtype) -> float:
    """A power of two s such that the selection's squared distances of x * s and data * s neither
    overflow nor underflow in ``dtype`` (1.0 when they already do not): neighbours do not change
    under a common scaling, and a power of two scales exactly.
    """
    mu = data.mean(axis=0, dtype=np.float64)
    with np.errstate(over="ignore"):
        span = max(float(np.abs(data - mu).max()), float(np.abs(x - mu).max(initial=0.0)))
    # squares of spans within 2^(+-limit) stay far inside the dtype's normal range
    limit = 40 if dtype == np.float32 else 400
    if span == 0.0 or (2.0 ** -limit <= span <= 2.0 ** limit):
        return 1.0
    return float(np.ldexp(1.0, -np.frexp(span)[1]))


def knn_in_memory(x: np.ndarray, data: np.ndarray, k: int, backend: str, n_threads: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(distances, indices), both (m, k): float64 Euclidean distances recomputed exactly from the
    selected points and sorted ascending (ties by smaller index), and int64 indices into ``data``.
    """
    dtype = result_dtype(x.dtype, data.dtype)
    candidates = min(data.shape[0], k + EXTRA_CANDIDATES)
    if x.shape[0] == 0:
        idx = np.zeros((0, candidates), dtype=np.int64)
    else:
        s = _safe_scale(x, data, dtype)
        xs, ds = (x, data) if s == 1.0 else (x * s, data * s)
        idx = operation(backend, "knn_select")(np.ascontiguousarray(xs, dtype=dtype),
                                                np.ascontiguousarray(ds, dtype=dtype), int(candidates), n_threads)
    # exact float64 distances of the candidates (overflow-free: scaled by their largest component);
    # re-sorted so that rounding in the selection cannot misorder near-ties
    diff = x.astype(np.float64)[:, None, :] - np.asarray(data)[idx].astype(np.float64)
    dist = _norms(diff)
    order = np.lexsort((idx, dist), axis=1)[:, :k] if dist.size else np.zeros((x.shape[0], k), dtype=np.int64)
    return np.take_along_axis(dist, order, axis=1), np.take_along_axis(idx, order, axis=1)


def _norms(diff: np.ndarray) -> np.ndarray:
    """Euclidean norms along the last axis without overflow or underflow of the squares."""
    big = np.abs(diff).max(axis=-1, initial=0.0)
    safe = np.where(big > 0, big, 1.0)
    scaled = diff / safe[..., None]
    return big * np.sqrt(np.einsum("...d,...d->...", scaled, scaled))
