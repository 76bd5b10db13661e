"""The kernel-smoothed score and the LED-KDE (docs/maths.rst).

By default the kernel draws are shared by all queries of a call (common random numbers: each query's
estimate is still unbiased). Then a draw enters the logits only through C_ji = -(Y_j . (x_i - mu)) / t,
computed once by one GEMM, and the per-query work is one pass of exp over the data per draw, with no
factor d. ``independent=True`` draws fresh samples for every query and evaluates the empirical
quantities at every x - Y_j (the brute-force estimator). ``draws=`` chooses how the standardised
draws are made (i.i.d., orthogonal blocks or randomised quasi-Monte Carlo; each draw exactly
Gaussian). See :mod:`ledkde_fast._estimate` and :mod:`ledkde_fast._kernel_plan`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Optional, Union

import numpy as np
from numpy.typing import ArrayLike

from ._backends import BackendName
from ._data import Problem, prepare
from ._estimate import Smoothed, estimate, prepare_smoothing
from ._kernel_plan import DrawMethod
from ._validation import SeedLike, as_bandwidth, as_generator
from .kernels import Kernel

if TYPE_CHECKING:
    from .distributed import ShardedData

__all__ = ["smoothed_denoiser", "smoothed_score", "led_kde_log_density"]

#: The ``kernel=`` argument: a name or a :mod:`ledkde_fast.kernels` object.
KernelLike = Union[Literal["gaussian", "pca"], Kernel]


def _smoothed(x: ArrayLike, data: object, t: float, bandwidth: float, kernel: KernelLike, n_kernel: int,
              seed: SeedLike, antithetic: bool, independent: bool, rank: Optional[int], weights: Optional[ArrayLike],
              backend: BackendName, n_threads: Optional[int], draws: DrawMethod,
              want_den: bool = True) -> tuple[Problem, Smoothed]:
    p = prepare(x, data, t, weights, n_threads)
    h = as_bandwidth(bandwidth)
    setup = prepare_smoothing(p, kernel, n_kernel, antithetic, independent, rank, backend, draws)
    return p, estimate(p, setup, h, as_generator(seed), want_den)


def smoothed_denoiser(x: ArrayLike, data: ArrayLike | ShardedData, t: float, bandwidth: float, *,
                      kernel: KernelLike = "gaussian", n_kernel: int = 1024, seed: SeedLike = None,
                      antithetic: bool = True, independent: bool = False, rank: Optional[int] = None,
                      weights: Optional[ArrayLike] = None, backend: BackendName = "auto",
                      n_threads: Optional[int] = None, draws: DrawMethod = "auto") -> np.ndarray:
    """Kernel-smoothed denoiser E_Y[m_t(x - Y)], a Monte-Carlo average over ``n_kernel`` draws of Y.

    Parameters
    ----------
    x : array_like, shape (m, d) or (d,)
        Query points; a 1-D ``x`` is one point and gives a 1-D result.
    data : array_like, shape (N, d), or ShardedData
        Training points (a memmap streams from disk; see :func:`ledkde_fast.empirical_denoiser`).
    t : float
        Diffusion time (variance of the forward Gaussian), > 0.
    bandwidth : float
        h >= 0, the scale of the smoothing kernel. 0 gives the exact empirical quantity, no sampling.
    kernel : {"gaussian", "pca"} or ledkde_fast.kernels.Kernel
        Law of the standardised kernel draw S (Y = h S); see :mod:`ledkde_fast.kernels`.
    n_kernel : int
        Number of kernel draws (even when ``antithetic``). Ignored for explicit ``Samples``.
    seed : None, int or numpy.random.Generator
        The same seed gives the same draws, hence the same numbers on every backend.
    antithetic : bool
        Draw pairs (Y, -Y), which makes their mean exactly zero.
    independent : bool
        Fresh draws for every query (the brute-force estimator) instead of draws shared by the call.
        With ``N < d`` (data in memory) it is evaluated in the span of the centred data, exactly.
    rank : int, optional
        Number of principal directions for ``kernel="pca"``.
    weights : array_like, shape (N,), optional
        Non-negative point weights, not all zero.
    backend : {"auto", "cpp", "numba", "reference", "cuda"}
        Compute backend; ``reference`` averages empirical denoisers over the shifted queries.
    n_threads : int, optional
        Threads for the kernel; default LEDKDE_NUM_THREADS or all cores.
    draws : {"auto", "iid", "orthogonal", "qmc"}
        Construction of the standardised kernel draws, combined with ``antithetic``: independent
        (``"iid"``), blocks of orthogonal directions with independent chi radii (``"orthogonal"``),
        or scrambled Sobol points through the Gaussian quantile (``"qmc"``, randomised quasi-Monte
        Carlo; needs scipy). ``"auto"`` is ``"orthogonal"`` when the draws have at most 256
        dimensions (the span of the centred data for the Gaussian kernel with ``N < d``, else the
        kernel factor's width) and ``"iid"`` above. Every draw is exactly N(0, I), so every choice
        is unbiased; they differ in variance and cost (user guide, "Choosing the number of
        draws"). Ignored for explicit ``Samples``.

    Returns
    -------
    numpy.ndarray, shape (m, d) or (d,)
        The smoothed denoiser, in the inputs' dtype (float32 stays float32).

    Raises
    ------
    TypeError
        An argument of the wrong kind (e.g. a non-int ``n_kernel``, a matrix passed as ``kernel``).
    ValueError
        A bad value: negative bandwidth, odd ``n_kernel`` with antithetic draws, unknown kernel or
        ``draws``, a kernel whose dimension differs from the data's, and the checks of
        :func:`ledkde_fast.empirical_denoiser`.
    ImportError
        ``draws="qmc"`` without scipy.

    See Also
    --------
    smoothed_score, led_kde_log_density

    Examples
    --------
    >>> import numpy as np
    >>> import ledkde_fast as lk
    >>> data = np.array([[-1.0], [1.0]])
    >>> den = lk.smoothed_denoiser([[0.0]], data, 0.1, 0.5, n_kernel=64, seed=0)
    >>> den.shape, bool(abs(den[0, 0]) < 1e-12)  # antithetic draws keep the symmetry
    ((1, 1), True)
    """
    p, est = _smoothed(x, data, t, bandwidth, kernel, n_kernel, seed, antithetic, independent, rank, weights,
                       backend, n_threads, draws)
    assert est.denoiser is not None
    return p.shape_output(est.denoiser)


def smoothed_score(x: ArrayLike, data: ArrayLike | ShardedData, t: float, bandwidth: float, *,
                   kernel: KernelLike = "gaussian", n_kernel: int = 1024, seed: SeedLike = None,
                   antithetic: bool = True, independent: bool = False, rank: Optional[int] = None,
                   weights: Optional[ArrayLike] = None, backend: BackendName = "auto",
                   n_threads: Optional[int] = None, draws: DrawMethod = "auto") -> np.ndarray:
    """Kernel-smoothed score E_Y[s_t(x - Y)] = (smoothed denoiser - x + Ybar) / t.

    For the same seed it is exactly the gradient in x of :func:`led_kde_log_density`.

    Parameters
    ----------
    x : array_like, shape (m, d) or (d,)
        Query points; a 1-D ``x`` is one point and gives a 1-D result.
    data : array_like, shape (N, d), or ShardedData
        Training points.
    t : float
        Diffusion time, > 0.
    bandwidth : float
        h >= 0, the scale of the smoothing kernel (0: the exact empirical score).
    kernel : {"gaussian", "pca"} or ledkde_fast.kernels.Kernel
        Law of the standardised kernel draw.
    n_kernel : int
        Number of kernel draws (even when ``antithetic``).
    seed : None, int or numpy.random.Generator
        Seed of the draws.
    antithetic : bool
        Draw pairs (Y, -Y).
    independent : bool
        Fresh draws for every query instead of draws shared by the call.
    rank : int, optional
        Number of principal directions for ``kernel="pca"``.
    weights : array_like, shape (N,), optional
        Non-negative point weights, not all zero.
    backend : {"auto", "cpp", "numba", "reference", "cuda"}
        Compute backend.
    n_threads : int, optional
        Threads for the kernel.
    draws : {"auto", "iid", "orthogonal", "qmc"}
        Construction of the standardised kernel draws (see :func:`smoothed_denoiser`).

    Returns
    -------
    numpy.ndarray, shape (m, d) or (d,)
        The smoothed score, in the inputs' dtype.

    Raises
    ------
    TypeError
        An argument of the wrong kind.
    ValueError
        A bad value (as for :func:`smoothed_denoiser`).
    ImportError
        ``draws="qmc"`` without scipy.

    Examples
    --------
    >>> import numpy as np
    >>> import ledkde_fast as lk
    >>> data = np.array([[-1.0], [1.0]])
    >>> score = lk.smoothed_score([[0.5]], data, 0.1, 0.3, n_kernel=64, seed=0)
    >>> bool(score[0, 0] > 0)  # towards the nearer point, +1
    True
    """
    p, est = _smoothed(x, data, t, bandwidth, kernel, n_kernel, seed, antithetic, independent, rank, weights,
                       backend, n_threads, draws)
    return p.shape_output(est.score(p.x.astype(np.float64), p.t))


def led_kde_log_density(x: ArrayLike, data: ArrayLike | ShardedData, t: float, bandwidth: float, *,
                        kernel: KernelLike = "gaussian", n_kernel: int = 1024, seed: SeedLike = None,
                        antithetic: bool = True, independent: bool = False, rank: Optional[int] = None,
                        weights: Optional[ArrayLike] = None, backend: BackendName = "auto",
                        n_threads: Optional[int] = None, draws: DrawMethod = "auto") -> np.ndarray:
    """LED-KDE log-density E_Y[log p_t(x - Y)] (unnormalised in x).

    The exact second moment of the kernel serves as a control variate, so the gradient of this
    estimate is exactly :func:`smoothed_score` for the same draws.

    Parameters
    ----------
    x : array_like, shape (m, d) or (d,)
        Query points; a 1-D ``x`` is one point and gives a scalar (0-d) result.
    data : array_like, shape (N, d), or ShardedData
        Training points.
    t : float
        Diffusion time, > 0.
    bandwidth : float
        h >= 0, the scale of the smoothing kernel (0: the Gaussian KDE log-density).
    kernel : {"gaussian", "pca"} or ledkde_fast.kernels.Kernel
        Law of the standardised kernel draw.
    n_kernel : int
        Number of kernel draws (even when ``antithetic``).
    seed : None, int or numpy.random.Generator
        Seed of the draws.
    antithetic : bool
        Draw pairs (Y, -Y).
    independent : bool
        Fresh draws for every query instead of draws shared by the call.
    rank : int, optional
        Number of principal directions for ``kernel="pca"``.
    weights : array_like, shape (N,), optional
        Non-negative point weights, not all zero.
    backend : {"auto", "cpp", "numba", "reference", "cuda"}
        Compute backend.
    n_threads : int, optional
        Threads for the kernel.
    draws : {"auto", "iid", "orthogonal", "qmc"}
        Construction of the standardised kernel draws (see :func:`smoothed_denoiser`).

    Returns
    -------
    numpy.ndarray, shape (m,) or ()
        The LED-KDE log-density of each query, in the inputs' dtype.

    Raises
    ------
    TypeError
        An argument of the wrong kind.
    ValueError
        A bad value (as for :func:`smoothed_denoiser`).
    ImportError
        ``draws="qmc"`` without scipy.

    Examples
    --------
    >>> import numpy as np
    >>> import ledkde_fast as lk
    >>> data = np.array([[0.0]])
    >>> exact = lk.kde_log_density([0.0], data, 1.0)
    >>> bool(np.isclose(lk.led_kde_log_density([0.0], data, 1.0, 0.0), exact))  # h = 0: the KDE
    True
    """
    p, est = _smoothed(x, data, t, bandwidth, kernel, n_kernel, seed, antithetic, independent, rank, weights,
                       backend, n_threads, draws, want_den=False)
    return p.shape_output(est.log_density)
