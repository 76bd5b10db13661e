"""Reverse diffusion with the empirical or kernel-smoothed score (docs/maths.rst, "Samplers").

The forward process is Brownian motion, dX = dB (variance-exploding: p_t = p* convolved with
N(0, t I)). Sampling starts from N(unweighted mean of the data, t_max I) and runs the reverse SDE
dY = s_{T-u}(Y) du + dB down to t_min, where s is the smoothed score of the LED-KDE (the exact
empirical score when the bandwidth is 0). Every step sends all samples to the core in one call.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Callable, Literal, Optional, Union

import numpy as np
from numpy.typing import ArrayLike

from ._backends import BackendName
from ._data import InMemoryData, Problem, as_source
from ._draw_counts import AUTO_CAP, AUTO_TARGET, DrawCount, DrawPolicy, as_draw_policy, estimate_step
from ._estimate import SmoothingSetup, prepare_smoothing
from ._kernel_plan import DrawMethod
from ._validation import (
    SeedLike,
    as_bandwidth,
    as_bool,
    as_choice,
    as_generator,
    as_int,
    as_numeric_array,
    as_positive,
    as_threads,
)
from .smoothed import KernelLike

if TYPE_CHECKING:
    from .distributed import ShardedData

__all__ = ["sample", "default_t_max", "default_t_min", "time_grid"]

Method = Literal["euler_maruyama", "probability_flow", "langevin"]
Schedule = Literal["geometric", "linear"]
METHODS: tuple[str, ...] = ("euler_maruyama", "probability_flow", "langevin")
SCHEDULES: tuple[str, ...] = ("geometric", "linear")
#: Points used to estimate the spread and the nearest-neighbour spacing for the default times.
_SPACING_SUBSET = 2000


def default_t_max(data: ArrayLike, seed: int = 0) -> float:
    """Default start time: 10 x the largest principal variance of the data.

    The Gaussian N(mean, t_max I) then covers the data in every direction with room to spare, so
    p_{t_max} is close to it (our choice, not the paper's).

    Parameters
    ----------
    data : array_like, shape (N, d)
        Training points (a memmap is read on a subset only).
    seed : int
        Seed of the subset of at most 2000 points the variance is measured on.

    Returns
    -------
    float
        The time; 1.0 for a single repeated point.

    Examples
    --------
    >>> import numpy as np
    >>> from ledkde_fast.sampler import default_t_max
    >>> round(default_t_max(np.array([[-1.0], [1.0]])), 12)  # the variance is 1
    10.0
    """
    source = as_source(data)
    sub = source.sample_rows(_SPACING_SUBSET, seed).astype(np.float64)
    if sub.shape[0] < 2:
        spread = 0.0
    elif isinstance(source, InMemoryData) and sub.shape[0] == source.n:  # all the points: the source's own SVD
        spread = source.centred_norm() / np.sqrt(source.n)
    else:
        spread = float(np.linalg.norm(sub - sub.mean(axis=0), 2)) / np.sqrt(sub.shape[0])
    # a spread at the rounding level of the coordinates is that of one repeated point
    if spread <= 64 * np.finfo(np.float64).eps * float(np.abs(sub).max()):
        return 1.0
    return float(10.0 * spread**2)


def default_t_min(data: ArrayLike, seed: int = 0) -> float:
    """Default stopping time: (0.1 x median nearest-neighbour distance)^2 / d.

    The noise of the diffusion, of norm about sqrt(d t_min), is then a tenth of the spacing between
    training points, so they no longer blur into each other (our choice, not the paper's).

    Parameters
    ----------
    data : array_like, shape (N, d)
        Training points.
    seed : int
        Seed of the subset of at most 2000 points whose spacing is measured (exact neighbours
        among all the data).

    Returns
    -------
    float
        The time; 1e-6 x :func:`default_t_max` when the points coincide or the spacing rule gives a
        time below the smallest normal float64 (a spacing below about 1e-153).

    Raises
    ------
    ValueError
        When that fallback is below the smallest normal float64 too (data of extent below about
        1e-151).

    Examples
    --------
    >>> import numpy as np
    >>> from ledkde_fast.sampler import default_t_min
    >>> round(default_t_min(np.array([[0.0], [1.0], [2.0]])), 6)
    0.01
    """
    from .neighbors import nearest_neighbors

    source = as_source(data)
    if source.n < 2:
        return 1e-6 * default_t_max(data)
    dist, _ = nearest_neighbors(source.sample_rows(_SPACING_SUBSET, seed).astype(np.float64), data, 2)
    spacing = float(np.median(dist[:, 1]))
    tiny = float(np.finfo(np.float64).tiny)
    t_min = (0.1 * spacing) ** 2 / source.d
    if t_min >= tiny:
        return t_min
    # coinciding points, or a spacing (e.g. of near-duplicates) too small for a normal float64 time
    t_min = 1e-6 * default_t_max(data)
    if t_min < tiny:
        raise ValueError(f"the default t_min is below the smallest normal float64 ({tiny:.3g}): the data's spread "
                         f"and median nearest-neighbour spacing ({spacing:.3g}) are too small; rescale the data or "
                         "pass t_min")
    return t_min


def time_grid(t_max: float, t_min: float, n_steps: int, schedule: Union[Schedule, ArrayLike]) -> np.ndarray:
    """Decreasing times t_0 = t_max > ... > t_n = t_min of the sampler's steps.

    Parameters
    ----------
    t_max, t_min : float
        First and last time (ignored for an explicit array of times).
    n_steps : int
        Number of steps (the grid has ``n_steps + 1`` times).
    schedule : {"geometric", "linear"} or array_like
        Geometric (log-spaced, the default of :func:`sample`: equal steps in log t, where the score
        changes), linear, or an explicit strictly decreasing array of times > 0.

    Returns
    -------
    numpy.ndarray of float64
        The times.

    Raises
    ------
    ValueError
        An unknown schedule name, or explicit times that are not finite, > 0 and decreasing.

    Examples
    --------
    >>> from ledkde_fast.sampler import time_grid
    >>> time_grid(8.0, 1.0, 3, "geometric")
    array([8., 4., 2., 1.])
    """
    if isinstance(schedule, str):
        if schedule == "geometric":
            return np.geomspace(t_max, t_min, n_steps + 1)
        if schedule == "linear":
            return np.linspace(t_max, t_min, n_steps + 1)
        raise ValueError(f"schedule must be one of {SCHEDULES} or an array of times, got {schedule!r}")
    times = as_numeric_array(schedule, "schedule").astype(np.float64)
    if times.ndim != 1 or times.size < 2:
        raise ValueError("schedule given as times must be a 1-D array of at least two times")
    if not np.isfinite(times).all() or (times <= 0).any() or (np.diff(times) >= 0).any():
        raise ValueError("schedule times must be finite, > 0 and strictly decreasing")
    return times


# ----------------------------------------------------------------------------- the steps
#: A step maps (states, time, next time, score function, generator) to the next states.
Step = Callable[[np.ndarray, float, float, Callable[[np.ndarray, float], np.ndarray], np.random.Generator],
                np.ndarray]


def _euler_maruyama(y: np.ndarray, t: float, t_next: float, score: Callable[[np.ndarray, float], np.ndarray],
                    rng: np.random.Generator) -> np.ndarray:
    """One Euler-Maruyama step of the reverse SDE dY = s_t(Y) du + dB."""
    dt = t - t_next
    return y + dt * score(y, t) + np.sqrt(dt) * rng.standard_normal(y.shape)


def _probability_flow(y: np.ndarray, t: float, t_next: float, score: Callable[[np.ndarray, float], np.ndarray],
                      rng: np.random.Generator) -> np.ndarray:
    """One Heun step of the probability-flow ODE dy/dt = -s_t(y)/2, backwards in time."""
    dt = t - t_next
    drift = 0.5 * score(y, t)
    y_pred = y + dt * drift
    return y + 0.5 * dt * (drift + 0.5 * score(y_pred, t_next))


def _langevin(eps: float) -> Step:
    """Unadjusted Langevin at a fixed time: y <- y + eps s(y) + sqrt(2 eps) z."""

    def step(y: np.ndarray, t: float, t_next: float, score: Callable[[np.ndarray, float], np.ndarray],
             rng: np.random.Generator) -> np.ndarray:
        return y + eps * score(y, t) + np.sqrt(2 * eps) * rng.standard_normal(y.shape)

    return step


def _times(source: Any, t_max: Any, t_min: Any, n_steps: int, schedule: Any, method: str) -> np.ndarray:
    """The validated time grid, with the default start and stop times where not given (an explicit
    array of times needs neither).
    """
    if not isinstance(schedule, str):
        return time_grid(0.0, 0.0, n_steps, schedule)
    t_max = default_t_max(source) if t_max is None else as_positive(t_max, "t_max")
    t_min = default_t_min(source) if t_min is None else as_positive(t_min, "t_min")
    if t_min >= t_max and method != "langevin":
        raise ValueError(f"t_min ({t_min}) must be smaller than t_max ({t_max})")
    return time_grid(t_max, t_min, n_steps, schedule)


def sample(data: ArrayLike | ShardedData, n_samples: int, *, bandwidth: Union[float, Callable[[float], float]] = 0.0,
           kernel: KernelLike = "gaussian", n_kernel: DrawCount = "auto", rank: Optional[int] = None,
           t_max: Optional[float] = None, t_min: Optional[float] = None, n_steps: int = 100,
           schedule: Union[Schedule, ArrayLike] = "geometric", method: Method = "euler_maruyama",
           langevin_step: Optional[float] = None, final_denoise: bool = False, seed: SeedLike = None,
           weights: Optional[ArrayLike] = None, backend: BackendName = "auto", n_threads: Optional[int] = None,
           progress: bool = False, return_trajectory: bool = False, draws: DrawMethod = "auto",
           n_kernel_target: float = AUTO_TARGET, n_kernel_cap: int = AUTO_CAP) -> Any:
    """Draw samples by reverse diffusion with the kernel-smoothed score.

    Parameters
    ----------
    data : array_like, shape (N, d), or ShardedData
        Training points (a memmap streams from disk).
    n_samples : int
        Number of samples; all of them move together, one core call per step.
    bandwidth : float or callable
        Smoothing bandwidth h >= 0, or a function h(t) of the diffusion time (a schedule, e.g.
        ``lambda t: 0.5 * t ** 0.5``). 0 uses the exact empirical score (memorises the data).
    kernel : {"gaussian", "pca"} or ledkde_fast.kernels.Kernel
        The smoothing kernel; fresh shared draws at every step.
    n_kernel : int, callable or "auto"
        Kernel draws per step (even); a function ``n(t)`` of the step's time; or ``"auto"`` (the
        default): the first step and one in four measure the Monte-Carlo standard error of the
        smoothed score from two independent halves of their draws, and the next steps take as many
        draws as that error predicts for ``n_kernel_target``, between 8 and ``n_kernel_cap``
        (:mod:`ledkde_fast._draw_counts`; our rule; docs/user_guide.rst, "Choosing the number of
        draws"). It reached the quality of 1,024 draws per step in 0.05-0.4 times its time on the
        three workloads of benchmarks/time_to_quality.py (0.4 on 784-pixel images, where the exact
        score alone takes 0.19 times).
    rank : int, optional
        Number of principal directions for ``kernel="pca"``.
    t_max, t_min : float, optional
        Start and stop times. Defaults: :func:`default_t_max` and :func:`default_t_min` (required
        for a ShardedData).
    n_steps : int
        Number of steps (also the Langevin iteration count).
    schedule : {"geometric", "linear"} or array_like
        Times of the steps (see :func:`time_grid`).
    method : {"euler_maruyama", "probability_flow", "langevin"}
        Euler-Maruyama on the reverse SDE; Heun on the probability-flow ODE dy/dt = -s_t(y)/2;
        or unadjusted Langevin at the fixed time t_min on the LED-KDE,
        y <- y + eps s(y) + sqrt(2 eps) z, with eps = ``langevin_step`` (default 0.1 t_min).
    langevin_step : float, optional
        Step size of the Langevin method, > 0.
    final_denoise : bool
        Finish with one application of the (smoothed) denoiser at t_min.
    seed : None, int or numpy.random.Generator
        Initial noise, Brownian increments and kernel draws all come from it.
    weights : array_like, shape (N,), optional
        Non-negative point weights, not all zero.
    backend : {"auto", "cpp", "numba", "reference", "cuda"}
        Compute backend.
    n_threads : int, optional
        Threads for the kernel.
    progress : bool
        Show a tqdm progress bar (``pip install tqdm``).
    return_trajectory : bool
        Also return the states after every step, shape (n_steps + 1, n_samples, d).
    draws : {"auto", "iid", "orthogonal", "qmc"}
        Construction of the kernel draws, in antithetic pairs (see
        :func:`ledkde_fast.smoothed_denoiser`).
    n_kernel_target : float
        With ``n_kernel="auto"``: the Monte-Carlo standard error of the smoothed score relative to
        its size (root mean squares over samples and coordinates) each step aims at (default 0.5:
        with 100 steps, the quality of 1,024 draws per step on the three workloads of
        benchmarks/time_to_quality.py; the errors of the steps average out along the path).
    n_kernel_cap : int
        With ``n_kernel="auto"``: the most draws one step takes (even, at least 64).

    Returns
    -------
    samples : numpy.ndarray, shape (n_samples, d)
        In the data's dtype (float32 stays float32).
    trajectory : numpy.ndarray, shape (n_steps + 1, n_samples, d)
        Only with ``return_trajectory``.

    Raises
    ------
    TypeError
        An argument of the wrong kind (e.g. a non-int ``n_samples`` or ``n_steps``).
    ValueError
        A bad value: ``t_min >= t_max``, an unknown method or schedule, a negative bandwidth, and
        the checks of the smoothed estimators.

    Examples
    --------
    >>> import numpy as np
    >>> import ledkde_fast as lk
    >>> data = np.array([[0.0, 0.0], [1.0, 1.0]])
    >>> out = lk.sample(data, 4, bandwidth=0.1, n_kernel=16, n_steps=10, seed=0)
    >>> out.shape, out.dtype
    ((4, 2), dtype('float64'))
    """
    source = as_source(data, weights)
    n_samples = as_int(n_samples, "n_samples", 1)
    n_steps = as_int(n_steps, "n_steps", 1)
    method = as_choice(method, "method", METHODS)  # type: ignore[assignment]
    if not callable(bandwidth):
        as_bandwidth(bandwidth)
    times = _times(source, t_max, t_min, n_steps, schedule, method)
    t_min = float(times[-1])
    rng = as_generator(seed)
    dtype = source.dtype
    p = Problem(np.zeros((0, source.d), dtype=dtype), source, float(times[0]), as_threads(n_threads), False)
    policy = as_draw_policy(n_kernel, n_kernel_target, n_kernel_cap)
    setup = prepare_smoothing(p, kernel, policy.plan_count, True, False, rank, backend, draws)

    def score(y: np.ndarray, t: float) -> np.ndarray:
        return _smoothed(policy, p, setup, bandwidth, rng, y, t).score(y, t)

    if method == "langevin":
        eps = 0.1 * t_min if langevin_step is None else as_positive(langevin_step, "langevin_step")
        step, grid = _langevin(eps), np.full(n_steps + 1, t_min)
    else:
        step, grid = (_euler_maruyama if method == "euler_maruyama" else _probability_flow), times
    y = source.mean() + np.sqrt(times[0]) * rng.standard_normal((n_samples, source.d))
    trajectory = [y.copy()] if as_bool(return_trajectory, "return_trajectory") else None
    for k in _progress(range(len(grid) - 1), as_bool(progress, "progress"), method):
        y = step(y, float(grid[k]), float(grid[k + 1]), score, rng)
        if trajectory is not None:
            trajectory.append(y.copy())
    if as_bool(final_denoise, "final_denoise"):
        den = _smoothed(policy, p, setup, bandwidth, rng, y, t_min).denoiser
        assert den is not None
        y = den
    out = y.astype(dtype)
    if trajectory is not None:
        return out, np.stack(trajectory).astype(dtype)
    return out


def _smoothed(policy: DrawPolicy, p: Problem, setup: SmoothingSetup, bandwidth: Any, rng: np.random.Generator,
              y: np.ndarray, t: float) -> Any:
    """The smoothed estimates at the states ``y`` and time ``t`` (the bandwidth and the draw count may
    depend on t).
    """
    h = as_bandwidth(bandwidth(t) if callable(bandwidth) else bandwidth)
    return estimate_step(policy, p.with_queries(y, float(t)), setup, h, rng)[0]


def _progress(steps: Iterable[int], progress: bool, desc: str) -> Iterable[int]:
    if not progress:
        return steps
    try:
        from tqdm.auto import tqdm
    except ImportError:
        warnings.warn("progress=True needs tqdm (pip install tqdm); continuing without a progress bar",
                      stacklevel=3)
        return steps
    return tqdm(steps, desc=desc)
