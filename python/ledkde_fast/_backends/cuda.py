"""The CUDA backend (opt-in, never chosen by ``backend="auto"``): thin calls into the optional
``ledkde_fast._core_cuda`` module, built with ``-Ccmake.define.LEDKDE_USE_CUDA=ON``."""

from __future__ import annotations

from .. import _core_cuda
from .reference import merge_into


def lse_accumulate(x, data, log_w, t, state, n_threads=0):
    mx, sm, acc = _core_cuda.lse_state(x, data, log_w, t, state[2] is not None)
    merge_into(state, mx, sm, acc)


def double_kde_accumulate(x, data, log_w, t, c_matrix, wbar, zsum, n_threads=0):
    _core_cuda.double_kde_accumulate(x, data, log_w, t, c_matrix, wbar, zsum)
