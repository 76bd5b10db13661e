"""Smoothing kernels for the kernel-smoothed score and the LED-KDE.

Every kernel is the law of ``Y = h S`` where ``h`` is the ``bandwidth`` and ``S`` a standardised
kernel draw:

============================  =========================================  ===================
kernel                        standardised draw S                        ``E|S|^2``
============================  =========================================  ===================
``"gaussian"`` / Gaussian()   N(0, I_d)                                  d
Covariance(M)                 N(0, M), M (d x d) symmetric PSD           trace(M)
Factor(L)                     L z, z ~ N(0, I_r), L (d x r)              ``||L||_F^2``
``"pca"`` / PCA(rank)         U_r z, z ~ N(0, I_r), U_r the top-r        r
                              principal directions of the (weighted,
                              centred) data: smoothing *along* the data
Local(rank)                   U(x) D(x) z: the top-r directions of the   r (full local rank)
                              data's local covariance around each query
                              x (:class:`Local`)
Samples(s)                    the rows of s (n_kernel x d) as given      ``mean_j |s_j|^2``
============================  =========================================  ===================

So Covariance(M) smooths with N(0, h^2 M) and Factor(L) with N(0, h^2 L L^T). The Gaussian families
draw antithetic pairs (S, -S) by default, which makes the sample mean exactly zero.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Literal, Optional, Union

import numpy as np
from numpy.typing import ArrayLike

from ._validation import as_choice, as_int, as_positive, as_real_values

__all__ = ["Gaussian", "Covariance", "Factor", "PCA", "Local", "Samples", "as_kernel"]

#: Names accepted by ``kernel=`` (besides Kernel objects).
KernelName = Literal["gaussian", "pca"]


class Kernel:
    """Base class of the smoothing kernels.

    A kernel is the law of the standardised draw S. :meth:`factor` returns a d x r matrix F with
    S = F z, z ~ N(0, I_r), or None for a kernel given by explicit samples (:class:`Samples`).
    """

    def factor(self, data: np.ndarray, log_w: Optional[np.ndarray]) -> Optional[np.ndarray]:  # pragma: no cover
        """Return the factor F (d x r) with S = F z, or None when the kernel is given by explicit samples.

        Parameters
        ----------
        data : ndarray, shape (N, d)
            Training points (only their width d is used, except by :class:`PCA`).
        log_w : ndarray, shape (N,), or None
            Normalised log-weights of the points; None for unit weights.

        Returns
        -------
        ndarray, shape (d, r), or None
            The factor.

        Raises
        ------
        NotImplementedError
            Always: the subclasses implement it.
        """
        raise NotImplementedError

    def second_moment(self, factor: Optional[np.ndarray]) -> float:
        """Return ``E|S|^2`` of the standardised draw, the squared Frobenius norm of F.

        Parameters
        ----------
        factor : ndarray, shape (d, r)
            What :meth:`factor` returned.

        Returns
        -------
        float
            ``sum(F * F)``.
        """
        assert factor is not None, "this kernel has no factor"
        return float(np.sum(factor * factor))

    def __repr__(self) -> str:
        """Return ``Name(field=value, ...)``, with arrays shown by shape and dtype, not by value."""
        if not dataclasses.is_dataclass(self):
            return f"{type(self).__name__}()"
        parts = []
        for f in dataclasses.fields(self):
            if not f.repr:
                continue
            value = getattr(self, f.name)
            shown = f"<array {'x'.join(map(str, value.shape))} {value.dtype}>" if isinstance(value, np.ndarray) \
                else repr(value)
            parts.append(f"{f.name}={shown}")
        return f"{type(self).__name__}({', '.join(parts)})"


@dataclass(frozen=True)
class Gaussian(Kernel):
    """Isotropic N(0, h^2 I_d): the standardised draw is S ~ N(0, I_d).

    Examples
    --------
    >>> import numpy as np
    >>> from ledkde_fast.kernels import Gaussian
    >>> kernel = Gaussian()
    >>> kernel.factor(np.zeros((5, 2)), None)
    array([[1., 0.],
           [0., 1.]])
    >>> kernel.second_moment(kernel.factor(np.zeros((5, 2)), None))
    2.0
    """

    def factor(self, data: np.ndarray, log_w: Optional[np.ndarray]) -> np.ndarray:
        """Return the identity: S = z.

        Parameters
        ----------
        data : ndarray, shape (N, d)
            Training points (only d is used).
        log_w : ndarray, shape (N,), or None
            Ignored.

        Returns
        -------
        ndarray, shape (d, d)
            The identity matrix.

        Examples
        --------
        >>> import numpy as np
        >>> from ledkde_fast.kernels import Gaussian
        >>> Gaussian().factor(np.zeros((5, 3)), None).shape
        (3, 3)
        """
        return np.eye(data.shape[1])

    def second_moment(self, factor: Optional[np.ndarray]) -> float:
        """Return ``E|S|^2 = d``.

        Parameters
        ----------
        factor : ndarray, shape (d, d)
            What :meth:`factor` returned.

        Returns
        -------
        float
            The dimension d.

        Examples
        --------
        >>> import numpy as np
        >>> from ledkde_fast.kernels import Gaussian
        >>> Gaussian().second_moment(np.eye(3))
        3.0
        """
        assert factor is not None, "this kernel has no factor"
        return float(factor.shape[0])


@dataclass(frozen=True, eq=False, repr=False)
class Covariance(Kernel):
    """N(0, h^2 M) for a symmetric positive semi-definite d x d matrix M.

    Parameters
    ----------
    matrix : array_like, shape (d, d)
        M: real, finite, symmetric (to 1e-10 relative) and positive semi-definite. The kernel keeps
        a private float64 copy.

    Raises
    ------
    TypeError
        If ``matrix`` is not an array of real numbers.
    ValueError
        If it is not finite, 2-D, square, symmetric or positive semi-definite.

    Examples
    --------
    >>> import numpy as np
    >>> import ledkde_fast
    >>> from ledkde_fast.kernels import Covariance
    >>> kernel = Covariance(np.array([[2.0, 0.0], [0.0, 0.5]]))
    >>> f = kernel.factor(np.zeros((4, 2)), None)
    >>> bool(np.allclose(f @ f.T, kernel.matrix))
    True
    >>> data = np.random.default_rng(0).normal(size=(20, 2))
    >>> ledkde_fast.smoothed_score(data[:3], data, 0.1, 0.2, kernel=kernel, n_kernel=8, seed=0).shape
    (3, 2)
    """

    matrix: np.ndarray
    _factor: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Validate M and compute its symmetric square-root factor once."""
        m = _real_matrix(self.matrix, "covariance matrix")
        if m.shape[0] != m.shape[1]:
            raise ValueError(f"covariance matrix must be square (d x d), got shape {m.shape}")
        if not np.allclose(m, m.T, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(m).max())):
            raise ValueError("covariance matrix must be symmetric")
        evals, evecs = np.linalg.eigh(0.5 * (m + m.T))
        if evals.min() < -1e-10 * max(1.0, abs(evals).max()):
            raise ValueError("covariance matrix must be positive semi-definite "
                             f"(smallest eigenvalue {evals.min():.3g})")
        object.__setattr__(self, "matrix", m)
        object.__setattr__(self, "_factor", evecs * np.sqrt(np.clip(evals, 0.0, None)))

    def factor(self, data: np.ndarray, log_w: Optional[np.ndarray]) -> np.ndarray:
        """Return F = V diag(sqrt(lambda)) from the eigendecomposition M = V diag(lambda) V^T (F F^T = M).

        Parameters
        ----------
        data : ndarray, shape (N, d)
            Training points (only d is used).
        log_w : ndarray, shape (N,), or None
            Ignored.

        Returns
        -------
        ndarray, shape (d, d)
            The factor.

        Raises
        ------
        ValueError
            If M is not d x d.

        Examples
        --------
        >>> import numpy as np
        >>> from ledkde_fast.kernels import Covariance
        >>> f = Covariance(np.diag([4.0, 1.0])).factor(np.zeros((3, 2)), None)
        >>> np.round(np.abs(f), 3)
        array([[0., 2.],
               [1., 0.]])
        """
        _check_width(self.matrix.shape[0], data.shape[1], "covariance matrix")
        return self._factor


@dataclass(frozen=True, eq=False, repr=False)
class Factor(Kernel):
    """N(0, h^2 L L^T) for a d x r factor L: anisotropic, and low-rank when r < d.

    Parameters
    ----------
    matrix : array_like, shape (d, r)
        L: real and finite. The kernel keeps a private float64 copy.

    Raises
    ------
    TypeError
        If ``matrix`` is not an array of real numbers.
    ValueError
        If it is not finite or not 2-D.

    Examples
    --------
    >>> import numpy as np
    >>> from ledkde_fast.kernels import Factor
    >>> kernel = Factor(np.array([[1.0], [1.0]]))  # smoothing along the diagonal only
    >>> f = kernel.factor(np.zeros((4, 2)), None)
    >>> f.shape, kernel.second_moment(f)
    ((2, 1), 2.0)
    """

    matrix: np.ndarray

    def __post_init__(self) -> None:
        """Validate L and keep a private float64 copy."""
        object.__setattr__(self, "matrix", _real_matrix(self.matrix, "kernel factor"))

    def factor(self, data: np.ndarray, log_w: Optional[np.ndarray]) -> np.ndarray:
        """Return L itself.

        Parameters
        ----------
        data : ndarray, shape (N, d)
            Training points (only d is used).
        log_w : ndarray, shape (N,), or None
            Ignored.

        Returns
        -------
        ndarray, shape (d, r)
            L.

        Raises
        ------
        ValueError
            If L does not have d rows.

        Examples
        --------
        >>> import numpy as np
        >>> from ledkde_fast.kernels import Factor
        >>> Factor(np.ones((3, 1))).factor(np.zeros((5, 3)), None).ravel()
        array([1., 1., 1.])
        """
        _check_width(self.matrix.shape[0], data.shape[1], "kernel factor")
        return self.matrix


@dataclass(frozen=True)
class PCA(Kernel):
    """Isotropic Gaussian of std h restricted to the span of the top-``rank`` principal directions.

    The directions are those of the data (weighted when the data are): smoothing along the data and
    not across it.

    Parameters
    ----------
    rank : int
        Number r >= 1 of principal directions (at most min(N, d) of the data it is used with).

    Raises
    ------
    TypeError
        If ``rank`` is not an int.
    ValueError
        If ``rank`` < 1.

    Examples
    --------
    >>> import numpy as np
    >>> from ledkde_fast.kernels import PCA
    >>> data = np.array([[-2.0, 0.1], [2.0, 0.1], [-1.0, -0.1], [1.0, -0.1]])
    >>> f = PCA(1).factor(data, None)  # the first axis, along which the data spread
    >>> np.round(np.abs(f), 3)
    array([[1.],
           [0.]])
    >>> PCA(1).second_moment(f)
    1.0
    """

    rank: int

    def __post_init__(self) -> None:
        """Check the rank: an int >= 1."""
        if as_int(self.rank, "rank") < 1:
            raise ValueError(f"rank must be a positive integer, got {self.rank!r}")

    def factor(self, data: np.ndarray, log_w: Optional[np.ndarray]) -> np.ndarray:
        """Return the top-``rank`` eigenvectors of the (weighted) covariance of the data.

        Parameters
        ----------
        data : ndarray, shape (N, d)
            Training points.
        log_w : ndarray, shape (N,), or None
            Their normalised log-weights; None for unit weights.

        Returns
        -------
        ndarray, shape (d, rank)
            Orthonormal columns, each signed so that its largest entry is positive.

        Raises
        ------
        ValueError
            If ``rank`` > min(N, d).

        Examples
        --------
        >>> import numpy as np
        >>> from ledkde_fast.kernels import PCA
        >>> data = np.random.default_rng(0).normal(size=(10, 4))
        >>> f = PCA(2).factor(data, None)
        >>> f.shape, bool(np.allclose(f.T @ f, np.eye(2)))
        ((4, 2), True)
        """
        n, d = data.shape
        if self.rank > min(n, d):
            raise ValueError(f"rank={self.rank} exceeds min(N, d) = {min(n, d)}")
        x = np.asarray(data, dtype=np.float64)
        w = np.full(n, 1.0 / n) if log_w is None else np.exp(log_w - np.max(log_w))
        w = w / w.sum()
        centred = x - w @ x
        return principal_directions((centred * w[:, None]).T @ centred, self.rank)

    def second_moment(self, factor: Optional[np.ndarray]) -> float:
        """Return ``E|S|^2 = rank``.

        Parameters
        ----------
        factor : ndarray, shape (d, rank)
            What :meth:`factor` returned (unused).

        Returns
        -------
        float
            The rank.

        Examples
        --------
        >>> from ledkde_fast.kernels import PCA
        >>> PCA(3).second_moment(None)
        3.0
        """
        return float(self.rank)


@dataclass(frozen=True)
class Local(Kernel):
    """Smoothing along the data as seen from each query: a kernel that depends on the query and the time.

    For a query x at time t the draw is S = U(x) D(x) z, z ~ N(0, I_r), where the columns of U(x)
    are the top-``rank`` eigenvectors of a local covariance of the training points around x, and
    D(x) is diagonal. The local covariance is

    * ``covariance="posterior"``: the posterior covariance sum_i w_i(x) (x_i - m)(x_i - m)^T, w(x)
      the softmax weights of the empirical denoiser and m its mean (by Tweedie's formula it is
      t I + t^2 times the Jacobian of the exact score);
    * ``covariance="squared"``: the same with the re-weighted weights w_i(x)^2 / sum_j w_j(x)^2
      (the abstract calls the empirical score's noise covariance "asymptotically a re-weighted data
      PCA"; the weights w^2 are our reading of that phrase, not a formula from the paper).

    D(x) is ``scale="eigen"``: sqrt(lambda_k / mean(lambda)), the eigenvalues' shape at unit mean, or
    ``"whiten"``: 1 in every direction that carries local variance (0 in the others). Both make
    E|S|^2 = rank wherever the local covariance has rank ``rank`` or more. The defaults (eigen,
    posterior, the current time) are the best we measured: on 200 MNIST "3"s (rank 8, 60 steps),
    eigen at h = 4 left 8 % of the samples memorised at relative diversity 0.83, whiten needed
    h = 6 for 16 % at 0.76, the squared weights memorised 48-59 % where the posterior's did 22 %
    (whitened, h = 4), and a coarse ``time`` blurred the samples into blends.

    The covariance is taken at time ``time``: None (the current t), a number T (max(t, T), never
    finer than the current time: a coarser time lets it see several neighbours), or a function of t.
    It is computed without any d x d matrix: ``n_iter`` steps of randomised subspace iteration
    (``rank + oversample`` columns) with weighted products against the data, then Rayleigh-Ritz.

    The data may be in memory, a memmap (or another row-readable array) or a
    :class:`~ledkde_fast.distributed.ShardedData`; out of memory every product is a round over the
    slabs or shards, and nothing of size N comes back. Per call (and chunk of queries) the
    covariances take ``n_iter + 2`` rounds (one for each query's heaviest point and the weights'
    normaliser, ``n_iter + 1`` products), 2 in a sampler's later steps (which continue the previous
    step's subspace), and the draws 2 more (1 for the log-density); each round reads a memmap's slabs
    again. Sharded data are not reduced to the span of the points when N < d, so a seed then gives
    other draws (of the same law) than in memory.

    With a local kernel the smoothed score is still the average of the exact score over the draws,
    but it is no longer the gradient of the LED-KDE of :func:`ledkde_fast.led_kde_log_density`:
    the draws' law changes with x, and that change has a gradient of its own. The estimators draw
    fresh z for every query. The design choices (the floor on small eigenvalues, the default
    iteration counts) are ours: one iteration with 8 extra columns captured a median 96 % (at least
    94 %) of the exact top-8 local variance of 300 MNIST "3"s at t = 20, 99 % at t = 5 and all of it
    below (two iterations: 99.7 %, for 1.5 times the cost).

    Parameters
    ----------
    rank : int
        Number r >= 1 of local directions (those beyond the dimension of the data's span, or beyond
        the local covariance's rank, get no smoothing).
    scale : {"whiten", "eigen"}
        D(x), as above.
    time : None, float or callable
        Time of the local covariance, as above.
    covariance : {"posterior", "squared"}
        Weights of the local covariance, as above.
    n_iter : int
        Subspace iterations (>= 0) before the Rayleigh-Ritz step.
    oversample : int
        Extra columns (>= 0) of the subspace iteration.

    Raises
    ------
    TypeError
        A non-int ``rank``, ``n_iter`` or ``oversample``, or a ``time`` that is neither a number nor callable.
    ValueError
        ``rank`` < 1, an unknown ``scale`` or ``covariance``, a negative ``n_iter`` or
        ``oversample``, or a non-positive ``time``.

    Examples
    --------
    >>> import numpy as np
    >>> import ledkde_fast as lk
    >>> from ledkde_fast.kernels import Local
    >>> kernel = Local(2)
    >>> kernel
    Local(rank=2, scale='eigen', time=None, covariance='posterior', n_iter=1, oversample=8)
    >>> plane = np.c_[np.random.default_rng(0).normal(size=(50, 2)), np.zeros(50)]  # z = 0
    >>> s = lk.smoothed_score(np.array([[0.1, 0.2, 0.3]]), plane, 0.5, bandwidth=0.5, kernel=kernel,
    ...                       n_kernel=64, seed=0)
    >>> s.shape
    (1, 3)
    """

    rank: int
    scale: Literal["whiten", "eigen"] = "eigen"
    time: Union[None, float, Callable[[float], float]] = None
    covariance: Literal["posterior", "squared"] = "posterior"
    n_iter: int = 1
    oversample: int = 8

    def __post_init__(self) -> None:
        """Check every field."""
        if as_int(self.rank, "rank") < 1:
            raise ValueError(f"rank must be a positive integer, got {self.rank!r}")
        as_choice(self.scale, "scale", ("whiten", "eigen"))
        as_choice(self.covariance, "covariance", ("posterior", "squared"))
        as_int(self.n_iter, "n_iter", 0)
        as_int(self.oversample, "oversample", 0)
        if self.time is not None and not callable(self.time):
            object.__setattr__(self, "time", as_positive(self.time, "time"))

    def covariance_time(self, t: float) -> float:
        """Return the time at which the local covariance is taken for the current time ``t``.

        Parameters
        ----------
        t : float
            Current diffusion time, > 0.

        Returns
        -------
        float
            ``t``, ``max(t, time)`` or ``time(t)``.

        Raises
        ------
        ValueError
            A ``time`` function that returns a non-positive or non-finite value.

        Examples
        --------
        >>> from ledkde_fast.kernels import Local
        >>> Local(3).covariance_time(0.2), Local(3, time=0.5).covariance_time(0.2)
        (0.2, 0.5)
        """
        if self.time is None:
            return t
        if callable(self.time):
            return as_positive(self.time(t), "time(t)")
        return max(t, float(self.time))

    def factor(self, data: np.ndarray, log_w: Optional[np.ndarray]) -> np.ndarray:
        """Refuse: a local kernel has one factor per query and time, computed by the estimators.

        Parameters
        ----------
        data : ndarray, shape (N, d)
            Training points.
        log_w : ndarray, shape (N,), or None
            Their log-weights.

        Returns
        -------
        ndarray
            Never.

        Raises
        ------
        TypeError
            Always.

        Examples
        --------
        >>> import numpy as np
        >>> from ledkde_fast.kernels import Local
        >>> Local(1).factor(np.zeros((3, 2)), None)
        Traceback (most recent call last):
        ...
        TypeError: kernels.Local has one factor per query and time (computed by the estimators), not a global one
        """
        raise TypeError("kernels.Local has one factor per query and time (computed by the estimators), "
                        "not a global one")

    def second_moment(self, factor: Optional[np.ndarray]) -> float:
        """Return ``E|S|^2 = rank`` where the local covariance has full rank (per query otherwise).

        Parameters
        ----------
        factor : None
            Unused.

        Returns
        -------
        float
            The rank.

        Examples
        --------
        >>> from ledkde_fast.kernels import Local
        >>> Local(4).second_moment(None)
        4.0
        """
        return float(self.rank)


@dataclass(frozen=True, eq=False, repr=False)
class Samples(Kernel):
    """Explicit standardised kernel draws s (n_kernel x d); Y_j = h s_j. Used exactly as given.

    Parameters
    ----------
    samples : array_like, shape (n_kernel, d)
        The draws: real and finite, at least one row. The kernel keeps a private float64 copy.

    Raises
    ------
    TypeError
        If ``samples`` is not an array of real numbers.
    ValueError
        If it is not finite, not 2-D or has no row.

    Examples
    --------
    >>> import numpy as np
    >>> from ledkde_fast.kernels import Samples
    >>> kernel = Samples(np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]]))
    >>> kernel.factor(np.zeros((3, 2)), None) is None
    True
    >>> kernel.second_moment(None)
    2.5
    """

    samples: np.ndarray

    def __post_init__(self) -> None:
        """Validate the draws and keep a private float64 copy."""
        s = _real_matrix(self.samples, "kernel samples")
        if s.shape[0] < 1:
            raise ValueError("kernel samples must contain at least one row")
        object.__setattr__(self, "samples", s)

    def factor(self, data: np.ndarray, log_w: Optional[np.ndarray]) -> None:
        """Return None: the draws are used as given.

        Parameters
        ----------
        data : ndarray, shape (N, d)
            Training points (only d is used).
        log_w : ndarray, shape (N,), or None
            Ignored.

        Returns
        -------
        None
            There is no factor.

        Raises
        ------
        ValueError
            If the draws do not have d columns.

        Examples
        --------
        >>> import numpy as np
        >>> from ledkde_fast.kernels import Samples
        >>> print(Samples(np.ones((4, 2))).factor(np.zeros((3, 2)), None))
        None
        """
        _check_width(self.samples.shape[1], data.shape[1], "kernel samples")
        return None

    def second_moment(self, factor: Optional[np.ndarray]) -> float:
        """Return the sample mean of ``|s_j|^2``.

        Parameters
        ----------
        factor : None
            What :meth:`factor` returned (unused).

        Returns
        -------
        float
            ``mean_j |s_j|^2``.

        Examples
        --------
        >>> import numpy as np
        >>> from ledkde_fast.kernels import Samples
        >>> Samples(np.array([[3.0, 4.0], [0.0, 1.0]])).second_moment(None)
        13.0
        """
        return float(np.mean(np.sum(self.samples**2, axis=1)))


def principal_directions(cov: np.ndarray, rank: int) -> np.ndarray:
    """Return the top-``rank`` eigenvectors (d x rank) of a covariance matrix.

    Each is signed so that its largest entry is positive: a deterministic choice, so that
    covariances equal to rounding (one data set held whole or in shards) give the same directions.
    """
    evals, evecs = np.linalg.eigh(0.5 * (cov + cov.T))
    top = evecs[:, np.argsort(evals)[::-1][:rank]]
    signs = np.sign(top[np.abs(top).argmax(axis=0), np.arange(rank)])
    return np.ascontiguousarray(top * np.where(signs == 0, 1.0, signs))


def _real_matrix(value: ArrayLike, name: str) -> np.ndarray:
    """Return a 2-D finite real matrix as a private float64 copy (the kernel must not change under the user)."""
    arr = as_real_values(value, name)
    if isinstance(value, np.ndarray) and np.may_share_memory(arr, value):
        arr = arr.copy()
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got {arr.ndim} dimension(s)")
    return arr


def _check_width(width: int, d: int, name: str) -> None:
    """ValueError unless the kernel's width matches the data's dimension d."""
    if width != d:
        raise ValueError(f"{name} has {width} rows/columns for the dimension but data has d={d}")


def as_kernel(kernel: Union[KernelName, Kernel], rank: Optional[int] = None) -> Kernel:
    """Resolve the ``kernel=`` argument: a name ("gaussian", "pca" with ``rank``) or a Kernel.

    Parameters
    ----------
    kernel : {"gaussian", "pca"} or Kernel
        A name (case and surrounding spaces ignored) or a kernel object, returned as is.
    rank : int, optional
        Number of principal directions; required with ``"pca"``, refused otherwise.

    Returns
    -------
    Kernel
        The kernel object.

    Raises
    ------
    TypeError
        If ``kernel`` is neither a string nor a Kernel (a bare matrix is refused: wrap it in
        :class:`Covariance`, :class:`Factor` or :class:`Samples`), or ``rank`` is not an int.
    ValueError
        For an unknown name, a missing ``rank`` with ``"pca"``, a ``rank`` with anything else, or
        ``rank`` < 1.

    Examples
    --------
    >>> from ledkde_fast.kernels import Gaussian, as_kernel
    >>> as_kernel("gaussian")
    Gaussian()
    >>> as_kernel("pca", rank=2)
    PCA(rank=2)
    >>> kernel = Gaussian()
    >>> as_kernel(kernel) is kernel
    True
    """
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
