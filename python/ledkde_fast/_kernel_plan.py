"""Kernel draws for the smoothed estimators: what a kernel needs from the data (computed once per
call, or once per sampler run) and the draws of one call (docs/design.rst, "The double-KDE
factorisation").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from .kernels import Gaussian, Kernel


def standard_normal(rng: np.random.Generator, n: int, r: int, antithetic: bool) -> np.ndarray:
    """N standard normal rows of length r; with ``antithetic`` the second half mirrors the first."""
    if not antithetic:
        return rng.standard_normal((n, r))
    half = rng.standard_normal((n // 2, r))
    return np.concatenate([half, -half])


@dataclass(frozen=True)
class KernelDraw:
    """Standardised draws z (n x r) with a factor F (d x r): Y = h z F^T; or explicit samples Y.

    ``second_moment`` is the exact E|Y|^2 (the control variate); ``mean`` is the sample mean of Y,
    exactly zero for antithetic draws.
    """

    h: float
    z: Optional[np.ndarray]
    factor: Optional[np.ndarray]
    explicit: Optional[np.ndarray]
    second_moment: float
    mean: np.ndarray

    @property
    def n(self) -> int:
        return int(self.logit_directions().shape[0])

    def samples(self) -> np.ndarray:
        """The draws Y (n x d)."""
        if self.explicit is not None:
            return self.explicit
        assert self.z is not None and self.factor is not None
        return np.asarray(self.h * (self.z @ self.factor.T))

    def logit_directions(self) -> np.ndarray:
        """The draws in the coordinates of ``KernelPlan.basis``: C = -(directions . basis^T) / t."""
        if self.explicit is not None:
            return self.explicit
        assert self.z is not None
        return np.asarray(self.h * self.z)


@dataclass(frozen=True)
class KernelPlan:
    """What a kernel needs from the data, computed once (a sampler reuses it at every step): the
    factor F (d x r) of the standardised draw S = F z (None for explicit samples), the data centre
    mu, and, where the source keeps it, ``basis`` = (x_i - mu) F (N x r, compute dtype), so that
    C = -(h/t) z basis^T.
    """

    kernel: Kernel
    factor: Optional[np.ndarray]
    second_std: float
    mu: np.ndarray
    basis: Optional[np.ndarray]
    n_kernel: int
    antithetic: bool
    #: max |basis| (0 without a basis): bounds the draws' logits, checked against the dtype's range
    basis_max: float = 0.0

    @classmethod
    def build(cls, kern: Kernel, source: Any, n_kernel: int, antithetic: bool, shared: bool = True) -> KernelPlan:
        """The plan of a kernel on a data source; ``shared=False`` (fresh draws per query) needs only
        the factor.
        """
        mu = source.mean()
        factor = source.kernel_factor(kern)
        second = kern.second_moment(factor)
        basis = None
        if shared:
            if isinstance(kern, Gaussian) and antithetic:
                # Draws in the span of the centred data when the source offers it: with antithetic
                # pairs the mean is zero either way, and the control variate keeps E|Y|^2 = d h^2.
                span = source.span_factor()
                factor = factor if span is None else span
            basis = source.kernel_basis(mu, factor)
        basis_max = float(np.abs(basis).max(initial=0.0)) if basis is not None else 0.0
        return cls(kern, factor, second, mu, basis, n_kernel, antithetic, basis_max)

    def draw(self, h: float, rng: np.random.Generator) -> KernelDraw:
        """The draws of one call, shared by all its queries."""
        if self.factor is None:  # explicit samples, used as given
            y = h * self.kernel.samples  # type: ignore[attr-defined]
            return KernelDraw(h, None, None, y, h * h * self.second_std, y.mean(axis=0))
        z = standard_normal(rng, self.n_kernel, self.factor.shape[1], self.antithetic)
        mean = np.zeros(self.mu.shape[0]) if self.antithetic else h * (z.mean(axis=0) @ self.factor.T)
        return KernelDraw(h, z, self.factor, None, h * h * self.second_std, mean)

    def fresh_draws(self, h: float, rng: np.random.Generator, m: int) -> np.ndarray:
        """Independent draws for each of ``m`` queries, shape (m, n_kernel, d) (the brute-force estimator)."""
        assert self.factor is not None, "explicit kernel samples cannot be redrawn"
        z = np.stack([standard_normal(rng, self.n_kernel, self.factor.shape[1], self.antithetic) for _ in range(m)])
        return h * (z @ self.factor.T)
