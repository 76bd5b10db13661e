"""The Girsanov bound on the KL divergence between the true law and the reverse SDE's samples (Monte Carlo).

Public through :mod:`ledkde_fast.analysis`. The paper's abstract states that it derives asymptotic
KL bounds; the form used here is the standard Girsanov bound for a reverse SDE with an approximate
score (Song, Durkan, Murray and Ermon 2021, "Maximum likelihood training of score-based diffusion
models", Thm. 1; Chen et al. 2023, "Sampling is as easy as learning the score"), not the paper's.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, Union

import numpy as np
from numpy.typing import ArrayLike

from . import _population as pop
from ._backends import BackendName, resolve_name
from ._validation import SeedLike, as_bandwidth, as_generator, as_int, as_n_kernel, as_points, as_positive, as_truth
from .kernels import as_kernel
from .smoothed import KernelLike


def kl_bound(truth: Any, data: ArrayLike, bandwidth: Union[float, Callable[[float], float]], *,
             t_max: Optional[float] = None, t_min: Optional[float] = None, n_steps: int = 100,
             schedule: Union[str, ArrayLike] = "geometric", n_eval: int = 256, kernel: KernelLike = "gaussian",
             n_kernel: int = 256, rank: Optional[int] = None, seed: SeedLike = None,
             backend: BackendName = "auto") -> dict[str, Any]:
    """Girsanov bound on KL(p_{t_min} || law of the reverse-SDE samples driven by the smoothed score).

    The sampler (:func:`ledkde_fast.sample`) starts from N(mu, T I), mu the mean of ``data`` and
    T = ``t_max``, and runs the reverse SDE with drift s~_t, the smoothed score of ``data``, down to
    ``t_min``. For the continuous-time SDE, Girsanov's theorem and the data-processing inequality give
    (standard: Song et al. 2021, Thm. 1; the paper's abstract only says it derives asymptotic KL bounds)::

        KL(p_{t_min} || q_{t_min}) <= KL(p_T || N(mu, T I)) + 1/2 int_{t_min}^{T} E_{x ~ p_t} |s~_t(x) - s_t(x)|^2 dt

    with p_t = truth * N(0, t I) and s_t = ``truth.score``. Both terms are Monte-Carlo estimates:

    * start = mean of ``log p_T(x) - log N(x; mu, T I)`` over ``n_eval`` draws x ~ p_T
      (``truth.log_density``); an unbiased estimate of a KL, so it can come out slightly negative;
    * integral = the trapezoid rule on the sampler's time grid (:func:`ledkde_fast.sampler.time_grid`
      with ``t_max``, ``t_min``, ``n_steps`` and ``schedule``) of the per-time gaps
      ``E_{x ~ p_t} |s~_t(x) - s_t(x)|^2``, halved. The points x = X0 + sqrt(t) Z use the same
      ``n_eval`` pairs (X0, Z) at every time (and for every bandwidth with the same seed), so the
      integral is a mean over independent paths and its standard error is exact.

    The standard errors cover the Monte-Carlo error of the points (the kernel draws of s~ held
    fixed). Not covered: the trapezoid rule's discretisation error, and the Euler-Maruyama error of
    the sampler itself (the bound is for the continuous-time SDE with the smoothed score).

    Parameters
    ----------
    truth : object
        The population law: ``sample(n, seed=None)``, ``score(x, t)``, ``log_density(x, t)``
        (e.g. ``Dataset.truth``).
    data : array_like, shape (N, D)
        Training points of the smoothed score; their mean is the sampler's starting mean.
    bandwidth : float or callable
        h >= 0, or a function h(t) of the time (as for :func:`ledkde_fast.sample`).
    t_max, t_min : float, optional
        Start and stop times; defaults :func:`~ledkde_fast.sampler.default_t_max` and
        :func:`~ledkde_fast.sampler.default_t_min` of ``data`` (ignored for an explicit
        ``schedule`` array).
    n_steps : int
        Steps of the grid (``n_steps + 1`` times), as for the sampler.
    schedule : {"geometric", "linear"} or array_like
        The sampler's time schedule, or an explicit strictly decreasing array of times.
    n_eval : int
        Monte-Carlo points per term, >= 2.
    kernel : {"gaussian", "pca"} or ledkde_fast.kernels.Kernel
        Smoothing kernel.
    n_kernel : int
        Kernel draws of the smoothed score (even).
    rank : int, optional
        Number of principal directions for ``kernel="pca"``.
    seed : None, int or numpy.random.Generator
        Seed of the points (independent streams for the start term, the integral and the kernel).
    backend : {"auto", "cpp", "numba", "reference", "cuda"}
        Compute backend of the smoothed score.

    Returns
    -------
    dict (JSON-serialisable)
        ``start``, ``start_se``, ``integral``, ``integral_se``, ``total`` (= start + integral),
        ``total_se`` (quadrature sum: the two terms use independent draws); ``t`` (the grid,
        increasing), ``gap`` and ``gap_se`` (per time), ``bandwidth`` (a float, or the list h(t)
        for a callable), ``mean`` (mu, a list), ``t_max``, ``t_min``, ``n_eval``, ``n_kernel``,
        ``kernel``.

    Raises
    ------
    TypeError
        If ``truth`` lacks a method, or an argument is of the wrong kind.
    ValueError
        For bad values (t_min >= t_max, a bad schedule, n_steps < 1, n_eval < 2, a negative
        bandwidth, an odd n_kernel, ``data`` whose width differs from the truth's samples), or a
        truth returning arrays of the wrong shape or non-finite values.

    Examples
    --------
    >>> import numpy as np
    >>> from ledkde_fast.analysis import kl_bound
    >>> class Gaussian1D:  # N(0, 1): p_t = N(0, 1 + t)
    ...     def sample(self, n, seed=None):
    ...         return np.random.default_rng(seed).normal(size=(n, 1))
    ...     def score(self, x, t):
    ...         return -x / (1.0 + t)
    ...     def log_density(self, x, t):
    ...         return -0.5 * x[:, 0] ** 2 / (1.0 + t) - 0.5 * np.log(2 * np.pi * (1.0 + t))
    >>> data = Gaussian1D().sample(50, seed=1)
    >>> out = kl_bound(Gaussian1D(), data, 0.2, t_max=10.0, t_min=1e-2, n_steps=20, n_eval=64,
    ...                n_kernel=32, seed=0)
    >>> bool(np.isclose(out["total"], out["start"] + out["integral"]))
    True
    >>> len(out["t"]), out["t"][0] < out["t"][-1]
    (21, True)
    """
    from .sampler import default_t_max, default_t_min, time_grid
    from .smoothed import smoothed_score

    as_truth(truth, ("sample", "score", "log_density"))
    data = as_points(data, "data")
    n_steps = as_int(n_steps, "n_steps", 1)
    n_eval = as_int(n_eval, "n_eval", 2)
    if not callable(bandwidth):
        as_bandwidth(bandwidth)
    kern = as_kernel(kernel, rank)
    n_kernel = as_n_kernel(n_kernel, True)
    resolve_name(backend)
    if isinstance(schedule, str):
        t_hi = default_t_max(data) if t_max is None else as_positive(t_max, "t_max")
        t_lo = default_t_min(data) if t_min is None else as_positive(t_min, "t_min")
        if t_lo >= t_hi:
            raise ValueError(f"t_min ({t_lo}) must be smaller than t_max ({t_hi})")
    else:
        t_hi = t_lo = 1.0  # unused: the explicit times are the grid
    times = time_grid(t_hi, t_lo, n_steps, schedule)[::-1].copy()  # increasing
    hs = [as_bandwidth(bandwidth(float(t)) if callable(bandwidth) else bandwidth) for t in times]
    rng_start, rng_x, rng_k = pop.streams(as_generator(seed), 3)

    data64 = np.ascontiguousarray(data, dtype=np.float64)
    d = data64.shape[1]
    mu = data64.mean(axis=0)

    # start term: E_{p_T}[log p_T - log N(mu, T I)] on its own draws
    t_top = float(times[-1])
    y = pop.sample(truth, n_eval, rng_start)
    if y.shape[1] != d:
        raise ValueError(f"data has {d} columns but truth.sample gives points of dimension {y.shape[1]}: "
                         "dimension mismatch")
    y = y + math.sqrt(t_top) * rng_start.standard_normal((n_eval, d))
    diff = y - mu
    log_ref = -0.5 * np.einsum("ij,ij->i", diff, diff) / t_top - 0.5 * d * math.log(2 * math.pi * t_top)
    start_mean, start_se = pop.mean_se(pop.log_density(truth, y, t_top) - log_ref)

    # score term: the same paths x = X0 + sqrt(t) Z at every time
    x0 = pop.sample(truth, n_eval, rng_x, d)
    z = rng_x.standard_normal(x0.shape)
    kernel_seed = pop.seeds(rng_k, 1)[0]
    gaps = np.empty((times.shape[0], n_eval))
    for k, (t, h) in enumerate(zip(times, hs)):
        x = x0 + math.sqrt(t) * z
        est = np.asarray(smoothed_score(x, data64, float(t), h, kernel=kern, n_kernel=n_kernel, seed=kernel_seed,
                                        backend=backend), dtype=np.float64)
        e = est - pop.score(truth, x, float(t))
        gaps[k] = np.einsum("ij,ij->i", e, e)
    per_path = 0.5 * (pop.trapezoid_weights(times) @ gaps)  # (n_eval,): half the integral along each path
    integral, integral_se = pop.mean_se(per_path)
    gap, gap_se = pop.mean_se(gaps, axis=1)

    return {
        "start": float(start_mean),
        "start_se": float(start_se),
        "integral": float(integral),
        "integral_se": float(integral_se),
        "total": float(start_mean + integral),
        "total_se": float(math.hypot(float(start_se), float(integral_se))),
        "t": [float(v) for v in times],
        "gap": pop.floats(gap),
        "gap_se": pop.floats(gap_se),
        "bandwidth": [float(h) for h in hs] if callable(bandwidth) else float(hs[0]),
        "mean": [float(v) for v in mu],
        "t_max": float(times[-1]),
        "t_min": float(times[0]),
        "n_eval": n_eval,
        "n_kernel": n_kernel,
        "kernel": pop.kernel_label(kern),
    }
