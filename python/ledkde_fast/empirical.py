"""The exact empirical score of a finite (optionally weighted) data set under Gaussian smoothing.

With logits l_i(x) = -|x - x_i|^2 / (2t) (plus log w_i for weighted data) and softmax weights
w_i(x), the functions below return the Tweedie denoiser m_t(x) = sum_i w_i(x) x_i, the score
(m_t(x) - x) / t, and the Gaussian KDE log-density log p_t(x). All stream over the data: memory is
O(m d + tile), never O(m N).
"""

from __future__ import annotations

import numpy as np

from ._streaming import log_normaliser, lse_state
from ._validation import prepare, prepare_sharded
from .distributed import streamed

__all__ = ["empirical_denoiser", "empirical_score", "kde_log_density"]

_COMMON_DOC = """
    Parameters
    ----------
    x : array_like, shape (m, d) or (d,)
        Query points; a 1-D ``x`` is one point and gives a 1-D result.
    data : array_like, shape (N, d), or ledkde_fast.distributed.ShardedData
        Training points x_1..x_N (a memmap streams from disk in slabs).
    t : float
        Time of the forward process (the variance of its Gaussian), > 0.
    weights : array_like, shape (N,), optional
        Non-negative point weights (not all zero); integer weights equal repeated points.
    backend : {"auto", "cpp", "numba", "reference"}
        ``auto`` takes the LEDKDE_BACKEND variable, then cpp, then numba.
    n_threads : int, optional
        Threads for the kernel; default LEDKDE_NUM_THREADS or all cores.

    float32 inputs give float32 results (sums are accumulated in double); anything else float64.
"""


def _state(x, data, t, weights, backend, n_threads, want_acc):
    """Validated problem and the log-sum-exp state over all the data, local or sharded."""
    data = streamed(data)
    if getattr(data, "_ledkde_sharded", False):
        p = prepare_sharded(x, data, t, weights, n_threads)
        return p, data.lse_state(p.x, p.t, want_acc, backend, p.n_threads), data.log_mass()
    p = prepare(x, data, t, weights, n_threads)
    return p, lse_state(p, backend, want_acc=want_acc), None


def empirical_denoiser(x, data, t, *, weights=None, backend="auto", n_threads=None):
    p, state, _ = _state(x, data, t, weights, backend, n_threads, True)
    return p.shape_output(state.mean())


def empirical_score(x, data, t, *, weights=None, backend="auto", n_threads=None):
    p, state, _ = _state(x, data, t, weights, backend, n_threads, True)
    return p.shape_output((state.mean() - p.x) / p.t)


def kde_log_density(x, data, t, *, weights=None, backend="auto", n_threads=None):
    p, state, log_mass = _state(x, data, t, weights, backend, n_threads, False)
    norm = log_normaliser(p) if log_mass is None else log_mass + 0.5 * p.x.shape[1] * np.log(2 * np.pi * p.t)
    return p.shape_output(state.log_sum_exp() - norm)


empirical_denoiser.__doc__ = """Empirical (Tweedie) denoiser m_t(x) = sum_i w_i(x) x_i, shape (m, d).
""" + _COMMON_DOC
empirical_score.__doc__ = """Exact score of the smoothed empirical distribution, (m_t(x) - x) / t, shape (m, d).
""" + _COMMON_DOC
kde_log_density.__doc__ = """Normalised Gaussian KDE log-density
log p_t(x) = log sum_i w_i N(x; x_i, t I) = LSE_i l_i(x) - log N - (d/2) log(2 pi t), shape (m,).
""" + _COMMON_DOC
