"""Reverse diffusion with the empirical or kernel-smoothed score (DESIGN.md 1).

The forward process is Brownian motion, dX = dB (variance-exploding: p_t = p* convolved with
N(0, t I)). Sampling starts from N(mean of data, t_max I) and runs the reverse SDE
dY = s_{T-u}(Y) du + dB down to t_min, where s is the smoothed score of the LED-KDE (the exact
empirical score when the bandwidth is 0). Every step sends all samples to the core in one call.
"""

from __future__ import annotations

import dataclasses
import numbers
import warnings
from typing import Callable, Union

import numpy as np

from ._backends import resolve_name
from ._validation import Problem, as_data, as_log_weights, as_threads, prepare_sharded, result_dtype
from .smoothed import as_bandwidth, as_generator, estimate, estimate_sharded, prepare_smoothing, sharded_plan

__all__ = ["sample", "default_t_max", "default_t_min", "time_grid"]

METHODS = ("euler_maruyama", "probability_flow", "langevin")
SCHEDULES = ("geometric", "linear")
#: Points used to estimate the nearest-neighbour spacing for the default t_min.
_SPACING_SUBSET = 2000


def _spacing_subset(data, seed) -> np.ndarray:
    """At most 2000 random rows (sorted, so that a memmap reads them in order)."""
    if data.shape[0] <= _SPACING_SUBSET:
        return np.asarray(data)
    rng = np.random.default_rng(seed)
    return np.asarray(data[np.sort(rng.choice(data.shape[0], _SPACING_SUBSET, replace=False))])


def default_t_max(data, seed=0) -> float:
    """10 x the largest principal variance of the data (on a subset of at most 2000 points): the
    Gaussian N(mean, t_max I) then covers the data in every direction with room to spare, so
    p_{t_max} is close to it. 1.0 for a single repeated point."""
    sub = _spacing_subset(data, seed).astype(np.float64)
    centred = sub - sub.mean(axis=0)
    top = float(np.linalg.norm(centred, 2)) ** 2 / sub.shape[0] if sub.shape[0] > 1 else 0.0
    return 10.0 * top if top > 0 else 1.0


def default_t_min(data, seed=0) -> float:
    """(0.1 x median nearest-neighbour distance)^2 / d: the noise of the diffusion, of norm about
    sqrt(d t_min), is then a tenth of the spacing between training points, so they no longer blur
    into each other. The spacing is measured for a random subset of at most 2000 points (exact
    neighbours among all the data)."""
    from .neighbors import nearest_neighbors

    n, d = data.shape
    if n < 2:
        return 1e-6 * default_t_max(data)
    dist, _ = nearest_neighbors(_spacing_subset(data, seed).astype(np.float64), data, 2)
    spacing = float(np.median(dist[:, 1]))
    return (0.1 * spacing) ** 2 / d if spacing > 0 else 1e-6 * default_t_max(data)


def time_grid(t_max: float, t_min: float, n_steps: int, schedule) -> np.ndarray:
    """Decreasing times t_0 = t_max > ... > t_n = t_min: geometric (log-spaced, the default: equal
    steps in log t, where the score changes), linear, or an explicit decreasing array."""
    if isinstance(schedule, str):
        if schedule == "geometric":
            return np.geomspace(t_max, t_min, n_steps + 1)
        if schedule == "linear":
            return np.linspace(t_max, t_min, n_steps + 1)
        raise ValueError(f"schedule must be one of {SCHEDULES} or an array of times, got {schedule!r}")
    times = np.asarray(schedule, dtype=np.float64)
    if times.ndim != 1 or times.size < 2:
        raise ValueError("schedule given as times must be a 1-D array of at least two times")
    if not np.isfinite(times).all() or (times <= 0).any() or (np.diff(times) >= 0).any():
        raise ValueError("schedule times must be finite, > 0 and strictly decreasing")
    return times


def _positive(value, name) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real scalar, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return value


def _bandwidth_at(bandwidth, t: float) -> float:
    return as_bandwidth(bandwidth(t) if callable(bandwidth) else bandwidth)


def sample(data, n_samples, *, bandwidth: Union[float, Callable[[float], float]] = 0.0, kernel="gaussian",
           n_kernel=1024, rank=None, t_max=None, t_min=None, n_steps=100, schedule="geometric",
           method="euler_maruyama", langevin_step=None, final_denoise=False, seed=None, weights=None,
           backend="auto", n_threads=None, progress=False, return_trajectory=False):
    """Draw samples by reverse diffusion with the kernel-smoothed score.

    Parameters
    ----------
    data : array_like, shape (N, d)
        Training points.
    n_samples : int
        Number of samples; all of them move together, one core call per step.
    bandwidth : float or callable
        Smoothing bandwidth h >= 0, or a function h(t) of the diffusion time (a schedule, e.g.
        ``lambda t: 0.5 * t ** 0.5``). 0 uses the exact empirical score (memorises the data).
    kernel, n_kernel, rank
        The smoothing kernel (see :mod:`ledkde_fast.kernels`); fresh shared draws at every step.
    t_max, t_min : float, optional
        Start and stop times. Defaults: :func:`default_t_max` and :func:`default_t_min`.
    n_steps : int
        Number of steps (also the Langevin iteration count).
    schedule : {"geometric", "linear"} or array
        Times of the steps (see :func:`time_grid`).
    method : {"euler_maruyama", "probability_flow", "langevin"}
        Euler-Maruyama on the reverse SDE; Heun on the probability-flow ODE dy/dt = -s_t(y)/2;
        or unadjusted Langevin at the fixed time t_min on the LED-KDE,
        y <- y + eps s(y) + sqrt(2 eps) z, with eps = ``langevin_step`` (default 0.1 t_min).
    final_denoise : bool
        Finish with one application of the (smoothed) denoiser at t_min.
    seed : None, int or numpy.random.Generator
        Initial noise, Brownian increments and kernel draws all come from it.
    weights, backend, n_threads
        As for :func:`ledkde_fast.empirical_denoiser`.
    progress : bool
        Show a tqdm progress bar (``pip install tqdm``).
    return_trajectory : bool
        Also return the states after every step, shape (n_steps + 1, n_samples, d).

    Returns
    -------
    samples : ndarray, shape (n_samples, d), in the data's dtype (float32 stays float32)
    """
    from .distributed import streamed

    memmap = isinstance(data, np.memmap)
    if memmap:  # default times from a subset, before the memmap is wrapped for streaming
        t_max = default_t_max(data) if t_max is None else t_max
        t_min = default_t_min(data) if t_min is None else t_min
    data = streamed(data)
    sharded = getattr(data, "_ledkde_sharded", False)
    if isinstance(n_samples, (bool, np.bool_)) or not isinstance(n_samples, numbers.Integral):
        raise TypeError(f"n_samples must be an int, got {type(n_samples).__name__}")
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    if isinstance(n_steps, (bool, np.bool_)) or not isinstance(n_steps, numbers.Integral) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive int, got {n_steps!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not callable(bandwidth):
        as_bandwidth(bandwidth)
    if sharded:
        if t_max is None or t_min is None:
            raise ValueError("sampling from a ShardedData needs explicit t_max and t_min")
        p = prepare_sharded(np.zeros((0, data.d)), data, 1.0, weights, n_threads)
        dtype, mean = p.dtype, data.mean()
        plan = sharded_plan(data, kernel, n_kernel, True, rank)
        name = resolve_name(backend)
    else:
        data_arr = as_data(data)
        dtype = result_dtype(data_arr.dtype)
        data_c = np.ascontiguousarray(data_arr, dtype=dtype)
        mean = data_c.astype(np.float64).mean(axis=0)
    t_max = default_t_max(data_c) if t_max is None else _positive(t_max, "t_max")
    t_min = default_t_min(data_c) if t_min is None else _positive(t_min, "t_min")
    if t_min >= t_max and method != "langevin":
        raise ValueError(f"t_min ({t_min}) must be smaller than t_max ({t_max})")
    times = time_grid(t_max, t_min, int(n_steps), schedule)
    if not isinstance(schedule, str):
        t_max, t_min = float(times[0]), float(times[-1])
    rng = as_generator(seed)
    if sharded:
        def smoothed(y, t):
            q = dataclasses.replace(p, x=np.ascontiguousarray(y, dtype=dtype), t=float(t))
            return estimate_sharded(q, data, plan, _bandwidth_at(bandwidth, t), rng, name)
    else:
        p = Problem(x=data_c[:0], data=data_c, t=t_max, log_weights=as_log_weights(weights, data_c.shape[0]),
                    n_threads=as_threads(n_threads), one_point=False)
        setup = prepare_smoothing(p, kernel, n_kernel, True, False, rank, backend)

        def smoothed(y, t):
            q = dataclasses.replace(p, x=np.ascontiguousarray(y, dtype=dtype), t=float(t))
            return estimate(q, setup, _bandwidth_at(bandwidth, t), rng)

    def score(y, t):
        est = smoothed(y, t)
        return (est.denoiser - y + est.ybar) / t

    y = mean + np.sqrt(t_max) * rng.standard_normal((int(n_samples), mean.shape[0]))
    trajectory = [y.copy()] if return_trajectory else None
    steps = _progress(range(len(times) - 1 if method != "langevin" else int(n_steps)), progress, method)
    if method == "langevin":
        eps = 0.1 * t_min if langevin_step is None else _positive(langevin_step, "langevin_step")
    for k in steps:
        if method == "langevin":
            y = y + eps * score(y, t_min) + np.sqrt(2 * eps) * rng.standard_normal(y.shape)
        else:
            t, t_next = times[k], times[k + 1]
            dt = t - t_next
            if method == "euler_maruyama":
                y = y + dt * score(y, t) + np.sqrt(dt) * rng.standard_normal(y.shape)
            else:  # Heun on the probability-flow ODE, backwards in time
                drift = 0.5 * score(y, t)
                y_pred = y + dt * drift
                y = y + 0.5 * dt * (drift + 0.5 * score(y_pred, t_next))
        if trajectory is not None:
            trajectory.append(y.copy())
    if final_denoise:
        y = smoothed(y, t_min).denoiser
    out = y.astype(dtype)
    if return_trajectory:
        return out, np.stack(trajectory).astype(dtype)
    return out


def _progress(iterable, progress: bool, desc: str):
    if not progress:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:
        warnings.warn("progress=True needs tqdm (pip install tqdm); continuing without a progress bar",
                      stacklevel=3)
        return iterable
    return tqdm(iterable, desc=desc)
