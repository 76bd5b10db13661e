"""The exact empirical score of a finite (optionally weighted) data set under Gaussian smoothing.

With logits l_i(x) = log w_i - |x - x_i|^2 / (2t) and softmax weights w_i(x), the functions below
return the Tweedie denoiser m_t(x) = sum_i w_i(x) x_i, the score (m_t(x) - x) / t and the Gaussian
KDE log-density log p_t(x). All stream over the data: memory is O(m d + tile), never O(m N).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np
from numpy.typing import ArrayLike

from ._backends import BackendName, resolve_name
from ._data import Problem, prepare
from ._lse import LseState

if TYPE_CHECKING:
    from .distributed import ShardedData

__all__ = ["empirical_denoiser", "empirical_score", "kde_log_density"]


def _state(x: ArrayLike, data: object, t: float, weights: Optional[ArrayLike], backend: BackendName,
           n_threads: Optional[int], want_acc: bool) -> tuple[Problem, LseState]:
    p = prepare(x, data, t, weights, n_threads)
    return p, p.source.lse_state(p.x, p.t, want_acc, resolve_name(backend), p.n_threads)


def empirical_denoiser(x: ArrayLike, data: ArrayLike | ShardedData, t: float, *, weights: Optional[ArrayLike] = None,
                       backend: BackendName = "auto", n_threads: Optional[int] = None) -> np.ndarray:
    """Empirical (Tweedie) denoiser m_t(x) = sum_i w_i(x) x_i.

    Parameters
    ----------
    x : array_like, shape (m, d) or (d,)
        Query points; a 1-D ``x`` is one point and gives a 1-D result.
    data : array_like, shape (N, d), or ShardedData
        Training points x_1..x_N. A ``numpy.memmap`` (or an h5py/zarr-like array read by rows)
        streams from disk in slabs; a :class:`ledkde_fast.distributed.ShardedData` is reduced on its
        Dask cluster.
    t : float
        Time of the forward process (the variance of its Gaussian), > 0.
    weights : array_like, shape (N,), optional
        Non-negative point weights, not all zero; integer weights equal repeated points.
    backend : {"auto", "cpp", "numba", "reference", "cuda"}
        ``auto`` takes the LEDKDE_BACKEND variable, then cpp, then numba.
    n_threads : int, optional
        Threads for the kernel; default LEDKDE_NUM_THREADS or all cores.

    Returns
    -------
    numpy.ndarray, shape (m, d) or (d,)
        The softmax-weighted mean of the training points for each query. float32 inputs give
        float32 results (sums are accumulated in double); anything else float64.

    Raises
    ------
    TypeError
        An argument of the wrong kind (non-numeric array, non-real ``t``, non-int ``n_threads``).
    ValueError
        A bad value: NaN or infinite points, ``t <= 0``, mismatched dimensions, negative weights,
        an unknown or unavailable backend.

    See Also
    --------
    empirical_score, kde_log_density, smoothed_denoiser

    Examples
    --------
    >>> import numpy as np
    >>> import ledkde_fast as lk
    >>> data = np.array([[0.0, 0.0], [1.0, 0.0]])
    >>> np.round(lk.empirical_denoiser([0.5, 0.0], data, 0.1), 6)
    array([0.5, 0. ])
    >>> np.round(lk.empirical_denoiser([[0.0, 0.0]], data, 1e-3), 6)
    array([[0., 0.]])
    """
    p, state = _state(x, data, t, weights, backend, n_threads, True)
    return p.shape_output(state.mean())


def empirical_score(x: ArrayLike, data: ArrayLike | ShardedData, t: float, *, weights: Optional[ArrayLike] = None,
                    backend: BackendName = "auto", n_threads: Optional[int] = None) -> np.ndarray:
    """Exact score of the diffused empirical distribution, s_t(x) = (m_t(x) - x) / t.

    Parameters
    ----------
    x : array_like, shape (m, d) or (d,)
        Query points; a 1-D ``x`` is one point and gives a 1-D result.
    data : array_like, shape (N, d), or ShardedData
        Training points (as for :func:`empirical_denoiser`).
    t : float
        Time of the forward process, > 0.
    weights : array_like, shape (N,), optional
        Non-negative point weights, not all zero.
    backend : {"auto", "cpp", "numba", "reference", "cuda"}
        Compute backend.
    n_threads : int, optional
        Threads for the kernel; default LEDKDE_NUM_THREADS or all cores.

    Returns
    -------
    numpy.ndarray, shape (m, d) or (d,)
        The gradient of :func:`kde_log_density` at each query, in the inputs' dtype.

    Raises
    ------
    TypeError
        An argument of the wrong kind.
    ValueError
        A bad value (as for :func:`empirical_denoiser`).

    Examples
    --------
    >>> import numpy as np
    >>> import ledkde_fast as lk
    >>> data = np.array([[0.0], [2.0]])
    >>> np.round(lk.empirical_score([[1.0]], data, 0.5), 6)
    array([[0.]])
    """
    p, state = _state(x, data, t, weights, backend, n_threads, True)
    return p.shape_output((state.mean() - p.x) / p.t)


def kde_log_density(x: ArrayLike, data: ArrayLike | ShardedData, t: float, *, weights: Optional[ArrayLike] = None,
                    backend: BackendName = "auto", n_threads: Optional[int] = None) -> np.ndarray:
    """Normalised Gaussian KDE log-density log p_t(x) = LSE_i l_i(x) - log N - (d/2) log(2 pi t).

    Parameters
    ----------
    x : array_like, shape (m, d) or (d,)
        Query points; a 1-D ``x`` is one point and gives a scalar (0-d) result.
    data : array_like, shape (N, d), or ShardedData
        Training points (as for :func:`empirical_denoiser`).
    t : float
        Time of the forward process (the KDE's variance), > 0.
    weights : array_like, shape (N,), optional
        Non-negative point weights, not all zero (normalised to sum to one).
    backend : {"auto", "cpp", "numba", "reference", "cuda"}
        Compute backend.
    n_threads : int, optional
        Threads for the kernel; default LEDKDE_NUM_THREADS or all cores.

    Returns
    -------
    numpy.ndarray, shape (m,) or ()
        log sum_i w_i N(x; x_i, t I) for each query.

    Raises
    ------
    TypeError
        An argument of the wrong kind.
    ValueError
        A bad value (as for :func:`empirical_denoiser`).

    Examples
    --------
    >>> import numpy as np
    >>> import ledkde_fast as lk
    >>> value = lk.kde_log_density([0.0], np.array([[0.0]]), 1.0)
    >>> bool(np.isclose(value, -0.5 * np.log(2 * np.pi)))
    True
    """
    p, state = _state(x, data, t, weights, backend, n_threads, False)
    return p.shape_output(state.log_sum_exp() - p.log_normaliser())
