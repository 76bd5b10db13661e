"""Training sets beyond one machine: the exact reductions sharded over Dask (dask.distributed).

Every quantity of the library is a sum over the training points, so a data set cut into row shards
(each persisted on a worker) gives the single-machine answer by merging per-shard partial states:

* empirical quantities: each shard returns the streaming log-sum-exp state of the queries
  (max, scaled sum, scaled weighted sum), merged associatively by :func:`merge_states`;
* smoothed quantities (shared kernel draws): two rounds per call. Round 1: each shard returns, per
  query and draw, the (max, sum) of its part of LSE_i(A_i + C_ji), from which the client forms the
  global log-normalisers Z (m x n_kernel scalars). Round 2: each shard returns its contribution
  sum_j sum_i exp(A_i + C_ji - Z_qj) x_i (m x d) given Z. The draws are made on the client;
* nearest neighbours: each shard returns its k best, merged by distance.

Per call the queries (and draws) leave the client once and are shared by the rounds; nothing of size
m x N or m x n_kernel x d ever travels. Shards are built by tasks (from a Dask array's chunks, from files the
workers load, or from in-memory arrays embedded in the task), so a lost worker's shards are rebuilt
elsewhere and results stay exact and seeded.

Use :class:`ShardedData` wherever a function takes ``data``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from ._streaming import LseState
from ._validation import as_data, as_log_weights, result_dtype

__all__ = ["ShardedData", "communication_bytes", "merge_states", "partial_state"]

#: Attempts of a round whose inputs were lost with a worker.
_RETRIES = 4


# ----------------------------------------------------------------------------- partial states
def partial_state(x, shard, t, *, log_weights=None, want_acc=True, backend="auto", n_threads=0) -> LseState:
    """Streaming log-sum-exp state of queries ``x`` over one shard of data (C-contiguous, the same
    float dtype as ``x``). ``log_weights`` are the shard's *unnormalised* log weights (or None)."""
    from ._backends import get_backend

    be = get_backend(backend)
    state = LseState.empty(x.shape[0], x.shape[1], want_acc)
    if shard.shape[0] and x.shape[0]:
        be.lse_accumulate(x, shard, log_weights, t, state, n_threads)
    return state


def merge_states(a: LseState, b: LseState) -> LseState:
    """Merge two partial states of the same queries (associative and commutative up to rounding):
    rescale the side with the smaller max; an empty side (max = -inf) contributes nothing."""
    mx = np.maximum(a.max, b.max)
    finite = np.isfinite(mx)
    safe = np.where(finite, mx, 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        fa = np.where(np.isneginf(a.max), 0.0, np.exp(np.where(finite, a.max - safe, 0.0)))
        fb = np.where(np.isneginf(b.max), 0.0, np.exp(np.where(finite, b.max - safe, 0.0)))
    acc = None
    if a.acc is not None and b.acc is not None:
        acc = a.acc * fa[:, None] + b.acc * fb[:, None]
    return LseState(mx, a.sum * fa + b.sum * fb, acc)


# ----------------------------------------------------------------------------- shards (worker side)
@dataclass
class Shard:
    """One shard as held by a worker: rows ``offset .. offset + n`` of the data set."""

    data: np.ndarray
    log_w: Optional[np.ndarray]
    offset: int


def _make_shard(source, offset: int, weights, loader: Optional[Callable]) -> Shard:
    """Runs on a worker: load (if a path), validate exactly as local data is validated, keep float32
    as float32 and everything else as float64."""
    raw = loader(source) if loader is not None else source
    arr = np.asarray(raw)
    if arr.ndim == 2 and arr.shape[0] == 0:
        data = np.zeros((0, arr.shape[1]), dtype=result_dtype(arr.dtype) if arr.dtype.kind == "f" else np.float64)
        return Shard(data, None, offset)
    data = as_data(arr)
    data = np.ascontiguousarray(data, dtype=result_dtype(data.dtype))
    log_w = None
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or w.shape[0] != data.shape[0]:
            raise ValueError(f"weights must be a 1-D array with one entry per data point ({data.shape[0]}), "
                             f"got shape {w.shape}")
        if not np.isfinite(w).all():
            raise ValueError("weights contains NaN or infinite values")
        if (w < 0).any():
            raise ValueError("weights must be >= 0")
        with np.errstate(divide="ignore"):
            log_w = np.log(w)
    return Shard(data, log_w, offset)


def _shard_summary(shard: Shard) -> dict:
    """Sizes and the weighted moments the client needs (means, PCA directions, normalisers)."""
    x = shard.data.astype(np.float64)
    w = np.ones(x.shape[0]) if shard.log_w is None else np.exp(shard.log_w)
    return {"n": x.shape[0], "d": x.shape[1], "dtype": shard.data.dtype.str, "weight": float(w.sum()),
            "sum": x.sum(axis=0), "wsum": w @ x, "wscatter": (x * w[:, None]).T @ x}


def _lse_task(shard: Shard, t, want_acc, backend, n_threads, *, x) -> LseState:
    return partial_state(np.ascontiguousarray(x, dtype=shard.data.dtype), shard.data, t, log_weights=shard.log_w,
                         want_acc=want_acc, backend=backend, n_threads=n_threads)


def _c_block(shard: Shard, dirs, factor, mu, t):
    basis = (shard.data.astype(np.float64) - mu)
    if factor is not None:
        basis = basis @ factor
    dtype = shard.data.dtype
    return np.ascontiguousarray((dirs * (-1.0 / t)).astype(dtype) @ basis.astype(dtype).T)


def _round1_task(shard: Shard, factor, mu, t, backend, n_threads, *, x, dirs):
    x = np.ascontiguousarray(x, dtype=shard.data.dtype)
    c = _c_block(shard, dirs, factor, mu, t)
    if backend == "cpp":
        from . import _core

        return _core.dkde_normalisers(x, shard.data, shard.log_w, t, c, n_threads)
    a = _numpy_logits(x, shard, t)
    logits = a[:, None, :] + c[None, :, :]  # (m, kc, n): shards are small enough on the fallback path
    mx = logits.max(axis=2)
    return mx, np.exp(logits - mx[:, :, None]).sum(axis=2)


def _round2_task(shard: Shard, factor, mu, t, backend, n_threads, *, x, dirs, log_norm):
    x = np.ascontiguousarray(x, dtype=shard.data.dtype)
    c = _c_block(shard, dirs, factor, mu, t)
    if backend == "cpp":
        from . import _core

        return _core.dkde_weighted_sum(x, shard.data, shard.log_w, t, c, np.ascontiguousarray(log_norm), n_threads)
    a = _numpy_logits(x, shard, t)
    w = np.exp(a[:, None, :] + c[None, :, :] - log_norm[:, :, None]).sum(axis=1)
    return w @ shard.data.astype(np.float64)


def _numpy_logits(x, shard: Shard, t):
    x64, d64 = x.astype(np.float64), shard.data.astype(np.float64)
    diff = x64[:, None, :] - d64[None, :, :]
    a = -np.einsum("mnd,mnd->mn", diff, diff) / (2.0 * t)
    return a if shard.log_w is None else a + shard.log_w[None, :]


def _knn_task(shard: Shard, k, backend, n_threads, *, x):
    from .neighbors import nearest_neighbors

    k = min(k, shard.data.shape[0])
    dist, idx = nearest_neighbors(np.asarray(x, dtype=np.float64), shard.data, k, backend=backend,
                                  n_threads=n_threads or None)
    return dist, idx + shard.offset


# ----------------------------------------------------------------------------- client side
class ShardedData:
    """A data set held as row shards on the workers of a Dask cluster.

    Build it with :meth:`from_dask_array`, :meth:`from_paths` or :meth:`from_arrays`; pass it as
    ``data`` to the empirical and smoothed functions, :func:`ledkde_fast.sample` and
    :func:`ledkde_fast.nearest_neighbors`. Shards may be empty; all must have the same width.
    """

    _ledkde_sharded = True  # recognised by the public functions without importing dask

    def __init__(self, client, futures, summaries, backend="auto", n_threads=0):
        self.client = client
        self.futures = futures
        self.summaries = summaries
        widths = {s["d"] for s in summaries}
        if len(widths) != 1:
            raise ValueError(f"data shards have different numbers of columns: {sorted(widths)}")
        self.n = int(sum(s["n"] for s in summaries))
        if self.n == 0:
            raise ValueError("data is empty: at least one point is needed")
        self.d = widths.pop()
        dtypes = {np.dtype(s["dtype"]) for s in summaries if s["n"]}
        self.dtype = np.dtype(np.float32) if dtypes == {np.dtype(np.float32)} else np.dtype(np.float64)
        self.weighted = False
        self.total_weight = float(sum(s["weight"] for s in summaries))
        self.backend = backend
        self.n_threads = n_threads

    # -- construction
    @classmethod
    def _build(cls, client, sources, weights, loader, offsets):
        client = _client(client)
        weights = [None] * len(sources) if weights is None else list(weights)
        if len(weights) != len(sources):
            raise ValueError("weights must give one array per shard")
        futures = [client.submit(_make_shard, src, off, w, loader, pure=False)
                   for src, off, w in zip(sources, offsets, weights)]
        summaries = client.gather([client.submit(_shard_summary, f, pure=False) for f in futures])
        obj = cls(client, futures, summaries)
        obj.weighted = any(w is not None for w in weights)
        if obj.weighted and obj.total_weight <= 0:
            raise ValueError("weights are all zero: at least one point needs positive weight")
        return obj

    @classmethod
    def from_arrays(cls, arrays: Sequence, *, client=None, weights=None) -> "ShardedData":
        """Shards from in-memory arrays (each embedded in the task that builds it, so it can be rebuilt)."""
        arrays = [np.asarray(a) for a in arrays]
        offsets = np.cumsum([0] + [a.shape[0] if a.ndim else 0 for a in arrays])[:-1]
        return cls._build(client, arrays, weights, None, offsets.tolist())

    @classmethod
    def from_paths(cls, paths: Sequence, *, client=None, loader=None, sizes=None, weights=None) -> "ShardedData":
        """Shards that the workers load themselves (``loader(path)``, default ``numpy.load``).
        Row offsets come from ``sizes`` (rows per file) or from the loaded shards."""
        loader = np.load if loader is None else loader
        if sizes is None:
            client_ = _client(client)
            sizes = client_.gather([client_.submit(lambda p: np.asarray(loader(p)).shape[0], p, pure=False)
                                    for p in paths])
        offsets = np.cumsum([0] + list(sizes))[:-1]
        return cls._build(client, list(paths), weights, loader, offsets.tolist())

    @classmethod
    def from_dask_array(cls, array, *, client=None, weights=None) -> "ShardedData":
        """One shard per row chunk of a 2-D Dask array (chunked along rows only)."""
        if array.ndim != 2 or len(array.chunks[1]) != 1:
            raise ValueError("data must be a 2-D dask array chunked along rows only")
        blocks = array.to_delayed().ravel().tolist()
        offsets = np.cumsum([0] + list(array.chunks[0]))[:-1].tolist()
        client = _client(client)
        futures_src = client.compute(blocks)
        wsrc = None if weights is None else client.compute(weights.to_delayed().ravel().tolist())
        return cls._build(client, futures_src, wsrc, None, offsets)

    # -- aggregate statistics
    @property
    def n_shards(self) -> int:
        return len(self.futures)

    def mean(self) -> np.ndarray:
        return sum(s["sum"] for s in self.summaries) / self.n

    def weighted_covariance(self) -> np.ndarray:
        w = self.total_weight
        mean = sum(s["wsum"] for s in self.summaries) / w
        return sum(s["wscatter"] for s in self.summaries) / w - np.outer(mean, mean)

    def log_mass(self) -> float:
        """log of the total weight that the unnormalised shard log weights carry (log N unweighted)."""
        return float(np.log(self.total_weight if self.weighted else self.n))

    def _live(self):
        return [f for f, s in zip(self.futures, self.summaries) if s["n"]]

    # -- reductions
    def _scatter(self, arrays: dict, scattered: dict) -> None:
        """Send the arrays not yet in ``scattered`` to the cluster (once per call; workers fetch them
        from each other as their tasks need them)."""
        for key, value in arrays.items():
            if key not in scattered:
                scattered[key] = self.client.scatter(value, hash=False)

    def _round(self, fn, arrays: dict, scattered: dict, *args):
        """One task per non-empty shard, ``fn(shard, *args, **arrays)``, with the arrays sent once per
        call and shared by its rounds (``scattered``). Shards lost with a worker are rebuilt by Dask
        from their tasks; an array copy lost with it makes the round fail, and the arrays are then sent
        again and the round rerun (every task is deterministic, so a rerun gives the same numbers)."""
        from asyncio import CancelledError as AsyncCancelled
        from concurrent.futures import CancelledError

        from distributed import KilledWorker
        from distributed.comm.core import CommClosedError

        live = self._live()
        for attempt in range(_RETRIES):
            try:
                self._scatter(arrays, scattered)
                futures = [self.client.submit(fn, f, *args, pure=False, **scattered) for f in live]
                return self.client.gather(futures)
            except (CancelledError, AsyncCancelled, KilledWorker, CommClosedError, OSError):
                if attempt == _RETRIES - 1:
                    raise
                time.sleep(0.5 * (attempt + 1))
                scattered.clear()
        raise AssertionError("unreachable")

    def lse_state(self, x, t, want_acc, backend="auto", n_threads=0) -> LseState:
        parts = self._round(_lse_task, {"x": x}, {}, t, want_acc, backend, n_threads)
        state = parts[0]
        for p in parts[1:]:
            state = merge_states(state, p)
        return state

    def double_kde(self, x, dirs, factor, mu, t, backend="auto", n_threads=0):
        """(sum over draws of the weighted sum (m x d), log-normalisers Z (m x n_draws))."""
        from ._backends import resolve_name

        name = resolve_name(backend)
        arrays, scattered = {"x": x, "dirs": dirs}, {}  # queries and draws travel once, for both rounds
        r1 = self._round(_round1_task, arrays, scattered, factor, mu, t, name, n_threads)
        mx = np.max([p[0] for p in r1], axis=0)
        safe = np.where(np.isfinite(mx), mx, 0.0)
        total = sum(np.where(np.isneginf(p[0]), 0.0, p[1] * np.exp(p[0] - safe)) for p in r1)
        with np.errstate(divide="ignore"):
            log_norm = safe + np.log(total)
        arrays["log_norm"] = log_norm
        r2 = self._round(_round2_task, arrays, scattered, factor, mu, t, name, n_threads)
        return sum(r2), log_norm

    def knn(self, x, k, backend="auto", n_threads=0):
        parts = self._round(_knn_task, {"x": x}, {}, k, backend, n_threads)
        dist = np.concatenate([p[0] for p in parts], axis=1)
        idx = np.concatenate([p[1] for p in parts], axis=1)
        order = np.lexsort((idx, dist), axis=1)[:, :k]
        return np.take_along_axis(dist, order, axis=1), np.take_along_axis(idx, order, axis=1)


class LocalShards(ShardedData):
    """An array too large for memory (a ``numpy.memmap``, or any array-like read in row blocks) seen as
    row shards processed one after another in this process: the same exact reductions as
    :class:`ShardedData`, with at most one shard in memory at a time."""

    #: Rows per shard are chosen so that one shard holds about this many bytes of input.
    SHARD_BYTES = 32 << 20

    def __init__(self, array, rows_per_shard: Optional[int] = None):
        if len(getattr(array, "shape", ())) != 2:
            raise ValueError("data must be a 2-D array of shape (N, d)")
        self.array = array
        n, d = array.shape
        itemsize = np.dtype(array.dtype).itemsize
        rows = rows_per_shard or max(1024, self.SHARD_BYTES // max(1, d * itemsize))
        self.slices = [slice(a, min(n, a + rows)) for a in range(0, n, rows)] or [slice(0, 0)]
        summaries = [_shard_summary(self._shard(sl)) for sl in self.slices]
        super().__init__(None, self.slices, summaries)

    def _shard(self, sl: slice) -> Shard:
        return _make_shard(self._read(sl), sl.start, None, None)

    def _read(self, sl: slice) -> np.ndarray:
        """Rows ``sl`` in ordinary memory. A file-backed C-ordered memmap is read with plain file I/O:
        pages touched through the mapping would stay resident and count against the process."""
        a = self.array
        if isinstance(a, np.memmap) and getattr(a, "filename", None) and a.flags.c_contiguous:
            row_bytes = a.shape[1] * a.dtype.itemsize
            with open(a.filename, "rb") as fh:
                fh.seek(a.offset + sl.start * row_bytes)
                flat = np.fromfile(fh, dtype=a.dtype, count=(sl.stop - sl.start) * a.shape[1])
            return flat.reshape(sl.stop - sl.start, a.shape[1])
        return np.array(a[sl])

    def _live(self):
        return [sl for sl, s in zip(self.slices, self.summaries) if s["n"]]

    def _round(self, fn, arrays: dict, scattered: dict, *args):
        return [fn(self._shard(sl), *args, **arrays) for sl in self._live()]


def _is_row_readable(data) -> bool:
    """An array-like that is not in memory as a NumPy array but can be read in row blocks (h5py and
    zarr arrays, for example): 2-D shape, a dtype and slicing."""
    return (not isinstance(data, (np.ndarray, list, tuple)) and not getattr(data, "_ledkde_sharded", False)
            and len(getattr(data, "shape", ())) == 2 and hasattr(data, "dtype") and hasattr(data, "__getitem__"))


def streamed(data):
    """A memmap or other row-readable array-like becomes :class:`LocalShards`, streamed in row blocks;
    anything else is returned as is."""
    return LocalShards(data) if isinstance(data, np.memmap) or _is_row_readable(data) else data


def _client(client):
    if client is not None:
        return client
    from distributed import get_client

    return get_client()


def is_sharded(data) -> bool:
    return isinstance(data, ShardedData)


def communication_bytes(m: int, d: int, n_kernel: int, n_shards: int, itemsize: int = 8, r: Optional[int] = None) -> dict:
    """Bytes per call (or sampler step), by analysis of the protocol: ``to_workers`` is what the client
    sends (queries and draws once per call, and for round 2 the m x n_kernel log-normalisers; workers
    then share them peer to peer); ``from_workers`` is what comes back in all (partial results of
    every shard)."""
    r = d if r is None else r
    empirical = {"to_workers": m * d * itemsize, "from_workers": n_shards * m * (d + 2) * 8}
    smoothed = {"to_workers": m * d * itemsize + n_kernel * r * 8 + m * n_kernel * 8,
                "from_workers": n_shards * (2 * m * n_kernel * 8 + m * d * 8)}
    return {"empirical": empirical, "smoothed": smoothed}
