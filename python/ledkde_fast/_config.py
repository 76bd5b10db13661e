"""Build and run-time configuration report."""

from __future__ import annotations

import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from . import _env
from ._backends import available_backends, resolve_name

try:
    __version__: str = version("ledkde_fast")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0+unknown"


def config_dict() -> dict[str, Any]:
    """Versions, backends, compiled-core facts and environment settings, as a nested dict.

    Returns
    -------
    dict
        Keys ``ledkde_fast``, ``python``, ``numpy``, ``platform``, ``backends``,
        ``default_backend``, ``cpp`` (a dict of the compiled core's facts, or a string saying why it
        is not available), ``numba`` and ``environment``.
    """
    from ._backends import build_info

    info: dict[str, Any] = {
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
        info["cpp"] = build_info()
    except ImportError as exc:
        info["cpp"] = f"not available ({exc})"
    try:
        import numba
    except ImportError:
        info["numba"] = "not installed"
    else:
        info["numba"] = {"version": numba.__version__, "threads": numba.config.NUMBA_NUM_THREADS}
    info["environment"] = {name: os.environ.get(name) for name in
                           (_env.BACKEND, _env.NUM_THREADS, _env.ISA)}
    return info


def _format(value: dict[str, Any], indent: int = 2) -> list[str]:
    """Indented ``key: value`` lines of a nested dict."""
    lines = []
    for key, val in value.items():
        if isinstance(val, dict):
            lines.append(" " * indent + f"{key}:")
            lines.extend(_format(val, indent + 2))
        else:
            lines.append(" " * indent + f"{key}: {val}")
    return lines


def show_config() -> None:
    """Print version, backends, compiled instruction sets, OpenMP and thread counts.

    The same facts as ``ledkde info`` on the command line (``ledkde info --json`` prints them as
    JSON).

    Returns
    -------
    None
        The report goes to standard output.

    Examples
    --------
    >>> import ledkde_fast
    >>> ledkde_fast.show_config()
    ledkde_fast configuration
      ledkde_fast: ...
      python: ...
      backends: [...'reference'...]
    ...
    """
    print("ledkde_fast configuration")
    print("\n".join(_format(config_dict())))
