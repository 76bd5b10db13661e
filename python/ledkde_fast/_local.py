"""The local kernel (:class:`ledkde_fast.kernels.Local`): for each query, the top-r directions of the
training points' local covariance around it, and the kernel draws along them.

Everything happens in the coordinates of the data: b_i = V^T (x_i - mu) on an orthonormal basis V of
the span of the centred points when N < d in memory (k = dim of the span), else b_i = x_i - mu (k = d). The
local covariance of a query a (its coordinates) with weights w(a) (softmax of the logits
log w_i - |a - b_i|^2 / 2 t_c; squared weights for ``covariance="squared"``) is
S(a) = sum_i w_i (b_i - m)(b_i - m)^T, m = sum_i w_i b_i, and it acts on a block of vectors P by
two products against the data (written for all the queries of a chunk as two large matrix
products, around each query's heaviest point so that nothing cancels: :func:`apply_covariance`).
Randomised subspace iteration (``n_iter`` steps of S and a QR, from Gaussian columns) followed by a
Rayleigh-Ritz step gives the top eigenpairs without a k x k matrix per query; its cost is
(n_iter + 1) such products, each about ``2 (rank + oversample)`` empirical calls' worth of
multiply-adds (those of the logits, N k per query).

The same iteration runs on any data source through an operator ``apply(P) = S P``
(:func:`local_directions`): in memory the weights are kept (:class:`InMemoryCovariance`); for
row-sharded data (a memmap, a Dask ``ShardedData``: :class:`ShardedCovariance`) every product is one
round of per-shard tasks that rebuild their rows' weights from the global log-sum-exp and return
their share of the sums, so nothing of size N (or m x N) reaches the client. The draws' evaluation
on sharded data takes two more rounds (:func:`sharded_double_kde`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Union

import numpy as np

from ._backends import operation
from ._kernel_plan import FreshDraws, KernelPlan, Reduction, resolve_method, standard_draws
from ._lse import log_of, merge_lse
from ._shards import Shard, ShardedSource, in_common_dtype
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
    def n(self) -> int:
        return int(self.coords.shape[0])

    @property
    def k(self) -> int:
        return int(self.coords.shape[1])

    def query_coords(self, x64: np.ndarray) -> np.ndarray:
        """Coordinates a (m x k) of queries x (m x d)."""
        centred = x64 - self.mu
        return centred if self.span is None else centred @ self.span

    def covariance(self, a: np.ndarray, t_cov: float, squared: bool, product: Product, n_threads: int
                   ) -> InMemoryCovariance:
        """The local covariances of queries a, as an operator (weights computed once)."""
        return InMemoryCovariance(self, a, t_cov, squared, product, n_threads)


@dataclass(frozen=True)
class ShardedGeometry:
    """A row-sharded training set (:class:`ledkde_fast._shards.ShardedSource`) as the local kernel sees it:
    coordinates b_i = x_i - mu (k = d, no span reduction), formed by each shard from its own rows.
    """

    source: ShardedSource
    mu: np.ndarray
    span: None = None

    @property
    def n(self) -> int:
        return self.source.n

    @property
    def k(self) -> int:
        return self.source.d

    def query_coords(self, x64: np.ndarray) -> np.ndarray:
        """Coordinates a = x - mu (m x d) of queries x."""
        return x64 - self.mu

    def covariance(self, a: np.ndarray, t_cov: float, squared: bool, product: Product, n_threads: int
                   ) -> ShardedCovariance:
        """The local covariances of queries a, as an operator (one round of shard tasks per product)."""
        return ShardedCovariance(self, a, t_cov, squared, product, n_threads)


Geometry = Union[LocalGeometry, ShardedGeometry]


def _numpy_product(a: np.ndarray, b: np.ndarray, scale: float, n_threads: int) -> np.ndarray:
    """Return scale a b^T (the signature of the backends' ``matmul_nt``)."""
    return scale * (a @ b.T)


# ------------------------------------------------------------------- the covariance, on a block of rows
def _block_logits(coords: np.ndarray, sq_norms: np.ndarray, log_w: Optional[np.ndarray], a: np.ndarray,
                  t_cov: float, squared: bool, product: Product, n_threads: int) -> np.ndarray:
    """The logits (m x rows) of the local weights of queries a over these rows (twice them for squared
    weights: w^2 / sum w^2 is the softmax of twice the logits). ``log_w`` may be unnormalised.
    """
    # -|a - b_i|^2 / 2t up to -|a|^2 / 2t, the same for every point of a row (the softmax drops it):
    # without |a|^2, a far query (|a| beyond 1e154) does not overflow into inf - inf
    cross = product(np.ascontiguousarray(a), coords, 1.0, n_threads)
    logits = (cross - 0.5 * sq_norms) / t_cov
    if log_w is not None:
        logits += log_w
    if squared:
        logits *= 2.0
    return logits


def _columns(p: np.ndarray, star: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every query's c columns of p (m, k, c) as rows (m c, k), and b*^T p per query (m, c)."""
    m, k, c = p.shape
    columns = np.ascontiguousarray(p.transpose(0, 2, 1).reshape(m * c, k))
    return columns, np.matmul(star[:, None, :], p)[:, 0, :]


def _covariance_sums(coords: np.ndarray, coords_t: np.ndarray, w: np.ndarray, nearest: np.ndarray,
                     centre: np.ndarray, columns: np.ndarray, product: Product, n_threads: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Over these rows b (N x k), with Q_i = w_i (b_i - b*)^T p: (B^T Q)^T as (m c, k) and sum_i Q_i (m, c).

    ``nearest[q]`` is the row of query q's heaviest point b* among these rows (any other value when it
    is not among them): its Q is set to exactly 0. ``centre`` is b*^T p (m, c). Slabs of rows keep the
    (rows x m c) products within :data:`LOCAL_BYTES`.
    """
    n, k = coords.shape
    m, c = centre.shape
    out_t = np.zeros((m * c, k))
    total = np.zeros((m, c))
    queries = np.arange(m)
    rows_per_slab = max(1, LOCAL_BYTES // (8 * m * c))
    for start in range(0, n, rows_per_slab):
        rows = slice(start, min(n, start + rows_per_slab))
        b = coords[rows]
        proj = product(b, columns, 1.0, n_threads).reshape(-1, m, c)
        proj -= centre
        own = (nearest >= rows.start) & (nearest < rows.stop)
        proj[nearest[own] - rows.start, queries[own]] = 0.0  # d_i = 0 exactly for b* itself
        proj *= w[:, rows].T[:, :, None]
        total += proj.sum(axis=0)
        b_t = coords_t if rows_per_slab >= n else np.ascontiguousarray(coords_t[:, rows])
        out_t += product(np.ascontiguousarray(proj.reshape(-1, m * c).T), b_t, 1.0, n_threads)
    return out_t, total


def _covariance_image(out_t: np.ndarray, total: np.ndarray, mean: np.ndarray, shape: tuple[int, ...]
                      ) -> np.ndarray:
    """S p = B^T Q - m (sum_i Q_i), (m, k, c), from the sums of :func:`_covariance_sums` over all rows."""
    m, k, c = shape
    out = out_t.reshape(m, c, k).transpose(0, 2, 1) - mean[:, :, None] * total[:, None, :]
    return np.ascontiguousarray(out)


# ----------------------------------------------------------------------------- in memory
def local_weights(geom: LocalGeometry, a: np.ndarray, t_cov: float, squared: bool,
                  product: Product = _numpy_product, n_threads: int = 0) -> np.ndarray:
    """The weights (m x N, rows summing to 1) of the local covariance of queries a at time t_cov."""
    logits = _block_logits(geom.coords, geom.sq_norms, geom.log_weights, a, t_cov, squared, product, n_threads)
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
    other points' tiny weights. (The identity holds for any b*: the choice only moves rounding.)
    """
    columns, centre = _columns(p, geom.coords[nearest])
    out_t, total = _covariance_sums(geom.coords, geom.coords_t, w, nearest, centre, columns, product, n_threads)
    return _covariance_image(out_t, total, mean, p.shape)


class InMemoryCovariance:
    """The local covariances of queries a over data in memory: the weights w (m x N), each query's
    heaviest point and the weighted mean, kept for every product.
    """

    def __init__(self, geom: LocalGeometry, a: np.ndarray, t_cov: float, squared: bool, product: Product,
                 n_threads: int):
        self.geom, self.product, self.n_threads = geom, product, n_threads
        self.w = local_weights(geom, a, t_cov, squared, product, n_threads)
        self.nearest = self.w.argmax(axis=1)
        self.mean = product(self.w, geom.coords_t, 1.0, n_threads)  # sum_i w_i b_i, one product for all queries

    def apply(self, p: np.ndarray) -> np.ndarray:
        """S(a_q) p_q for every query (see :func:`apply_covariance`)."""
        return apply_covariance(self.geom, self.w, self.mean, self.nearest, p, self.product, self.n_threads)


# ----------------------------------------------------------------------------- on row shards
def _shard_coords(shard: Shard, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A shard's coordinates b_i = x_i - mu (float64, C-contiguous) and their squared norms."""
    coords = np.ascontiguousarray(shard.data.astype(np.float64, copy=False) - mu)
    return coords, np.einsum("ij,ij->i", coords, coords)


def _heaviest_task(shard: Shard, mu: np.ndarray, t_cov: float, squared: bool, product: Product, n_threads: int,
                   *, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per query, over this shard: (max logit, sum of exp(logit - max), coordinates and global index
    of the row of the max); the first such row on ties, as ``np.argmax``.
    """
    coords, sq_norms = _shard_coords(shard, mu)
    logits = _block_logits(coords, sq_norms, shard.log_w, a, t_cov, squared, product, n_threads)
    top = logits.argmax(axis=1)
    mx = logits[np.arange(a.shape[0]), top]
    logits -= np.where(np.isneginf(mx), 0.0, mx)[:, None]  # a shard without mass: sum 0, never NaN
    return mx, np.exp(logits, out=logits).sum(axis=1), coords[top], top + shard.offset


def _covariance_task(shard: Shard, mu: np.ndarray, t_cov: float, squared: bool, product: Product, n_threads: int,
                     with_mean: bool, *, a: np.ndarray, lse: np.ndarray, star: np.ndarray, star_index: np.ndarray,
                     p: np.ndarray) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """The shard's share of the sums of S p (:func:`_covariance_sums`), its rows' weights
    w_i = exp(logit_i - lse) formed from the global log-sum-exp; with ``with_mean`` also its share of
    sum_i w_i b_i (m x k).
    """
    coords, sq_norms = _shard_coords(shard, mu)
    coords_t = np.ascontiguousarray(coords.T)
    w = _block_logits(coords, sq_norms, shard.log_w, a, t_cov, squared, product, n_threads)
    w -= lse[:, None]
    np.exp(w, out=w)
    columns, centre = _columns(p, star)
    out_t, total = _covariance_sums(coords, coords_t, w, star_index - shard.offset, centre, columns, product,
                                    n_threads)
    return out_t, total, product(w, coords_t, 1.0, n_threads) if with_mean else None


def _merge_heaviest(parts: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The shards' (max, sum, heaviest row, its index) in shard order -> the global log-sum-exp of the
    logits (m,), the heaviest point b* (m x k) and its global index (m,): on ties the earliest shard,
    hence the lowest global index.
    """
    mx, sm, star, index = (np.array(v) for v in parts[0])
    for part_mx, part_sm, part_star, part_index in parts[1:]:
        better = part_mx > mx
        star[better], index[better] = part_star[better], part_index[better]
        mx, sm, _ = merge_lse(mx, sm, part_mx, part_sm)
    return log_of(mx, sm), star, index


class ShardedCovariance:
    """The local covariances of queries a over a row-sharded data set, never gathering its rows.

    One round (:func:`_heaviest_task`) gives each query's log-sum-exp of the logits and its heaviest
    point b* (the argmax over all rows); every :meth:`apply` is then one round
    (:func:`_covariance_task`) whose per-shard sums add up on the client; the first also brings the
    weighted mean m, which S p needs only after the sums. Cold (``n_iter`` iterations and the
    Rayleigh-Ritz image): n_iter + 2 rounds; warm (a sampler's later steps): 2. Each round rebuilds
    the shards' weights (a shard's m x N_shard logits, bounded by the chunking of
    :func:`local_chunks`) and re-reads a memmap's slabs.

    The numbers are the in-memory ones to rounding: the weights are exp(logit - lse) instead of
    exp(logit - max) / sum, and b* is the argmax of the logits rather than of the rounded weights
    (which can differ only between points whose weights round equal; S p is the same for any b*).
    """

    def __init__(self, geom: ShardedGeometry, a: np.ndarray, t_cov: float, squared: bool, product: Product,
                 n_threads: int):
        self.source = geom.source
        self.args = (geom.mu, t_cov, squared, product, n_threads)
        self.arrays: dict[str, Any] = {"a": np.ascontiguousarray(a)}
        self.scattered: dict[str, Any] = {}  # a, lse and b* travel once, for every round of the call
        lse, star, index = _merge_heaviest(self.source.map_shards(_heaviest_task, self.arrays, self.scattered,
                                                                  *self.args))
        self.arrays.update(lse=lse, star=star, star_index=index)
        self.mean: Optional[np.ndarray] = None

    def apply(self, p: np.ndarray) -> np.ndarray:
        """S(a_q) p_q for every query: one round."""
        self.arrays["p"] = p
        self.scattered.pop("p", None)  # the new block must travel
        parts = self.source.map_shards(_covariance_task, self.arrays, self.scattered, *self.args, self.mean is None)
        out_t, total = sum(part[0] for part in parts), sum(part[1] for part in parts)
        if self.mean is None:
            self.mean = np.asarray(sum(part[2] for part in parts))
        return _covariance_image(np.asarray(out_t), np.asarray(total), self.mean, p.shape)


# ----------------------------------------------------------------------------- the directions and draws
def local_directions(geom: Geometry, a: np.ndarray, t_cov: float, kern: Local, rng: np.random.Generator,
                     product: Product = _numpy_product, n_threads: int = 0, start: Optional[np.ndarray] = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The directions U (m x k x r, orthonormal columns) and scales D (m x r) of the local kernel at
    queries a (m x k), from the local covariance at time t_cov; and the subspace for the next call.

    Without ``start``: ``kern.n_iter`` subspace iterations from Gaussian columns, then Rayleigh-Ritz.
    With ``start`` (m x k x c, orthonormal: what the previous call of a sampler run returned for the
    same queries, one step earlier), Rayleigh-Ritz on it directly: the iteration goes on across the
    steps, one product S P per step, while the queries and their covariances move slowly. Either way
    the next subspace is the orthonormalised S P of this call (one more iteration). The products go
    through ``geom.covariance`` (in memory, or one round of shard tasks each).
    """
    m, k = a.shape
    r = min(kern.rank, k)  # directions beyond the span's k carry no variance: scale 0 (padded below)
    cov = geom.covariance(a, t_cov, kern.covariance == "squared", product, n_threads)
    cols = min(k, r + kern.oversample)
    if start is not None and start.shape == (m, k, cols):
        basis = start
    else:
        basis, _ = np.linalg.qr(rng.standard_normal((m, k, cols)))
        for _ in range(kern.n_iter):
            basis, _ = np.linalg.qr(cov.apply(basis))
    image = cov.apply(basis)
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


def local_chunks(m: int, geom: Geometry, kern: Local, n: int) -> list[slice]:
    """Chunks of queries whose weights, products and draws fit :data:`LOCAL_BYTES` (the same chunks for
    every backend and every kind of source, so that one seed gives one set of draws).
    """
    big_n, k = geom.n, geom.k
    cols = min(k, kern.rank + kern.oversample)
    step = max(1, LOCAL_BYTES // (8 * max(big_n, k * cols, n * k, n * big_n)))
    return [slice(start, min(m, start + step)) for start in range(0, m, step)]


def make_local_draws(geom: Geometry, kern: Local, x64: np.ndarray, t: float, h: float, n: int,
                     antithetic: bool, method: str, rng: np.random.Generator, product: Product = _numpy_product,
                     n_threads: int = 0, start: Optional[np.ndarray] = None) -> LocalDraws:
    """The local kernel's directions at queries x (mq x d) and time t, and n standardised draws each."""
    u, s, subspace = local_directions(geom, geom.query_coords(x64), kern.covariance_time(t), kern, rng, product,
                                      n_threads, start)
    z = standard_draws(rng, x64.shape[0], n, kern.rank, antithetic, method)
    return LocalDraws(u, s, z, h, subspace)


def fresh_draws_of(geom: Geometry, draws: LocalDraws, antithetic: bool, rows: slice = slice(None)
                   ) -> FreshDraws:
    """The draws of queries ``rows`` as the brute-force estimator takes them (``_estimate.by_fresh_draws``)."""
    y = draws.coords(rows)
    if antithetic:
        mean = np.zeros((y.shape[0], geom.mu.shape[0]))
    else:
        ybar = y.mean(axis=1)
        mean = ybar if geom.span is None else ybar @ geom.span.T
    return FreshDraws(y, mean, geom.span, draws.second_moment(rows))


# ----------------------------------------------------------------------------- the draws' evaluation
def local_logits(coords: np.ndarray, u: np.ndarray, coefficients: np.ndarray, t: float, dtype: np.dtype
                 ) -> np.ndarray:
    """The draws' logits C_qji = -Y_qj . (x_i - mu) / t (mq x n x N) over the points of coordinates
    ``coords`` (N x k), for draws of directions u (mq, k, r) and coefficients h D z (mq, n, r): the
    double-KDE factorisation with each query's own basis (x_i - mu) U_q D_q, N x r products, not n x N x d.
    """
    basis = np.matmul(coords, u)  # (mq, N, r)
    c = np.matmul(coefficients, basis.transpose(0, 2, 1))
    c *= -1.0 / t
    limit = float(np.finfo(dtype).max) / 4
    if not np.abs(c).max(initial=0.0) <= limit:
        raise ValueError(f"t = {t:g} is too small for this bandwidth in {np.dtype(dtype).name}: the smoothing "
                         f"logits reach beyond {limit:.3g}; use a larger t, a smaller bandwidth or float64 data")
    return np.ascontiguousarray(c, dtype=dtype)


def _each_query(shard: Shard, mu: np.ndarray, t: float, x: np.ndarray, u: np.ndarray, coefficients: np.ndarray
                ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """For each query in turn: the query (1 x d), the shard's rows and the query's logits C_q
    (n x N_shard), in their compute dtype; one C_q in memory at a time.
    """
    xq, data = in_common_dtype(shard, x)
    coords, _ = _shard_coords(shard, mu)
    for q in range(xq.shape[0]):
        yield xq[q:q + 1], data, local_logits(coords, u[q:q + 1], coefficients[q:q + 1], t, xq.dtype)[0]


def _local_normalisers_task(shard: Shard, mu: np.ndarray, t: float, backend: str, n_threads: int, *,
                            x: np.ndarray, u: np.ndarray, coefficients: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Round 1 of the evaluation: per query and draw, the (max, sum) of exp(A_qi + C_qji) over this shard
    (A with the shard's unnormalised log weights), one backend call per query.
    """
    normalisers = operation(backend, "dkde_normalisers")
    parts = [normalisers(xq, data, shard.log_w, t, c, n_threads)
             for xq, data, c in _each_query(shard, mu, t, x, u, coefficients)]
    return np.concatenate([part[0] for part in parts]), np.concatenate([part[1] for part in parts])


def _local_weighted_sum_task(shard: Shard, mu: np.ndarray, t: float, backend: str, n_threads: int, *,
                             x: np.ndarray, u: np.ndarray, coefficients: np.ndarray, log_norm: np.ndarray
                             ) -> np.ndarray:
    """Round 2: per query, sum_j sum_i exp(A_qi + C_qji - Z_qj) x_i over this shard (mq x d)."""
    weighted_sum = operation(backend, "dkde_weighted_sum")
    return np.concatenate([weighted_sum(xq, data, shard.log_w, t, c, log_norm[q:q + 1], n_threads)
                           for q, (xq, data, c) in enumerate(_each_query(shard, mu, t, x, u, coefficients))])


def sharded_double_kde(geom: ShardedGeometry, x: np.ndarray, draws: LocalDraws, t: float, backend: str,
                       n_threads: int, want_acc: bool) -> tuple[Optional[np.ndarray], np.ndarray]:
    """The double-KDE sums of queries x with draws of their own over a sharded data set, in the two
    rounds of :meth:`ledkde_fast._shards.ShardedSource.double_kde_rounds`: (sum over draws of the
    weighted sums of the points, mq x d, None without ``want_acc``; sum over draws of the
    log-normalisers, mq). Each shard forms its own logits C_q (two n x N_shard blocks per query, one
    per round) and calls the backend once per query and round: m small calls, fine for the few
    queries of a sampler's chunk, slower than the in-memory single call for many queries.
    """
    arrays = {"x": x, "u": draws.u, "coefficients": draws.coefficients()}
    acc, log_norm = geom.source.double_kde_rounds(_local_normalisers_task, _local_weighted_sum_task, arrays,
                                                  (geom.mu, t, backend, n_threads), want_acc)
    return acc, log_norm.sum(axis=1)


# ----------------------------------------------------------------------------- the plan
def local_plan(kern: Local, source: Any, n_kernel: int, antithetic: bool, method: str) -> KernelPlan:
    """The plan of a local kernel: in memory, the data in the coordinates of their span (N < d) for its
    covariances (float64) and for the empirical calls at the shifted queries (compute dtype); for
    sharded data, only the centre (each shard forms its coordinates in the rounds).
    """
    mu = source.mean()
    geometry: Geometry
    reduction = None
    if isinstance(source, ShardedSource):
        geometry = ShardedGeometry(source, mu)
    else:
        geometry = LocalGeometry.of(source.data, source.log_weights, mu, source.span_factor())
        if geometry.span is not None:  # the same coordinates in the compute dtype (what ``centred_basis`` would give)
            reduction = Reduction(geometry.span, np.ascontiguousarray(geometry.coords, dtype=source.dtype),
                                  source.log_weights)
    return KernelPlan(kern, None, kern.second_moment(None), mu, None, n_kernel, antithetic, 0.0,
                      resolve_method(method, kern.rank), False, reduction, geometry)
