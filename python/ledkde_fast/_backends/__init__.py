"""Backend registry: resolution of ``backend=`` and cheap probing of optional backends.

Every backend module exposes ``lse_accumulate(x, data, log_w, t, state, n_threads)``, which updates a
caller-owned streaming log-sum-exp state (max, sum, weighted sum) of the queries over ``data``. The
fast backends (cpp, numba) also expose ``double_kde_accumulate(x, data, log_w, t, c_matrix, wbar,
zsum, n_threads)`` for the shared-sample double-KDE (DESIGN.md 2.2); the reference backend evaluates
the smoothed quantities by their definition instead, so it shares no shortcut with them.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

from .. import _env

#: Backends in order of preference for ``backend="auto"``; ``reference`` and ``cuda`` are never chosen
#: automatically.
AUTO_ORDER = ("cpp", "numba")
KNOWN = ("cpp", "numba", "reference", "cuda")


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
    return cuda.device_count() > 0


_PROBES = {"cpp": _cpp_available, "numba": _numba_available, "reference": lambda: True, "cuda": _cuda_available}


def available_backends() -> list[str]:
    """Names of the backends usable in this installation."""
    return [name for name in KNOWN if _PROBES[name]()]


def resolve_name(backend: str = "auto") -> str:
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


def get_backend(backend: str = "auto") -> ModuleType:
    """The backend module for a name (``auto`` resolves LEDKDE_BACKEND, then cpp, then numba)."""
    return importlib.import_module(f"ledkde_fast._backends.{resolve_name(backend)}")
