"""A scikit-learn estimator around the LED-KDE.

It follows scikit-learn's estimator protocol (parameters, ``fit``, ``score``, tags) without
importing scikit-learn, which stays optional: ``clone``, ``GridSearchCV`` and ``cross_val_score``
work with it when scikit-learn is installed.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal, Optional, Union

import numpy as np
from numpy.typing import ArrayLike

from ._backends import BackendName
from ._kernel_plan import DrawMethod
from ._validation import SeedLike, as_bandwidth, as_data, as_log_weights, as_numeric_array, as_positive
from .sampler import Method, Schedule, default_t_max
from .sampler import sample as _sample
from .smoothed import KernelLike, led_kde_log_density

__all__ = ["LEDKDE"]

#: Most kernel draws per evaluation in the bandwidth selection of ``bandwidth="auto"``.
SELECTION_DRAWS = 256


class LEDKDE:
    """Log-Exponential Double-Kernel Density Estimator.

    ``fit(X)`` stores the training points (and, with ``bandwidth="auto"``, chooses the bandwidth
    on held-out folds); ``score_samples(X)`` is the LED-KDE log-density E_Y[log p_t(x - Y)] at time
    ``t`` (unnormalised in x); ``score(X)`` is minus the denoising score-matching loss of the
    smoothed score on X (higher is better, a proper validation criterion, so scikit-learn's model
    selection can tune the bandwidth); ``sample(n)`` draws by reverse diffusion from ``t_max`` down
    to ``t`` with the smoothed score.

    The parameters are stored as given and checked when they are used (the scikit-learn
    convention), except ``bandwidth``, which :meth:`fit` also checks.

    Parameters
    ----------
    bandwidth : float or "auto"
        Scale h >= 0 of the smoothing kernel, or ``"auto"``: chosen in :meth:`fit` by
        :func:`ledkde_fast.analysis.select_bandwidth` (cross-validated denoising score matching,
        with at most 256 kernel draws per evaluation: the comparison is paired).
    t : float
        Diffusion time of the density (and the stopping time of ``sample``), > 0.
    kernel : {"gaussian", "pca"} or ledkde_fast.kernels.Kernel
        Smoothing kernel (see :mod:`ledkde_fast.kernels`).
    n_kernel : int
        Number of kernel draws (even: they come in antithetic pairs).
    rank : int, optional
        Number of principal directions for ``kernel="pca"``.
    n_steps : int
        Steps of the reverse diffusion in ``sample``.
    backend : {"auto", "cpp", "numba", "reference", "cuda"}
        Compute backend.
    n_threads : int, optional
        Thread count; default LEDKDE_NUM_THREADS or all cores.
    random_state : None or int
        Seed of the kernel draws and noise of ``score_samples``, ``score`` and the
        ``bandwidth="auto"`` selection in ``fit`` (an int makes them repeatable); ``sample`` takes
        its own ``random_state``.
    t_max : float, optional
        Start time of :meth:`sample`; default the larger of
        :func:`ledkde_fast.sampler.default_t_max` of the data and 10 x the stop time, so that any
        data scale and any ``t`` work.
    t_min : float, optional
        Stop time of :meth:`sample`; default ``t``.
    schedule : {"geometric", "linear"} or array_like
        Times of the sampler's steps (see :func:`ledkde_fast.sampler.time_grid`).
    method : {"euler_maruyama", "probability_flow", "langevin"}
        The sampler (see :func:`ledkde_fast.sample`).
    final_denoise : bool
        Finish :meth:`sample` with one application of the smoothed denoiser.
    draws : {"auto", "iid", "orthogonal", "qmc"}
        Construction of the kernel draws of ``score_samples`` and ``sample`` (see
        :func:`ledkde_fast.smoothed_denoiser`); ``score`` and the bandwidth selection use the
        default.

    Attributes
    ----------
    data_ : ndarray, shape (N, d)
        The training points (set by :meth:`fit`).
    bandwidth_ : float
        The bandwidth in use: ``bandwidth``, or the one selected with ``bandwidth="auto"``.
    bandwidth_selection_ : dict or None
        With ``bandwidth="auto"``, the report of :func:`ledkde_fast.analysis.select_bandwidth`.
    sample_weight_ : ndarray, shape (N,), or None
        Their weights as given to :meth:`fit`, as float64.
    n_features_in_ : int
        The dimension d.

    Examples
    --------
    >>> import numpy as np
    >>> from ledkde_fast import LEDKDE
    >>> X = np.random.default_rng(0).normal(size=(50, 2))
    >>> est = LEDKDE(bandwidth=0.2, t=0.05, n_kernel=16, random_state=0).fit(X)
    >>> est.score_samples(X[:3]).shape
    (3,)
    >>> est.sample(4, random_state=0).shape
    (4, 2)
    """

    def __init__(self, bandwidth: Union[float, Literal["auto"]] = 0.1, t: float = 0.01, kernel: KernelLike = "gaussian",
                 n_kernel: int = 1024, rank: Optional[int] = None, n_steps: int = 100,
                 backend: BackendName = "auto", n_threads: Optional[int] = None,
                 random_state: SeedLike = None, t_max: Optional[float] = None, t_min: Optional[float] = None,
                 schedule: Union[Schedule, ArrayLike] = "geometric", method: Method = "euler_maruyama",
                 final_denoise: bool = False, draws: DrawMethod = "auto") -> None:
        self.bandwidth = bandwidth
        self.t = t
        self.kernel = kernel
        self.n_kernel = n_kernel
        self.rank = rank
        self.n_steps = n_steps
        self.backend = backend
        self.n_threads = n_threads
        self.random_state = random_state
        self.t_max = t_max
        self.t_min = t_min
        self.schedule = schedule
        self.method = method
        self.final_denoise = final_denoise
        self.draws = draws

    # -- scikit-learn parameter protocol
    @classmethod
    def _param_names(cls) -> list[str]:
        """Return the names of the constructor's parameters."""
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Return the constructor's parameters (the scikit-learn protocol).

        Parameters
        ----------
        deep : bool
            Ignored (no parameter is itself an estimator); kept for scikit-learn.

        Returns
        -------
        dict
            Parameter name to value.

        Examples
        --------
        >>> from ledkde_fast import LEDKDE
        >>> LEDKDE(bandwidth=0.3).get_params()["bandwidth"]
        0.3
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> LEDKDE:
        """Set constructor parameters (the scikit-learn protocol).

        Parameters
        ----------
        **params
            New values, by parameter name.

        Returns
        -------
        LEDKDE
            The estimator itself.

        Raises
        ------
        ValueError
            For a name that is not a constructor parameter.

        Examples
        --------
        >>> from ledkde_fast import LEDKDE
        >>> LEDKDE().set_params(t=0.5).t
        0.5
        """
        valid = self._param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"invalid parameter {key!r} for LEDKDE; valid parameters: {', '.join(valid)}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        """Return ``LEDKDE(name=value, ...)`` with every parameter."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"LEDKDE({args})"

    # -- fitting and evaluation
    def fit(self, X: ArrayLike, y: Any = None, sample_weight: Optional[ArrayLike] = None) -> LEDKDE:
        """Store the training points (and optional non-negative sample weights).

        Parameters
        ----------
        X : array_like, shape (N, d)
            Training points.
        y : None
            Ignored; kept for scikit-learn.
        sample_weight : array_like, shape (N,), optional
            Non-negative weights, not all zero.

        Returns
        -------
        LEDKDE
            The estimator itself.

        Raises
        ------
        TypeError
            If ``X`` or ``sample_weight`` is not real, or ``bandwidth`` is not a real scalar.
        ValueError
            If ``X`` is not a non-empty finite 2-D array, ``sample_weight`` has the wrong shape, is
            negative or all zero, or ``bandwidth`` is negative or not finite.

        Examples
        --------
        >>> import numpy as np
        >>> from ledkde_fast import LEDKDE
        >>> LEDKDE().fit(np.zeros((10, 3))).n_features_in_
        3
        """
        data = as_data(_no_sparse(X, "X"), "X")
        as_log_weights(sample_weight, data.shape[0], "sample_weight")
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if isinstance(self.bandwidth, str) and self.bandwidth == "auto":
            from .analysis import select_bandwidth

            if weights is not None:
                raise ValueError("sample_weight is not supported with bandwidth='auto' (the folds would "
                                 "split the weights); give a bandwidth")
            # the comparison between candidates is paired (common draws), so 256 draws rank them as
            # well as more would, at a fraction of the cost of the estimator's own n_kernel
            report = select_bandwidth(data, kernel=self.kernel, n_kernel=min(int(self.n_kernel), SELECTION_DRAWS),
                                      rank=self.rank, seed=self._seed(), backend=self.backend)
            self.bandwidth_ = float(report["bandwidth"])
            self.bandwidth_selection_: Optional[dict[str, Any]] = report
        else:
            self.bandwidth_ = as_bandwidth(self.bandwidth)
            self.bandwidth_selection_ = None
        self.data_ = data
        self.sample_weight_ = weights
        self.n_features_in_ = data.shape[1]
        return self

    def _seed(self) -> SeedLike:
        """The fixed seed of the draws in scoring (a Generator would change with every call)."""
        return self.random_state

    def _check_X(self, X: ArrayLike) -> np.ndarray:
        """Fitted, and X has the training data's number of columns (scikit-learn's message)."""
        self._check_fitted()
        arr = as_numeric_array(_no_sparse(X, "X"), "X")
        if arr.ndim == 2 and arr.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {arr.shape[1]} features, but LEDKDE is expecting {self.n_features_in_} "
                             "features as input")
        return arr

    def _check_fitted(self) -> None:
        """Raise ValueError unless :meth:`fit` has been called."""
        if not self.__sklearn_is_fitted__():
            raise ValueError("this LEDKDE instance is not fitted yet; call fit(X) first")

    def __sklearn_is_fitted__(self) -> bool:
        """Whether :meth:`fit` has been called (scikit-learn's ``check_is_fitted`` asks this)."""
        return hasattr(self, "data_")

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags: a density estimator on dense 2-D real arrays, no target, no NaN.

        Only called by scikit-learn (>= 1.6), so it imports scikit-learn lazily.
        """
        from sklearn.utils import InputTags, Tags, TargetTags

        return Tags(estimator_type="density_estimator", target_tags=TargetTags(required=False),
                    input_tags=InputTags(two_d_array=True, allow_nan=False))

    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """Return the LED-KDE log-density of each row of X at time t.

        Parameters
        ----------
        X : array_like, shape (m, d)
            Query points.

        Returns
        -------
        ndarray, shape (m,)
            Log-densities; float32 for float32 inputs, float64 otherwise.

        Raises
        ------
        ValueError
            If the estimator is not fitted, or for bad inputs or parameters (as
            :func:`ledkde_fast.led_kde_log_density`).
        TypeError
            For inputs or parameters of the wrong kind.

        Examples
        --------
        >>> import numpy as np
        >>> from ledkde_fast import LEDKDE
        >>> X = np.random.default_rng(0).normal(size=(50, 2))
        >>> est = LEDKDE(bandwidth=0.2, t=0.05, n_kernel=16, random_state=0).fit(X)
        >>> bool(np.all(est.score_samples(X[:3]) == est.score_samples(X[:3])))  # a fixed seed repeats
        True
        """
        X = self._check_X(X)
        return led_kde_log_density(X, self.data_, self.t, self.bandwidth_, kernel=self.kernel,
                                   n_kernel=self.n_kernel, rank=self.rank, seed=self._seed(),
                                   weights=self.sample_weight_, backend=self.backend, n_threads=self.n_threads,
                                   draws=self.draws)

    def score(self, X: ArrayLike, y: Any = None) -> float:
        """Return minus the denoising score-matching loss of the smoothed score on X (higher is better).

        The loss E_t E_{x0, eps} t |s~_t(x0 + sqrt(t) eps) + eps / sqrt(t)|^2 over the rows x0 of X
        (:func:`ledkde_fast.analysis.dsm_loss`) is minimised, up to a constant that does not depend
        on the estimator, by the true score of the law X comes from; so on held-out X it ranks
        bandwidths, unlike the LED-KDE log-likelihood (unnormalised in x, and maximal at h = 0 on
        the training points). The noise and the kernel draws come from ``random_state``.

        Parameters
        ----------
        X : array_like, shape (m, d)
            Points, held out from the training set for model selection.
        y : None
            Ignored; kept for scikit-learn.

        Returns
        -------
        float
            ``-dsm_loss(X, data_, bandwidth_)``.

        Raises
        ------
        ValueError
            If the estimator is not fitted, or for bad inputs (as :func:`ledkde_fast.analysis.dsm_loss`).
        TypeError
            For inputs of the wrong kind.

        Examples
        --------
        >>> import numpy as np
        >>> from ledkde_fast import LEDKDE
        >>> X = np.random.default_rng(0).normal(size=(60, 2))
        >>> est = LEDKDE(bandwidth=0.3, t=0.05, n_kernel=16, random_state=0).fit(X[:40])
        >>> bool(np.isfinite(est.score(X[40:])))
        True
        """
        from .analysis import dsm_loss

        X = self._check_X(X)
        return -float(dsm_loss(X, self.data_, self.bandwidth_, kernel=self.kernel, n_kernel=self.n_kernel,
                               rank=self.rank, weights=self.sample_weight_, seed=self._seed(), backend=self.backend))

    def sample(self, n_samples: int = 1, random_state: SeedLike = None) -> np.ndarray:
        """Draw samples by reverse diffusion down to time t with the smoothed score.

        Parameters
        ----------
        n_samples : int
            Number of samples, >= 1.
        random_state : None, int or numpy.random.Generator
            Seed of the initial noise, the Brownian increments and the kernel draws.

        Returns
        -------
        ndarray, shape (n_samples, d)
            The samples (see :func:`ledkde_fast.sample`).

        Raises
        ------
        ValueError
            If the estimator is not fitted, or for bad parameters (as :func:`ledkde_fast.sample`).
        TypeError
            For parameters of the wrong kind.

        Examples
        --------
        >>> import numpy as np
        >>> from ledkde_fast import LEDKDE
        >>> X = np.random.default_rng(0).normal(size=(50, 2))
        >>> LEDKDE(bandwidth=0.2, t=0.05, n_kernel=16, n_steps=20).fit(X).sample(5, random_state=1).shape
        (5, 2)
        """
        self._check_fitted()
        t_min = self.t if self.t_min is None else self.t_min
        t_max = self.t_max
        if t_max is None and isinstance(self.schedule, str):
            # the data's own start time, but always above the stop time whatever the data's scale
            t_max = max(default_t_max(self.data_), 10.0 * as_positive(t_min, "t_min"))
        return _sample(self.data_, n_samples, bandwidth=self.bandwidth_, kernel=self.kernel, n_kernel=self.n_kernel,
                       rank=self.rank, t_max=t_max, t_min=t_min, n_steps=self.n_steps, schedule=self.schedule,
                       method=self.method, final_denoise=self.final_denoise, seed=random_state,
                       weights=self.sample_weight_, backend=self.backend, n_threads=self.n_threads,
                       draws=self.draws)


def _no_sparse(X: Any, name: str) -> Any:
    """Refuse SciPy sparse matrices with a clear message (np.asarray would make an object array)."""
    if hasattr(X, "toarray") and hasattr(X, "nnz"):
        raise TypeError(f"{name} must be a dense array; a sparse matrix is not supported (call .toarray())")
    return X
