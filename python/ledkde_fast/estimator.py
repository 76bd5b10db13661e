"""A scikit-learn-style estimator around the LED-KDE (no scikit-learn dependency)."""

from __future__ import annotations

import inspect

import numpy as np

from ._validation import as_data, as_log_weights
from .sampler import sample as _sample
from .smoothed import as_bandwidth, led_kde_log_density

__all__ = ["LEDKDE"]


class LEDKDE:
    """Log-Exponential Double-Kernel Density Estimator.

    ``fit(X)`` stores the training points; ``score_samples(X)`` is the LED-KDE log-density
    E_Y[log p_t(x - Y)] at time ``t`` with the smoothing kernel of scale ``bandwidth``;
    ``sample(n)`` draws by reverse diffusion from ``t_max`` down to ``t`` with the smoothed score.

    Parameters
    ----------
    bandwidth : float
        Scale h >= 0 of the smoothing kernel.
    t : float
        Diffusion time of the density (and the stopping time of ``sample``), > 0.
    kernel, n_kernel, rank
        Smoothing kernel, number of draws and PCA rank (see :func:`ledkde_fast.smoothed_score`).
    n_steps : int
        Steps of the reverse diffusion in ``sample``.
    backend, n_threads
        Compute backend and thread count.
    random_state : None or int
        Seed of the kernel draws in ``score_samples`` (an int makes scores repeatable).
    """

    def __init__(self, bandwidth=0.1, t=0.01, kernel="gaussian", n_kernel=1024, rank=None, n_steps=100,
                 backend="auto", n_threads=None, random_state=None):
        self.bandwidth = bandwidth
        self.t = t
        self.kernel = kernel
        self.n_kernel = n_kernel
        self.rank = rank
        self.n_steps = n_steps
        self.backend = backend
        self.n_threads = n_threads
        self.random_state = random_state

    # -- scikit-learn parameter protocol
    @classmethod
    def _param_names(cls):
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep=True):
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        valid = self._param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"invalid parameter {key!r} for LEDKDE; valid parameters: {', '.join(valid)}")
            setattr(self, key, value)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"LEDKDE({args})"

    # -- fitting and evaluation
    def fit(self, X, y=None, sample_weight=None):
        """Store the training points (and optional non-negative sample weights)."""
        data = as_data(X, "X")
        as_log_weights(sample_weight, data.shape[0], "sample_weight")
        as_bandwidth(self.bandwidth)
        self.data_ = data
        self.sample_weight_ = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        self.n_features_in_ = data.shape[1]
        return self

    def _check_fitted(self):
        if not hasattr(self, "data_"):
            raise ValueError("this LEDKDE instance is not fitted yet; call fit(X) first")

    def score_samples(self, X):
        """LED-KDE log-density of each row of X at time t, shape (m,)."""
        self._check_fitted()
        return led_kde_log_density(X, self.data_, self.t, self.bandwidth, kernel=self.kernel,
                                   n_kernel=self.n_kernel, rank=self.rank, seed=self.random_state,
                                   weights=self.sample_weight_, backend=self.backend, n_threads=self.n_threads)

    def score(self, X, y=None):
        """Total LED-KDE log-density of X (the sum of ``score_samples``)."""
        return float(np.sum(self.score_samples(X)))

    def sample(self, n_samples=1, random_state=None):
        """Draw n_samples by reverse diffusion down to time t with the smoothed score."""
        self._check_fitted()
        return _sample(self.data_, n_samples, bandwidth=self.bandwidth, kernel=self.kernel, n_kernel=self.n_kernel,
                       rank=self.rank, t_min=self.t, n_steps=self.n_steps, seed=random_state,
                       weights=self.sample_weight_, backend=self.backend, n_threads=self.n_threads)
