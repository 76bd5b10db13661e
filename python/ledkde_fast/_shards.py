"""Data sets held as row shards: the exact reductions written once for every sharded source.

Every quantity of the library is a sum over the training points, so a data set cut into row shards
gives the single-array answer by merging per-shard partial results:

* empirical quantities: each shard returns the streaming log-sum-exp state of the queries, merged
  by :func:`ledkde_fast._lse.merge_lse`;
* smoothed quantities (shared kernel draws): two rounds per call. Round 1: each shard returns, per
  query and draw, the (max, sum) of its part of LSE_i(A_i + C_ji), from which the caller forms the
  global log-normalisers Z (m x n_kernel). Round 2: each shard returns its contribution
  sum_j sum_i exp(A_i + C_ji - Z_qj) x_i (m x d) given Z;
* nearest neighbours: each shard returns its k best, merged by distance;
* the local kernel (:mod:`ledkde_fast._local`): its own tasks, one round per covariance product
  (:meth:`ShardedSource.map_shards`) and the two double-KDE rounds with each query's own draws
  (:meth:`ShardedSource.double_kde_rounds`).

:class:`ShardedSource` implements these once, over an abstract ``_round`` that runs one task per
shard: in this process one slab after another (:class:`ledkde_fast._streaming.StreamedData`) or on
a Dask cluster (:class:`ledkde_fast.distributed.ShardedData`). The task functions are plain,
picklable module-level functions; none of this module imports Dask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from ._backends import operation
from ._lse import LseState, log_of, merge_lse
from ._validation import as_data, as_weights, result_dtype
from .kernels import PCA, Kernel, Samples, principal_directions


@dataclass
class Shard:
    """One shard: rows ``offset .. offset + n`` of the data set, with their unnormalised log weights."""

    data: np.ndarray
    log_w: Optional[np.ndarray]
    offset: int


def make_shard(source: Any, offset: int, weights: Any, loader: Optional[Callable[[Any], Any]]) -> Shard:
    """Load (if a path) and validate a shard exactly as local data is validated; float32 stays float32,
    everything else becomes float64. Runs where the shard will live.
    """
    raw = loader(source) if loader is not None else source
    arr = np.asarray(raw)
    if arr.ndim == 2 and arr.shape[0] == 0:
        data = np.zeros((0, arr.shape[1]), dtype=result_dtype(arr.dtype) if arr.dtype.kind == "f" else np.float64)
        return Shard(data, None, offset)
    data = as_data(arr)
    data = np.ascontiguousarray(data, dtype=result_dtype(data.dtype))
    log_w = None
    if weights is not None:
        with np.errstate(divide="ignore"):
            log_w = np.log(as_weights(weights, data.shape[0]))
    return Shard(data, log_w, offset)


def shard_summary(shard: Shard) -> dict[str, Any]:
    """Sizes and the weighted moments a caller needs (means, PCA directions, normalisers)."""
    x = shard.data.astype(np.float64)
    w = np.ones(x.shape[0]) if shard.log_w is None else np.exp(shard.log_w)
    return {"n": x.shape[0], "d": x.shape[1], "dtype": shard.data.dtype.str, "weight": float(w.sum()),
            "sum": x.sum(axis=0), "wsum": w @ x, "wscatter": (x * w[:, None]).T @ x}


def partial_state(x: np.ndarray, shard: np.ndarray, t: float, *, log_weights: Optional[np.ndarray] = None,
                  want_acc: bool = True, backend: str = "auto", n_threads: int = 0) -> LseState:
    """Streaming log-sum-exp state of queries ``x`` over one shard of data (C-contiguous, the same
    float dtype as ``x``). ``log_weights`` are the shard's *unnormalised* log weights (or None).
    """
    state = LseState.empty(x.shape[0], x.shape[1], want_acc)
    if shard.shape[0] and x.shape[0]:
        operation(backend, "lse_accumulate")(x, shard, log_weights, t, state, n_threads)
    return state


# ----------------------------------------------------------------------------- per-shard tasks
def in_common_dtype(shard: Shard, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Queries and shard in their common compute dtype (float32 only if both are), as for in-memory data."""
    dtype = result_dtype(x.dtype, shard.data.dtype)
    return np.ascontiguousarray(x, dtype=dtype), np.ascontiguousarray(shard.data, dtype=dtype)



def _lse_task(shard: Shard, t: float, want_acc: bool, backend: str, n_threads: int, *, x: np.ndarray) -> LseState:
    xq, data = in_common_dtype(shard, x)
    return partial_state(xq, data, t, log_weights=shard.log_w, want_acc=want_acc, backend=backend,
                         n_threads=n_threads)


def _c_block(data: np.ndarray, dirs: np.ndarray, factor: Optional[np.ndarray], mu: np.ndarray, t: float,
             backend: str, n_threads: int) -> np.ndarray:
    """C = -(dirs . basis^T) / t for these rows, basis = (x_i - mu) F, in the rows' dtype."""
    basis = centred_basis(data, mu, factor)
    return operation(backend, "matmul_nt")(np.asarray(dirs, dtype=data.dtype), basis, -1.0 / t, n_threads)


def centred_basis(data: np.ndarray, mu: np.ndarray, factor: Optional[np.ndarray]) -> np.ndarray:
    """(x_i - mu) F in the data's dtype, C-contiguous; no product for explicit samples (F None) or F = I."""
    centred = data.astype(np.float64, copy=False) - mu
    if factor is not None and not is_identity(factor):
        centred = centred @ factor
    return np.ascontiguousarray(centred, dtype=data.dtype)


def is_identity(factor: np.ndarray) -> bool:
    """Whether a factor is the d x d identity (the isotropic Gaussian kernel's)."""
    n = factor.shape[0]
    return factor.shape == (n, n) and bool(np.array_equal(factor, np.eye(n)))


def _round1_task(shard: Shard, factor: Optional[np.ndarray], mu: np.ndarray, t: float, backend: str,
                 n_threads: int, *, x: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xq, data = in_common_dtype(shard, x)
    c = _c_block(data, dirs, factor, mu, t, backend, n_threads)
    return operation(backend, "dkde_normalisers")(xq, data, shard.log_w, t, c, n_threads)


def _round2_task(shard: Shard, factor: Optional[np.ndarray], mu: np.ndarray, t: float, backend: str,
                 n_threads: int, *, x: np.ndarray, dirs: np.ndarray, log_norm: np.ndarray) -> np.ndarray:
    xq, data = in_common_dtype(shard, x)
    c = _c_block(data, dirs, factor, mu, t, backend, n_threads)
    return operation(backend, "dkde_weighted_sum")(xq, data, shard.log_w, t, c, log_norm, n_threads)


def _knn_task(shard: Shard, k: int, backend: str, n_threads: int, *, x: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    from ._knn import knn_in_memory

    dist, idx = knn_in_memory(np.asarray(x, dtype=np.float64), shard.data, min(k, shard.data.shape[0]), backend,
                              n_threads)
    return dist, idx + shard.offset


# ----------------------------------------------------------------------------- the source
class ShardedSource:
    """A training set held as row shards, reduced exactly through per-shard tasks (``_round``).

    Subclasses provide ``_round(fn, arrays, scattered, *args)``: run ``fn(shard, *args, **arrays)`` on
    every non-empty shard and return the results in shard order.
    """

    def __init__(self, summaries: list[dict[str, Any]]):
        self.summaries = summaries
        widths = {s["d"] for s in summaries}
        if len(widths) != 1:
            raise ValueError(f"data shards have different numbers of columns: {sorted(widths)}")
        self.n = int(sum(s["n"] for s in summaries))
        if self.n == 0:
            raise ValueError("data is empty: at least one point is needed")
        self.d = int(widths.pop())
        dtypes = {np.dtype(s["dtype"]) for s in summaries if s["n"]}
        self.dtype = np.dtype(np.float32) if dtypes == {np.dtype(np.float32)} else np.dtype(np.float64)
        self.weighted = False
        self.total_weight = float(sum(s["weight"] for s in summaries))

    def _round(self, fn: Callable[..., Any], arrays: dict[str, Any], scattered: dict[str, Any], *args: Any
               ) -> list[Any]:
        raise NotImplementedError

    def map_shards(self, fn: Callable[..., Any], arrays: dict[str, Any], scattered: dict[str, Any], *args: Any
                   ) -> list[Any]:
        """One round of a reduction written elsewhere (the local kernel's, :mod:`ledkde_fast._local`):
        ``fn(shard, *args, **arrays)`` on every non-empty shard, results in shard order. ``fn`` must be
        a picklable module-level function; ``scattered`` carries the arrays already sent in this call
        (drop a key from it to send a changed array again).
        """
        return self._round(fn, arrays, scattered, *args)

    # -- aggregate statistics
    def mean(self) -> np.ndarray:
        """The unweighted mean of the points (float64)."""
        return np.asarray(sum(s["sum"] for s in self.summaries)) / self.n

    def weighted_covariance(self) -> np.ndarray:
        """The weighted covariance of the points (d x d, float64)."""
        w = self.total_weight
        mean = sum(s["wsum"] for s in self.summaries) / w
        return np.asarray(sum(s["wscatter"] for s in self.summaries)) / w - np.outer(mean, mean)

    def log_mass(self) -> float:
        """Log of the total weight that the unnormalised shard log weights carry (log N unweighted)."""
        return float(np.log(self.total_weight if self.weighted else self.n))

    def kernel_factor(self, kern: Kernel) -> Optional[np.ndarray]:
        """The factor F of a kernel's standardised draw, from the aggregated moments (no data moves)."""
        d = self.d
        if isinstance(kern, Samples):
            if kern.samples.shape[1] != d:
                raise ValueError(f"kernel samples has {kern.samples.shape[1]} rows/columns for the dimension but "
                                 f"data has d={d}")
            return None
        if isinstance(kern, PCA):
            if kern.rank > min(self.n, d):
                raise ValueError(f"rank={kern.rank} exceeds min(N, d) = {min(self.n, d)}")
            return principal_directions(self.weighted_covariance(), kern.rank)
        return kern.factor(np.zeros((1, d)), None)

    def span_factor(self) -> Optional[np.ndarray]:
        """No span reduction for sharded data: the Gaussian kernel is drawn in all d dimensions."""
        return None

    def kernel_basis(self, mu: np.ndarray, factor: Optional[np.ndarray]) -> Optional[np.ndarray]:
        """None: each shard forms its own basis in the round that needs it."""
        return None

    def sample_rows(self, count: int, seed: int) -> np.ndarray:
        """Rows for the sampler's default times; sharded data would have to gather them."""
        raise ValueError("sampling from a ShardedData needs explicit t_max and t_min")

    # -- reductions
    def lse_state(self, x: np.ndarray, t: float, want_acc: bool, backend: str, n_threads: int) -> LseState:
        """Log-sum-exp state of the queries over all shards."""
        parts = self._round(_lse_task, {"x": x}, {}, t, want_acc, backend, n_threads)
        state = parts[0]
        for part in parts[1:]:
            state = state.merged(part)
        return state

    def double_kde(self, x: np.ndarray, t: float, dirs: np.ndarray, factor: Optional[np.ndarray], mu: np.ndarray,
                   basis: Optional[np.ndarray], backend: str, n_threads: int, want_acc: bool = True,
                   mirrored: bool = False) -> tuple[Optional[np.ndarray], np.ndarray]:
        """(sum over draws of the weighted sums (m x d; None without ``want_acc``, which skips round 2),
        sum over draws of the log-normalisers (m,)). ``mirrored`` is not used: each shard's task forms
        its own C.
        """
        acc, log_norm = self.double_kde_rounds(_round1_task, _round2_task, {"x": x, "dirs": dirs},
                                               (factor, mu, t, backend, n_threads), want_acc)
        return acc, log_norm.sum(axis=1)

    def double_kde_rounds(self, first: Callable[..., Any], second: Callable[..., Any], arrays: dict[str, Any],
                          args: tuple[Any, ...], want_acc: bool) -> tuple[Optional[np.ndarray], np.ndarray]:
        """The two rounds of a double-KDE: ``first`` gives each shard's (max, sum) per query and draw,
        merged into the log-normalisers Z (m x n_draws); ``second`` (skipped without ``want_acc``) each
        shard's weighted sums given Z (``arrays["log_norm"]``), added. Returns (the sums, Z).
        """
        scattered: dict[str, Any] = {}  # queries and draws travel once, for both rounds
        r1 = self._round(first, arrays, scattered, *args)
        mx, sm = r1[0]
        for part in r1[1:]:
            mx, sm, _ = merge_lse(mx, sm, part[0], part[1])
        log_norm = log_of(mx, sm)
        if not want_acc:
            return None, log_norm
        r2 = self._round(second, {**arrays, "log_norm": log_norm}, scattered, *args)
        return np.asarray(sum(r2)), log_norm

    def knn(self, x: np.ndarray, k: int, backend: str, n_threads: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest points over all shards: exact float64 distances, then indices."""
        parts = self._round(_knn_task, {"x": x}, {}, k, backend, n_threads)
        dist = np.concatenate([p[0] for p in parts], axis=1)
        idx = np.concatenate([p[1] for p in parts], axis=1)
        order = np.lexsort((idx, dist), axis=1)[:, :k]
        return np.take_along_axis(dist, order, axis=1), np.take_along_axis(idx, order, axis=1)
