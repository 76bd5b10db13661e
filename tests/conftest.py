import os

import numpy as np
import pytest

from ledkde_fast import available_backends
from ledkde_fast._env import REQUIRE_BACKENDS

FAST_BACKENDS = ("cpp", "numba")
ALL_BACKENDS = ("cpp", "numba", "reference")


def _required() -> set:
    return {name.strip() for name in os.environ.get(REQUIRE_BACKENDS, "").split(",") if name.strip()}


def use_backend(name: str) -> str:
    """Skip a test for a backend this installation lacks, unless LEDKDE_REQUIRE_BACKENDS names it."""
    if name not in available_backends():
        if name in _required():
            pytest.fail(f"backend {name!r} is required by {REQUIRE_BACKENDS} but not available")
        pytest.skip(f"backend {name!r} not available")
    return name


def compiled_core():
    """The compiled module, for a test module of its own products: the whole module skips where it is
    not built, or fails to collect where LEDKDE_REQUIRE_BACKENDS names cpp (a broken build)."""
    if "cpp" not in available_backends():
        if "cpp" in _required():
            raise RuntimeError(f"backend 'cpp' is required by {REQUIRE_BACKENDS} but ledkde_fast._core does not import")
        pytest.skip("backend 'cpp' not available", allow_module_level=True)
    from ledkde_fast import _core

    return _core


@pytest.fixture(params=FAST_BACKENDS)
def fast_backend(request):
    return use_backend(request.param)


@pytest.fixture(params=ALL_BACKENDS)
def backend(request):
    return use_backend(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(20261128)


def cpp_isas():
    """Instruction sets of the compiled core that this CPU can run."""
    try:
        from ledkde_fast import _core
    except ImportError:
        return []
    previous = _core.active_isa()
    out = []
    for name in _core.compiled_isas():
        try:
            _core.select_isa(name)
        except ValueError:
            continue
        out.append(name)
    _core.select_isa(previous)
    return out
