"""The Numba backend, compiled on first use. Sums run in float64 whatever the input dtype.

The empirical kernel (lse_accumulate) takes one of three routes:

* the BLAS path (d > _FUSED_MAX_D): per block of queries x data points, the logits' product
  xc . dc^T and then the weights times the block as BLAS calls through NumPy, in the input dtype
  like the C++ core (float32 within the same bound on its rounding, else float64), with the max /
  exp / online merge in a Numba loop between them; the weighted sums are float64. The BLAS calls
  run on NumPy's BLAS threads (OPENBLAS_NUM_THREADS and the like: ``n_threads`` does not change
  them, nor, so, the bits of the results); the Numba loops on ``n_threads``;
* for small problems (m N d <= _SMALL_WORK), the same with the products in Numba loops on the
  calling thread: waking BLAS threads costs more than such a call;
* the fused Numba kernel in float64 (products, exp and merge per tile): for a few dimensions,
  where BLAS is bound by memory, and wherever the expansion's rounding would be too large, with
  the logits from differences.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional

import numba
import numpy as np
from numba import njit, prange

from .._lse import LseState
from .reference import matmul_nt  # noqa: F401  (the NumPy GEMM: Numba adds nothing to a BLAS call)

SMOOTHS_BY_DEFINITION = False
TWO_ROUNDS_FOR_LARGE_PROBLEMS = False

TILE_M = 32
BLOCK_N = 256
#: Reassociation lets LLVM vectorise the dot-product reductions; no 'ninf'/'nnan', because the
#: log-sum-exp relies on -inf (a zero weight) behaving as IEEE says.
_DOT_MATH = {"reassoc", "contract"}


@contextmanager
def _threads(n_threads: int) -> Iterator[None]:
    """Run with n_threads Numba threads (0 = all), restoring the previous setting afterwards."""
    previous = numba.get_num_threads()
    n = numba.config.NUMBA_NUM_THREADS if n_threads == 0 else min(n_threads, numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


#: Work (in multiply-adds) of one compiled call at most: the calls run query chunks of about this size
#: so that Ctrl-C, which Python handles between them, stops a long computation within a fraction of a
#: second (a Numba kernel itself cannot be interrupted).
_CHUNK_WORK = 1 << 27


def _row_chunks(m: int, work_per_row: int, min_rows: int) -> Iterator[slice]:
    """Slices of the m queries, each of about _CHUNK_WORK work but at least ``min_rows`` rows (so that
    every thread still has a tile).
    """
    step = max(min_rows, _CHUNK_WORK // max(1, work_per_row))
    for start in range(0, m, step):
        yield slice(start, min(m, start + step))


#: Cost of one scalar exp of the double-KDE loops, in multiply-adds (measured: about 1e8 exp/s per
#: thread against about 1e9 multiply-adds/s).
_EXP_COST = 10


def _draw_chunks(kc: int, n: int, min_rows: int) -> Iterator[slice]:
    """Slices of the kc draws of the double-KDE such that ``min_rows`` queries of a chunk do about
    _CHUNK_WORK work (n exp evaluations per query and draw).
    """
    step = max(1, _CHUNK_WORK // max(1, _EXP_COST * n * min_rows))
    for start in range(0, kc, step):
        yield slice(start, min(kc, start + step))


def _centre(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = data.mean(axis=0, dtype=np.float64)
    return mu, np.ascontiguousarray(data - mu, dtype=np.float64)


#: Largest rounding error (in a logit) tolerated from the expansion |x|^2 - 2 x.x_i + |x_i|^2; beyond it
#: the logits are formed from differences (the C++ core's direct_scale, packing.hpp, says why; the
#: same bound as its double kernels).
_MAX_EXPANSION_ERROR = 2.0 ** -20


def _expansion_fits(eps: float, norm2_sum: float, t: float, limit: float) -> bool:
    """Whether the expansion's rounding in a logit, about eps (|x - mu|^2 + |x_i - mu|^2) / 2t with
    ``norm2_sum`` the largest such sum, stays within ``limit`` (and 1/t is finite).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        bound = eps * 0.5 * norm2_sum / t
    return bool(bound <= limit and t >= np.finfo(np.float64).tiny)  # 1/t overflows for subnormal t


def _logit_form(xc: np.ndarray, dc: np.ndarray, log_w: Optional[np.ndarray], t: float,
                q_norms: Optional[np.ndarray] = None, d_norms: Optional[np.ndarray] = None
                ) -> tuple[np.ndarray, float, float]:
    """(bias, 1/t, c): the expansion's per-point bias log w_i - |x_i - mu|^2 / 2t with c = 0, or, where
    its rounding is too large (_expansion_fits), the direct form log w_i - |(x - x_i) c|^2 with
    c = sqrt(1/2t) > 0 (bias log w_i). The squared norms of xc and dc rows may be given.
    """
    norms = np.einsum("nd,nd->n", dc, dc) if d_norms is None else d_norms
    q_max = float((np.einsum("md,md->m", xc, xc) if q_norms is None else q_norms).max(initial=0.0))
    lw = np.zeros(dc.shape[0]) if log_w is None else np.asarray(log_w, dtype=np.float64)
    if _expansion_fits(float(np.finfo(np.float64).eps), q_max + float(norms.max(initial=0.0)), t,
                       _MAX_EXPANSION_ERROR):
        return lw - 0.5 * norms * (1.0 / t), 1.0 / t, 0.0
    return lw, 0.0, math.sqrt(0.5) / math.sqrt(t)  # sqrt(1/2t) without forming 1/t (subnormal t)


@njit(cache=True, fastmath=_DOT_MATH)
def _block_logits(xc, dct, bias, inv_t, direct_c, i0, rows, j0, cols, S):
    """S[r, j] = xc[i0 + r] . dc[j0 + j] / t + bias[j0 + j], as axpys along j (contiguous in dct); with
    the direct form (direct_c > 0), bias[j0 + j] - |(xc[i0 + r] - dc[j0 + j]) direct_c|^2.
    """
    d = xc.shape[1]
    for r in range(rows):
        for col in range(cols):
            S[r, col] = 0.0
        for k in range(d):
            a = xc[i0 + r, k]
            if direct_c > 0.0:
                for col in range(cols):
                    e = (a - dct[k, j0 + col]) * direct_c
                    S[r, col] -= e * e
            else:
                for col in range(cols):
                    S[r, col] += a * dct[k, j0 + col]
        for col in range(cols):
            S[r, col] = S[r, col] * (1.0 if direct_c > 0.0 else inv_t) + bias[j0 + col]


@njit(cache=True, fastmath=_DOT_MATH)
def _weighted_sum(S, r, cols, dc, dct, j0, st_acc, i, scale):
    """st_acc[i] = st_acc[i] * scale + sum_c S[r, c] dc[j0 + c] (dct = dc transposed, contiguous in c)."""
    for k in range(dc.shape[1]):
        a = 0.0
        for c in range(cols):
            a += S[r, c] * dct[k, j0 + c]
        st_acc[i, k] = st_acc[i, k] * scale + a


@njit(parallel=True, cache=True, fastmath=False)
def _lse_kernel(xc, dc, dct, bias, inv_t, direct_c, st_max, st_sum, st_acc, want_acc, tile_m, block_n):
    m, d = xc.shape
    n = dc.shape[0]
    n_tiles = (m + tile_m - 1) // tile_m
    for tile in prange(n_tiles):
        i0 = tile * tile_m
        rows = min(tile_m, m - i0)
        S = np.empty((rows, block_n))
        M = np.empty(rows)
        qoff = np.empty(rows)
        for r in range(rows):
            q2 = 0.0
            for k in range(d):
                q2 += xc[i0 + r, k] * xc[i0 + r, k]
            qoff[r] = 0.5 * q2 * inv_t if direct_c == 0.0 else 0.0
            M[r] = st_max[i0 + r] + qoff[r] if st_max[i0 + r] > -np.inf else -np.inf
        for j0 in range(0, n, block_n):
            cols = min(block_n, n - j0)
            _block_logits(xc, dct, bias, inv_t, direct_c, i0, rows, j0, cols, S)
            for r in range(rows):
                i = i0 + r
                bmax = -np.inf
                for c in range(cols):
                    bmax = max(bmax, S[r, c])
                new_max = max(M[r], bmax)
                if new_max == -np.inf:
                    continue
                scale = math.exp(M[r] - new_max) if M[r] > -np.inf else 0.0
                bsum = 0.0
                for c in range(cols):
                    S[r, c] = math.exp(S[r, c] - new_max)
                    bsum += S[r, c]
                st_sum[i] = st_sum[i] * scale + bsum
                if want_acc:
                    _weighted_sum(S, r, cols, dc, dct, j0, st_acc, i, scale)
                M[r] = new_max
        for r in range(rows):
            st_max[i0 + r] = M[r] - qoff[r] if M[r] > -np.inf else -np.inf


#: The float32 products: the C++ core's bound for float (docs/performance.rst), and squared norms
#: below 1e30, so that no product or partial sum of the GEMMs can overflow (|xc . dc| <= (|xc|^2 + |dc|^2) / 2).
_MAX_EXPANSION_ERROR_F32 = 2.0 ** -5
_MAX_NORM2_F32 = 1e30

#: Blocking of the BLAS path: blocks of at most _BLAS_ROWS queries x _BLAS_CELLS logits (16 MiB in
#: float64), each BLAS call at most _BLAS_WORK multiply-adds (tens of ms on two cores: Python handles
#: Ctrl-C between the calls), and at least _BLAS_MIN_COLS data points per block.
_BLAS_ROWS = 1024
_BLAS_CELLS = 1 << 21
_BLAS_WORK = 1 << 30
_BLAS_MIN_COLS = 256

#: Smallest block (rows x points) whose merge runs on several threads: below it the wake-up of the
#: threads costs more than it saves, and an OpenMP region between two multithreaded BLAS calls makes
#: both sets of threads wait for each other (measured: 10 x 2000 logits took 24 ms, 0.1 ms serial).
_PARALLEL_CELLS = 1 << 18

#: Largest problem (multiply-adds m N d) whose products run in Numba loops on the calling thread
#: rather than in BLAS: about a millisecond, while a multithreaded BLAS call whose threads must wake
#: up took 0.1 ms on an idle machine and tens of ms on a loaded one (m = 10, N = 2000, d = 64).
_SMALL_WORK = 1 << 22

#: Up to this dimension the fused Numba kernel (products as axpys next to the exp, nothing leaves
#: the cache) beats BLAS, whose products of so few terms are bound by memory.
_FUSED_MAX_D = 12


def _blas_blocking(m: int, n: int, d: int) -> tuple[int, int]:
    """(queries, data points) of one block of the BLAS path; independent of the thread count, so that
    the order of the sums, and so the bits, are too.
    """
    cells = max(1, min(_BLAS_CELLS, _BLAS_WORK // max(1, d)))
    rows = max(1, min(m, _BLAS_ROWS))
    cols = max(1, min(n, max(_BLAS_MIN_COLS, cells // rows)))
    return max(1, min(rows, cells // cols)), cols


@njit(cache=True, nogil=True, fastmath=False)
def _centre_row(a, i, mu, out, norms):
    """out[i] = a[i] - mu (each difference formed in float64, then rounded to out's dtype) and norms[i]
    = |out[i]|^2 in float64.
    """
    s = 0.0
    for k in range(a.shape[1]):
        out[i, k] = a[i, k] - mu[k]
        v = np.float64(out[i, k])
        s += v * v
    norms[i] = s


@njit(cache=True, nogil=True, fastmath=False)
def _centre_rows(a, mu, out, norms):
    for i in range(a.shape[0]):
        _centre_row(a, i, mu, out, norms)


@njit(parallel=True, cache=True, fastmath=False)
def _centre_rows_parallel(a, mu, out, norms):
    for i in prange(a.shape[0]):
        _centre_row(a, i, mu, out, norms)


def _centred(a: np.ndarray, mu: np.ndarray, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    out: np.ndarray = np.empty(a.shape, dtype=dtype)
    norms = np.empty(a.shape[0])
    centre = _centre_rows_parallel if a.size >= _PARALLEL_CELLS and numba.get_num_threads() > 1 else _centre_rows
    centre(a, mu, out, norms)
    return out, norms


def _expansion_operands(x: np.ndarray, data: np.ndarray, mu: np.ndarray, log_w: Optional[np.ndarray], t: float
                        ) -> Optional[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(xc, dc, qoff, bias) of the expansion xc . dc_i / t + bias_i - qoff = log w_i - |x - x_i|^2 / 2t:
    centred queries and data in float32 where both inputs are and the float32 rounding is within the
    C++ core's bound, otherwise in float64; None where even float64's exceeds its bound (the direct form).
    """
    both_f32 = x.dtype == np.float32 and data.dtype == np.float32
    for dtype, limit in ((np.float32, _MAX_EXPANSION_ERROR_F32), (np.float64, _MAX_EXPANSION_ERROR)):
        if dtype == np.float32 and not both_f32:
            continue
        xc, q = _centred(x, mu, dtype)
        dc, norms = _centred(data, mu, dtype)
        qn = float(q.max(initial=0.0)) + float(norms.max(initial=0.0))
        if _expansion_fits(float(np.finfo(dtype).eps), qn, t, limit) and (dtype == np.float64 or qn < _MAX_NORM2_F32):
            inv_t = 1.0 / t
            lw = np.zeros(data.shape[0]) if log_w is None else np.asarray(log_w, dtype=np.float64)
            return xc, dc, 0.5 * q * inv_t, lw - 0.5 * norms * inv_t
    return None


@njit(cache=True, nogil=True, fastmath=False)
def _merge_row(S, r, bias, j0, inv_t, smax, ssum, scale):
    """Merge row r of a block of products S[r, c] = xc_r . dc_(j0 + c) into its state: logits
    S * inv_t + bias[j0 + c] (the true logits plus the row's qoff, the units of the running max smax),
    sum ssum. The row of S is overwritten by the weights exp(logit - new max), in S's dtype (zeros in
    a row without mass yet), and scale[r] = exp(old max - new max) is the factor of its weighted sum.
    """
    cols = S.shape[1]
    bmax = -np.inf
    for c in range(cols):
        bmax = max(bmax, S[r, c] * inv_t + bias[j0 + c])
    new_max = max(smax[r], bmax)
    if new_max == -np.inf:
        for c in range(cols):
            S[r, c] = 0.0
        scale[r] = 1.0
        return
    f = math.exp(smax[r] - new_max) if smax[r] > -np.inf else 0.0
    s = 0.0
    for c in range(cols):
        S[r, c] = math.exp(S[r, c] * inv_t + bias[j0 + c] - new_max)
        s += S[r, c]  # the rounded weights, the same as the weighted sum sees
    ssum[r] = ssum[r] * f + s
    scale[r] = f
    smax[r] = new_max


@njit(cache=True, nogil=True, fastmath=False)
def _merge_rows(S, bias, j0, inv_t, smax, ssum, scale, r0, r1):
    for r in range(r0, r1):
        _merge_row(S, r, bias, j0, inv_t, smax, ssum, scale)


@njit(parallel=True, cache=True, fastmath=False)
def _merge_rows_parallel(S, bias, j0, inv_t, smax, ssum, scale):
    for r in prange(S.shape[0]):
        _merge_row(S, r, bias, j0, inv_t, smax, ssum, scale)


def _merge(S: np.ndarray, bias: np.ndarray, j0: int, inv_t: float, smax: np.ndarray, ssum: np.ndarray,
           scale: np.ndarray) -> None:
    if S.size < _PARALLEL_CELLS or numba.get_num_threads() == 1:
        _merge_rows(S, bias, j0, inv_t, smax, ssum, scale, 0, S.shape[0])
    else:
        _merge_rows_parallel(S, bias, j0, inv_t, smax, ssum, scale)


@njit(cache=True, nogil=True, fastmath=_DOT_MATH)
def _small_logits(xq, blk, S):
    """S = xq . blk^T on the calling thread (dot products along the contiguous rows)."""
    for r in range(xq.shape[0]):
        for c in range(blk.shape[0]):
            s = 0.0
            for k in range(xq.shape[1]):
                s += xq[r, k] * blk[c, k]
            S[r, c] = s


@njit(cache=True, nogil=True, fastmath=_DOT_MATH)
def _small_weighted(W, blk, P):
    """P = W . blk on the calling thread (axpys along the contiguous rows of blk)."""
    for r in range(W.shape[0]):
        for k in range(blk.shape[1]):
            P[r, k] = 0.0
        for c in range(blk.shape[0]):
            w = W[r, c]
            for k in range(blk.shape[1]):
                P[r, k] += w * blk[c, k]


def _lse_blas(xc: np.ndarray, dc: np.ndarray, qoff: np.ndarray, bias: np.ndarray, inv_t: float, mx: np.ndarray,
              sm: np.ndarray, acc_c: Optional[np.ndarray], rows: int, cols: int, small: bool) -> None:
    """The expansion path: per block of queries x data points, the logits' product (BLAS, in xc's dtype),
    the fused max / exp / merge (_merge_row, Numba), then the weights times the block (BLAS) added to
    the float64 weighted sum of centred points acc_c. ``small``: the products in Numba loops on the
    calling thread instead (no thread wakes up for a call of a millisecond).
    """
    m, d = xc.shape
    n = dc.shape[0]
    logits = np.empty(rows * cols, dtype=xc.dtype)
    prod = np.empty(rows * d, dtype=xc.dtype)
    scale = np.empty(rows)
    for i0 in range(0, m, rows):
        q = slice(i0, min(m, i0 + rows))
        r = q.stop - i0
        xq = xc[q]
        smax = np.where(np.isneginf(mx[q]), -np.inf, mx[q] + qoff[q])  # running max, in the units of S
        ssum = np.ascontiguousarray(sm[q])
        for j0 in range(0, n, cols):
            c = min(cols, n - j0)
            blk = dc[j0:j0 + c]
            S = logits[:r * c].reshape(r, c)
            if small:
                _small_logits(xq, blk, S)
            else:
                np.matmul(xq, blk.T, out=S)
            _merge(S, bias, j0, inv_t, smax, ssum, scale[:r])
            if acc_c is not None:
                P = prod[:r * d].reshape(r, d)
                if small:
                    _small_weighted(S, blk, P)
                else:
                    np.matmul(S, blk, out=P)
                a = acc_c[q]
                a *= scale[:r, None]
                a += P
        mx[q] = np.where(np.isneginf(smax), -np.inf, smax - qoff[q])
        sm[q] = ssum


def lse_accumulate(x: np.ndarray, data: np.ndarray, log_w: Optional[np.ndarray], t: float, state: LseState,
                   n_threads: int, *, tile_m: Optional[int] = None, block_n: Optional[int] = None) -> None:
    """Same contract as the C++ kernel: state holds true logits; acc holds the uncentred weighted sum.

    ``tile_m`` x ``block_n``: queries x data points of a block (default: from the shape for the BLAS
    path, TILE_M x BLOCK_N for the fused Numba kernel).
    """
    mx, sm, acc = state
    m, d = x.shape
    n = data.shape[0]
    if m == 0 or n == 0:
        return
    mu = data.mean(axis=0, dtype=np.float64)
    acc_c = acc - mu[None, :] * sm[:, None] if acc is not None else None
    with _threads(n_threads):
        operands = _expansion_operands(x, data, mu, log_w, t) if d > _FUSED_MAX_D else None
        if operands is not None:
            xc, dc, qoff, bias = operands
            rows, cols = _blas_blocking(m, n, d)
            _lse_blas(xc, dc, qoff, bias, 1.0 / t, mx, sm, acc_c, tile_m or rows, block_n or cols,
                      m * n * d <= _SMALL_WORK)
        else:
            _lse_fused(x, data, mu, log_w, t, mx, sm, acc_c, tile_m or TILE_M, block_n or BLOCK_N)
    if acc is not None and acc_c is not None:
        acc[...] = acc_c + mu[None, :] * sm[:, None]


def _lse_fused(x: np.ndarray, data: np.ndarray, mu: np.ndarray, log_w: Optional[np.ndarray], t: float,
               mx: np.ndarray, sm: np.ndarray, acc_c: Optional[np.ndarray], tile_m: int, block_n: int) -> None:
    """The fused Numba kernel in float64 (expansion or direct form, _logit_form), query chunks of
    bounded work: for a few dimensions, and where the expansion's rounding is too large.
    """
    xc, q_norms = _centred(x, mu, np.float64)
    dc, d_norms = _centred(data, mu, np.float64)
    bias, inv_t, c = _logit_form(xc, dc, log_w, t, q_norms, d_norms)
    dct = np.ascontiguousarray(dc.T)
    want_acc = acc_c is not None
    st_acc = acc_c if acc_c is not None else np.zeros((x.shape[0], 1))
    for rows in _row_chunks(x.shape[0], dc.size, tile_m * numba.get_num_threads()):
        _lse_kernel(xc[rows], dc, dct, bias, inv_t, c, mx[rows], sm[rows], st_acc[rows], want_acc, tile_m, block_n)


@njit(cache=True, fastmath=False)
def _query_logits(xc, dc, bias, inv_t, c, q, a):
    """a[i] = xc[q] . dc[i] / t + bias[i]: the logits of query q up to the constant |xc[q]|^2 / 2t,
    which is returned (true logits are a - that constant); with the direct form (c > 0) the true
    logits bias[i] - |(xc[q] - dc[i]) c|^2 and 0.
    """
    d = xc.shape[1]
    q2 = 0.0
    for k in range(d):
        q2 += xc[q, k] * xc[q, k]
    for i in range(dc.shape[0]):
        s = 0.0
        if c > 0.0:
            for k in range(d):
                e = (xc[q, k] - dc[i, k]) * c
                s -= e * e
            a[i] = s + bias[i]
        else:
            for k in range(d):
                s += xc[q, k] * dc[i, k]
            a[i] = s * inv_t + bias[i]
    return 0.5 * q2 * inv_t if c == 0.0 else 0.0


@njit(parallel=True, cache=True, fastmath=False)
def _double_kde_kernel(xc, dc, bias, inv_t, c, C, wbar, zsum):
    m, d = xc.shape
    n = dc.shape[0]
    kc = C.shape[0]
    for q in prange(m):
        a = np.empty(n)
        logits = np.empty(n)
        qoff = _query_logits(xc, dc, bias, inv_t, c, q, a)
        for j in range(kc):
            mx = -np.inf
            for i in range(n):
                logits[i] = a[i] + C[j, i]
                mx = max(mx, logits[i])
            if mx == -np.inf:
                zsum[q] = -np.inf
                continue
            s = 0.0
            for i in range(n):
                logits[i] = math.exp(logits[i] - mx)
                s += logits[i]
            f = 1.0 / s
            for i in range(n):
                wbar[q, i] += logits[i] * f
            zsum[q] += mx + math.log(s) - qoff


def double_kde_accumulate(x: np.ndarray, data: np.ndarray, log_w: Optional[np.ndarray], t: float,
                          c_matrix: np.ndarray, wbar: np.ndarray, zsum: np.ndarray, n_threads: int) -> None:
    mu, dc = _centre(data)
    xc = np.ascontiguousarray(x - mu, dtype=np.float64)
    bias, inv_t, c = _logit_form(xc, dc, log_w, t)
    c64 = np.ascontiguousarray(c_matrix, dtype=np.float64)
    with _threads(n_threads):
        threads = numba.get_num_threads()
        for js in _draw_chunks(c64.shape[0], dc.shape[0], threads):  # the sums over draws add up
            for rows in _row_chunks(x.shape[0], dc.size + _EXP_COST * dc.shape[0] * (js.stop - js.start), threads):
                _double_kde_kernel(xc[rows], dc, bias, inv_t, c, c64[js], wbar[rows], zsum[rows])


def double_kde_per_query(x: np.ndarray, data: np.ndarray, log_w: Optional[np.ndarray], t: float,
                         c_matrix: np.ndarray, wbar: np.ndarray, zsum: np.ndarray, n_threads: int) -> None:
    """As :func:`double_kde_accumulate` with draws of its own for every query (c_matrix (m, n_draws, N))."""
    mu, dc = _centre(data)
    xc = np.ascontiguousarray(x - mu, dtype=np.float64)
    bias, inv_t, c = _logit_form(xc, dc, log_w, t)
    with _threads(n_threads):
        for q in range(x.shape[0]):
            c64 = np.ascontiguousarray(c_matrix[q], dtype=np.float64)
            _double_kde_kernel(xc[q:q + 1], dc, bias, inv_t, c, c64, wbar[q:q + 1], zsum[q:q + 1])


@njit(parallel=True, cache=True, fastmath=False)
def _rounds_kernel(xc, dc, bias, inv_t, c, C, log_norm, mx_out, sm_out, acc, total, weighted):
    """Round 1 (``weighted`` False): per query and draw, the (max, sum) of exp(A_i + C_ji).
    Round 2: acc[q] = sum_j sum_i w_qji (x_i - mu) (centred data) and total[q] = sum_j sum_i w_qji,
    with w_qji = exp(A_i + C_ji - log_norm[q, j]).
    """
    m, d = xc.shape
    n = dc.shape[0]
    kc = C.shape[0]
    for q in prange(m):
        a = np.empty(n)
        qoff = _query_logits(xc, dc, bias, inv_t, c, q, a)
        for i in range(n):
            a[i] -= qoff
        for j in range(kc):
            if weighted:
                if log_norm[q, j] == -np.inf:
                    continue
                for i in range(n):
                    w = math.exp(a[i] + C[j, i] - log_norm[q, j])
                    total[q] += w
                    for k in range(d):
                        acc[q, k] += w * dc[i, k]
            else:
                mx = -np.inf
                for i in range(n):
                    mx = max(mx, a[i] + C[j, i])
                s = 0.0
                if mx > -np.inf:
                    for i in range(n):
                        s += math.exp(a[i] + C[j, i] - mx)
                mx_out[q, j] = mx
                sm_out[q, j] = s


def _rounds(x, data, log_w, t, c_matrix, log_norm, n_threads, weighted):
    """Both rounds on centred data; the weighted sums are returned uncentred (acc + total * mu)."""
    mu, dc = _centre(data)
    xc = np.ascontiguousarray(x - mu, dtype=np.float64)
    m, kc = x.shape[0], c_matrix.shape[0]
    mx, sm = np.full((m, kc), -np.inf), np.zeros((m, kc))
    acc, total = np.zeros((m, data.shape[1])), np.zeros(m)
    bias, inv_t, c = _logit_form(xc, dc, log_w, t)
    c64 = np.ascontiguousarray(c_matrix, dtype=np.float64)
    with _threads(n_threads):
        threads = numba.get_num_threads()
        per_draw = dc.shape[0] * (_EXP_COST + weighted * data.shape[1])
        for js in _draw_chunks(kc, per_draw, threads):
            c_js = c64[js]
            ln = np.ascontiguousarray(log_norm[:, js]) if weighted else log_norm
            mx_js, sm_js = np.full((m, c_js.shape[0]), -np.inf), np.zeros((m, c_js.shape[0]))
            for rows in _row_chunks(m, dc.size + per_draw * c_js.shape[0], threads):
                _rounds_kernel(xc[rows], dc, bias, inv_t, c, c_js, ln[rows] if weighted else ln, mx_js[rows],
                               sm_js[rows], acc[rows], total[rows], weighted)
            mx[:, js], sm[:, js] = mx_js, sm_js
    return mx, sm, acc + total[:, None] * mu[None, :]


def dkde_normalisers(x: np.ndarray, data: np.ndarray, log_w: Optional[np.ndarray], t: float, c_matrix: np.ndarray,
                     n_threads: int) -> tuple[np.ndarray, np.ndarray]:
    mx, sm, _ = _rounds(x, data, log_w, t, c_matrix, np.zeros((1, 1)), n_threads, False)
    return mx, sm


def dkde_weighted_sum(x: np.ndarray, data: np.ndarray, log_w: Optional[np.ndarray], t: float, c_matrix: np.ndarray,
                      log_norm: np.ndarray, n_threads: int) -> np.ndarray:
    _, _, acc = _rounds(x, data, log_w, t, c_matrix, np.ascontiguousarray(log_norm, dtype=np.float64), n_threads,
                        True)
    return acc


@njit(parallel=True, cache=True, fastmath=False)
def _knn_kernel(x, data, k, out):
    m, d = x.shape
    n = data.shape[0]
    for q in prange(m):
        best = np.full(k, np.inf)
        idx = out[q]
        for j in range(k):
            idx[j] = -1
        for i in range(n):
            s = 0.0
            for c in range(d):
                diff = x[q, c] - data[i, c]
                s += diff * diff
            if s < best[k - 1]:
                pos = k - 1
                while pos > 0 and best[pos - 1] > s:
                    best[pos] = best[pos - 1]
                    idx[pos] = idx[pos - 1]
                    pos -= 1
                best[pos] = s
                idx[pos] = i


def knn_select(x: np.ndarray, data: np.ndarray, k: int, n_threads: int) -> np.ndarray:
    """Indices (m, k) of the k nearest points, nearest first (ties: smaller index first)."""
    out = np.empty((x.shape[0], k), dtype=np.int64)
    x64, data64 = np.asarray(x, dtype=np.float64), np.asarray(data, dtype=np.float64)
    with _threads(n_threads):
        for rows in _row_chunks(x.shape[0], data.size, numba.get_num_threads()):
            _knn_kernel(x64[rows], data64, k, out[rows])
    return out
