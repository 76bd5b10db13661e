"""Smoothing kernels for the kernel-smoothed score and the LED-KDE.

Every kernel is the law of ``Y = h S`` where ``h`` is the ``bandwidth`` and ``S`` a standardised
kernel draw:

============================  ========================================  ===================
kernel                        standardised draw S                      E|S|^2
============================  ========================================  ===================
``"gaussian"`` / Gaussian()   N(0, I_d)                                d
Covariance(M)                 N(0, M), M (d x d) symmetric PSD          trace(M)
Factor(L)                     L z, z ~ N(0, I_r), L (d x r)             ||L||_F^2
``"pca"`` / PCA(rank)         U_r z, z ~ N(0, I_r), U_r the top-r       r
                              principal directions of the (weighted,
                              centred) data: smoothing *along* the data
Samples(s)                    the rows of s (n_kernel x d) as given     mean_j |s_j|^2
============================  ========================================  ===================

So Covariance(M) smooths with N(0, h^2 M) and Factor(L) with N(0, h^2 L L^T). The Gaussian families
draw antithetic pairs (S, -S) by default, which makes the sample mean exactly zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

__all__ = ["Gaussian", "Covariance", "Factor", "PCA", "Samples", "as_kernel"]


class Kernel:
    """Base class: ``factor(data, log_w)`` returns F (d x r) with S = F z, or None for explicit samples."""

    def factor(self, data: np.ndarray, log_w: Optional[np.ndarray]) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def second_moment(self, factor: np.ndarray) -> float:
        return float(np.sum(factor * factor))


@dataclass(frozen=True)
class Gaussian(Kernel):
    """Isotropic N(0, h^2 I_d)."""

    def factor(self, data, log_w):
        return np.eye(data.shape[1])

    def second_moment(self, factor):
        return float(factor.shape[0])


@dataclass(frozen=True, eq=False)
class Covariance(Kernel):
    """N(0, h^2 M) for a symmetric positive semi-definite d x d matrix M."""

    matrix: np.ndarray

    def __post_init__(self):
        m = _real_matrix(self.matrix, "covariance matrix")
        if m.shape[0] != m.shape[1]:
            raise ValueError(f"covariance matrix must be square (d x d), got shape {m.shape}")
        if not np.allclose(m, m.T, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(m).max())):
            raise ValueError("covariance matrix must be symmetric")
        evals, evecs = np.linalg.eigh(0.5 * (m + m.T))
        if evals.min() < -1e-10 * max(1.0, abs(evals).max()):
            raise ValueError(f"covariance matrix must be positive semi-definite (smallest eigenvalue {evals.min():.3g})")
        object.__setattr__(self, "matrix", m)
        object.__setattr__(self, "_factor", evecs * np.sqrt(np.clip(evals, 0.0, None)))

    def factor(self, data, log_w):
        _check_width(self.matrix.shape[0], data.shape[1], "covariance matrix")
        return self._factor


@dataclass(frozen=True, eq=False)
class Factor(Kernel):
    """N(0, h^2 L L^T) for a d x r factor L: anisotropic, and low-rank when r < d."""

    matrix: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "matrix", _real_matrix(self.matrix, "kernel factor"))

    def factor(self, data, log_w):
        _check_width(self.matrix.shape[0], data.shape[1], "kernel factor")
        return self.matrix


@dataclass(frozen=True)
class PCA(Kernel):
    """Isotropic Gaussian of std h restricted to the span of the top-``rank`` principal directions of
    the data (weighted when the data are): smoothing along the data and not across it."""

    rank: int

    def __post_init__(self):
        if isinstance(self.rank, bool) or not isinstance(self.rank, (int, np.integer)) or self.rank < 1:
            raise ValueError(f"rank must be a positive integer, got {self.rank!r}")

    def factor(self, data, log_w):
        n, d = data.shape
        if self.rank > min(n, d):
            raise ValueError(f"rank={self.rank} exceeds min(N, d) = {min(n, d)}")
        x = np.asarray(data, dtype=np.float64)
        w = np.full(n, 1.0 / n) if log_w is None else np.exp(log_w - np.max(log_w))
        w = w / w.sum()
        centred = x - w @ x
        return principal_directions((centred * w[:, None]).T @ centred, self.rank)

    def second_moment(self, factor):
        return float(self.rank)


@dataclass(frozen=True, eq=False)
class Samples(Kernel):
    """Explicit standardised kernel draws s (n_kernel x d); Y_j = h s_j. Used exactly as given."""

    samples: np.ndarray

    def __post_init__(self):
        s = _real_matrix(self.samples, "kernel samples")
        if s.shape[0] < 1:
            raise ValueError("kernel samples must contain at least one row")
        object.__setattr__(self, "samples", s)

    def factor(self, data, log_w):
        _check_width(self.samples.shape[1], data.shape[1], "kernel samples")
        return None

    def second_moment(self, factor):
        return float(np.mean(np.sum(self.samples**2, axis=1)))


def principal_directions(cov: np.ndarray, rank: int) -> np.ndarray:
    """The top-``rank`` eigenvectors (d x rank) of a covariance matrix, each signed so that its
    largest entry is positive: a deterministic choice, so that covariances equal to rounding (one
    data set held whole or in shards) give the same directions."""
    evals, evecs = np.linalg.eigh(0.5 * (cov + cov.T))
    top = evecs[:, np.argsort(evals)[::-1][:rank]]
    signs = np.sign(top[np.abs(top).argmax(axis=0), np.arange(rank)])
    return np.ascontiguousarray(top * np.where(signs == 0, 1.0, signs))


def _real_matrix(value, name):
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real array, got dtype {arr.dtype}")
    arr = np.array(arr, dtype=np.float64)  # a private copy: the kernel must not change under the user
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got {arr.ndim} dimension(s)")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _check_width(width, d, name):
    if width != d:
        raise ValueError(f"{name} has {width} rows/columns for the dimension but data has d={d}")


def as_kernel(kernel, rank=None) -> Kernel:
    """Resolve the ``kernel=`` argument: a name ("gaussian", "pca" with ``rank``) or a Kernel."""
    if isinstance(kernel, Kernel):
        if rank is not None:
            raise ValueError("rank is only used with kernel='pca'")
        return kernel
    if isinstance(kernel, str):
        name = kernel.strip().lower()
        if name == "gaussian":
            if rank is not None:
                raise ValueError("rank is only used with kernel='pca'")
            return Gaussian()
        if name == "pca":
            if rank is None:
                raise ValueError("kernel='pca' needs rank= (the number of principal directions)")
            return PCA(rank)
        raise ValueError(f"unknown kernel {kernel!r}; use 'gaussian', 'pca' or a ledkde_fast.kernels object")
    if isinstance(kernel, np.ndarray):
        raise TypeError("pass a matrix kernel as kernels.Covariance(M), kernels.Factor(L) or kernels.Samples(s), "
                        "so that its meaning is explicit")
    raise TypeError(f"kernel must be a string or a ledkde_fast.kernels.Kernel, got {type(kernel).__name__}")
