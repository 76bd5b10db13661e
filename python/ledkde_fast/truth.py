r"""Population (true) laws of the synthetic data sets, diffused: exact log-densities, scores, denoisers.

Every synthetic :class:`~ledkde_fast.datasets.Dataset` made by :mod:`ledkde_fast.datasets` has a
``truth`` (see :func:`law_of`): the law its points were drawn from, noise included, with

* ``sample(n, seed)``: fresh draws from that law, shape (n, D);
* ``log_density(x, t)``, ``score(x, t)``, ``denoiser(x, t)``: the log-density, its gradient and
  the Tweedie denoiser of the diffused law :math:`p_t = p_\star \star \mathcal{N}(0, tI_D)`
  (the forward process of :doc:`/maths`), where :math:`p_\star` is the data law.

Where the formulas come from
----------------------------

They are standard results or this library's own derivations, written out here so that they can be
checked against the code; none of them is taken from the paper of :mod:`ledkde_fast`.

*Tweedie.* ``denoiser(x, t) = x + t * score(x, t)`` is :math:`\mathbb{E}[X_0 \mid X_0 + \sqrt t
Z = x]` for :math:`X_0 \sim p_\star` (Tweedie's formula; ``tests/test_truth.py`` checks it
against an independent Monte-Carlo posterior mean).

*Noise.* A data set with ``noise`` :math:`\sigma` has :math:`p_\star = q \star
\mathcal{N}(0, \sigma^2 I)` for the clean law :math:`q`, so :math:`p_t = q_\tau` with
:math:`\tau = t + \sigma^2`: log-density and score are those of the clean law at time
:math:`\tau`, and the denoiser is :math:`x + t\,\nabla \log q_\tau(x)` (with :math:`t`, not
:math:`\tau`: it estimates the *noisy* point).

*Embedding.* A manifold law lives in a natural space :math:`\mathbb{R}^p` embedded by a
``basis`` :math:`B` (p x D, orthonormal rows). With :math:`y = xB^\top` and the residual
:math:`x_\perp = x - yB` (computed explicitly, never as :math:`|x|^2 - |y|^2`),

.. math::

   \log q_\tau(x) = \log q^{\mathrm{nat}}_\tau(y) - \frac{|x_\perp|^2}{2\tau}
   - \frac{D - p}{2}\log(2\pi\tau),
   \qquad
   \nabla \log q_\tau(x) = \nabla \log q^{\mathrm{nat}}_\tau(y)\, B - \frac{x_\perp}{\tau}.

*Sphere* :math:`S^k` of radius :math:`r` in :math:`\mathbb{R}^{k+1}` (the circle is k = 1),
uniform law :math:`u`: with :math:`\kappa = r|y|/\tau` and :math:`\nu = (k-1)/2`,

.. math::

   q^{\mathrm{nat}}_\tau(y) = (2\pi\tau)^{-(k+1)/2} e^{-(|y|^2 + r^2)/(2\tau)}\,
   \mathbb{E}_u\bigl[e^{\kappa\, u\cdot \hat y}\bigr],
   \qquad
   \mathbb{E}_u\bigl[e^{\kappa\, u\cdot \hat y}\bigr]
   = \Gamma(\nu + 1)\Bigl(\frac{2}{\kappa}\Bigr)^{\nu} I_\nu(\kappa)
   = {}_0F_1\bigl(;\nu + 1; \kappa^2/4\bigr)

(the moment generating function of one coordinate of a uniform point of :math:`S^k`:
:math:`I_0(\kappa)` for the circle, :math:`\sinh(\kappa)/\kappa` for :math:`S^2`), and the
score is :math:`-y/\tau + (r/\tau) A_\nu(\kappa)\hat y` with
:math:`A_\nu = I_{\nu+1}/I_\nu` (from :math:`I_\nu' = I_{\nu+1} + (\nu/\kappa) I_\nu`). In
the log domain, :math:`-(|y| - r)^2/(2\tau) + \log\Gamma(\nu+1) + \nu\log(2/\kappa) +
\log \operatorname{ive}(\nu, \kappa)` (``ive`` = :math:`e^{-\kappa} I_\nu`), so nothing
overflows; three regimes: the :math:`{}_0F_1` series for
:math:`\kappa^2/4 \le 0.01(\nu + 1)` (then the score is :math:`y` times a finite factor, and
exactly :math:`-y/\tau` at :math:`y = 0`), ``scipy.special.ive`` up to :math:`\kappa = 10^8`,
and beyond (where ``ive`` returns NaN from about :math:`10^{10}`) Hankel's asymptotic expansion
:math:`e^{-\kappa} I_\nu(\kappa) \sqrt{2\pi\kappa} = \sum_j (-1)^j \prod_{i \le j}
\frac{4\nu^2 - (2i-1)^2}{8 i \kappa}` (10 terms, error below :math:`10^{-40}` there for
:math:`\nu \le 10^3`). The radial part of the score is formed as
:math:`((r - |y|) - r(1 - A_\nu))/\tau`, which keeps its absolute error at
:math:`r\,\varepsilon/\tau` near the sphere.

*Subspace*: uniform on the cube :math:`[-a, a]^k` of the natural space, so the density is a product
over coordinates of :math:`(\Phi(u) - \Phi(l))/(2a)`, with :math:`u = (a - |y_i|)/\sqrt\tau`,
:math:`l = (-a - |y_i|)/\sqrt\tau` (the law is even, so :math:`l \le \min(u, 0)`: both
:math:`\Phi`'s are in the accurate lower tail or :math:`\Phi(u) \ge 1/2`). The log of the
difference is :math:`\log\Phi(u) + \log(1 - e^{\delta})` with
:math:`\delta = \log\Phi(l) - \log\Phi(u)`, itself computed for :math:`u \le 0` as
:math:`-2a|y_i|/\tau + \log \operatorname{erfcx}(-l/\sqrt2) - \log
\operatorname{erfcx}(-u/\sqrt2)` (no difference of two huge logs). The score per coordinate is
:math:`(\varphi(l) - \varphi(u))/(\sqrt\tau(\Phi(u) - \Phi(l)))
= \operatorname{sign}(y_i)\, \frac{\varphi(u)}{\Phi(u)}
\frac{\operatorname{expm1}(-2a|y_i|/\tau)}{\sqrt\tau\,(-\operatorname{expm1}(\delta))}`
with the inverse Mills ratio :math:`\varphi(u)/\Phi(u) = \sqrt{2/\pi}/\operatorname{erfcx}(-u/\sqrt2)`
for :math:`u \le 0`.

*Gaussian mixture*: :math:`p_t = \sum_j w_j \mathcal{N}(\mu_j, (s_j^2 + t) I)`, a log-sum-exp
over components; the score is the responsibility-weighted :math:`(\mu_j - x)/(s_j^2 + t)`.

*Swiss roll*: the spiral parameter :math:`s` is uniform on :math:`[s_0, s_1]` *in the parameter*
(not in arc length, exactly as :func:`~ledkde_fast.datasets.swiss_roll` draws it) and the height
:math:`h` uniform on :math:`[0, \text{width}]`, independent, in orthogonal natural coordinates
:math:`(s\cos s/s_1, h, s\sin s/s_1)`. So the density is the height's (the cube formula in one
dimension, centred at width/2) times the spiral's, :math:`\frac{1}{s_1 - s_0}
\int_{s_0}^{s_1} \mathcal{N}(q; \gamma(s), \tau I_2)\, ds` for the (x, z) part :math:`q`,
computed by composite 16-point Gauss-Legendre quadrature in the log domain (log-sum-exp over the
nodes with their log weights; the score is the posterior mean of :math:`(\gamma(s) - q)/\tau`
over the same nodes, so it is the exact gradient of the computed log-density). The integrand is a
bump of width :math:`\sqrt\tau / \sqrt{|\gamma'|^2 - (q - \gamma)\cdot\gamma''}` in
:math:`s`; panels are at most ``2 sqrt(tau) / sqrt(vmax^2 + (|q| + 1) gmax)`` wide (vmax and
gmax bound :math:`|\gamma'|` and :math:`|\gamma''|`; :math:`|q| + 1` bounds
:math:`|q - \gamma|`) and at most 0.25 rad, so every panel covers at most two standard deviations
of the bump, where 16 Gauss-Legendre nodes are exact to about :math:`10^{-16}`. At an end of the
spiral the integrand may instead decay like :math:`e^{-|\phi'|(s - s_0)/\tau}`, with
:math:`\phi = |q - \gamma|^2/2` and :math:`|\phi'| \le (|q| + 1)\,\mathrm{vmax}`, much faster than
the bump for a query beyond the end; so the two end panels are split geometrically (halving toward
the end) down to :math:`4\tau/((|q| + 1)\,\mathrm{vmax})`. The panel count is rounded up on a
ladder :math:`\lceil 8 \cdot 2^{j/4} \rceil` and the grading depth is an integer, so the nodes
depend only on :math:`\tau` and :math:`|q|` (queries are grouped by nodes). Measured accuracy,
t = 1e-4 to 1e2, near and far (:math:`|q|` up to 1e3) queries: log-density and score agree with a
quadrature twice as fine (end panels four times finer) to about :math:`10^{-13}` relative, and with
an independent adaptive quadrature (``scipy.integrate.quad``) and a 640,000-node Gauss-Legendre
rule to about :math:`10^{-12}`.

Cost of the Swiss roll: about ``16 * 2 pi turns * sqrt(vmax^2 + (|q| + 1) gmax) / (2 sqrt(tau))``
nodes per query (at least ``16 * 2 pi turns / 0.25``, plus ``32 log2(...)`` for the end grading):
for the default roll about 16,000 nodes at tau = 1e-4 near the roll (some milliseconds per query),
600 to 1,500 at tau >= 1e-2; far queries (:math:`|q| = 10^3`) need about 20 times more. Work is O(nodes)
per query, memory at most :data:`BLOCK_ELEMENTS` float64 values per temporary (queries and nodes
are processed in blocks, merged by a streaming log-sum-exp).

Limits
------

* Sphere: where ``ive`` underflows (high order, moderate :math:`\kappa`) the :math:`{}_0F_1` series
  is summed in full in the log domain (up to a few times k terms); Hankel's expansion needs
  :math:`\kappa \gg \nu^2`, so above :math:`\kappa = 10^8` it is accurate for k up to about 2000.
  Tested for k = 1, 2, 3, 5 against quadrature, and for k = 400 for finiteness and consistency.
* Cube and Swiss roll height: needs :math:`a/\sqrt\tau \gtrsim 10^{-12}` (extent not negligible
  against the diffusion's spread); everything needs :math:`|x|^2/\tau` to be representable.
* Swiss roll: quadrature cost grows as :math:`1/\sqrt\tau` (see above).

scipy (``scipy.special``) is imported when a density, score or denoiser of a sphere or cube law is
first evaluated, not with the package: ``pip install "ledkde_fast[analysis]"``.
"""

from __future__ import annotations

import importlib
import math
from typing import TYPE_CHECKING, Any, Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike

from ._lse import merge_lse
from ._validation import (
    SeedLike,
    as_generator,
    as_int,
    as_nonnegative_values,
    as_positive,
    as_queries,
    as_real,
    as_real_values,
    as_time,
)

if TYPE_CHECKING:
    from .datasets import Dataset

__all__ = [
    "BLOCK_ELEMENTS",
    "GaussianMixtureLaw",
    "PopulationLaw",
    "SphereLaw",
    "SubspaceLaw",
    "SwissRollLaw",
    "law_of",
]

#: Largest number of float64 values in one temporary (queries x nodes or queries x components).
BLOCK_ELEMENTS = 1 << 19

_LOG_2PI = math.log(2 * math.pi)
_SQRT2 = math.sqrt(2.0)
_SWISS_S0 = 1.5 * math.pi  # the value datasets.swiss_roll uses (not imported: no import cycle)

# sphere: regimes of kappa
_SERIES_TERMS = 8  # 0F1 terms; ratio of successive terms <= 0.01 / m in the series range
_SERIES_RANGE = 0.01  # series where kappa^2 / 4 <= _SERIES_RANGE * (nu + 1)
_ASYMPTOTIC_FROM = 1e8  # Hankel's expansion above this kappa (scipy's ive is NaN from ~1e10)
_ASYMPTOTIC_TERMS = 10

# Swiss roll quadrature
_GL_NODES = 16  # Gauss-Legendre nodes per panel
_PANEL_SIGMAS = 2.0  # panel width in standard deviations of the integrand's bump
_PANEL_MAX = 0.25  # widest panel, in radians of the spiral parameter
_LADDER_MIN = 8  # panel counts are ceil(_LADDER_MIN * 2**(j / _LADDER_STEPS)), j >= 0
_LADDER_STEPS = 4
_END_RATE = 4.0  # smallest end panel, in decay lengths tau / ((|q| + 1) vmax) of the integrand at an end


def _special() -> Any:
    """scipy.special, imported on first use (an optional dependency: the ``analysis`` extra)."""
    try:
        return importlib.import_module("scipy.special")
    except ImportError:  # pragma: no cover - depends on the installation
        raise ImportError(
            "ledkde_fast.truth needs scipy for the sphere and cube laws: pip install \"ledkde_fast[analysis]\""
        ) from None


def _log1mexp(delta: np.ndarray) -> np.ndarray:
    """log(1 - exp(delta)) for delta < 0, accurate on both sides of -log 2 (Maechler's rule)."""
    out = np.empty_like(delta)
    near = delta > -math.log(2.0)
    out[near] = np.log(-np.expm1(delta[near]))
    out[~near] = np.log1p(-np.exp(delta[~near]))
    return out


# ============================================================================ base class
class PopulationLaw:
    """Base class of the population laws: sampling, and the diffused log-density, score and denoiser.

    The subclasses describe one family each (:class:`SphereLaw`, :class:`SubspaceLaw`,
    :class:`SwissRollLaw`, :class:`GaussianMixtureLaw`); :func:`law_of` builds the one of a data
    set. The diffused law at time t is ``p_t = law * N(0, t I_D)``, noise included (see the
    module's notes).

    Attributes
    ----------
    name : str
        The family: ``"sphere"``, ``"subspace"``, ``"swiss_roll"`` or ``"gaussian_mixture"``.
    ambient_dim : int
        Dimension D of the points.
    noise : float
        Standard deviation of the isotropic Gaussian noise of the data (0 for mixtures).

    Examples
    --------
    >>> from ledkde_fast.truth import SphereLaw
    >>> law = SphereLaw(1, radius=2.0)
    >>> law.sample(3, seed=0).shape
    (3, 2)
    >>> print(f"{float(law.log_density([2.0, 0.0], 1.0)):.6f}")
    -3.412904
    """

    name: str = ""

    def __init__(self, ambient_dim: int, noise: float) -> None:
        self._ambient_dim = ambient_dim
        self._noise = noise

    @property
    def ambient_dim(self) -> int:
        """Dimension D of the points."""
        return self._ambient_dim

    @property
    def noise(self) -> float:
        """Standard deviation of the data's isotropic Gaussian noise."""
        return self._noise

    # ------------------------------------------------------------------ public
    def sample(self, n: int, seed: SeedLike = None) -> np.ndarray:
        """Draw points from the law of the data (noise included), not diffused.

        Parameters
        ----------
        n : int
            Number of points, >= 1.
        seed : int, None or numpy.random.Generator
            Seed of the draws; a Generator is used as is (its stream continues).

        Returns
        -------
        numpy.ndarray of float64, shape (n, D)
            Independent draws. The same seed gives the same points.

        Raises
        ------
        TypeError
            If ``n`` is not an int or ``seed`` is of the wrong kind.
        ValueError
            If n < 1 or seed < 0.

        Examples
        --------
        >>> import numpy as np
        >>> from ledkde_fast.truth import SphereLaw
        >>> x = SphereLaw(2, radius=3.0).sample(5, seed=1)
        >>> np.round(np.linalg.norm(x, axis=1), 12)
        array([3., 3., 3., 3., 3.])
        """
        n = as_int(n, "n", 1)
        rng = as_generator(seed)
        points = self._sample_clean(n, rng)
        if self._noise > 0:
            points = points + self._noise * rng.standard_normal(points.shape)
        return points

    def log_density(self, x: ArrayLike, t: float) -> np.ndarray:
        """Log-density of the diffused law ``p_t = law * N(0, t I)``, normalised.

        Parameters
        ----------
        x : array_like, shape (m, D) or (D,)
            Query points; a 1-D ``x`` is one point and gives a 0-d result.
        t : float
            Time of the forward process (variance of its Gaussian), > 0.

        Returns
        -------
        numpy.ndarray of float64, shape (m,) or ()
            ``log p_t(x)``; finite for every finite query of moderate size (|x|^2 / t
            representable).

        Raises
        ------
        TypeError
            If ``x`` is not an array of real numbers or ``t`` is not a real scalar.
        ValueError
            If ``x`` does not have D columns or is not finite, or ``t <= 0`` or is not finite.

        Examples
        --------
        >>> import numpy as np
        >>> from ledkde_fast.truth import GaussianMixtureLaw
        >>> law = GaussianMixtureLaw([[0.0]], stds=1.0)  # N(0, 1) diffused to N(0, 1 + t)
        >>> bool(np.isclose(law.log_density([0.0], 1.0), -0.5 * np.log(2 * np.pi * 2.0)))
        True
        """
        queries, one_point, tau = self._prepare(x, t)
        logp, _ = self._evaluate(queries, tau, False)
        return logp.reshape(()) if one_point else logp

    def score(self, x: ArrayLike, t: float) -> np.ndarray:
        """Score of the diffused law, ``grad_x log p_t(x)``.

        Parameters
        ----------
        x : array_like, shape (m, D) or (D,)
            Query points; a 1-D ``x`` is one point and gives a 1-D result.
        t : float
            Time of the forward process, > 0.

        Returns
        -------
        numpy.ndarray of float64, shape (m, D) or (D,)
            The exact gradient of :meth:`log_density` (for the Swiss roll, of the quadrature that
            computes it).

        Raises
        ------
        TypeError
            If ``x`` is not an array of real numbers or ``t`` is not a real scalar.
        ValueError
            If ``x`` does not have D columns or is not finite, or ``t <= 0`` or is not finite.

        Examples
        --------
        >>> import numpy as np
        >>> from ledkde_fast.truth import SphereLaw
        >>> law = SphereLaw(1, radius=1.0)
        >>> law.score([0.0, 0.0], 0.5)  # the centre of the circle is a critical point
        array([0., 0.])
        >>> bool(law.score([3.0, 0.0], 1e-4)[0] < 0)  # outside the circle: pulled back inwards
        True
        """
        queries, one_point, tau = self._prepare(x, t)
        _, grad = self._evaluate(queries, tau, True)
        assert grad is not None
        return grad[0] if one_point else grad

    def denoiser(self, x: ArrayLike, t: float) -> np.ndarray:
        """Tweedie denoiser ``E[X_0 | X_0 + sqrt(t) Z = x] = x + t * score(x, t)``.

        ``X_0`` is a draw of the data law (noise included), ``Z`` standard Gaussian.

        Parameters
        ----------
        x : array_like, shape (m, D) or (D,)
            Query points; a 1-D ``x`` is one point and gives a 1-D result.
        t : float
            Time of the forward process, > 0.

        Returns
        -------
        numpy.ndarray of float64, shape (m, D) or (D,)
            The posterior mean of the clean (undiffused) point.

        Raises
        ------
        TypeError
            If ``x`` is not an array of real numbers or ``t`` is not a real scalar.
        ValueError
            If ``x`` does not have D columns or is not finite, or ``t <= 0`` or is not finite.

        Examples
        --------
        >>> import numpy as np
        >>> from ledkde_fast.truth import SphereLaw
        >>> law = SphereLaw(1, radius=1.0)
        >>> np.round(law.denoiser([2.0, 0.0], 1e-4), 4)  # small t: the nearest point of the circle
        array([1., 0.])
        """
        queries, one_point, tau = self._prepare(x, t)
        _, grad = self._evaluate(queries, tau, True)
        assert grad is not None
        out = queries + float(t) * grad
        return out[0] if one_point else out

    def __repr__(self) -> str:
        """Return the family and its parameters."""
        fields = ", ".join(f"{k}={v!r}" for k, v in self._describe().items())
        return f"{type(self).__name__}({fields})"

    # ------------------------------------------------------------------ to implement
    def _describe(self) -> dict:
        return {"ambient_dim": self._ambient_dim, "noise": self._noise}

    def _sample_clean(self, n: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _evaluate(self, x: np.ndarray, tau: float, want_score: bool) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """Log-density and (if asked) score of the clean law at time tau, for queries (m, D)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers
    def _prepare(self, x: ArrayLike, t: float) -> Tuple[np.ndarray, bool, float]:
        queries, one_point = as_queries(x, self._ambient_dim)
        if queries.dtype.kind == "b":
            raise TypeError(f"x must be real, got dtype {queries.dtype}")
        t = as_time(t)
        return np.ascontiguousarray(queries, dtype=np.float64), one_point, t + self._noise**2


def _check_basis(basis: Optional[ArrayLike], p: int) -> np.ndarray:
    """The (p, D) basis with orthonormal rows (identity when None), read-only float64."""
    if basis is None:
        out = np.eye(p)
    else:
        out = np.array(as_real_values(basis, "basis"), dtype=np.float64)
        if out.ndim != 2 or out.shape[0] != p or out.shape[1] < p:
            raise ValueError(f"basis must have shape ({p}, D) with D >= {p}, got {out.shape}")
        if not np.allclose(out @ out.T, np.eye(p), rtol=0.0, atol=1e-10):
            raise ValueError("basis must have orthonormal rows (basis @ basis.T == I)")
    out.flags.writeable = False
    return out


class _EmbeddedLaw(PopulationLaw):
    """A law on a natural space R^p embedded in R^D by a basis with orthonormal rows, plus noise."""

    def __init__(self, p: int, basis: Optional[ArrayLike], noise: float) -> None:
        self._basis = _check_basis(basis, p)
        super().__init__(int(self._basis.shape[1]), as_real(noise, "noise", positive=True))

    @property
    def basis(self) -> np.ndarray:
        """The (p, D) basis: orthonormal rows spanning the natural space of the law (read-only)."""
        return self._basis

    def _sample_clean(self, n: int, rng: np.random.Generator) -> np.ndarray:
        coords = self._sample_natural(n, rng)
        return coords @ self._basis

    def _sample_natural(self, n: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _natural(self, y: np.ndarray, tau: float, want_score: bool) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        raise NotImplementedError

    def _evaluate(self, x: np.ndarray, tau: float, want_score: bool) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        p, d = self._basis.shape
        coords = x @ self._basis.T
        orth = x - coords @ self._basis  # explicit residual: |x|^2 - |y|^2 would cancel catastrophically
        logp, grad = self._natural(coords, tau, want_score)
        logp = logp - np.einsum("ij,ij->i", orth, orth) / (2 * tau) - 0.5 * (d - p) * (_LOG_2PI + math.log(tau))
        if not want_score:
            return logp, None
        assert grad is not None
        return logp, grad @ self._basis - orth / tau


# ============================================================================ sphere
def _series_0f1(z: np.ndarray, nu: float) -> Tuple[np.ndarray, np.ndarray]:
    """F - 1 and F' / F for F(z) = 0F1(; nu + 1; z), z >= 0 small (series range)."""
    term = np.ones_like(z)  # z^m / (m! (nu+1)_m)
    dterm = np.full_like(z, 1.0 / (nu + 1))  # z^m / (m! (nu+1)_{m+1}): the terms of F'
    fm1 = np.zeros_like(z)
    dsum = dterm.copy()
    for m in range(1, _SERIES_TERMS):
        term = term * z / (m * (nu + m))
        dterm = dterm * z / (m * (nu + 1 + m))
        fm1 += term
        dsum += dterm
    return fm1, dsum / (1.0 + fm1)


def _log_0f1(z: np.ndarray, nu: float) -> Tuple[np.ndarray, np.ndarray]:
    """Log F and F' / F for F(z) = 0F1(; nu + 1; z), z > 0 any size, summed in the log domain.

    The terms z^m / (m! (nu+1)_m) rise until m (nu + m) ~ z, then fall faster than geometrically;
    the sum stops once they are below e^-40 of it. Used where ``ive`` underflows (high order nu
    at moderate kappa): there z < ~nu^2, so at most a few times nu terms.
    """
    logz = np.log(z)
    logt = np.zeros_like(z)  # log of the current term (m = 0: 1)
    top = np.zeros_like(z)
    s0, s1 = np.ones_like(z), np.zeros_like(z)  # sum of terms, and of m * terms, scaled by e^-top
    m = 0
    while True:
        m += 1
        logt = logt + logz - math.log(m) - np.log(nu + m)
        new_top = np.maximum(top, logt)
        scale, e = np.exp(top - new_top), np.exp(logt - new_top)
        s0, s1, top = s0 * scale + e, s1 * scale + m * e, new_top
        falling = z < 0.5 * m * (nu + m)
        if np.all(falling & (logt < top + np.log(s0) - 40.0)):
            break
    return top + np.log(s0), s1 / (s0 * z)


def _hankel(nu: float, kappa: np.ndarray) -> np.ndarray:
    """exp(-kappa) I_nu(kappa) sqrt(2 pi kappa) by Hankel's asymptotic series (kappa large)."""
    mu = 4.0 * nu * nu
    total = np.ones_like(kappa)
    term = np.ones_like(kappa)
    for j in range(1, _ASYMPTOTIC_TERMS):
        term = term * (-(mu - (2 * j - 1) ** 2) / (8.0 * j * kappa))
        total += term
    return total


def _sphere_natural(y: np.ndarray, tau: float, k: int, r: float, want_score: bool
                    ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Log-density and score of the uniform law on S^k (radius r, in R^{k+1}) diffused to time tau."""
    nu = 0.5 * (k - 1)
    rho = np.sqrt(np.einsum("ij,ij->i", y, y))
    kappa = r * rho / tau
    logm = np.empty(len(y))  # log q(y) + (k+1)/2 log(2 pi tau)
    factor = np.empty(len(y))  # score = factor * y
    z = 0.25 * kappa * kappa
    small = z <= _SERIES_RANGE * (nu + 1)
    large = kappa > _ASYMPTOTIC_FROM
    mid = ~small & ~large
    if small.any():
        fm1, dlog = _series_0f1(z[small], nu)
        rs = rho[small]
        logm[small] = -(rs * rs + r * r) / (2 * tau) + np.log1p(fm1)
        factor[small] = -1.0 / tau + (r * r / (tau * tau)) * 0.5 * dlog
    series = small.copy()  # points whose log-density and score are complete after a series
    one_minus_a = np.empty(len(y))
    if mid.any():
        sp = _special()
        e1 = np.zeros(len(y))
        e1[mid] = sp.ive(nu + 1, kappa[mid])
        # ive underflows for a high order at moderate kappa: sum the 0F1 series there instead
        longer = mid & (e1 < 1e-280)
        mid &= ~longer
        km = kappa[mid]
        e0, e1m = sp.ive(nu, km), e1[mid]
        logm[mid] = math.lgamma(nu + 1) + nu * np.log(2.0 / km) + np.log(e0)
        one_minus_a[mid] = (e0 - e1m) / e0
        if longer.any():
            rl = rho[longer]
            log_f, dlog = _log_0f1(z[longer], nu)
            logm[longer] = -(rl * rl + r * r) / (2 * tau) + log_f
            factor[longer] = -1.0 / tau + (r * r / (tau * tau)) * 0.5 * dlog
            series |= longer
    if large.any():
        kl = kappa[large]
        h0, h1 = _hankel(nu, kl), _hankel(nu + 1, kl)
        logm[large] = math.lgamma(nu + 1) + nu * np.log(2.0 / kl) - 0.5 * np.log(2 * math.pi * kl) + np.log(h0)
        one_minus_a[large] = (h0 - h1) / h0
    big = ~series
    if big.any():
        rb = rho[big]
        logm[big] += -((rb - r) ** 2) / (2 * tau)  # -(|y|^2 + r^2)/(2 tau) + kappa, without cancellation
        factor[big] = ((r - rb) - r * one_minus_a[big]) / (rb * tau)
    logp = logm - 0.5 * (k + 1) * (_LOG_2PI + math.log(tau))
    return logp, (factor[:, None] * y if want_score else None)


class SphereLaw(_EmbeddedLaw):
    """Uniform law on the k-sphere of radius ``radius`` in R^{k+1}, embedded, plus Gaussian noise.

    The law of :func:`ledkde_fast.datasets.sphere` (and of :func:`~ledkde_fast.datasets.circle`,
    k = 1). Closed form through the modified Bessel function (module notes).

    Parameters
    ----------
    k : int
        Dimension of the sphere, >= 1.
    radius : float
        Radius r > 0.
    noise : float
        Standard deviation of the isotropic Gaussian noise added in R^D, >= 0.
    basis : array_like, shape (k + 1, D), optional
        Orthonormal rows embedding R^{k+1} into R^D; None is the identity (D = k + 1).

    Raises
    ------
    TypeError
        If an argument is of the wrong kind.
    ValueError
        If k < 1, radius <= 0, noise < 0, a value is not finite, or the basis is not (k + 1, D)
        with orthonormal rows.

    Examples
    --------
    >>> import numpy as np
    >>> from ledkde_fast.truth import SphereLaw
    >>> law = SphereLaw(2, radius=1.0)
    >>> # sinh(kappa)/kappa for S^2: at the centre, p_t(0) = N(r; 0, t) in 3-D
    >>> bool(np.isclose(law.log_density([0.0, 0.0, 0.0], 0.5), -1.5 * np.log(np.pi) - 1.0))
    True
    """

    name = "sphere"

    def __init__(self, k: int, radius: float = 1.0, *, noise: float = 0.0, basis: Optional[ArrayLike] = None) -> None:
        self._k = as_int(k, "k", 1)
        self._radius = as_positive(radius, "radius")
        super().__init__(self._k + 1, basis, noise)

    @property
    def k(self) -> int:
        """Dimension of the sphere."""
        return self._k

    @property
    def radius(self) -> float:
        """Radius of the sphere."""
        return self._radius

    def _describe(self) -> dict:
        return {"k": self._k, "radius": self._radius, **super()._describe()}

    def _sample_natural(self, n: int, rng: np.random.Generator) -> np.ndarray:
        g = rng.standard_normal((n, self._k + 1))
        return self._radius * g / np.linalg.norm(g, axis=1, keepdims=True)

    def _natural(self, y: np.ndarray, tau: float, want_score: bool) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        return _sphere_natural(y, tau, self._k, self._radius, want_score)


# ============================================================================ cube
def _cube_natural(y: np.ndarray, tau: float, a: float, want_score: bool) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Per coordinate of y (any shape): log of (Phi(u) - Phi(l)) / (2a) and its derivative, U(-a, a) diffused."""
    sp = _special()
    s = math.sqrt(tau)
    w = np.abs(y)
    u = (a - w) / s
    lo = (-a - w) / s
    log_phi_u = sp.log_ndtr(u)
    neg = u <= 0
    delta = np.empty_like(y)
    # u <= 0: log Phi(l) - log Phi(u) = -(l^2 - u^2)/2 + log erfcx(-l/sqrt2) - log erfcx(-u/sqrt2), and
    # (l^2 - u^2)/2 = 2 a w / tau: no difference of two huge logs. u > 0: log Phi(u) is in [-log 2, 0].
    delta[neg] = (-2 * a * w[neg] / tau + np.log(sp.erfcx(-lo[neg] / _SQRT2))
                  - np.log(sp.erfcx(-u[neg] / _SQRT2)))
    delta[~neg] = sp.log_ndtr(lo[~neg]) - log_phi_u[~neg]
    logp = log_phi_u + _log1mexp(delta) - math.log(2 * a)
    if not want_score:
        return logp, None
    mills = np.empty_like(y)  # phi(u) / Phi(u)
    mills[neg] = math.sqrt(2 / math.pi) / sp.erfcx(-u[neg] / _SQRT2)
    up = u[~neg]
    mills[~neg] = np.exp(-0.5 * up * up) / (math.sqrt(2 * math.pi) * sp.ndtr(up))
    grad = mills * np.expm1(-2 * a * w / tau) / (s * -np.expm1(delta))
    return logp, grad * np.sign(y)  # the law is even: the score is odd (0 at y = 0)


class SubspaceLaw(_EmbeddedLaw):
    """Uniform law on the cube [-extent, extent]^k of a k-dimensional subspace, plus Gaussian noise.

    The law of :func:`ledkde_fast.datasets.subspace`. Closed form through the normal CDF, per
    coordinate of the subspace (module notes).

    Parameters
    ----------
    k : int
        Dimension of the subspace, >= 1.
    extent : float
        Half side a > 0 of the cube.
    noise : float
        Standard deviation of the isotropic Gaussian noise added in R^D, >= 0.
    basis : array_like, shape (k, D), optional
        Orthonormal rows spanning the subspace; None is the identity (D = k).

    Raises
    ------
    TypeError
        If an argument is of the wrong kind.
    ValueError
        If k < 1, extent <= 0, noise < 0, a value is not finite, or the basis is not (k, D) with
        orthonormal rows.

    Examples
    --------
    >>> import numpy as np
    >>> from ledkde_fast.truth import SubspaceLaw
    >>> law = SubspaceLaw(1, extent=1.0)
    >>> print(f"{float(np.exp(law.log_density([0.0], 1e-4))):.6f}")  # 1 / (2a) inside
    0.500000
    """

    name = "subspace"

    def __init__(self, k: int, extent: float = 1.0, *, noise: float = 0.0, basis: Optional[ArrayLike] = None) -> None:
        self._k = as_int(k, "k", 1)
        self._extent = as_positive(extent, "extent")
        super().__init__(self._k, basis, noise)

    @property
    def k(self) -> int:
        """Dimension of the subspace."""
        return self._k

    @property
    def extent(self) -> float:
        """Half side of the cube."""
        return self._extent

    def _describe(self) -> dict:
        return {"k": self._k, "extent": self._extent, **super()._describe()}

    def _sample_natural(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(-self._extent, self._extent, (n, self._k))

    def _natural(self, y: np.ndarray, tau: float, want_score: bool) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        logp, grad = _cube_natural(y, tau, self._extent, want_score)
        return logp.sum(axis=1), grad


# ============================================================================ Swiss roll
def _gauss_legendre(edges: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of composite Gauss-Legendre quadrature on the panels between ``edges``."""
    x, w = np.polynomial.legendre.leggauss(_GL_NODES)
    half = 0.5 * (edges[1:] - edges[:-1])
    mid = 0.5 * (edges[1:] + edges[:-1])
    return (mid[:, None] + half[:, None] * x).ravel(), (half[:, None] * w).ravel()


def _spiral_edges(s0: float, s1: float, n_panels: int, depth: int) -> np.ndarray:
    """n_panels equal panels on [s0, s1], the two end ones split geometrically ``depth`` times.

    The end panels are cut at H 2^-depth, ..., H / 4, H / 2 from the end (H the panel width), so the
    exponential decay exp(-|phi'| (s - s0) / tau) at an end, whatever its rate, is resolved.
    """
    edges = np.linspace(s0, s1, n_panels + 1)
    if depth == 0:
        return edges
    width = (s1 - s0) / n_panels
    fractions = width * 2.0 ** -np.arange(depth, 0, -1)  # H 2^-depth, ..., H / 2
    return np.unique(np.concatenate([edges, s0 + fractions, s1 - fractions]))


class SwissRollLaw(_EmbeddedLaw):
    """Law of the Swiss roll of :func:`ledkde_fast.datasets.swiss_roll`, embedded, plus Gaussian noise.

    Natural coordinates ``(s cos(s) / s1, h, s sin(s) / s1)`` with ``s ~ U(s0, s1)`` (uniform in
    the parameter, not in arc length) and ``h ~ U(0, width)`` independent, ``s1 = s0 + 2 pi turns``.
    The height has a closed form; the spiral needs 1-D quadrature (module notes: method, accuracy
    and cost).

    Parameters
    ----------
    turns : float
        Number of turns of the spiral, > 0.
    width : float
        Height of the roll, > 0.
    noise : float
        Standard deviation of the isotropic Gaussian noise added in R^D, >= 0.
    basis : array_like, shape (3, D), optional
        Orthonormal rows embedding R^3 into R^D; None is the identity (D = 3).
    s0 : float
        Start of the spiral parameter, > 0 (the data sets use 1.5 pi).

    Raises
    ------
    TypeError
        If an argument is of the wrong kind.
    ValueError
        If turns, width or s0 <= 0, noise < 0, a value is not finite, or the basis is not (3, D)
        with orthonormal rows.

    Examples
    --------
    >>> import numpy as np
    >>> from ledkde_fast.truth import SwissRollLaw
    >>> law = SwissRollLaw()
    >>> x = law.sample(4, seed=0)
    >>> law.score(x, 1e-2).shape
    (4, 3)
    >>> bool(np.allclose(law.denoiser(x, 1e-2), x + 1e-2 * law.score(x, 1e-2)))
    True
    """

    name = "swiss_roll"

    def __init__(self, turns: float = 1.5, width: float = 1.0, *, noise: float = 0.0,
                 basis: Optional[ArrayLike] = None, s0: float = _SWISS_S0) -> None:
        self._turns = as_positive(turns, "turns")
        self._width = as_positive(width, "width")
        self._s0 = as_positive(s0, "s0")
        self._s1 = self._s0 + 2 * math.pi * self._turns
        super().__init__(3, basis, noise)
        s1 = self._s1
        self._vmax = math.sqrt(1 + s1 * s1) / s1  # |gamma'(s)| = sqrt(1 + s^2) / s1, increasing
        self._gmax = math.sqrt(4 + s1 * s1) / s1  # |gamma''(s)| = sqrt(4 + s^2) / s1, increasing

    @property
    def turns(self) -> float:
        """Number of turns of the spiral."""
        return self._turns

    @property
    def width(self) -> float:
        """Height of the roll."""
        return self._width

    def _describe(self) -> dict:
        return {"turns": self._turns, "width": self._width, "s0": self._s0, **super()._describe()}

    def _sample_natural(self, n: int, rng: np.random.Generator) -> np.ndarray:
        s = rng.uniform(self._s0, self._s1, n)  # the order of draws of datasets.swiss_roll
        h = rng.uniform(0.0, self._width, n)
        return np.column_stack([s * np.cos(s) / self._s1, h, s * np.sin(s) / self._s1])

    def _panels(self, qnorm: np.ndarray, tau: float) -> Tuple[np.ndarray, np.ndarray]:
        """Rung j of the panel-count ladder and depth of the end grading, for each query (module notes)."""
        spread = np.sqrt(self._vmax**2 + (qnorm + 1.0) * self._gmax)
        width = np.minimum(_PANEL_MAX, _PANEL_SIGMAS * math.sqrt(tau) / spread)
        need = (self._s1 - self._s0) / width
        rung = np.maximum(np.ceil(_LADDER_STEPS * np.log2(np.maximum(need, _LADDER_MIN) / _LADDER_MIN) - 1e-9), 0)
        panel = (self._s1 - self._s0) / np.ceil(_LADDER_MIN * 2.0 ** (rung / _LADDER_STEPS))
        # at an end the integrand decays at a rate |phi'| / tau <= (|q| + 1) vmax / tau: the smallest
        # graded panel is _END_RATE such decay lengths wide
        smallest = _END_RATE * tau / ((qnorm + 1.0) * self._vmax)
        depth = np.maximum(np.ceil(np.log2(panel / smallest) - 1e-9), 0)
        return rung.astype(np.int64), depth.astype(np.int64)

    def _spiral(self, qx: np.ndarray, qz: np.ndarray, tau: float, rung: int, depth: int, want_score: bool
                ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """Log of (1/(s1-s0)) int N(q; gamma(s), tau I_2) ds, and its gradient, on one set of nodes."""
        n_panels = math.ceil(_LADDER_MIN * 2.0 ** (rung / _LADDER_STEPS))
        s, w = _gauss_legendre(_spiral_edges(self._s0, self._s1, n_panels, depth))
        gx, gz = s * np.cos(s) / self._s1, s * np.sin(s) / self._s1
        logw = np.log(w) - math.log(self._s1 - self._s0)
        m, n_nodes = len(qx), len(s)
        node_block = min(n_nodes, BLOCK_ELEMENTS)
        rows = max(1, BLOCK_ELEMENTS // node_block)
        logp = np.empty(m)
        grad = np.empty((m, 2)) if want_score else None
        for r0 in range(0, m, rows):
            part = slice(r0, r0 + rows)
            px, pz = qx[part, None], qz[part, None]
            mx, sm = np.full(len(px), -np.inf), np.zeros(len(px))
            acc = np.zeros((len(px), 2))
            for c0 in range(0, n_nodes, node_block):
                cols = slice(c0, c0 + node_block)
                dx, dz = gx[cols] - px, gz[cols] - pz
                logit = logw[cols] - (dx * dx + dz * dz) / (2 * tau)
                bmax = logit.max(axis=1)
                e = np.exp(logit - bmax[:, None])
                bacc = np.column_stack([np.einsum("ij,ij->i", e, dx), np.einsum("ij,ij->i", e, dz)]) if want_score \
                    else np.zeros((len(px), 2))
                mx, sm, merged = merge_lse(mx, sm, bmax, e.sum(axis=1), acc, bacc)
                assert merged is not None
                acc = merged
            logp[part] = mx + np.log(sm) - (_LOG_2PI + math.log(tau))
            if grad is not None:
                grad[part] = acc / (sm[:, None] * tau)  # posterior mean of (gamma(s) - q) / tau
        return logp, grad

    def _natural(self, y: np.ndarray, tau: float, want_score: bool) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        half = 0.5 * self._width
        logh, gradh = _cube_natural(y[:, 1] - half, tau, half, want_score)
        qx, qz = y[:, 0], y[:, 2]
        rungs, depths = self._panels(np.hypot(qx, qz), tau)
        logp = np.empty(len(y))
        grad = np.empty_like(y) if want_score else None
        for rung, depth in sorted(set(zip(rungs.tolist(), depths.tolist()))):
            idx = np.flatnonzero((rungs == rung) & (depths == depth))
            lp, gp = self._spiral(qx[idx], qz[idx], tau, rung, depth, want_score)
            logp[idx] = lp
            if grad is not None:
                assert gp is not None
                grad[idx, 0], grad[idx, 2] = gp[:, 0], gp[:, 1]
        if grad is not None:
            assert gradh is not None
            grad[:, 1] = gradh
        return logp + logh, grad


# ============================================================================ mixture
class GaussianMixtureLaw(PopulationLaw):
    """The isotropic Gaussian mixture ``sum_j w_j N(means[j], stds[j]^2 I_d)``.

    The law of :func:`ledkde_fast.datasets.gaussian_mixture`; diffused, it is the mixture with
    variances ``stds^2 + t`` (a log-sum-exp over components). It has no noise or embedding.

    Parameters
    ----------
    means : array_like, shape (K, d)
        Component means.
    stds : float or array_like, shape (K,)
        Component standard deviations, >= 0 (0 is an atom).
    weights : array_like, shape (K,), optional
        Non-negative, not all zero; normalised. None means equal weights.

    Raises
    ------
    TypeError
        If an argument is not real.
    ValueError
        If ``means`` is not a non-empty finite 2-D array, ``stds`` or ``weights`` have the wrong shape,
        are negative or not finite, or the weights are all zero.

    Examples
    --------
    >>> import numpy as np
    >>> from ledkde_fast.truth import GaussianMixtureLaw
    >>> law = GaussianMixtureLaw([[-1.0], [1.0]], stds=0.0)
    >>> np.round(law.denoiser([[0.0], [5.0]], 0.01), 6)  # symmetric at 0; the nearest atom far out
    array([[0.],
           [1.]])
    """

    name = "gaussian_mixture"

    def __init__(self, means: ArrayLike, stds: ArrayLike = 1.0, weights: Optional[ArrayLike] = None) -> None:
        mu = as_real_values(means, "means")
        if mu.ndim != 2 or mu.shape[0] == 0 or mu.shape[1] == 0:
            raise ValueError(f"means must be a non-empty 2-D array (K, d), got shape {mu.shape}")
        k = mu.shape[0]
        sd = as_nonnegative_values(stds, "stds")
        if sd.ndim == 0:
            sd = np.full(k, float(sd))
        if sd.shape != (k,):
            raise ValueError(f"stds must be a scalar or have shape ({k},), got {sd.shape}")
        if weights is None:
            w = np.full(k, 1.0 / k)
        else:
            w = as_nonnegative_values(weights, "weights")
            if w.ndim == 0:
                w = np.full(k, float(w))
            if w.shape != (k,):
                raise ValueError(f"weights must be a scalar or have shape ({k},), got {w.shape}")
            if w.sum() <= 0:
                raise ValueError("weights must not be all zero")
            w = w / w.sum()
        for arr in (mu, sd, w):
            arr.flags.writeable = False
        self._means, self._stds, self._weights = mu, sd, w
        keep = w > 0  # a zero weight drops a component exactly
        self._active = (mu[keep], sd[keep], np.log(w[keep]))
        super().__init__(int(mu.shape[1]), 0.0)

    @property
    def means(self) -> np.ndarray:
        """Component means, (K, d) (read-only)."""
        return self._means

    @property
    def stds(self) -> np.ndarray:
        """Component standard deviations, (K,) (read-only)."""
        return self._stds

    @property
    def weights(self) -> np.ndarray:
        """Normalised component weights, (K,) (read-only)."""
        return self._weights

    def _describe(self) -> dict:
        return {"components": len(self._weights), "ambient_dim": self._ambient_dim}

    def _sample_clean(self, n: int, rng: np.random.Generator) -> np.ndarray:
        labels = rng.choice(len(self._weights), size=n, p=self._weights)
        return self._means[labels] + self._stds[labels, None] * rng.standard_normal((n, self._ambient_dim))

    def _evaluate(self, x: np.ndarray, tau: float, want_score: bool) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        mu, sd, logw = self._active
        var = sd * sd + tau
        k, d = mu.shape
        rows = max(1, BLOCK_ELEMENTS // (k * d))
        logp = np.empty(len(x))
        grad = np.empty_like(x) if want_score else None
        for r0 in range(0, len(x), rows):
            part = slice(r0, r0 + rows)
            diff = mu[None, :, :] - x[part, None, :]  # (rows, K, d)
            logit = logw - 0.5 * d * (_LOG_2PI + np.log(var)) - np.einsum("ijk,ijk->ij", diff, diff) / (2 * var)
            top = logit.max(axis=1)
            e = np.exp(logit - top[:, None])
            total = e.sum(axis=1)
            logp[part] = top + np.log(total)
            if grad is not None:
                grad[part] = np.einsum("ij,ijk->ik", e / var, diff) / total[:, None]
        return logp, grad


# ============================================================================ from a data set
_FAMILIES = ("circle", "sphere", "subspace", "swiss_roll", "gaussian_mixture")


def law_of(dataset: Dataset) -> PopulationLaw:
    """The population law of a synthetic data set (what ``Dataset.truth`` returns).

    Parameters
    ----------
    dataset : Dataset
        A data set made by :func:`~ledkde_fast.datasets.circle`, :func:`~ledkde_fast.datasets.sphere`,
        :func:`~ledkde_fast.datasets.subspace`, :func:`~ledkde_fast.datasets.swiss_roll` or
        :func:`~ledkde_fast.datasets.gaussian_mixture` (or one with the same name, parameters and
        basis).

    Returns
    -------
    PopulationLaw
        A :class:`SphereLaw` (circle: k = 1), :class:`SubspaceLaw`, :class:`SwissRollLaw` or
        :class:`GaussianMixtureLaw` with the data set's parameters, basis and noise.

    Raises
    ------
    TypeError
        If ``dataset`` is not a data set.
    ValueError
        If the data set has no known population law (MNIST, or another name), or lacks the
        parameters or basis of its family.

    Examples
    --------
    >>> from ledkde_fast.datasets import circle
    >>> from ledkde_fast.truth import law_of
    >>> law_of(circle(10, radius=2.0, noise=0.1, ambient_dim=3, seed=0))
    SphereLaw(k=1, radius=2.0, ambient_dim=3, noise=0.1)
    """
    name = getattr(dataset, "name", None)
    params = getattr(dataset, "params", None)
    if not isinstance(name, str) or params is None or not hasattr(dataset, "basis"):
        raise TypeError(f"dataset must be a ledkde_fast.datasets.Dataset, got {type(dataset).__name__}")
    if name not in _FAMILIES:
        raise ValueError(f"dataset {name!r} has no known population law: only the synthetic data sets "
                         f"({', '.join(_FAMILIES)}) have one")

    def param(key: str) -> Any:
        if key not in params:
            raise ValueError(f"dataset {name!r} lacks the parameter {key!r} of its population law")
        return params[key]

    if name == "gaussian_mixture":
        return GaussianMixtureLaw(param("means"), param("stds"), param("weights"))
    basis = dataset.basis
    if basis is None:
        raise ValueError(f"dataset {name!r} has no basis: its population law needs the embedding")
    noise = params.get("noise", 0.0)
    if name == "circle":
        return SphereLaw(1, param("radius"), noise=noise, basis=basis)
    if name == "sphere":
        return SphereLaw(param("k"), param("radius"), noise=noise, basis=basis)
    if name == "subspace":
        return SubspaceLaw(param("k"), param("extent"), noise=noise, basis=basis)
    law = SwissRollLaw(param("turns"), param("width"), noise=noise, basis=basis, s0=params.get("s0", _SWISS_S0))
    if "s1" in params and not math.isclose(params["s1"], law._s1, rel_tol=1e-12):
        raise ValueError(f"dataset 'swiss_roll' has s1={params['s1']} but s0 + 2 pi turns = {law._s1}")
    return law
