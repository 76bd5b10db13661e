"""Training sets beyond one machine: the exact reductions sharded over Dask (dask.distributed).

A data set cut into row shards, each persisted on a worker, gives the single-machine answer by
merging per-shard partial states (the reductions are written once, in :mod:`ledkde_fast._shards`).
Per call the queries (and draws) leave the client once and are shared by the rounds; nothing of
size m x N or m x n_kernel x d ever travels. Shards are built by tasks (from a Dask array's chunks,
from files the workers load, or from in-memory arrays embedded in the task), so a lost worker's
shards are rebuilt elsewhere and results stay exact and seeded.

Use :class:`ShardedData` wherever a function takes ``data``. This module is the only one that
imports Dask, and only when a ``ShardedData`` is built or used.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ._lse import LseState
from ._shards import ShardedSource, make_shard, partial_state, shard_summary

__all__ = ["ShardedData", "communication_bytes", "merge_states", "partial_state"]

#: Attempts of a round whose inputs were lost with a worker.
_RETRIES = 4


def merge_states(a: LseState, b: LseState) -> LseState:
    """Merge two partial states of the same queries (associative and commutative up to rounding).

    Parameters
    ----------
    a, b : LseState
        Partial states, e.g. from :func:`partial_state` on two shards.

    Returns
    -------
    LseState
        The state over both shards: the side with the smaller max is rescaled; an empty side
        (max = -inf) contributes nothing.
    """
    return a.merged(b)


class ShardedData(ShardedSource):
    """A data set held as row shards on the workers of a Dask cluster.

    Build it with :meth:`from_dask_array`, :meth:`from_paths` or :meth:`from_arrays`; pass it as
    ``data`` to the empirical and smoothed functions, :func:`ledkde_fast.sample` and
    :func:`ledkde_fast.nearest_neighbors`. Shards may be empty; all must have the same width.

    Parameters
    ----------
    client : distributed.Client
        The cluster's client.
    futures : list of distributed.Future
        One future per shard, each resolving to a validated shard.
    summaries : list of dict
        The shards' sizes and moments.
    """

    def __init__(self, client: Any, futures: list[Any], summaries: list[dict[str, Any]]):
        super().__init__(summaries)
        self.client = client
        self.futures = futures

    # -- construction
    @classmethod
    def _build(cls, client: Any, sources: Sequence[Any], weights: Optional[Sequence[Any]],
               loader: Optional[Callable[[Any], Any]], offsets: list[int]) -> ShardedData:
        client = _client(client)
        shard_weights = [None] * len(sources) if weights is None else list(weights)
        if len(shard_weights) != len(sources):
            raise ValueError("weights must give one array per shard")
        futures = [client.submit(make_shard, src, off, w, loader, pure=False)
                   for src, off, w in zip(sources, offsets, shard_weights)]
        summaries = client.gather([client.submit(shard_summary, f, pure=False) for f in futures])
        obj = cls(client, futures, summaries)
        obj.weighted = any(w is not None for w in shard_weights)
        if obj.weighted and obj.total_weight <= 0:
            raise ValueError("weights are all zero: at least one point needs positive weight")
        return obj

    @classmethod
    def from_arrays(cls, arrays: Sequence[Any], *, client: Any = None, weights: Optional[Sequence[Any]] = None
                    ) -> ShardedData:
        """Shards from in-memory arrays (each embedded in the task that builds it, so it can be rebuilt).

        Parameters
        ----------
        arrays : sequence of array_like, each of shape (n_k, d)
            The shards, in row order.
        client : distributed.Client, optional
            Default: the current client (``distributed.get_client()``).
        weights : sequence of array_like, optional
            One weight array per shard.

        Returns
        -------
        ShardedData
        """
        arrays = [np.asarray(a) for a in arrays]
        offsets = np.cumsum([0] + [a.shape[0] if a.ndim else 0 for a in arrays])[:-1]
        return cls._build(client, arrays, weights, None, offsets.tolist())

    @classmethod
    def from_paths(cls, paths: Sequence[Any], *, client: Any = None, loader: Optional[Callable[[Any], Any]] = None,
                   sizes: Optional[Sequence[int]] = None, weights: Optional[Sequence[Any]] = None) -> ShardedData:
        """Shards that the workers load themselves (``loader(path)``, default ``numpy.load``).

        Parameters
        ----------
        paths : sequence
            One path (or any object ``loader`` understands) per shard.
        client : distributed.Client, optional
            Default: the current client.
        loader : callable, optional
            ``loader(path) -> array``; default ``numpy.load``.
        sizes : sequence of int, optional
            Rows per file (for the row offsets); default: read from the loaded shards.
        weights : sequence of array_like, optional
            One weight array per shard.

        Returns
        -------
        ShardedData
        """
        load = np.load if loader is None else loader
        if sizes is None:
            client_ = _client(client)
            sizes = client_.gather([client_.submit(lambda p: np.asarray(load(p)).shape[0], p, pure=False)
                                    for p in paths])
        offsets = np.cumsum([0] + list(sizes))[:-1]
        return cls._build(client, list(paths), weights, load, offsets.tolist())

    @classmethod
    def from_dask_array(cls, array: Any, *, client: Any = None, weights: Any = None) -> ShardedData:
        """One shard per row chunk of a 2-D Dask array (chunked along rows only).

        Parameters
        ----------
        array : dask.array.Array, shape (N, d)
            Chunked along rows only.
        client : distributed.Client, optional
            Default: the current client.
        weights : dask.array.Array, shape (N,), optional
            Chunked like the rows of ``array``.

        Returns
        -------
        ShardedData
        """
        if array.ndim != 2 or len(array.chunks[1]) != 1:
            raise ValueError("data must be a 2-D dask array chunked along rows only")
        blocks = array.to_delayed().ravel().tolist()
        offsets = np.cumsum([0] + list(array.chunks[0]))[:-1].tolist()
        client = _client(client)
        futures_src = client.compute(blocks)
        wsrc = None if weights is None else client.compute(weights.to_delayed().ravel().tolist())
        return cls._build(client, futures_src, wsrc, None, offsets)

    @property
    def n_shards(self) -> int:
        """Number of shards, empty ones included."""
        return len(self.futures)

    # -- the rounds
    def _scatter(self, arrays: dict[str, Any], scattered: dict[str, Any]) -> None:
        """Send the arrays not yet in ``scattered`` to the cluster (once per call; workers fetch them
        from each other as their tasks need them).
        """
        for key, value in arrays.items():
            if key not in scattered:
                scattered[key] = self.client.scatter(value, hash=False)

    def _round(self, fn: Callable[..., Any], arrays: dict[str, Any], scattered: dict[str, Any], *args: Any
               ) -> list[Any]:
        """One task per non-empty shard, ``fn(shard, *args, **arrays)``, with the arrays sent once per
        call and shared by its rounds (``scattered``). Shards lost with a worker are rebuilt by Dask
        from their tasks; an array copy lost with it makes the round fail, and the arrays are then sent
        again and the round rerun (every task is deterministic, so a rerun gives the same numbers).
        """
        from asyncio import CancelledError as AsyncCancelled
        from concurrent.futures import CancelledError

        from distributed import KilledWorker
        from distributed.comm.core import CommClosedError

        live = [f for f, s in zip(self.futures, self.summaries) if s["n"]]
        retriable = (CancelledError, AsyncCancelled, KilledWorker, CommClosedError, OSError)
        for attempt in range(_RETRIES - 1):
            try:
                return self._submit(fn, live, arrays, scattered, args)
            except retriable:
                time.sleep(0.5 * (attempt + 1))
                scattered.clear()
        return self._submit(fn, live, arrays, scattered, args)  # the last attempt: its errors propagate

    def _submit(self, fn: Callable[..., Any], live: list[Any], arrays: dict[str, Any], scattered: dict[str, Any],
                args: tuple[Any, ...]) -> list[Any]:
        self._scatter(arrays, scattered)
        futures = [self.client.submit(fn, f, *args, pure=False, **scattered) for f in live]
        return self.client.gather(futures)


def _client(client: Any) -> Any:
    if client is not None:
        return client
    from distributed import get_client

    return get_client()


def communication_bytes(m: int, d: int, n_kernel: int, n_shards: int, itemsize: int = 8, r: Optional[int] = None
                        ) -> dict[str, dict[str, int]]:
    """Bytes per call (or sampler step) of the sharded protocol, by analysis.

    Parameters
    ----------
    m : int
        Queries (samples) per call.
    d : int
        Dimension.
    n_kernel : int
        Kernel draws per call.
    n_shards : int
        Shards holding data.
    itemsize : int
        Bytes per value of the queries.
    r : int, optional
        Dimension of the draws (the kernel's rank; default d).

    Returns
    -------
    dict
        ``{"empirical": {...}, "smoothed": {...}}``, each with ``to_workers`` (what the client sends:
        queries and draws once per call, and for round 2 the m x n_kernel log-normalisers; workers
        then share them peer to peer) and ``from_workers`` (the partial results of every shard).

    Examples
    --------
    >>> from ledkde_fast.distributed import communication_bytes
    >>> communication_bytes(10, 3, 64, 2)["empirical"]
    {'to_workers': 240, 'from_workers': 800}
    """
    r = d if r is None else r
    empirical = {"to_workers": m * d * itemsize, "from_workers": n_shards * m * (d + 2) * 8}
    smoothed = {"to_workers": m * d * itemsize + n_kernel * r * 8 + m * n_kernel * 8,
                "from_workers": n_shards * (2 * m * n_kernel * 8 + m * d * 8)}
    return {"empirical": empirical, "smoothed": smoothed}
