"""The NumPy reference backend: a float64 brute-force oracle, chunked only to bound memory.

Distances are formed as explicit differences |x - x_i|^2 (not the GEMM expansion), so this backend
shares no numerical shortcut with the fast ones, and the smoothed quantities are evaluated by their
definition (an average of empirical ones over the shifted queries x - Y_j). It offers every
operation of the other backends, in plain NumPy. Never selected by ``backend="auto"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Optional

import numpy as np

from .._lse import LseState, log_of

SMOOTHS_BY_DEFINITION = True
TWO_ROUNDS_FOR_LARGE_PROBLEMS = False

#: Cap on the temporaries ((chunk, N, d) differences, (chunk, draws, N) logits), in float64 elements.
_CHUNK_ELEMENTS = 1 << 22


def _chunks(m: int, per_row: int) -> Iterator[slice]:
    step = max(1, _CHUNK_ELEMENTS // max(1, per_row))
    for start in range(0, m, step):
        yield slice(start, min(m, start + step))


def squared_distances(x: np.ndarray, data: np.ndarray) -> np.ndarray:
    """|x_q - x_i|^2 (m x N) in float64, from explicit differences (exact for near points)."""
    diff = np.asarray(x, dtype=np.float64)[:, None, :] - np.asarray(data, dtype=np.float64)[None, :, :]
    return np.einsum("mnd,mnd->mn", diff, diff)


def logits(x: np.ndarray, data: np.ndarray, log_w: Optional[np.ndarray], t: float) -> np.ndarray:
    """A_i(x) = log w_i - |x - x_i|^2 / (2t), shape (m, N), float64, as -|(x - x_i) c|^2 with
    c = sqrt(1/2t): the squares of tiny differences at tiny t would underflow before the division.
    """
    c = np.sqrt(0.5) / np.sqrt(t)  # without forming 1/t, which overflows for subnormal t
    diff = (np.asarray(x, dtype=np.float64)[:, None, :] - np.asarray(data, dtype=np.float64)[None, :, :])
    with np.errstate(over="ignore", invalid="ignore"):  # below the float64 range: a weight of zero
        diff *= c
        a = -np.einsum("mnd,mnd->mn", diff, diff)
    return a if log_w is None else a + log_w[None, :]


def lse_accumulate(x: np.ndarray, data: np.ndarray, log_w: Optional[np.ndarray], t: float, state: LseState,
                   n_threads: int = 0) -> None:
    data64 = np.asarray(data, dtype=np.float64)
    want_acc = state.acc is not None
    for rows in _chunks(x.shape[0], data.shape[0] * data.shape[1]):
        a = logits(x[rows], data64, log_w, t)
        mx = a.max(axis=1)
        w = np.exp(a - np.where(np.isneginf(mx), 0.0, mx)[:, None])
        state.merge_rows(rows, LseState(mx, w.sum(axis=1), w @ data64 if want_acc else None))


def _draw_logits(x: np.ndarray, data: np.ndarray, log_w: Optional[np.ndarray], t: float,
                 c_matrix: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
    """(rows, A_i + C_ji of shape (rows, draws, N)) over chunks of the queries."""
    c64 = np.asarray(c_matrix, dtype=np.float64)
    n, d = data.shape
    for rows in _chunks(x.shape[0], max(n * d, c64.size)):
        yield rows, logits(x[rows], data, log_w, t)[:, None, :] + c64[None, :, :]


def dkde_normalisers(x: np.ndarray, data: np.ndarray, log_w: Optional[np.ndarray], t: float, c_matrix: np.ndarray,
                     n_threads: int = 0) -> tuple[np.ndarray, np.ndarray]:
    m, kc = x.shape[0], c_matrix.shape[0]
    mx, sm = np.full((m, kc), -np.inf), np.zeros((m, kc))
    for rows, z in _draw_logits(x, data, log_w, t, c_matrix):
        mx[rows] = z.max(axis=2)
        safe = np.where(np.isneginf(mx[rows]), 0.0, mx[rows])
        sm[rows] = np.exp(z - safe[:, :, None]).sum(axis=2)
    return mx, sm


def dkde_weighted_sum(x: np.ndarray, data: np.ndarray, log_w: Optional[np.ndarray], t: float, c_matrix: np.ndarray,
                      log_norm: np.ndarray, n_threads: int = 0) -> np.ndarray:
    data64 = np.asarray(data, dtype=np.float64)
    acc = np.zeros((x.shape[0], data.shape[1]))
    for rows, z in _draw_logits(x, data, log_w, t, c_matrix):
        with np.errstate(invalid="ignore"):  # a draw without mass (log_norm -inf) adds nothing
            w = np.nan_to_num(np.exp(z - log_norm[rows, :, None]), nan=0.0)
        acc[rows] = w.sum(axis=1) @ data64
    return acc


def double_kde_accumulate(x: np.ndarray, data: np.ndarray, log_w: Optional[np.ndarray], t: float,
                          c_matrix: np.ndarray, wbar: np.ndarray, zsum: np.ndarray, n_threads: int = 0) -> None:
    for rows, z in _draw_logits(x, data, log_w, t, c_matrix):
        mx = z.max(axis=2)
        empty = np.isneginf(mx)
        log_norm = log_of(np.where(empty, 0.0, mx), np.exp(z - np.where(empty, 0.0, mx)[:, :, None]).sum(axis=2))
        with np.errstate(invalid="ignore"):
            wbar[rows] += np.nan_to_num(np.exp(z - log_norm[:, :, None]), nan=0.0).sum(axis=1)
        zsum[rows] += np.where(empty, -np.inf, log_norm).sum(axis=1)


def matmul_nt(a: np.ndarray, b: np.ndarray, scale: float, n_threads: int = 0) -> np.ndarray:
    out = np.asarray(a).astype(b.dtype, copy=False) @ np.asarray(b).T
    out *= scale
    return np.ascontiguousarray(out)


def knn_select(x: np.ndarray, data: np.ndarray, k: int, n_threads: int = 0) -> np.ndarray:
    out = np.empty((x.shape[0], k), dtype=np.int64)
    for rows in _chunks(x.shape[0], data.shape[0] * data.shape[1]):
        out[rows] = np.argsort(squared_distances(x[rows], data), axis=1, kind="stable")[:, :k]
    return out
