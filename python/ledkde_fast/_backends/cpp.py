"""The C++/OpenMP backend: thin calls into ``ledkde_fast._core``."""

from __future__ import annotations

import os

from .. import _core, _env

#: Queries per OpenMP task and data points per packed block (tuned on the build machine).
TILE_M = 96
BLOCK_N = 256
#: Queries per task of the double-KDE loop (each holds two rows of length N; each task streams the
#: whole C matrix, so larger tiles read it less often).
DKDE_TILE = 16

_isa = os.environ.get(_env.ISA, "").strip().lower()
if _isa:
    _core.select_isa(_isa)


def lse_accumulate(x, data, log_w, t, state, n_threads, *, tile_m=TILE_M, block_n=BLOCK_N):
    mx, sm, acc = state
    _core.lse_accumulate(x, data, log_w, t, mx, sm, acc, n_threads, tile_m, block_n)


def double_kde_accumulate(x, data, log_w, t, c_matrix, wbar, zsum, n_threads, *, tile_m=DKDE_TILE,
                          block_n=BLOCK_N):
    _core.double_kde_accumulate(x, data, log_w, t, c_matrix, wbar, zsum, n_threads, tile_m, block_n)
