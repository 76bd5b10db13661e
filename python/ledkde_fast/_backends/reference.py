"""The NumPy reference backend: a float64 brute-force oracle, chunked only to bound memory.

Distances are formed as explicit differences |x - x_i|^2 (not the GEMM expansion), so this backend
shares no numerical shortcut with the fast ones. Never selected by ``backend="auto"``.
"""

from __future__ import annotations

import numpy as np

#: Cap on the temporary (chunk, N, d) difference array, in float64 elements.
_CHUNK_ELEMENTS = 1 << 22


def _chunks(m: int, n: int, d: int):
    step = max(1, _CHUNK_ELEMENTS // max(1, n * d))
    for start in range(0, m, step):
        yield slice(start, min(m, start + step))


def _logits(xq: np.ndarray, data: np.ndarray, log_w, t: float) -> np.ndarray:
    diff = xq[:, None, :] - data[None, :, :]
    logits = -np.einsum("mnd,mnd->mn", diff, diff) / (2.0 * t)
    if log_w is not None:
        logits = logits + log_w[None, :]
    return logits


def merge_into(state, mx_new, sm_new, acc_new, rows=slice(None)) -> None:
    """Merge a partial state into ``state[rows]``: rescale the side with the smaller max."""
    mx, sm, acc = state
    m_old = mx[rows]
    m_tot = np.maximum(m_old, mx_new)
    finite = np.isfinite(m_tot)
    with np.errstate(invalid="ignore"):
        a = np.where(finite, np.exp(np.where(finite, m_old - m_tot, 0.0)), 0.0)
        b = np.where(finite, np.exp(np.where(finite, mx_new - m_tot, 0.0)), 0.0)
    a = np.where(np.isneginf(m_old), 0.0, a)
    b = np.where(np.isneginf(mx_new), 0.0, b)
    sm[rows] = sm[rows] * a + sm_new * b
    if acc is not None:
        acc[rows] = acc[rows] * a[:, None] + acc_new * b[:, None]
    mx[rows] = m_tot


def lse_accumulate(x, data, log_w, t, state, n_threads=0):
    x = np.asarray(x, dtype=np.float64)
    data = np.asarray(data, dtype=np.float64)
    want_acc = state[2] is not None
    for rows in _chunks(x.shape[0], data.shape[0], data.shape[1]):
        logits = _logits(x[rows], data, log_w, t)
        mx = logits.max(axis=1)
        safe = np.where(np.isneginf(mx), 0.0, mx)
        w = np.exp(logits - safe[:, None])
        acc = w @ data if want_acc else None
        merge_into(state, mx, w.sum(axis=1), acc, rows)
