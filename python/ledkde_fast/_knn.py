"""Exact k-nearest neighbours of in-memory data: a backend's blocked selection, then exact distances."""

from __future__ import annotations

import numpy as np

from ._backends import operation
from ._validation import result_dtype

#: Extra candidates the blocked selection returns beyond k: its distances come from the expansion
#: |x|^2 - 2 x.x_i + |x_i|^2 in the compute dtype, which can misorder near-ties that the exact
#: float64 distances of the candidates then resolve.
EXTRA_CANDIDATES = 8
#: Smallest sum of squares taken as is: above it, no term that matters has underflowed (each
#: square below it relative to the sum by at most 2^-1022 / 2^-900, beyond float64's precision).
_SAFE_SQUARE_MIN = 2.0 ** -900


def _scaled_inputs(x: np.ndarray, data: np.ndarray, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """The queries and points as the selection sees them. Where the squared distances could
    overflow or underflow in ``dtype`` they are centred (on the data's mid-range, in float64) and
    scaled by a power of two, so that the largest centred coordinate is about 1: neighbours do not
    change under a common shift and scaling, and scaling by a power of two is exact. Otherwise
    (the usual case) no copy is made.
    """
    lo = data.min(axis=0).astype(np.float64)
    hi = data.max(axis=0).astype(np.float64)
    centre = 0.5 * lo + 0.5 * hi  # (lo + hi) / 2 without overflow
    with np.errstate(over="ignore", invalid="ignore"):
        span = max(float((hi - centre).max()), float((centre - lo).max()),
                   float(np.abs(x - centre).max(initial=0.0)))
    # squares of spans within 2^(+-limit) stay far inside the dtype's normal range
    limit = 40 if dtype == np.float32 else 400
    if span == 0.0 or (2.0 ** -limit <= span <= 2.0 ** limit):
        return x, data
    if not np.isfinite(span):  # x - centre overflowed: bound it by the magnitudes, one binade up
        span = 2.0 * max(float(np.abs(lo).max()), float(np.abs(hi).max()), float(np.abs(x).max(initial=0.0)))
    exponent = -int(np.frexp(span)[1]) if np.isfinite(span) else -1025
    half = exponent // 2  # 2^exponent itself may not be a float64 (spans below 2^-1022)

    def scaled(a: np.ndarray) -> np.ndarray:
        # scale, then subtract the scaled centre: no intermediate overflows
        a64 = np.ldexp(a.astype(np.float64), half) - np.ldexp(centre, half)
        return np.ldexp(a64, exponent - half).astype(dtype)

    return scaled(x), scaled(data)


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
        xs, ds = _scaled_inputs(x, data, dtype)
        idx = operation(backend, "knn_select")(np.ascontiguousarray(xs, dtype=dtype),
                                                np.ascontiguousarray(ds, dtype=dtype), int(candidates), n_threads)
    # exact float64 distances of the candidates (overflow-free: scaled by their largest component);
    # re-sorted so that rounding in the selection cannot misorder near-ties
    diff = x.astype(np.float64)[:, None, :] - np.asarray(data)[idx].astype(np.float64)
    dist = _norms(diff)
    order = np.lexsort((idx, dist), axis=1)[:, :k] if dist.size else np.zeros((x.shape[0], k), dtype=np.int64)
    return np.take_along_axis(dist, order, axis=1), np.take_along_axis(idx, order, axis=1)


def _norms(diff: np.ndarray) -> np.ndarray:
    """Euclidean norms along the last axis without overflow or underflow of the squares: a plain sum
    of squares, redone with the components scaled by their largest where it left float64's safe range.
    """
    sq = np.einsum("...d,...d->...", diff, diff)
    out = np.sqrt(sq)
    risky = ~(sq >= _SAFE_SQUARE_MIN) | np.isinf(sq)  # (NaN-free: the differences are of finite numbers)
    if risky.any():
        part = diff[risky]
        big = np.abs(part).max(axis=-1, initial=0.0)
        safe = np.where(big > 0, big, 1.0)
        scaled = part / safe[..., None]
        out[risky] = big * np.sqrt(np.einsum("...d,...d->...", scaled, scaled))
    return out
