"""The backend registry: the only route from the algorithms to a compiled kernel.

A backend is a module of this package offering the operations in :data:`OPERATIONS`, all with the
same signatures (docs/design.rst, "Architecture"):

``lse_accumulate(x, data, log_w, t, state, n_threads)``
    Update a caller-owned streaming log-sum-exp state (:class:`ledkde_fast._lse.LseState`) of the
    queries over ``data``.
``double_kde_accumulate(x, data, log_w, t, c_matrix, wbar, zsum, n_threads)``
    The one-pass shared-sample double-KDE loop: add each draw's softmax weights to ``wbar`` (m x N)
    and its log-normaliser to ``zsum`` (m,).
``dkde_normalisers(x, data, log_w, t, c_matrix, n_threads) -> (max, sum)``
    Round 1 of the two-round double-KDE: per query and draw, a partial log-sum-exp over ``data``.
``dkde_weighted_sum(x, data, log_w, t, c_matrix, log_norm, n_threads) -> acc``
    Round 2: the weighted sum of ``data`` given the global log-normalisers.
``matmul_nt(a, b, scale, n_threads) -> scale * a @ b.T``
    The GEMM that forms the draws' logits and the final weights x data product.
``knn_select(x, data, k, n_threads) -> indices``
    The k nearest points of each query.

and two constants: ``SMOOTHS_BY_DEFINITION`` (evaluate the smoothed quantities by averaging
empirical ones over shifted queries, as the reference does, instead of the factorisation) and
``TWO_ROUNDS_FOR_LARGE_PROBLEMS``. ``cpp``, ``numba`` and ``reference`` offer every operation; ``cuda``
lacks some, and asking for one raises a ValueError instead of running elsewhere.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType
from typing import Any, Callable, Literal, Optional

import numpy as np

from .. import _env

#: A backend name as the public functions accept it.
BackendName = Literal["auto", "cpp", "numba", "reference", "cuda"]

#: Backends in order of preference for ``backend="auto"``; ``reference`` and ``cuda`` are never chosen
#: automatically.
AUTO_ORDER = ("cpp", "numba")
KNOWN = ("cpp", "numba", "reference", "cuda")
OPERATIONS = ("lse_accumulate", "double_kde_accumulate", "dkde_normalisers", "dkde_weighted_sum", "matmul_nt",
              "knn_select")


def _cpp_available() -> bool:
    try:
        importlib.import_module("ledkde_fast._core")
    except ImportError:
        return False
    return True


def _numba_available() -> bool:
    # find_spec only: importing numba costs about a second, so it waits until the backend is used.
    try:
        return importlib.util.find_spec("numba") is not None
    except (ImportError, ValueError):
        return False


def _cuda_available() -> bool:
    """The optional CUDA module is built and a GPU is visible."""
    try:
        cuda = importlib.import_module("ledkde_fast._core_cuda")
    except ImportError:
        return False
    return bool(cuda.device_count() > 0)


_PROBES: dict[str, Callable[[], bool]] = {"cpp": _cpp_available, "numba": _numba_available,
                                          "reference": lambda: True, "cuda": _cuda_available}


def available_backends() -> list[str]:
    """Names of the backends usable in this installation.

    Returns
    -------
    list of str
        A subset of ``["cpp", "numba", "reference", "cuda"]``, in that order. ``reference`` (NumPy)
        is always there; ``cuda`` only where the optional module is built and a GPU is visible.

    Examples
    --------
    >>> import ledkde_fast as lk
    >>> "reference" in lk.available_backends()
    True
    """
    return [name for name in KNOWN if _PROBES[name]()]


def resolve_name(backend: Any = "auto") -> str:
    """The concrete backend name for ``backend=``: ``auto`` takes LEDKDE_BACKEND, then cpp, then numba.

    Raises TypeError for a non-string, ValueError for an unknown or unavailable name, and ImportError
    when ``auto`` finds no compiled backend.
    """
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a string, got {type(backend).__name__}")
    name = backend.strip().lower()
    if name == "auto":
        env = os.environ.get(_env.BACKEND, "").strip().lower()
        if env and env != "auto":
            return resolve_name(env)
        for candidate in AUTO_ORDER:
            if _PROBES[candidate]():
                return candidate
        raise ImportError(
            "no compiled backend is available: the C++ module ledkde_fast._core failed to import and numba "
            "is not installed. Reinstall ledkde_fast from source (pip install .) or pip install numba."
        )
    if name not in KNOWN:
        raise ValueError(f"unknown backend {backend!r}; available backends: {', '.join(available_backends())}")
    if not _PROBES[name]():
        raise ValueError(f"backend {backend!r} is not available here; available backends: "
                         f"{', '.join(available_backends())}")
    return name


def get_backend(backend: Any = "auto") -> ModuleType:
    """The backend module for a name (``auto`` resolves LEDKDE_BACKEND, then cpp, then numba)."""
    return importlib.import_module(f"ledkde_fast._backends.{resolve_name(backend)}")


def operation(backend: Any, name: str) -> Callable[..., Any]:
    """The function ``name`` of a backend, or a ValueError saying that this backend lacks it."""
    module = get_backend(backend)
    fn = getattr(module, name, None)
    if fn is None:
        offering = [b for b in available_backends() if hasattr(get_backend(b), name)]
        raise ValueError(f"backend {module.__name__.rsplit('.', 1)[-1]!r} does not offer {name}; "
                         f"backends that do: {', '.join(offering)}")
    return fn


def build_info() -> dict[str, Any]:
    """Compiler, OpenMP, thread count and instruction sets of the compiled core (ImportError without it)."""
    from . import cpp

    return cpp.build_info()


def orthogonaliser() -> Optional[Callable[[np.ndarray], None]]:
    """The compiled core's ``orthogonal_rows`` (in place on Gaussian rows, see
    ``_kernel_plan.orthogonal_normal``) when the core imports, else None: the kernel draws are made
    there whichever backend computes the estimates, and every backend then sees the same draws.
    """
    if not _cpp_available():
        return None
    return importlib.import_module("ledkde_fast._backends.cpp").orthogonal_rows


def normal_generator() -> Optional[Callable[[int, int, int], np.ndarray]]:
    """The compiled core's ``normal_rows(seed, n, r)`` (n x r i.i.d. N(0, 1), the same for any number of
    threads) when the core imports, else None; the kernel draws then come from NumPy's generator.
    """
    if not _cpp_available():
        return None
    return importlib.import_module("ledkde_fast._backends.cpp").normal_rows
