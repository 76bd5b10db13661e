"""Denoising score matching on held-out points, and bandwidth selection by cross-validation.

Public through :mod:`ledkde_fast.analysis`. Denoising score matching is standard (Vincent 2011, "A
connection between score matching and denoising autoencoders"): for x0 drawn from the data law
independently of the estimator, ``E |s(x0 + sqrt(t) eps) + eps / sqrt(t)|^2`` equals
``E_{x ~ p_t} |s(x) - grad log p_t(x)|^2`` plus a constant that does not depend on s, so it ranks
score estimators by their error against the true score without knowing it. The weighting, the default
times, the default bandwidth grid and the cross-validation protocol are ours, not the paper's.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Literal, Optional, Sequence, Union, overload

import numpy as np
from numpy.typing import ArrayLike

from . import _population as pop
from ._backends import BackendName, resolve_name
from ._validation import (
    SeedLike,
    as_bandwidth,
    as_bool,
    as_callable,
    as_choice,
    as_generator,
    as_int,
    as_log_weights,
    as_n_kernel,
    as_nonnegative_values,
    as_points,
    as_times,
)
from .kernels import as_kernel
from .smoothed import KernelLike

#: Number of times of the default geometric grid of :func:`dsm_loss` and :func:`select_bandwidth`.
N_TIMES = 16

#: Default candidate bandwidths of :func:`select_bandwidth`, as multiples of the median
#: nearest-neighbour distance of the data (0 is added in front).
CANDIDATE_FACTORS = tuple(float(v) for v in np.geomspace(0.01, 10.0, 25))

#: Largest temporary (in bytes) of the noisy queries of one chunk of held-out points.
BLOCK_BYTES = 64 << 20

#: Points used to measure the nearest-neighbour spacing for the default candidates.
_SPACING_SUBSET = 2000

Score = Callable[[np.ndarray, float], np.ndarray]


# ============================================================================= helpers
def default_times(data: np.ndarray) -> np.ndarray:
    """The default DSM times: ``N_TIMES`` geometric times from ``default_t_min`` to ``default_t_max`` of data."""
    from .sampler import default_t_max, default_t_min

    return np.geomspace(default_t_min(data), default_t_max(data), N_TIMES)


def median_spacing(data: np.ndarray) -> float:
    """Median distance from a point to its nearest other point (on a seeded subset of at most 2000 points).

    Falls back to the median of the positive spacings when more than half are 0 (duplicates), and to 1
    when all are (or there is a single point).
    """
    from .neighbors import nearest_neighbors

    n = data.shape[0]
    if n < 2:
        return 1.0
    rows = np.sort(np.random.default_rng(0).choice(n, _SPACING_SUBSET, replace=False)) if n > _SPACING_SUBSET else None
    sub = data if rows is None else data[rows]
    dist, _ = nearest_neighbors(sub, data, 2)
    spacing = dist[:, 1]
    med = float(np.median(spacing))
    if med > 0:
        return med
    positive = spacing[spacing > 0]
    return float(np.median(positive)) if positive.size else 1.0


def default_candidates(data: np.ndarray) -> np.ndarray:
    """0 and ``CANDIDATE_FACTORS`` times the median nearest-neighbour distance of the data (our heuristic)."""
    return np.concatenate([[0.0], median_spacing(data) * np.asarray(CANDIDATE_FACTORS)])


def _as_dsm_times(times: Any, data: np.ndarray) -> np.ndarray:
    return default_times(data) if times is None else as_times(times, "times")


def _as_score(score: Any) -> Score:
    score = as_callable(score, "score", "score(x, t) -> (m, d)")

    def checked(x: np.ndarray, t: float) -> np.ndarray:
        return pop.checked(score(x, t), "score", x.shape)

    return checked


def _dsm_terms(x0: np.ndarray, scores: Sequence[Score], times: np.ndarray, n_noise: int,
               rng: np.random.Generator) -> np.ndarray:
    """Per-point DSM terms ``mean_eps |sqrt(t) s(x0 + sqrt(t) eps) + eps|^2``, shape (n_scores, n_times, m).

    ``t |s + eps / sqrt(t)|^2 = |sqrt(t) s + eps|^2``. The noise is drawn time by time, then chunk by
    chunk of points, independently of the scores, so every score (and every call with the same
    generator state) sees the same eps: common random numbers.
    """
    m, d = x0.shape
    out = np.empty((len(scores), times.shape[0], m))
    chunk = max(1, min(m, BLOCK_BYTES // (8 * 4 * n_noise * d)))
    for k, t in enumerate(times):
        root = math.sqrt(float(t))
        for c0 in range(0, m, chunk):
            xs = x0[c0:c0 + chunk]
            b = xs.shape[0]
            eps = rng.standard_normal((b, n_noise, d))
            x = np.ascontiguousarray((xs[:, None, :] + root * eps).reshape(b * n_noise, d))
            for i, score in enumerate(scores):
                r = root * score(x, float(t)).reshape(b, n_noise, d) + eps
                out[i, k, c0:c0 + b] = np.einsum("bnd,bnd->bn", r, r).mean(axis=1)
    return out


def _smoothed_scores(train: np.ndarray, bandwidths: Sequence[float], kernel: Any, n_kernel: int, kernel_seed: int,
                     backend: BackendName, weights: Optional[ArrayLike] = None) -> list[Score]:
    """Score callables of the smoothed score of ``train``, one per bandwidth, with shared kernel draws."""
    from .smoothed import smoothed_score

    def make(h: float) -> Score:
        def fn(x: np.ndarray, t: float) -> np.ndarray:
            return np.asarray(smoothed_score(x, train, t, h, kernel=kernel, n_kernel=n_kernel, seed=kernel_seed,
                                             weights=weights, backend=backend), dtype=np.float64)

        return fn

    return [make(float(h)) for h in bandwidths]


def _report(terms: np.ndarray, times: np.ndarray, details: bool, extra: dict[str, Any]) -> Union[float, dict[str, Any]]:
    """The mean loss, or the dict of :func:`dsm_loss`, from the per-point terms (n_times, m)."""
    per_point = terms.mean(axis=0)  # uniform weights on the times
    loss, se = pop.mean_se(per_point)
    if not details:
        return float(loss)
    per_time, per_time_se = pop.mean_se(terms, axis=1)
    out: dict[str, Any] = {
        "loss": float(loss),
        "se": None if np.isnan(se) else float(se),
        "times": [float(v) for v in times],
        "per_time": pop.floats(per_time),
        "per_time_se": pop.floats(per_time_se),
        "n_heldout": int(terms.shape[1]),
    }
    out.update(extra)
    return out


# ============================================================================= public
def dsm_loss_of_score(x_heldout: ArrayLike, score: Score, times: ArrayLike, *, n_noise: int = 16,
                      seed: SeedLike = None, details: bool = False) -> Union[float, dict[str, Any]]:
    """The DSM loss of :func:`dsm_loss` for any score function ``score(x, t) -> (m, d)``.

    With the same ``x_heldout``, ``times``, ``n_noise`` and ``seed`` the noise is the same as in
    :func:`dsm_loss`, so the two are paired (e.g. the true score against the smoothed one).

    Parameters
    ----------
    x_heldout : array_like, shape (m, d)
        Held-out points x0 (independent of whatever ``score`` was fitted on).
    score : callable
        ``score(x, t)`` for x of shape (n, d) and a float t, returning (n, d).
    times : array_like, shape (n_t,)
        Times > 0; the loss is the plain mean over them.
    n_noise : int
        Noise draws per held-out point and time, >= 1.
    seed : None, int or numpy.random.Generator
        Seed of the noise.
    details : bool
        Return the dict of :func:`dsm_loss` instead of the mean loss.

    Returns
    -------
    float or dict
        As :func:`dsm_loss`.

    Raises
    ------
    TypeError
        If ``score`` is not callable or an argument is of the wrong kind.
    ValueError
        For bad values, or a ``score`` returning the wrong shape or non-finite values.

    Examples
    --------
    >>> import numpy as np
    >>> from ledkde_fast._score_matching import dsm_loss_of_score
    >>> x0 = np.random.default_rng(0).normal(size=(200, 1))  # N(0, 1): score -x / (1 + t)
    >>> loss = dsm_loss_of_score(x0, lambda x, t: -x / (1.0 + t), [1.0], n_noise=8, seed=0)
    >>> bool(abs(loss - 0.5) < 0.1)  # expected value d s^2 / (s^2 + t) = 1 / 2
    True
    """
    x0 = np.ascontiguousarray(as_points(x_heldout, "x_heldout"), dtype=np.float64)
    fn = _as_score(score)
    times_arr = as_times(times, "times")
    n_noise = as_int(n_noise, "n_noise", 1)
    details = as_bool(details, "details")
    rng_noise, _ = pop.streams(as_generator(seed), 2)
    terms = _dsm_terms(x0, [fn], times_arr, n_noise, rng_noise)[0]
    return _report(terms, times_arr, details, {"n_noise": n_noise})


@overload
def dsm_loss(x_heldout: ArrayLike, data: ArrayLike, bandwidth: float, *, times: Optional[ArrayLike] = ...,
             n_noise: int = ..., kernel: KernelLike = ..., n_kernel: int = ..., rank: Optional[int] = ...,
             weights: Optional[ArrayLike] = ..., seed: SeedLike = ..., backend: BackendName = ...,
             details: Literal[False] = ...) -> float: ...


@overload
def dsm_loss(x_heldout: ArrayLike, data: ArrayLike, bandwidth: float, *, times: Optional[ArrayLike] = ...,
             n_noise: int = ..., kernel: KernelLike = ..., n_kernel: int = ..., rank: Optional[int] = ...,
             weights: Optional[ArrayLike] = ..., seed: SeedLike = ..., backend: BackendName = ...,
             details: Literal[True]) -> dict[str, Any]: ...


@overload
def dsm_loss(x_heldout: ArrayLike, data: ArrayLike, bandwidth: float, *, times: Optional[ArrayLike] = ...,
             n_noise: int = ..., kernel: KernelLike = ..., n_kernel: int = ..., rank: Optional[int] = ...,
             weights: Optional[ArrayLike] = ..., seed: SeedLike = ..., backend: BackendName = ...,
             details: bool = ...) -> Union[float, dict[str, Any]]: ...


def dsm_loss(x_heldout: ArrayLike, data: ArrayLike, bandwidth: float, *, times: Optional[ArrayLike] = None,
             n_noise: int = 16, kernel: KernelLike = "gaussian", n_kernel: int = 256, rank: Optional[int] = None,
             weights: Optional[ArrayLike] = None, seed: SeedLike = None, backend: BackendName = "auto",
             details: bool = False) -> Union[float, dict[str, Any]]:
    """Denoising score-matching loss of the smoothed score of ``data`` on held-out points (Monte Carlo).

    ``L = mean_k E_{x0, eps} t_k |s~_{t_k}(x0 + sqrt(t_k) eps) + eps / sqrt(t_k)|^2``

    over the held-out points x0 (empirical mean), ``n_noise`` draws eps ~ N(0, I) per point and
    time, and the times t_k. For x0 from the data law and independent of ``data``, each time's term
    equals ``t E_{x ~ p_t} |s~_t(x) - s_t(x)|^2`` plus a constant independent of the estimator
    (Vincent 2011), so L is minimised by the true score and ranks estimators by their error: a proper
    validation criterion. On training points it is not (the memorising empirical score wins there).

    The weight t makes each time's term O(d) (``d s^2 / (s^2 + t)`` for the true score of
    N(mu, s^2 I)). The default times are ``N_TIMES`` = 16 geometric times from
    :func:`~ledkde_fast.sampler.default_t_min` to :func:`~ledkde_fast.sampler.default_t_max` of
    ``data`` (the sampler's range; our choice). A plain mean over a geometric grid is a mean over
    log t, and ``t dlog t = dt``, so up to the constant and the quadrature error L is
    ``1 / log(t_max / t_min)`` times the score-error integral ``int E|s~_t - s_t|^2 dt`` of the
    Girsanov bound (:func:`kl_bound`) - our observation, not the paper's.

    Common random numbers: the noise depends only on ``seed`` (and the sizes and times), and the
    kernel draws only on ``seed`` (scaled by h), so losses at different bandwidths with one seed
    are paired; their difference is much more precise than either standard error suggests.

    Parameters
    ----------
    x_heldout : array_like, shape (m, d)
        Held-out points, not in ``data``.
    data : array_like, shape (N, d)
        Training points of the smoothed score.
    bandwidth : float
        h >= 0 (0: the exact empirical score).
    times : array_like, optional
        Times > 0 (the loss is the plain mean over them); default above.
    n_noise : int
        Noise draws per held-out point and time, >= 1.
    kernel : {"gaussian", "pca"} or ledkde_fast.kernels.Kernel
        Smoothing kernel.
    n_kernel : int
        Kernel draws of the smoothed score (even).
    rank : int, optional
        Number of principal directions for ``kernel="pca"``.
    weights : array_like, shape (N,), optional
        Non-negative weights of the training points, not all zero (the default times ignore them).
    seed : None, int or numpy.random.Generator
        Seed of the noise and of the kernel draws (independent streams).
    backend : {"auto", "cpp", "numba", "reference", "cuda"}
        Compute backend.
    details : bool
        Return a dict instead of the mean loss.

    Returns
    -------
    float or dict
        The loss; with ``details`` a JSON-serialisable dict: ``loss``, ``se`` (standard error over
        the held-out points, each point's loss averaged over its noise draws and the times; it covers
        the points and the noise, the training data and kernel draws held fixed; None for one point),
        ``times``, ``per_time`` and ``per_time_se`` (the mean term at each time and its standard
        error), ``n_heldout``, ``n_noise``, ``bandwidth``, ``n_kernel``, ``kernel``.

    Raises
    ------
    TypeError
        If an argument is of the wrong kind.
    ValueError
        For bad values (mismatched widths, times <= 0, a negative bandwidth, n_noise < 1, an odd
        n_kernel, bad weights, an unknown backend or kernel).

    Examples
    --------
    >>> import numpy as np
    >>> from ledkde_fast.analysis import dsm_loss
    >>> rng = np.random.default_rng(0)
    >>> data, held = rng.normal(size=(50, 2)), rng.normal(size=(50, 2))
    >>> times = np.geomspace(1e-3, 1.0, 8)
    >>> empirical = dsm_loss(held, data, 0.0, times=times, n_noise=4, seed=0)
    >>> smoothed = dsm_loss(held, data, 0.3, times=times, n_noise=4, n_kernel=64, seed=0)
    >>> bool(smoothed < empirical)  # the empirical score memorises at small t
    True
    """
    data = as_points(data, "data")
    x0 = np.ascontiguousarray(as_points(x_heldout, "x_heldout", data.shape[1]), dtype=np.float64)
    data64 = np.ascontiguousarray(data, dtype=np.float64)
    h = as_bandwidth(bandwidth)
    times_arr = _as_dsm_times(times, data64)
    n_noise = as_int(n_noise, "n_noise", 1)
    kern = as_kernel(kernel, rank)
    n_kernel = as_n_kernel(n_kernel, True)
    if weights is not None:
        as_log_weights(weights, data64.shape[0])
    resolve_name(backend)
    details = as_bool(details, "details")
    rng_noise, rng_k = pop.streams(as_generator(seed), 2)
    scores = _smoothed_scores(data64, [h], kern, n_kernel, pop.seeds(rng_k, 1)[0], backend, weights)
    terms = _dsm_terms(x0, scores, times_arr, n_noise, rng_noise)[0]
    return _report(terms, times_arr, details, {"n_noise": n_noise, "bandwidth": h, "n_kernel": n_kernel,
                                               "kernel": pop.kernel_label(kern)})


RULES: tuple[str, ...] = ("min", "one_se")


#: Largest training set for which the default cross-validation is leave-one-out.
LEAVE_ONE_OUT_MAX_N = 64
#: Folds of the default cross-validation above LEAVE_ONE_OUT_MAX_N points.
DEFAULT_FOLDS = 10


def default_folds(n: int) -> int:
    """Leave-one-out up to LEAVE_ONE_OUT_MAX_N points, DEFAULT_FOLDS folds above (see select_bandwidth)."""
    return n if n <= LEAVE_ONE_OUT_MAX_N else DEFAULT_FOLDS


def select_bandwidth(data: ArrayLike, candidates: Optional[ArrayLike] = None, *, cv: Optional[int] = None,
                     times: Optional[ArrayLike] = None, n_noise: int = 16, kernel: KernelLike = "gaussian",
                     n_kernel: int = 256, rank: Optional[int] = None, rule: str = "min", seed: SeedLike = None,
                     backend: BackendName = "auto") -> dict[str, Any]:
    """Choose the bandwidth by K-fold cross-validation of the denoising score-matching loss.

    The points are split into ``cv`` folds by a seeded permutation (sizes differ by at most one).
    By default ``cv`` is N (leave-one-out) up to ``LEAVE_ONE_OUT_MAX_N`` = 64 points and 10 above.
    Why (our measurement): a fold's score is fitted on N (1 - 1/cv) points, and the best bandwidth
    falls as N grows (fitted slope about -0.5 in log-log on the 40-point circle), so few folds pick
    the bandwidth of a smaller data set and over-smooth. On three 40-point circles, 5 folds chose a
    bandwidth whose KL bound was 4.7-10.6x below that of h = 0; leave-one-out chose one 10.5-11.1x
    below, next to the best of a fine grid. The grid is that fine because the loss is flat near its
    minimum while the KL bound is not: with steps of 10^(1/4) the same runs chose a bandwidth up to
    1.7x the KL-best one.
    For each fold, every candidate's smoothed score is fitted on the other folds and scored by
    :func:`dsm_loss` on the fold, with the same noise and kernel draws for all candidates (paired
    comparisons). The times are fixed once from all of ``data`` (default as in :func:`dsm_loss`).

    Default candidates (our heuristic, not the paper's): 0 (the empirical score) and 25 geometric
    multiples 0.01, 0.013, ..., 10 (steps of 10^(1/8)) of the median nearest-neighbour distance delta
    of the data (``CANDIDATE_FACTORS``). Smoothing has to bridge the gaps between points, and for
    random points delta is well below the mean gap: on 40 random points of a circle the loss was
    smallest at 3 to 6 delta in our runs. ``at_edge`` in the result flags a best candidate at the top
    of the grid: then try larger ones.

    Cost: ``cv x len(candidates) x len(times)`` calls of the smoothed score, each on the fold's
    ``m_fold x n_noise`` noisy points against the other ``N - m_fold`` points with ``n_kernel``
    draws: O(len(candidates) x len(times) x n_noise x N^2 x n_kernel) in all (about 2 s for 40 points
    with the defaults on two cores).

    Rules: ``"min"`` takes the candidate of smallest mean loss; ``"one_se"`` (Hastie, Tibshirani and
    Friedman, *Elements of Statistical Learning*, 7.10) the largest bandwidth whose mean loss is within
    one standard error of that minimum - the most smoothing the data cannot tell from the best.

    Parameters
    ----------
    data : array_like, shape (N, d)
        All the points, N >= ``cv``.
    candidates : array_like, optional
        Bandwidths >= 0 to compare (1-D, non-empty); default above.
    cv : int, optional
        Number of folds, 2 <= cv <= N; default N (leave-one-out) for N <= 64, else 10.
    times : array_like, optional
        Times of the loss; default as in :func:`dsm_loss`, from all of ``data``.
    n_noise : int
        Noise draws per held-out point and time, >= 1.
    kernel : {"gaussian", "pca"} or ledkde_fast.kernels.Kernel
        Smoothing kernel.
    n_kernel : int
        Kernel draws of the smoothed score (even).
    rank : int, optional
        Number of principal directions for ``kernel="pca"``.
    rule : {"min", "one_se"}
        How the best candidate is chosen.
    seed : None, int or numpy.random.Generator
        Seed of the split, the noise and the kernel draws.
    backend : {"auto", "cpp", "numba", "reference", "cuda"}
        Compute backend.

    Returns
    -------
    dict (JSON-serialisable)
        ``bandwidth`` (the chosen h), ``index`` (its position among the candidates), ``rule``,
        ``at_edge`` (the chosen h is the largest candidate, and there are several), ``table``: one
        dict per candidate with ``bandwidth``, ``loss`` (mean over folds of the fold's mean held-out
        loss), ``se`` (standard deviation of the fold values / sqrt(cv), the usual cross-validation
        error: folds share training points, so it is approximate), ``folds`` (the per-fold values),
        ``loss_minus_best`` and ``paired_se`` (the mean fold-wise difference to the smallest-loss
        candidate and its standard error over folds); and ``times``, ``cv``, ``n_noise``,
        ``n_kernel``, ``kernel``.

    Raises
    ------
    TypeError
        If an argument is of the wrong kind.
    ValueError
        For bad values (cv < 2 or > N, negative or empty candidates, times <= 0, n_noise < 1, an
        odd n_kernel, an unknown rule, backend or kernel).

    Examples
    --------
    >>> from ledkde_fast.analysis import select_bandwidth
    >>> from ledkde_fast.datasets import circle
    >>> data = circle(40, seed=0).points
    >>> out = select_bandwidth(data, [0.0, 0.02, 0.05], cv=4, n_noise=4, n_kernel=64, seed=0)
    >>> out["bandwidth"] > 0  # the memorising empirical score loses on held-out points
    True
    >>> [row["bandwidth"] for row in out["table"]]
    [0.0, 0.02, 0.05]
    """
    data = as_points(data, "data")
    data64 = np.ascontiguousarray(data, dtype=np.float64)
    n = data64.shape[0]
    if n < 2:
        raise ValueError("data must hold at least 2 points to cross-validate the bandwidth")
    cv = default_folds(n) if cv is None else as_int(cv, "cv", 2)
    if cv > n:
        raise ValueError(f"cv must be at most the number of points ({n}), got {cv}")
    if candidates is None:
        hs = default_candidates(data64)
    else:
        hs = as_nonnegative_values(candidates, "candidates")
        if hs.ndim != 1 or hs.shape[0] == 0:
            raise ValueError(f"candidates must be a non-empty 1-D sequence of bandwidths, got shape {hs.shape}")
    times_arr = _as_dsm_times(times, data64)
    n_noise = as_int(n_noise, "n_noise", 1)
    kern = as_kernel(kernel, rank)
    n_kernel = as_n_kernel(n_kernel, True)
    rule = as_choice(rule, "rule", RULES)
    resolve_name(backend)
    rng_split, rng_noise, rng_k = pop.streams(as_generator(seed), 3)

    folds = np.array_split(rng_split.permutation(n), cv)
    values = np.empty((hs.shape[0], cv))  # mean held-out loss of each candidate on each fold
    for f, held in enumerate(folds):
        train = data64[np.setdiff1d(np.arange(n), held)]
        scores = _smoothed_scores(train, [float(h) for h in hs], kern, n_kernel, pop.seeds(rng_k, 1)[0], backend)
        terms = _dsm_terms(data64[held], scores, times_arr, n_noise, rng_noise)  # (n_h, n_t, m_f)
        values[:, f] = terms.mean(axis=(1, 2))
    loss, se = pop.mean_se(values, axis=1)
    best = int(np.argmin(loss))
    diff_mean, diff_se = pop.mean_se(values - values[best], axis=1)
    if rule == "min":
        chosen = best
    else:
        ok = np.flatnonzero(loss <= loss[best] + se[best])
        chosen = int(ok[np.argmax(hs[ok])])
    table = [
        {
            "bandwidth": float(hs[i]),
            "loss": float(loss[i]),
            "se": float(se[i]),
            "folds": [float(v) for v in values[i]],
            "loss_minus_best": float(diff_mean[i]),
            "paired_se": float(diff_se[i]),
        }
        for i in range(hs.shape[0])
    ]
    return {
        "bandwidth": float(hs[chosen]),
        "index": chosen,
        "rule": rule,
        "at_edge": bool(hs.shape[0] > 1 and hs[chosen] == hs.max()),
        "table": table,
        "times": [float(v) for v in times_arr],
        "cv": cv,
        "n_noise": n_noise,
        "n_kernel": n_kernel,
        "kernel": pop.kernel_label(kern),
    }
