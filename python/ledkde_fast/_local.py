"""The local kernel (:class:`ledkde_fast.kernels.Local`): for each query, the top-r directions of the
training points' local covariance around it, and the kernel draws along them.

Everything happens in the coordinates of the data: b_i = V^T (x_i - mu) on an orthonormal basis V of
the span of the centred points when N < d (k = dim of the span), else b_i = x_i - mu (k = d). The
local covariance of a query a (its coordinates) with weights w(a) (softmax of the logits
log w_i - |a - b_i|^2 / 2 t_c; squared weights for ``covariance="squared"``) is
S(a) = sum_i w_i (b_i - m)(b_i - m)^T, m = sum_i w_i b_i, and it acts on a block of vectors P by
two products against the data (written for all the queries of a chunk as two large matrix
products, around each query's heaviest point so that nothing cancels: :func:`apply_covariance`).
Randomised subspace iteration (``n_iter`` steps of S and a QR, from Gaussian columns) followed by a
Rayleigh-Ritz step gives the top eigenpairs without a k x k matrix per query; its cost is
(n_iter + 1) such products, each about ``2 (rank + oversample)`` empirical calls' worth of
multiply-adds (those of the logits, N k per query).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from ._data import InMemoryData
from ._kernel_plan import FreshDraws, KernelPlan, Reduction, resolve_method, standard_draws
from .kernels import Local

#: ``product(a, b, scale, n_threads) = scale a b^T``: a backend's ``matmul_nt``.
Product = Callable[[np.ndarray, np.ndarray, float, int], np.ndarray]
#: Memory budget, in bytes, of the (queries x N) weights and the (rows x columns) products of a chunk.
LOCAL_BYTES = 64 << 20
#: Eigenvalues below this fraction of the largest carry no local variance (rounding of S): no smoothing there.
EIGEN_FLOOR = 1e-9


@dataclass(frozen=True)
class LocalGeometry:
    """The training set in the coordinates of the local kernel: ``span`` V (d x k; None when the
    coordinates are the centred points themselves), ``coords`` b (N x k, float64) and its transpose, their squared
    norms, the points' normalised log weights (None for equal weights) and the centre mu.
    """

    span: Optional[np.ndarray]
    coords: np.ndarray
    coords_t: np.ndarray
    sq_norms: np.ndarray
    log_weights: Optional[np.ndarray]
    mu: np.ndarray

    @classmethod
    def of(cls, data: np.ndarray, log_weights: Optional[np.ndarray], mu: np.ndarray,
           span: Optional[np.ndarray]) -> LocalGeometry:
        centred = data.astype(np.float64, copy=False) - mu
        coords = np.ascontiguousarray(centred if span is None else centred @ span)
        return cls(span, coords, np.ascontiguousarray(coords.T), np.einsum("ij,ij->i", coords, coords),
                   log_weights, mu)

    @property
    def k(self) -> int:
        return int(self.coords.shape[1])

    def query_coords(self, x64: np.ndarray) -> np.ndarray:
        """Coordinates a (m x k) of queries x (m x d)."""
        centred = x64 - self.mu
        return centred if self.span is None else centred @ self.span


def _numpy_product(a: np.ndarray, b: np.ndarray, scale: float, n_threads: int) -> np.ndarray:
    """Return scale a b^T (the signature of the backends' ``matmul_nt``)."""
    return scale * (a @ b.T)


def local_weights(geom: LocalGeometry, a: np.ndarray, t_cov: float, squared: bool,
                  product: Product = _numpy_product, n_threads: int = 0) -> np.ndarray:
    """The weights (m x N, rows summing to 1) of the local covariance of queries a at time t_cov."""
    cross = product(np.ascontiguousarray(a), geom.coords, 1.0, n_threads)
    dist2 = np.maximum(np.einsum("ij,ij->i", a, a)[:, None] - 2.0 * cross + geom.sq_norms, 0.0)
    logits = -dist2 / (2.0 * t_cov)
    if geom.log_weights is not None:
        logits += geom.log_weights
    if squared:  # w^2 / sum w^2 = softmax of twice the logits
        logits *= 2.0
    logits -= logits.max(axis=1, keepdims=True)
    w = np.exp(logits, out=logits)
    w /= w.sum(axis=1, keepdims=True)
    return w


def apply_covariance(geom: LocalGeometry, w: np.ndarray, mean: np.ndarray, nearest: np.ndarray, p: np.ndarray,
                     product: Product = _numpy_product, n_threads: int = 0) -> np.ndarray:
    """S(a_q) p_q for every query q: p (m, k, c) -> (m, k, c), by two products against the data per
    slab of rows, each one large matrix product ``product(a, b) = a b^T`` for all the queries (the
    backend's ``matmul_nt``: the compiled core's own threads for the cpp backend).

    Written around each query's heaviest point b* = b[nearest[q]] so that no term cancels: with
    d_i = b_i - b* and Q_i = w_i d_i^T p (exactly 0 for b* itself), S p = B^T Q - m (sum_i Q_i). At small
    t nearly all the weight sits on b*, and the plain form (b_i - m)^T p = b_i^T p - m^T p would leave
    a rounding error of b*'s size, weighted by ~1, in a covariance whose true size is that of the
    other points' tiny weights.
    """
    m, k, c = p.shape
    n = geom.coords.shape[0]
    columns = np.ascontiguousarray(p.transpose(0, 2, 1).reshape(m * c, k))  # every query's c columns, as rows
    centre = np.matmul(geom.coords[nearest][:, None, :], p)[:, 0, :]  # b*^T p per query
    out_t = np.zeros((m * c, k))
    total = np.zeros((m, c))
    queries = np.arange(m)
    rows_per_slab = max(1, LOCAL_BYTES // (8 * m * c))
    for start in range(0, n, rows_per_slab):
        rows = slice(start, min(n, start + rows_per_slab))
        b = geom.coords[rows]
        proj = product(b, columns, 1.0, n_threads).reshape(-1, m, c)
        proj -= centre
        own = (nearest >= rows.start) & (nearest < rows.stop)
        proj[nearest[own] - rows.start, queries[own]] = 0.0  # d_i = 0 exactly for b* itself
        proj *= w[:, rows].T[:, :, None]
        total += proj.sum(axis=0)
        b_t = geom.coords_t if rows_per_slab >= n else np.ascontiguousarray(geom.coords_t[:, rows])
        out_t += product(np.ascontiguousarray(proj.reshape(-1, m * c).T), b_t, 1.0, n_threads)
    out = out_t.reshape(m, c, k).transpose(0, 2, 1) - mean[:, :, None] * total[:, None, :]
    return np.ascontiguousarray(out)


def local_directions(geom: LocalGeometry, a: np.ndarray, t_cov: float, kern: Local, rng: np.random.Generator,
                     product: Product = _numpy_product, n_threads: int = 0, start: Optional[np.ndarray] = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The directions U (m x k x r, orthonormal columns) and scales D (m x r) of the local kernel at
    queries a (m x k), from the local covariance at time t_cov; and the subspace for the next call.

    Without ``start``: ``kern.n_iter`` subspace iterations from Gaussian columns, then Rayleigh-Ritz.
    With ``start`` (m x k x c, orthonormal: what the previous call of a sampler run returned for the
    same queries, one step earlier), Rayleigh-Ritz on it directly: the iteration goes on across the
    steps, one product S P per step, while the queries and their covariances move slowly. Either way
    the next subspace is the orthonormalised S P of this call (one more iteration).
    """
    m, k = a.shape
    r = min(kern.rank, k)  # directions beyond the span's k carry no variance: scale 0 (padded below)
    w = local_weights(geom, a, t_cov, kern.covariance == "squared", product, n_threads)
    nearest = w.argmax(axis=1)
    mean = product(w, geom.coords_t, 1.0, n_threads)  # sum_i w_i b_i, one product for all queries
    cols = min(k, r + kern.oversample)
    if start is not None and start.shape == (m, k, cols):
        basis = start
    else:
        basis, _ = np.linalg.qr(rng.standard_normal((m, k, cols)))
        for _ in range(kern.n_iter):
            basis, _ = np.linalg.qr(apply_covariance(geom, w, mean, nearest, basis, product, n_threads))
    image = apply_covariance(geom, w, mean, nearest, basis, product, n_threads)
    ritz = np.matmul(basis.transpose(0, 2, 1), image)
    evals, evecs = np.linalg.eigh(0.5 * (ritz + ritz.transpose(0, 2, 1)))
    top = slice(cols - 1, cols - 1 - r, -1) if cols > r else slice(None, None, -1)
    evals = np.maximum(evals[:, top], 0.0)
    directions = np.matmul(basis, evecs[:, :, top])
    kept = evals > EIGEN_FLOOR * evals[:, :1]
    if kern.scale == "whiten":
        scales = kept.astype(np.float64)
    else:
        lam = np.where(kept, evals, 0.0)
        level = lam.mean(axis=1, keepdims=True)
        scales = np.sqrt(np.divide(lam, level, out=np.zeros_like(lam), where=level > 0))
    if r < kern.rank:
        pad = ((0, 0), (0, 0), (0, kern.rank - r))
        directions, scales = np.pad(directions, pad), np.pad(scales, pad[1:])
    return directions, scales, np.linalg.qr(image)[0]


@dataclass(frozen=True)
class LocalDraws:
    """The local kernel's draws for a chunk of queries: directions U (mq, k, r), scales D (mq, r),
    standardised draws z (mq, n, r) and the bandwidth h: Y_qj = h U_q D_q z_qj (in the k coordinates).
    """

    u: np.ndarray
    s: np.ndarray
    z: np.ndarray
    h: float
    #: the subspace the next call on these queries starts from (see :func:`local_directions`)
    subspace: Optional[np.ndarray] = None

    def coefficients(self, rows: slice = slice(None)) -> np.ndarray:
        """The draws' coordinates h D z (mq, n, r) on each query's directions."""
        return self.h * self.z[rows] * self.s[rows, None, :]

    def coords(self, rows: slice = slice(None)) -> np.ndarray:
        """The draws' k coordinates (mq, n, k)."""
        return np.matmul(self.coefficients(rows), self.u[rows].transpose(0, 2, 1))

    def second_moment(self, rows: slice = slice(None)) -> np.ndarray:
        """E|Y|^2 of each query's kernel, h^2 |D|^2 (mq,)."""
        return self.h * self.h * np.einsum("qr,qr->q", self.s[rows], self.s[rows])


def local_chunks(m: int, geom: LocalGeometry, kern: Local, n: int) -> list[slice]:
    """Chunks of queries whose weights, products and draws fit :data:`LOCAL_BYTES` (the same chunks for
    every backend, so that one seed gives one set of draws).
    """
    big_n, k = geom.coords.shape
    cols = min(k, kern.rank + kern.oversample)
    step = max(1, LOCAL_BYTES // (8 * max(big_n, k * cols, n * k, n * big_n)))
    return [slice(start, min(m, start + step)) for start in range(0, m, step)]


def make_local_draws(geom: LocalGeometry, kern: Local, x64: np.ndarray, t: float, h: float, n: int,
                     antithetic: bool, method: str, rng: np.random.Generator, product: Product = _numpy_product,
                     n_threads: int = 0, start: Optional[np.ndarray] = None) -> LocalDraws:
    """The local kernel's directions at queries x (mq x d) and time t, and n standardised draws each."""
    u, s, subspace = local_directions(geom, geom.query_coords(x64), kern.covariance_time(t), kern, rng, product,
                                      n_threads, start)
    z = standard_draws(rng, x64.shape[0], n, kern.rank, antithetic, method)
    return LocalDraws(u, s, z, h, subspace)


def fresh_draws_of(geom: LocalGeometry, draws: LocalDraws, antithetic: bool, rows: slice = slice(None)
                   ) -> FreshDraws:
    """The draws of queries ``rows`` as the brute-force estimator takes them (``_estimate.by_fresh_draws``)."""
    y = draws.coords(rows)
    if antithetic:
        mean = np.zeros((y.shape[0], geom.mu.shape[0]))
    else:
        ybar = y.mean(axis=1)
        mean = ybar if geom.span is None else ybar @ geom.span.T
    return FreshDraws(y, mean, geom.span, draws.second_moment(rows))


def local_logits(geom: LocalGeometry, draws: LocalDraws, t: float, dtype: np.dtype) -> np.ndarray:
    """The draws' logits C_qji = -Y_qj . (x_i - mu) / t (mq x n x N): the double-KDE factorisation with each
    query's own basis (x_i - mu) U_q D_q, N x r products, not n x N x d.
    """
    basis = np.matmul(geom.coords, draws.u)  # (mq, N, r)
    c = np.matmul(draws.coefficients(), basis.transpose(0, 2, 1))
    c *= -1.0 / t
    limit = float(np.finfo(dtype).max) / 4
    if not np.abs(c).max(initial=0.0) <= limit:
        raise ValueError(f"t = {t:g} is too small for this bandwidth in {np.dtype(dtype).name}: the smoothing "
                         f"logits reach beyond {limit:.3g}; use a larger t, a smaller bandwidth or float64 data")
    return np.ascontiguousarray(c, dtype=dtype)


def local_plan(kern: Local, source: Any, n_kernel: int, antithetic: bool, method: str) -> KernelPlan:
    """The plan of a local kernel: the data in the coordinates of their span (N < d) for its
    covariances (float64) and for the empirical calls at the shifted queries (compute dtype).
    """
    _check_local_source(source)
    mu = source.mean()
    span = source.span_factor()
    geometry = LocalGeometry.of(source.data, source.log_weights, mu, span)
    reduction = None
    if span is not None:  # the same coordinates in the compute dtype (what ``centred_basis`` would give)
        reduction = Reduction(span, np.ascontiguousarray(geometry.coords, dtype=source.dtype), source.log_weights)
    return KernelPlan(kern, None, kern.second_moment(None), mu, None, n_kernel, antithetic, 0.0,
                      resolve_method(method, kern.rank), False, reduction, geometry)


def _check_local_source(source: Any) -> None:
    """The local kernel reads the training set many times per call: it needs it in memory."""
    if not isinstance(source, InMemoryData):
        raise ValueError("kernels.Local needs the training set in memory (a NumPy array): its local "
                         "covariances read the data several times per call; a memmap or a ShardedData "
                         "is not supported")
