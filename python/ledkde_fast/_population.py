"""Access to a population law ("truth") for the analysis functions, and the checks of their common arguments.

A truth is any object with the methods (duck-typed; :mod:`ledkde_fast.truth` builds them for the
synthetic data sets)::

    sample(n, seed=None) -> (n, D)      draws from the law p_0
    score(x, t)          -> (m, D)      grad log p_t(x),  p_t = p_0 * N(0, t I)
    log_density(x, t)    -> (m,)        log p_t(x)

Every value a truth returns is checked (shape, finiteness) and converted to float64 here, so a faulty
truth gives a ValueError that names the method instead of a wrong number further on.

The checks of user input build on :mod:`ledkde_fast._validation` (same rule: TypeError for the wrong
kind, ValueError for a bad value, the message starts with the argument's name).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from ._validation import as_numeric_array, check_finite


# ----------------------------------------------------------------------------- random streams
def streams(rng: np.random.Generator, count: int) -> list[np.random.Generator]:
    """``count`` independent generators seeded from ``rng`` (as ``kl_bound_terms`` does).

    Each consumer (evaluation points, data sets, kernel draws, noise) gets its own stream, so what one
    draws does not depend on how much another consumed: common random numbers across bandwidths.
    """
    return [np.random.default_rng(int(rng.integers(2**63))) for _ in range(count)]


def seeds(rng: np.random.Generator, count: int) -> list[int]:
    """``count`` integer seeds drawn from ``rng``."""
    return [int(rng.integers(2**63)) for _ in range(count)]


def kernel_label(kernel: Any) -> str:
    """A JSON-friendly description of a resolved kernel object (its repr, e.g. ``"PCA(rank=2)"``)."""
    return repr(kernel)


# ----------------------------------------------------------------------------- calls to a truth
def checked(value: Any, what: str, shape: tuple[int, ...]) -> np.ndarray:
    arr = as_numeric_array(value, what)
    if arr.shape != shape:
        raise ValueError(f"{what} must return an array of shape {shape}, got {arr.shape}")
    arr = np.asarray(arr, dtype=np.float64)
    check_finite(arr, what)
    return arr


def sample(truth: Any, n: int, rng: np.random.Generator, d: Optional[int] = None, name: str = "truth") -> np.ndarray:
    """``n`` draws of the law as a float64 (n, D) array (D checked against ``d`` when given)."""
    what = f"{name}.sample"
    arr = as_numeric_array(truth.sample(n, seed=int(rng.integers(2**63))), what)
    if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] == 0 or (d is not None and arr.shape[1] != d):
        want = f"({n}, {d if d is not None else 'D'})"
        raise ValueError(f"{what}(n) must return an array of shape {want}, got {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    check_finite(arr, what)
    return arr


def score(truth: Any, x: np.ndarray, t: float, name: str = "truth") -> np.ndarray:
    """The truth's score at the points x (m, D) and time t, float64 (m, D)."""
    return checked(truth.score(x, t), f"{name}.score", x.shape)


def log_density(truth: Any, x: np.ndarray, t: float, name: str = "truth") -> np.ndarray:
    """The truth's log-density of p_t at the points x (m, D), float64 (m,)."""
    return checked(truth.log_density(x, t), f"{name}.log_density", (x.shape[0],))


def score_function(truth: Any, name: str = "truth") -> Callable[[np.ndarray, float], np.ndarray]:
    """``truth.score`` wrapped with the checks of :func:`score`."""

    def fn(x: np.ndarray, t: float) -> np.ndarray:
        return score(truth, x, t, name)

    return fn


# ----------------------------------------------------------------------------- small statistics
def mean_se(values: np.ndarray, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Mean and Monte-Carlo standard error ``std(ddof=1) / sqrt(n)`` along ``axis`` (NaN se for n = 1)."""
    n = values.shape[axis]
    mean = values.mean(axis=axis)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    # std of the values divided by their largest magnitude: squares of values above 1e154 overflow
    scale = np.abs(values).max(axis=axis, keepdims=True)
    scale = np.where(scale > 0, scale, 1.0)
    return mean, (values / scale).std(axis=axis, ddof=1) * np.squeeze(scale, axis=axis) / np.sqrt(n)


def trapezoid_weights(t: np.ndarray) -> np.ndarray:
    """Weights w with ``sum_k w_k f(t_k)`` the trapezoid rule on the increasing grid t."""
    w = np.zeros_like(t)
    dt = np.diff(t)
    w[:-1] += 0.5 * dt
    w[1:] += 0.5 * dt
    return w


def floats(values: np.ndarray) -> list[Any]:
    """A (nested) list of Python floats; NaN becomes None (JSON has no NaN)."""
    return [None if np.isnan(v) else float(v) for v in values] if values.ndim == 1 else [floats(v) for v in values]
