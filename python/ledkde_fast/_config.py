"""Build and run-time configuration report."""

from __future__ import annotations

import os
import platform
import sys

import numpy as np

from . import _env
from ._backends import available_backends, resolve_name

__version__ = "0.1.0"


def config_dict() -> dict:
    info = {
        "ledkde_fast": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "backends": available_backends(),
    }
    try:
        info["default_backend"] = resolve_name("auto")
    except ImportError as exc:
        info["default_backend"] = f"none ({exc})"
    try:
        from . import _core
    except ImportError as exc:
        info["cpp"] = f"not available ({exc})"
    else:
        info["cpp"] = {
            "compiler": _core.compiler,
            "openmp": _core.openmp_enabled(),
            "max_threads": _core.max_threads(),
            "isas_compiled": _core.compiled_isas(),
            "isa_active": _core.active_isa(),
        }
    try:
        import numba
    except ImportError:
        info["numba"] = "not installed"
    else:
        info["numba"] = {"version": numba.__version__, "threads": numba.config.NUMBA_NUM_THREADS}
    info["environment"] = {name: os.environ.get(name) for name in
                           (_env.BACKEND, _env.NUM_THREADS, _env.ISA)}
    return info


def _format(value, indent: int = 2) -> list[str]:
    lines = []
    for key, val in value.items():
        if isinstance(val, dict):
            lines.append(" " * indent + f"{key}:")
            lines.extend(_format(val, indent + 2))
        else:
            lines.append(" " * indent + f"{key}: {val}")
    return lines


def show_config() -> None:
    """Print version, backends, compiled instruction sets, OpenMP and thread counts."""
    print("ledkde_fast configuration")
    print("\n".join(_format(config_dict())))
