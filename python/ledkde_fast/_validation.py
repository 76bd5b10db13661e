"""Validation and coercion of user input, done once, before any backend runs.

Rules (DESIGN.md section 3): float32 stays float32, every other real dtype becomes float64;
arrays become C-contiguous; errors are ``ValueError``/``TypeError`` naming the argument.
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from . import _env


def _as_real_array(value, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be array-like of real numbers ({exc})") from None
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must contain real numbers, got objects") from None
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} must be real, got complex dtype {arr.dtype}")
    if kind not in "biuf":
        raise TypeError(f"{name} must have a numeric dtype, got {arr.dtype}")
    return arr


def result_dtype(*dtypes) -> np.dtype:
    """float32 when every input is float32, float64 otherwise."""
    return np.dtype(np.float32) if all(np.dtype(dt) == np.float32 for dt in dtypes) else np.dtype(np.float64)


def _check_finite(arr: np.ndarray, name: str) -> None:
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")


def as_data(data, name: str = "data") -> np.ndarray:
    """Training points: a non-empty 2-D (N, d) real array."""
    arr = _as_real_array(data, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (N, d), got {arr.ndim} dimension(s)")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least one point is needed")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one column")
    _check_finite(arr, name)
    return arr


def as_queries(x, d: int, name: str = "x") -> tuple[np.ndarray, bool]:
    """Query points: (m, d), or a single point of shape (d,). Returns (2-D array, was_1d)."""
    arr = _as_real_array(x, name)
    if arr.ndim == 1:
        one_point = True
        arr = arr[None, :]
    elif arr.ndim == 2:
        one_point = False
    else:
        raise ValueError(f"{name} must be 1-D (one point) or 2-D (m, d), got {arr.ndim} dimensions")
    if arr.shape[1] != d:
        raise ValueError(f"{name} has {arr.shape[1]} columns but data has d={d}: dimension mismatch")
    _check_finite(arr, name)
    return arr, one_point


def as_time(t, name: str = "t") -> float:
    if isinstance(t, (bool, np.bool_)) or not isinstance(t, (numbers.Real, np.ndarray)):
        raise TypeError(f"{name} must be a real scalar, got {type(t).__name__}")
    if isinstance(t, np.ndarray):
        if t.ndim != 0 or t.dtype.kind not in "iuf":
            raise TypeError(f"{name} must be a real scalar, got an array of shape {t.shape}")
        t = t.item()
    t = float(t)
    if not np.isfinite(t) or t <= 0.0:
        raise ValueError(f"{name} must be finite and > 0, got {t}")
    return t


def as_log_weights(weights, n: int, name: str = "weights") -> Optional[np.ndarray]:
    """None (unit weights) or the float64 log of N non-negative weights, not all zero."""
    if weights is None:
        return None
    w = _as_real_array(weights, name)
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(f"{name} must be a 1-D array with one entry per data point ({n}), got shape {w.shape}")
    w = w.astype(np.float64)
    if not np.isfinite(w).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if (w < 0).any():
        raise ValueError(f"{name} must be >= 0")
    total = w.sum()
    if total <= 0:
        raise ValueError(f"{name} are all zero: at least one point needs positive weight")
    with np.errstate(divide="ignore"):
        return np.ascontiguousarray(np.log(w / total))


def as_threads(n_threads) -> int:
    """Thread count for the kernels: 0 means all available threads."""
    if n_threads is None:
        env = os.environ.get(_env.NUM_THREADS, "").strip()
        if not env:
            return 0
        try:
            n_threads = int(env)
        except ValueError:
            raise ValueError(f"{_env.NUM_THREADS} must be a positive integer, got {env!r}") from None
        if n_threads < 1:
            raise ValueError(f"{_env.NUM_THREADS} must be a positive integer, got {env!r}")
        return n_threads
    if isinstance(n_threads, (bool, np.bool_)) or not isinstance(n_threads, numbers.Integral):
        raise TypeError(f"n_threads must be an int or None, got {type(n_threads).__name__}")
    if n_threads < 1:
        raise ValueError(f"n_threads must be >= 1 (or None for all cores), got {n_threads}")
    return int(n_threads)


@dataclass(frozen=True)
class Problem:
    """Validated inputs of one call: queries and data share the compute dtype and are C-contiguous."""

    x: np.ndarray
    data: np.ndarray
    t: float
    log_weights: Optional[np.ndarray]
    n_threads: int
    one_point: bool

    @property
    def dtype(self) -> np.dtype:
        return self.x.dtype

    def shape_output(self, out: np.ndarray) -> np.ndarray:
        """Cast to the compute dtype; a single query point gives a single result."""
        out = out.astype(self.dtype, copy=False)
        return out[0] if self.one_point else out


def prepare(x, data, t, weights=None, n_threads=None) -> Problem:
    data = as_data(data)
    xq, one_point = as_queries(x, data.shape[1])
    t = as_time(t)
    log_w = as_log_weights(weights, data.shape[0])
    threads = as_threads(n_threads)
    dtype = result_dtype(xq.dtype, data.dtype)
    return Problem(
        x=np.ascontiguousarray(xq, dtype=dtype),
        data=np.ascontiguousarray(data, dtype=dtype),
        t=t,
        log_weights=log_w,
        n_threads=threads,
        one_point=one_point,
    )


def prepare_sharded(x, data, t, weights=None, n_threads=None) -> Problem:
    """Validation for a ShardedData: the shards were validated where they live; the queries take the
    compute dtype of the shards (``data`` here is a zero-row placeholder)."""
    if weights is not None:
        raise ValueError("weights of a ShardedData are given when it is built, not per call")
    xq, one_point = as_queries(x, data.d)
    dtype = result_dtype(xq.dtype, data.dtype)
    return Problem(x=np.ascontiguousarray(xq, dtype=dtype), data=np.zeros((0, data.d), dtype=dtype), t=as_time(t),
                   log_weights=None, n_threads=as_threads(n_threads), one_point=one_point)
