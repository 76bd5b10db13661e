"""Local streaming: the one slab-size policy, the slab loop over an in-memory array, and data sets
that do not fit in memory (a ``numpy.memmap`` or any row-readable array-like) read one slab at a time.

A slab bounds what one kernel call sees (its packed copy of the data) and, out of core, what is in
memory at once; the per-query log-sum-exp states of the slabs merge exactly (:mod:`ledkde_fast._lse`).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ._backends import operation
from ._lse import LseState
from ._shards import Shard, ShardedSource, make_shard, shard_summary

#: Largest slab of the data handed to one kernel call or held in memory at once, in bytes of input.
SLAB_BYTES = 64 << 20
#: Fewest rows of a slab (below it, the per-call overhead dominates).
MIN_SLAB_ROWS = 1024


def slab_rows(d: int, itemsize: int) -> int:
    """Rows per slab for rows of ``d`` values of ``itemsize`` bytes."""
    return max(MIN_SLAB_ROWS, SLAB_BYTES // max(1, d * itemsize))


def slab_slices(n: int, d: int, itemsize: int) -> list[slice]:
    """The slabs of ``n`` rows (at least one, possibly empty)."""
    step = slab_rows(d, itemsize)
    return [slice(a, min(n, a + step)) for a in range(0, n, step)] or [slice(0, 0)]


def lse_over_slabs(x: np.ndarray, data: np.ndarray, log_w: Optional[np.ndarray], t: float, want_acc: bool,
                   backend: str, n_threads: int) -> LseState:
    """Streaming log-sum-exp state of the queries ``x`` over in-memory ``data``, slab by slab."""
    accumulate = operation(backend, "lse_accumulate")
    state = LseState.empty(x.shape[0], data.shape[1], want_acc)
    if x.shape[0] == 0:
        return state
    for rows in slab_slices(data.shape[0], data.shape[1], data.itemsize):
        accumulate(x, data[rows], None if log_w is None else log_w[rows], t, state, n_threads)
    empty = np.flatnonzero(np.isneginf(state.max))
    if empty.size:
        _fill_empty_rows(state, empty, x, data, log_w, t, n_threads)
    return state


def _fill_empty_rows(state: LseState, rows: np.ndarray, x: np.ndarray, data: np.ndarray,
                     log_w: Optional[np.ndarray], t: float, n_threads: int) -> None:
    """Rows of a state that saw no mass although some point has positive weight: every logit
    -|x - x_i|^2 / 2t overflowed the compute dtype. They are redone in float64 from explicit
    differences (the reference backend), which holds any float32 input; where even float64 overflows,
    the softmax is the limit it tends to, all weight on the nearest point (log-sum-exp -inf).
    """
    from ._knn import knn_in_memory  # _knn imports the backends too; kept local to keep this module small

    part = LseState.empty(rows.size, data.shape[1], state.acc is not None)
    accumulate = operation("reference", "lse_accumulate")
    for sl in slab_slices(data.shape[0], data.shape[1], 8):
        accumulate(x[rows], data[sl], None if log_w is None else log_w[sl], t, part, n_threads)
    still = np.isneginf(part.max)
    if still.any():
        keep = np.flatnonzero(np.isfinite(log_w)) if log_w is not None else np.arange(data.shape[0])
        _, idx = knn_in_memory(x[rows[still]], data[keep], 1, "reference", n_threads)
        part.sum[still] = 1.0
        if part.acc is not None:
            part.acc[still] = data[keep][idx[:, 0]]
    state.max[rows], state.sum[rows] = part.max, part.sum
    if state.acc is not None and part.acc is not None:
        state.acc[rows] = part.acc


def is_row_readable(data: Any) -> bool:
    """A memmap, or an array-like that is not a NumPy array but can be read in row blocks (h5py and
    zarr arrays, for example): 2-D shape, a dtype and slicing.
    """
    if isinstance(data, np.memmap):
        return True
    return (not isinstance(data, (np.ndarray, list, tuple, ShardedSource))
            and len(getattr(data, "shape", ())) == 2 and hasattr(data, "dtype") and hasattr(data, "__getitem__"))


def read_rows(array: Any, rows: slice) -> np.ndarray:
    """Rows ``rows`` of an out-of-core array in ordinary memory. A file-backed C-ordered memmap is read
    with plain file I/O: pages touched through the mapping would stay resident and count against
    the process.
    """
    # only a memmap that owns its mapping: a slice of one keeps the parent's filename and offset
    owns_mapping = isinstance(array, np.memmap) and array.base is getattr(array, "_mmap", None)
    if owns_mapping and getattr(array, "filename", None) and array.flags.c_contiguous:
        row_bytes = array.shape[1] * array.dtype.itemsize
        with open(str(array.filename), "rb") as fh:
            fh.seek(array.offset + rows.start * row_bytes)
            flat = np.fromfile(fh, dtype=array.dtype, count=(rows.stop - rows.start) * array.shape[1])
        return flat.reshape(rows.stop - rows.start, array.shape[1])
    return np.array(array[rows])


class StreamedData(ShardedSource):
    """An array too large for memory seen as slabs processed one after another in this process: the
    same exact reductions as the Dask-sharded source, with at most one slab in memory at a time.
    """

    def __init__(self, array: Any):
        if len(getattr(array, "shape", ())) != 2:
            raise ValueError("data must be a 2-D array of shape (N, d)")
        self.array = array
        n, d = array.shape
        self.slices = slab_slices(n, d, np.dtype(array.dtype).itemsize)
        super().__init__([shard_summary(self._shard(sl)) for sl in self.slices])

    def _shard(self, rows: slice) -> Shard:
        return make_shard(read_rows(self.array, rows), rows.start, None, None)

    def _round(self, fn: Any, arrays: dict[str, Any], scattered: dict[str, Any], *args: Any) -> list[Any]:
        return [fn(self._shard(sl), *args, **arrays) for sl, s in zip(self.slices, self.summaries) if s["n"]]

    def sample_rows(self, count: int, seed: int) -> np.ndarray:
        """At most ``count`` random rows, read in increasing order."""
        n = self.n
        if n <= count:
            return read_rows(self.array, slice(0, n))
        rows = np.sort(np.random.default_rng(seed).choice(n, count, replace=False))
        if isinstance(self.array, np.memmap):
            return np.asarray(self.array[rows])
        # row-readable arrays promise slices, not fancy indexing (zarr, for one, differs from NumPy)
        return np.concatenate([np.asarray(self.array[i:i + 1]) for i in rows])
