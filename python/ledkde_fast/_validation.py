"""Every check of user input, done once, before any backend runs.

One rule for the two exception types: ``TypeError`` when the argument is of the wrong *kind* (a
string where a number is expected, a float where an int is, a bool where a number is, a complex or
object array), ``ValueError`` when it is of the right kind but its *value* is not allowed (negative,
NaN, wrong shape, out of range). Every message starts with the argument's name.

Coercion rules (docs/design.rst, "Architecture"): float32 stays float32, every other real dtype
becomes float64; arrays become C-contiguous.
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from . import _env

#: What a ``seed=`` argument accepts.
SeedLike = Union[None, int, np.random.SeedSequence, np.random.Generator]


# ----------------------------------------------------------------------------- scalars
def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def as_int(value: Any, name: str, minimum: Optional[int] = None) -> int:
    """An integer (not a bool) >= ``minimum``."""
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def as_real(value: Any, name: str, *, positive: bool = False, allow_zero: bool = True) -> float:
    """A finite real scalar (not a bool); ``positive`` asks for >= 0, or > 0 without ``allow_zero``.

    A 0-d NumPy array counts as a scalar.
    """
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value.item()
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real scalar, got {type(value).__name__}")
    try:
        out = float(value)
    except OverflowError:  # a Python int beyond the float64 range
        raise ValueError(f"{name} must be finite, got a {type(value).__name__} beyond the float64 range") from None
    if not positive:
        if not math.isfinite(out):
            raise ValueError(f"{name} must be finite, got {out}")
        return out
    if allow_zero:
        if not math.isfinite(out) or out < 0:
            raise ValueError(f"{name} must be finite and >= 0, got {out}")
    elif not math.isfinite(out) or out <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {out}")
    return out


def as_positive(value: Any, name: str) -> float:
    """A finite real scalar > 0."""
    return as_real(value, name, positive=True, allow_zero=False)


def as_bool(value: Any, name: str) -> bool:
    """A Python or NumPy bool (an int is not accepted: ``1`` for ``True`` is usually a mistake)."""
    if not _is_bool(value):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def as_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """One of the strings ``choices``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {choices}, got {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def as_time(t: Any, name: str = "t") -> float:
    """A diffusion time: finite and > 0 (a 0-d array is accepted, a longer one is not)."""
    if isinstance(t, np.ndarray) and t.ndim != 0:
        raise TypeError(f"{name} must be a real scalar, got an array of shape {t.shape}")
    return as_positive(t, name)


def as_bandwidth(bandwidth: Any, name: str = "bandwidth") -> float:
    """A smoothing bandwidth h: finite and >= 0 (0 means no smoothing)."""
    return as_real(bandwidth, name, positive=True)


def as_n_kernel(n_kernel: Any, antithetic: bool, paired: str = "(the draws come in antithetic pairs Y, -Y)"
                ) -> int:
    """A number of kernel draws: >= 1, and even when the draws come in antithetic pairs (``paired``:
    why, in the error message; the default suits functions without an ``antithetic`` argument).
    """
    n = as_int(n_kernel, "n_kernel", 1)
    if antithetic and n % 2:
        raise ValueError(f"n_kernel must be even {paired}, got {n}")
    return n


def as_generator(seed: Any, name: str = "seed") -> np.random.Generator:
    """A NumPy Generator from None (fresh entropy), an int >= 0, a SeedSequence or a Generator (used
    as is, so that a caller's stream continues).
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    if _is_bool(seed) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be None, an int or a numpy.random.Generator, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"{name} must be >= 0, got {seed}")
    return np.random.default_rng(int(seed))


def as_threads(n_threads: Any) -> int:
    """Thread count for the kernels: None reads LEDKDE_NUM_THREADS; 0 (returned) means all cores."""
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
    if _is_bool(n_threads) or not isinstance(n_threads, numbers.Integral):
        raise TypeError(f"n_threads must be an int or None, got {type(n_threads).__name__}")
    if n_threads < 1:
        raise ValueError(f"n_threads must be >= 1 (or None for all cores), got {n_threads}")
    # the compiled kernels take a C int: a larger count is meaningless and would overflow there
    return min(int(n_threads), 2**31 - 1)


# ----------------------------------------------------------------------------- arrays
def as_numeric_array(value: Any, name: str) -> np.ndarray:
    """Any array-like of real numbers (bool and integer dtypes included), not copied if possible."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be array-like of real numbers ({exc})") from None
    if arr.dtype == object:
        # numbers only: astype would also parse strings ("0.5") and the results would be silent
        if any(isinstance(v, (str, bytes)) for v in arr.flat):
            raise TypeError(f"{name} must contain real numbers, got strings")
        try:
            with np.errstate(over="raise"):
                arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must contain real numbers, got objects") from None
        except (OverflowError, FloatingPointError):
            raise ValueError(f"{name} contains integers beyond the float64 range") from None
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} must be real, got complex dtype {arr.dtype}")
    if kind not in "biuf":
        raise TypeError(f"{name} must have a numeric dtype, got {arr.dtype}")
    if kind == "f" and arr.dtype.itemsize > 8:
        # long double: values beyond float64 would become inf in the float64 computation
        with np.errstate(over="ignore"):
            as64 = arr.astype(np.float64)
        if (np.isinf(as64) & np.isfinite(arr)).any():
            raise ValueError(f"{name} contains values beyond the float64 range")
    return arr


def check_finite(arr: np.ndarray, name: str) -> None:
    """Raise ValueError naming ``name`` when a float array holds NaN or an infinity."""
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")


def as_real_values(value: Any, name: str) -> np.ndarray:
    """Finite real numbers of any shape, as float64 (bools are rejected: they are not quantities)."""
    if _is_bool(value):
        raise TypeError(f"{name} must be a real number or array, got bool")
    arr = as_numeric_array(value, name)
    if arr.dtype.kind == "b":
        raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    check_finite(arr, name)
    return arr


def as_nonnegative_values(value: Any, name: str, *, allow_zero: bool = True) -> np.ndarray:
    """Finite real numbers >= 0 (> 0 without ``allow_zero``), as float64."""
    arr = as_real_values(value, name)
    if (arr < 0).any() if allow_zero else (arr <= 0).any():
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")
    return arr


def result_dtype(*dtypes: Any) -> np.dtype:
    """float32 when every input is float32, float64 otherwise."""
    return np.dtype(np.float32) if all(np.dtype(dt) == np.float32 for dt in dtypes) else np.dtype(np.float64)


def as_data(data: Any, name: str = "data") -> np.ndarray:
    """Training points: a non-empty 2-D (N, d) real array with at least one column."""
    arr = as_numeric_array(data, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (N, d), got {arr.ndim} dimension(s)")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least one point is needed")
    if arr.shape[1] == 0:
        # worded as scikit-learn words it, so that the estimator passes its checks
        raise ValueError(f"{name} must have at least one column: 0 feature(s) (shape={arr.shape}) while a minimum "
                         "of 1 is required.")
    check_finite(arr, name)
    return arr


def as_points(value: Any, name: str, d: Optional[int] = None) -> np.ndarray:
    """A non-empty (n, d) real array, with d checked against the data's width when given."""
    arr = as_data(value, name)
    if d is not None and arr.shape[1] != d:
        raise ValueError(f"{name} has {arr.shape[1]} columns but data has d={d}: dimension mismatch")
    return arr


def as_queries(x: Any, d: int, name: str = "x") -> tuple[np.ndarray, bool]:
    """Query points: (m, d), or one point of shape (d,). Returns (2-D array, whether x was 1-D)."""
    arr = as_numeric_array(x, name)
    if arr.ndim == 1:
        one_point = True
        arr = arr[None, :]
    elif arr.ndim == 2:
        one_point = False
    else:
        raise ValueError(f"{name} must be 1-D (one point) or 2-D (m, d), got {arr.ndim} dimensions")
    if arr.shape[1] != d:
        raise ValueError(f"{name} has {arr.shape[1]} columns but data has d={d}: dimension mismatch")
    check_finite(arr, name)
    return arr, one_point


def as_weights(weights: Any, n: int, name: str = "weights") -> np.ndarray:
    """N finite non-negative weights, as float64 (they may all be zero: see :func:`as_log_weights`)."""
    w = as_numeric_array(weights, name)
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(f"{name} must be a 1-D array with one entry per data point ({n}), got shape {w.shape}")
    w = w.astype(np.float64)
    if not np.isfinite(w).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if (w < 0).any():
        raise ValueError(f"{name} must be >= 0")
    return w


def as_log_weights(weights: Any, n: int, name: str = "weights") -> Optional[np.ndarray]:
    """None (unit weights) or the float64 log of N non-negative weights, not all zero, normalised."""
    if weights is None:
        return None
    w = as_weights(weights, n, name)
    if not (w > 0).any():
        raise ValueError(f"{name} are all zero: at least one point needs positive weight")
    # normalised in the log domain: w / sum(w) underflows (and the sum overflows) for weights that
    # span more than the float64 range, e.g. 1e-300 next to 1e300
    with np.errstate(divide="ignore"):
        log_w = np.log(w)
    top = log_w.max()
    return np.ascontiguousarray(log_w - (top + np.log(np.exp(log_w - top).sum())))


# ----------------------------------------------------------------------------- analysis arguments
#: Bandwidth argument of the functions that sweep it: one h >= 0 or a sequence of them.
BandwidthLike = Union[float, Sequence[float], np.ndarray]


def as_truth(truth: Any, methods: Sequence[str], name: str = "truth") -> Any:
    """The truth object itself, after checking that it has the callable ``methods``."""
    missing = [m for m in methods if not callable(getattr(truth, m, None))]
    if missing:
        raise TypeError(f"{name} must be an object with the methods {', '.join(methods)} (a population law, "
                        f"e.g. Dataset.truth); {type(truth).__name__} lacks {', '.join(missing)}")
    return truth


def as_times(value: Any, name: str, *, minimum: int = 1, increasing: bool = False) -> np.ndarray:
    """A 1-D float64 array of at least ``minimum`` finite times > 0 (strictly increasing if asked)."""
    arr = as_real_values(value, name)
    if arr.ndim != 1 or arr.shape[0] < minimum:
        raise ValueError(f"{name} must be a 1-D array of at least {minimum} time(s), got shape {arr.shape}")
    if (arr <= 0).any():
        raise ValueError(f"{name} must be > 0")
    if increasing and (np.diff(arr) <= 0).any():
        raise ValueError(f"{name} must be strictly increasing")
    return arr


def as_bandwidths(value: Any, name: str = "bandwidth") -> tuple[np.ndarray, bool]:
    """One bandwidth or a non-empty 1-D sequence of them, each >= 0: (float64 array (n_h,), was scalar)."""
    if np.ndim(as_numeric_array(value, name)) == 0:
        return np.array([as_bandwidth(value, name)]), True
    arr = as_nonnegative_values(value, name)
    if arr.ndim != 1 or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a number or a non-empty 1-D sequence of numbers, got shape {arr.shape}")
    return arr, False


def as_callable(value: Any, name: str, signature: str) -> Callable[..., Any]:
    """A callable (TypeError naming ``signature`` otherwise)."""
    if not callable(value):
        raise TypeError(f"{name} must be a callable {signature}, got {type(value).__name__}")
    return value
