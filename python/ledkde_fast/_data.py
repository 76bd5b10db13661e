"""The training set as the algorithms see it: one small protocol, three kinds of source.

* :class:`InMemoryData`: a NumPy array (and optional weights), reduced slab by slab by a backend;
* :class:`ledkde_fast._streaming.StreamedData`: a memmap or other row-readable array, read one slab
  at a time in this process;
* :class:`ledkde_fast.distributed.ShardedData`: row shards on a Dask cluster.

The estimators (:mod:`ledkde_fast._estimate`) are written once against :class:`DataSource`;
:func:`as_source` picks the kind, and only a ``ShardedData`` built by the user brings Dask in.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Optional, Protocol, Union

import numpy as np

from ._backends import get_backend, operation
from ._knn import knn_in_memory
from ._lse import LseState, log_of, merge_lse
from ._shards import ShardedSource, centred_basis
from ._streaming import StreamedData, is_row_readable, lse_over_slabs
from ._validation import as_data, as_log_weights, as_queries, as_threads, as_time, result_dtype
from .kernels import Kernel

#: Memory budget, in bytes, for each of the (queries x N) weight accumulator and the (draws x N) block
#: of draw logits C of the one-pass double-KDE.
CHUNK_BYTES = 64 << 20
#: Data rows per slab of the two-round double-KDE: a query's logit row of a slab stays in cache.
CACHE_SLAB_ROWS = 1 << 15


class DataSource(Protocol):
    """What the estimators need from a training set (all results float64 unless said otherwise)."""

    n: int
    d: int
    dtype: np.dtype

    def mean(self) -> np.ndarray: ...

    def log_mass(self) -> float:
        """Log of the total weight carried by the log weights the source reduces with."""
        ...

    def kernel_factor(self, kern: Kernel) -> Optional[np.ndarray]: ...

    def span_factor(self) -> Optional[np.ndarray]:
        """An orthonormal basis (d x r) of the span of the centred points, when cheap to have."""
        ...

    def kernel_basis(self, mu: np.ndarray, factor: Optional[np.ndarray]) -> Optional[np.ndarray]:
        """(x_i - mu) F for every point, when the source keeps it for reuse (else None)."""
        ...

    def sample_rows(self, count: int, seed: int) -> np.ndarray: ...

    def lse_state(self, x: np.ndarray, t: float, want_acc: bool, backend: str, n_threads: int) -> LseState: ...

    def double_kde(self, x: np.ndarray, t: float, dirs: np.ndarray, factor: Optional[np.ndarray], mu: np.ndarray,
                   basis: Optional[np.ndarray], backend: str, n_threads: int, want_acc: bool = True,
                   mirrored: bool = False) -> tuple[Optional[np.ndarray], np.ndarray]:
        """(sum over draws of the weighted sums of the points (m x d; None without ``want_acc``), sum
        over draws of the log-normalisers (m,)), for draws whose logits are C = -(dirs . basis^T) / t.
        ``mirrored``: the second half of ``dirs`` is the first half negated (antithetic draws), which a
        source may use to form only half of C.
        """
        ...

    def knn(self, x: np.ndarray, k: int, backend: str, n_threads: int) -> tuple[np.ndarray, np.ndarray]: ...


class InMemoryData:
    """A training set in memory: C-contiguous points in the compute dtype and normalised log weights."""

    def __init__(self, data: np.ndarray, log_weights: Optional[np.ndarray] = None):
        self.data = data
        self.log_weights = log_weights
        self.n, self.d = data.shape
        self.dtype = data.dtype

    def mean(self) -> np.ndarray:
        return np.asarray(self.data.astype(np.float64, copy=False).mean(axis=0))

    def log_mass(self) -> float:
        return float(np.log(self.n)) if self.log_weights is None else 0.0

    def kernel_factor(self, kern: Kernel) -> Optional[np.ndarray]:
        return kern.factor(self.data.astype(np.float64, copy=False), self.log_weights)

    def span_factor(self) -> Optional[np.ndarray]:
        # The softmax weights see a draw Y only through Y . (x_i - mu): its component orthogonal to the
        # span of the centred data cancels, so an isotropic Gaussian can be drawn in that span (at most
        # N dimensions instead of d) when N < d.
        if self.n >= self.d:
            return None
        sv, vt = self._centred_svd
        if sv.size and sv.max() > 0:
            keep = sv > sv.max() * max(self.n, self.d) * np.finfo(np.float64).eps
        else:
            keep = sv > 0
        return np.ascontiguousarray(vt[keep].T) if keep.any() else np.zeros((self.d, 1))

    def centred_norm(self) -> float:
        """The largest singular value of the centred points (float64): from the span's SVD when N < d
        (a sampler needs both, for its start time and its draws: one SVD), else without vectors.
        """
        if self.n < self.d:
            sv = self._centred_svd[0]
        else:
            centred = self.data.astype(np.float64, copy=False) - self.mean()
            sv = np.linalg.svd(centred, compute_uv=False)
        return float(sv.max(initial=0.0))

    @cached_property
    def _centred_svd(self) -> tuple[np.ndarray, np.ndarray]:
        """Singular values and right singular vectors of the centred points (N < d: N x d, thin)."""
        data = self.data.astype(np.float64, copy=False)
        _, sv, vt = np.linalg.svd(data - self.mean(), full_matrices=False)
        return sv, vt

    @cached_property
    def _centred_t(self) -> tuple[np.ndarray, np.ndarray]:
        """The mean mu (float64) and the centred points transposed, (x_i - mu)^T (d x N, compute dtype):
        the double-KDE's weighted sums are one product with them, taken around the mean in the compute
        dtype as the exact kernel takes its own (made once per source: a sampler reuses it every step).
        """
        mu = self.mean()
        return mu, np.ascontiguousarray((self.data.astype(np.float64, copy=False) - mu).T, dtype=self.dtype)

    def kernel_basis(self, mu: np.ndarray, factor: Optional[np.ndarray]) -> Optional[np.ndarray]:
        return centred_basis(self.data, mu, factor)

    def sample_rows(self, count: int, seed: int) -> np.ndarray:
        if self.n <= count:
            return self.data
        return self.data[np.sort(np.random.default_rng(seed).choice(self.n, count, replace=False))]

    def lse_state(self, x: np.ndarray, t: float, want_acc: bool, backend: str, n_threads: int) -> LseState:
        return lse_over_slabs(x, self.data, self.log_weights, t, want_acc, backend, n_threads)

    def knn(self, x: np.ndarray, k: int, backend: str, n_threads: int) -> tuple[np.ndarray, np.ndarray]:
        return knn_in_memory(x, self.data, k, backend, n_threads)

    def double_kde(self, x: np.ndarray, t: float, dirs: np.ndarray, factor: Optional[np.ndarray], mu: np.ndarray,
                   basis: Optional[np.ndarray], backend: str, n_threads: int, want_acc: bool = True,
                   mirrored: bool = False) -> tuple[Optional[np.ndarray], np.ndarray]:
        assert basis is not None, "an in-memory source always has its kernel basis"
        m, n = x.shape[0], self.n
        j_step = max(1, CHUNK_BYTES // (n * self.dtype.itemsize))
        if get_backend(backend).TWO_ROUNDS_FOR_LARGE_PROBLEMS and m * n * 8 > CHUNK_BYTES:
            return self._two_rounds(x, t, dirs, basis, j_step, backend, n_threads, want_acc)
        matmul_nt = operation(backend, "matmul_nt")
        accumulate = operation(backend, "double_kde_accumulate")
        draw_blocks = [slice(j, j + j_step) for j in range(0, dirs.shape[0], j_step)]

        def c_block(rows: slice) -> np.ndarray:
            return matmul_nt(dirs[rows], basis, -1.0 / t, n_threads)

        kept = None
        if mirrored and len(draw_blocks) == 1:  # the second half's logits negate the first's (exactly): one product
            half = dirs.shape[0] // 2
            c = np.empty((dirs.shape[0], n), dtype=self.dtype)
            c[:half] = c_block(slice(0, half))
            np.negative(c[:half], out=c[half:])
            kept = [c]
        elif dirs.shape[0] * n * self.dtype.itemsize <= 4 * CHUNK_BYTES:  # small enough to keep for every chunk
            kept = [c_block(rows) for rows in draw_blocks]
        q_step = max(1, CHUNK_BYTES // (n * 8))
        acc = np.empty((m, self.d)) if want_acc else None
        zsum = np.empty(m)
        for q0 in range(0, m, q_step):
            xq = x[q0:q0 + q_step]
            wbar = np.zeros((xq.shape[0], n))
            zq = np.zeros(xq.shape[0])
            for c in kept if kept is not None else (c_block(rows) for rows in draw_blocks):
                accumulate(xq, self.data, self.log_weights, t, c, wbar, zq, n_threads)
            if acc is not None:  # sum_i wbar_qi x_i = wbar (x - mu) + (sum_i wbar_qi) mu
                mu, centred_t = self._centred_t
                acc[q0:q0 + q_step] = matmul_nt(wbar, centred_t, 1.0, n_threads)
                acc[q0:q0 + q_step] += np.outer(wbar.sum(axis=1), mu)
            zsum[q0:q0 + q_step] = zq
        return acc, zsum

    def _two_rounds(self, x: np.ndarray, t: float, dirs: np.ndarray, basis: np.ndarray, j_step: int, backend: str,
                    n_threads: int, want_acc: bool) -> tuple[Optional[np.ndarray], np.ndarray]:
        """The same sums without the (queries x N) weight accumulator, for large N: per block of draws
        and cache-sized slab of data, round 1 gives each query's log-normalisers (merged over slabs),
        round 2 the weighted sum (two exp passes instead of one, but O(m x draws) memory, every query
        tile in parallel, and logit rows that fit in cache). Without ``want_acc``, round 1 only.
        """
        matmul_nt = operation(backend, "matmul_nt")
        normalisers = operation(backend, "dkde_normalisers")
        weighted_sum = operation(backend, "dkde_weighted_sum")
        m, n = x.shape[0], self.n
        lw = self.log_weights
        slabs = [slice(a, min(n, a + CACHE_SLAB_ROWS)) for a in range(0, n, CACHE_SLAB_ROWS)]
        acc = np.zeros((m, self.d)) if want_acc else None
        zsum = np.zeros(m)
        for j in range(0, dirs.shape[0], j_step):
            block = np.ascontiguousarray(dirs[j:j + j_step], dtype=self.dtype)
            kept = [matmul_nt(block, basis[sl], -1.0 / t, n_threads) for sl in slabs] if len(slabs) > 1 else None

            def c_of(k: int, sl: slice, block: np.ndarray = block, kept: Optional[list] = kept) -> np.ndarray:
                return kept[k] if kept is not None else matmul_nt(block, basis[sl], -1.0 / t, n_threads)

            mx, sm = np.full((m, block.shape[0]), -np.inf), np.zeros((m, block.shape[0]))
            for k, sl in enumerate(slabs):
                part = normalisers(x, self.data[sl], None if lw is None else lw[sl], t, c_of(k, sl), n_threads)
                mx, sm, _ = merge_lse(mx, sm, part[0], part[1])
            log_norm = log_of(mx, sm)
            for k, sl in enumerate(slabs if acc is not None else ()):
                acc += weighted_sum(x, self.data[sl], None if lw is None else lw[sl], t, c_of(k, sl), log_norm,
                                    n_threads)
            zsum += log_norm.sum(axis=1)
        return acc, zsum


Source = Union[InMemoryData, ShardedSource]


def as_source(data: Any, weights: Any = None, dtype: Optional[np.dtype] = None) -> Source:
    """The data source for a ``data=`` argument: a ShardedData (or StreamedData) as is; a memmap or
    other row-readable array streamed; anything else validated as an in-memory array, converted to
    ``dtype`` (default: float32 stays float32, anything else float64).
    """
    if isinstance(data, (ShardedSource, InMemoryData)):
        if weights is not None:
            raise ValueError("weights of a ShardedData are given when it is built, not per call")
        return data
    if is_row_readable(data):
        if weights is not None:
            raise ValueError("weights are not supported for out-of-core data; pass an in-memory array")
        return StreamedData(data)
    arr = as_data(data)
    arr = np.ascontiguousarray(arr, dtype=result_dtype(arr.dtype) if dtype is None else dtype)
    return InMemoryData(arr, as_log_weights(weights, arr.shape[0]))


@dataclass(frozen=True)
class Problem:
    """Validated inputs of one call: queries in the compute dtype, C-contiguous, and the data source."""

    x: np.ndarray
    source: Any  # a DataSource
    t: float
    n_threads: int
    one_point: bool

    @property
    def dtype(self) -> np.dtype:
        return self.x.dtype

    def with_queries(self, x: np.ndarray, t: float) -> Problem:
        """The same data and threads with other queries (cast to the compute dtype) and time."""
        return Problem(np.ascontiguousarray(x, dtype=self.dtype), self.source, t, self.n_threads, False)

    def log_normaliser(self) -> float:
        """Log of the total weight the logits carry plus the Gaussian's (d/2) log(2 pi t)."""
        # log(2 pi) + log(t), not log(2 pi t): that product overflows for t above about 2.9e307
        return self.source.log_mass() + 0.5 * self.x.shape[1] * (float(np.log(2.0 * np.pi)) + float(np.log(self.t)))

    def shape_output(self, out: np.ndarray) -> np.ndarray:
        """Cast to the compute dtype; a single query point gives a single result."""
        with np.errstate(over="ignore"):  # beyond float32's range, +-inf is the correctly rounded value
            out = out.astype(self.dtype, copy=False)
        return out[0] if self.one_point else out


def prepare(x: Any, data: Any, t: Any, weights: Any = None, n_threads: Any = None) -> Problem:
    """Validate the arguments of a call over any kind of data."""
    if isinstance(data, ShardedSource) or is_row_readable(data):
        source = as_source(data, weights)
        xq, one_point = as_queries(x, source.d)
        dtype = result_dtype(xq.dtype, source.dtype)
    else:
        arr = as_data(data)
        xq, one_point = as_queries(x, arr.shape[1])
        dtype = result_dtype(xq.dtype, arr.dtype)
        source = InMemoryData(np.ascontiguousarray(arr, dtype=dtype), as_log_weights(weights, arr.shape[0]))
    return Problem(np.ascontiguousarray(xq, dtype=dtype), source, as_time(t), as_threads(n_threads), one_point)


def prepare_in_memory(x: Any, data: Any, t: Any, weights: Any = None, n_threads: Any = None) -> Problem:
    """:func:`prepare` for functions that need the points in memory (a memmap is read in whole)."""
    if isinstance(data, ShardedSource):
        raise TypeError("data must be an array here, not a ShardedData")
    return prepare(x, np.asarray(data) if is_row_readable(data) else data, t, weights, n_threads)
