"""Bias and variance of the kernel-smoothed score over redrawn training sets (Monte Carlo).

Public through :mod:`ledkde_fast.analysis`. The decomposition itself is textbook (mean squared error
= squared bias + variance); that kernel-smoothed empirical scores trade one for the other is the
paper's claim (its abstract); the estimators, standard errors and defaults are ours.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
from numpy.typing import ArrayLike

from . import _population as pop
from ._backends import BackendName, resolve_name
from ._validation import BandwidthLike, SeedLike, as_bandwidths, as_generator, as_int, as_n_kernel, as_times, as_truth
from .kernels import as_kernel
from .smoothed import KernelLike


def _jackknife_se(loo: np.ndarray) -> Optional[float]:
    """Delete-one jackknife standard error from the leave-one-out estimates (None for fewer than 2)."""
    j = loo.shape[0]
    if j < 2:
        return None
    return float(np.sqrt((j - 1) / j * np.sum((loo - loo.mean()) ** 2)))


def _decompose(err: np.ndarray) -> dict[str, Any]:
    """Unbiased bias^2, variance and MSE (with their standard errors) from the errors c_j(x) = s~_j(x) - s(x).

    ``err`` has shape (J, m, D): J data sets, m evaluation points. Per x, with C = sum_j c_j and
    Q = sum_j |c_j|^2::

        mse(x)   = Q / J                                 (unbiased for E_D |s~ - s|^2)
        bias2(x) = (|C|^2 - Q) / (J (J - 1))            = mean_{j != k} c_j . c_k, unbiased for |E_D s~ - s|^2
        var(x)   = mse(x) - bias2(x)                     = sum_j |c_j - c_bar|^2 / (J - 1), unbiased

    so mse = bias2 + variance holds exactly (to rounding) for every x and for the averages.
    """
    j = err.shape[0]
    big_c = err.sum(axis=0)  # (m, D)
    sq = np.einsum("jmd,jmd->jm", err, err)  # |c_j(x)|^2, (J, m)
    q = sq.sum(axis=0)
    cc = np.einsum("md,md->m", big_c, big_c)
    per_x = {"mse": q / j, "bias2": (cc - q) / (j * (j - 1))}
    per_x["variance"] = per_x["mse"] - per_x["bias2"]
    out: dict[str, Any] = {}
    for key, values in per_x.items():
        mean, se = pop.mean_se(values)
        out[key], out[f"{key}_se"] = float(mean), float(se)
    # delete-one jackknife over the data sets (needs J >= 3 for the leave-one-out bias^2)
    if j >= 3:
        loo_q = q[None, :] - sq  # (J, m)
        rest = big_c[None, :, :] - err  # sum over the other J - 1 data sets, (J, m, D)
        loo_cc = np.einsum("jmd,jmd->jm", rest, rest)
        loo = {"mse": loo_q / (j - 1), "bias2": (loo_cc - loo_q) / ((j - 1) * (j - 2))}
        loo["variance"] = loo["mse"] - loo["bias2"]
        for key, values in loo.items():
            out[f"{key}_se_datasets"] = _jackknife_se(values.mean(axis=1))
    else:
        for key in per_x:
            out[f"{key}_se_datasets"] = None
    return out


_KEYS = ("bias2", "variance", "mse")


def bias_variance(truth: Any, n: int, t_grid: ArrayLike, bandwidth: BandwidthLike, *, n_datasets: int = 16,
                  n_eval: int = 256, kernel: KernelLike = "gaussian", n_kernel: int = 256, rank: Optional[int] = None,
                  seed: SeedLike = None, backend: BackendName = "auto") -> dict[str, Any]:
    """Squared bias, variance and mean squared error of the smoothed score against the true score (Monte Carlo).

    ``n_datasets`` training sets D_1..D_J of ``n`` points are drawn from ``truth``. At each time t of
    ``t_grid``, ``n_eval`` points x ~ p_t are drawn as x = X0 + sqrt(t) Z (X0 from ``truth.sample``,
    Z ~ N(0, I)); the same X0 and Z serve every t, data set and bandwidth (common random numbers).
    With s~ = :func:`ledkde_fast.smoothed_score` on a data set (``bandwidth = 0``: the exact
    empirical score) and s = ``truth.score``::

        bias2    = E_x |E_D[s~(x)] - s(x)|^2
        variance = E_x E_D |s~(x) - E_D[s~(x)]|^2
        mse      = E_x E_D |s~(x) - s(x)|^2 = bias2 + variance

    estimated without bias for each x (``bias2`` by the U-statistic mean over pairs j != k of
    (s~_j - s).(s~_k - s), so it can come out slightly negative when the bias is small; ``variance``
    with the 1/(J - 1) normalisation), then averaged over x; the identity mse = bias2 + variance holds
    exactly for the estimates. The expectation over D includes the kernel's Monte-Carlo draws: each
    data set has its own seed for them (the same for every t and bandwidth), so their error counts
    as variance. That smoothing lowers the variance and raises the bias is the paper's claim
    (abstract); these estimators are ours.

    Parameters
    ----------
    truth : object
        The population law: ``sample(n, seed=None) -> (n, D)`` and ``score(x, t) -> (m, D)``
        (e.g. ``Dataset.truth``).
    n : int
        Size of each training set, >= 1.
    t_grid : array_like, shape (n_t,)
        Diffusion times > 0 (in any order; the results follow it).
    bandwidth : float or sequence of float
        h >= 0, or several (a sweep: the same draws serve them all, so differences between
        bandwidths are paired).
    n_datasets : int
        Number J of training sets, >= 2 (>= 3 for the ``*_se_datasets`` errors).
    n_eval : int
        Evaluation points per time, >= 2.
    kernel : {"gaussian", "pca"} or ledkde_fast.kernels.Kernel
        Smoothing kernel (``kernels.PCA(r)`` uses each training set's own principal directions).
    n_kernel : int
        Kernel draws of the smoothed score (even: antithetic pairs).
    rank : int, optional
        Number of principal directions for ``kernel="pca"``.
    seed : None, int or numpy.random.Generator
        Seed of the data sets, the evaluation points and the kernel draws (independent streams).
    backend : {"auto", "cpp", "numba", "reference", "cuda"}
        Compute backend of the smoothed score.

    Returns
    -------
    dict (JSON-serialisable)
        ``t``, ``bandwidth`` (as given: a float or a list), ``n``, ``n_datasets``, ``n_eval``,
        ``n_kernel``, ``kernel``; and for each of ``bias2``, ``variance`` and ``mse``: the estimate,
        ``<key>_se`` (Monte-Carlo standard error over the evaluation points x, the data sets and
        kernel draws held fixed) and ``<key>_se_datasets`` (delete-one jackknife over the J data
        sets, the points held fixed; None when J < 3). The two sources of error are separate; the
        total is about their quadrature sum. Each is a list over ``t`` for a scalar ``bandwidth``,
        and a list (over bandwidths) of such lists for a sequence.

    Raises
    ------
    TypeError
        If ``truth`` lacks ``sample`` or ``score``, or another argument is of the wrong kind.
    ValueError
        For bad values (n < 1, times <= 0, a negative bandwidth, n_datasets < 2, n_eval < 2, an
        odd n_kernel, an unknown backend or kernel), or a truth returning arrays of the wrong
        shape or non-finite values.

    Examples
    --------
    >>> import numpy as np
    >>> from ledkde_fast.analysis import bias_variance
    >>> class Gaussian1D:  # N(0, 1): p_t = N(0, 1 + t)
    ...     def sample(self, n, seed=None):
    ...         return np.random.default_rng(seed).normal(size=(n, 1))
    ...     def score(self, x, t):
    ...         return -x / (1.0 + t)
    >>> out = bias_variance(Gaussian1D(), 20, [0.01, 0.1], [0.0, 0.5], n_datasets=8, n_eval=64,
    ...                     n_kernel=32, seed=0)
    >>> [len(v) for v in out["variance"]]  # 2 bandwidths x 2 times
    [2, 2]
    >>> bool(out["variance"][1][0] < out["variance"][0][0])  # smoothing lowers the variance at t = 0.01
    True
    >>> bool(np.allclose(out["mse"], np.add(out["bias2"], out["variance"])))
    True
    """
    as_truth(truth, ("sample", "score"))
    n = as_int(n, "n", 1)
    times = as_times(t_grid, "t_grid")
    hs, scalar = as_bandwidths(bandwidth)
    n_datasets = as_int(n_datasets, "n_datasets", 2)
    n_eval = as_int(n_eval, "n_eval", 2)
    kern = as_kernel(kernel, rank)
    n_kernel = as_n_kernel(n_kernel, True)
    resolve_name(backend)
    rng_data, rng_x, rng_k = pop.streams(as_generator(seed), 3)

    from .smoothed import smoothed_score

    first = pop.sample(truth, n, rng_data)
    d = first.shape[1]
    datasets = [first] + [pop.sample(truth, n, rng_data, d) for _ in range(n_datasets - 1)]
    x0 = pop.sample(truth, n_eval, rng_x, d)
    z = rng_x.standard_normal(x0.shape)
    kernel_seeds = pop.seeds(rng_k, n_datasets)

    results = {key: np.full((hs.shape[0], times.shape[0]), np.nan) for key in _KEYS}
    results.update({f"{key}_se": np.full_like(results[key], np.nan) for key in _KEYS})
    jack: dict[str, list[list[Any]]] = {f"{key}_se_datasets": [[None] * times.shape[0] for _ in hs] for key in _KEYS}
    err = np.empty((n_datasets, n_eval, d))
    for it, t in enumerate(times):
        x = x0 + np.sqrt(t) * z
        s_true = pop.score(truth, x, float(t))
        for ih, h in enumerate(hs):
            for j, data in enumerate(datasets):
                est = smoothed_score(x, data, float(t), float(h), kernel=kern, n_kernel=n_kernel,
                                     seed=kernel_seeds[j], backend=backend)
                np.subtract(np.asarray(est, dtype=np.float64), s_true, out=err[j])
            stats = _decompose(err)
            for key in _KEYS:
                results[key][ih, it] = stats[key]
                results[f"{key}_se"][ih, it] = stats[f"{key}_se"]
                jack[f"{key}_se_datasets"][ih][it] = stats[f"{key}_se_datasets"]

    out: dict[str, Any] = {
        "t": [float(v) for v in times],
        "bandwidth": float(hs[0]) if scalar else [float(v) for v in hs],
        "n": n,
        "n_datasets": n_datasets,
        "n_eval": n_eval,
        "n_kernel": n_kernel,
        "kernel": pop.kernel_label(kern),
    }
    for key, values in results.items():
        out[key] = pop.floats(values[0] if scalar else values)
    for key, nested in jack.items():
        out[key] = nested[0] if scalar else nested
    return out
