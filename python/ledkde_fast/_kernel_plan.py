"""Kernel draws for the smoothed estimators: what a kernel needs from the data (computed once per
call, or once per sampler run) and the draws of one call (docs/design.rst, "The double-KDE
factorisation").

Every construction of the standardised draws z (n x r) below gives rows that are each exactly
N(0, I_r), whatever their dependence on one another, so every estimator that averages a function of
single draws stays unbiased:

* ``"iid"``: independent rows;
* ``"orthogonal"``: blocks of r orthogonal directions (a Haar-random orthogonal matrix: Gram-Schmidt
  on Gaussian rows, i.e. QR with a positive diagonal), each row keeping the length of its Gaussian
  row, an independent chi_r radius; a uniform direction times an independent chi_r length is
  N(0, I_r);
* ``"qmc"``: a scrambled Sobol sequence (scipy; linear matrix scrambling and a random digital shift,
  so each point is uniform on the 2^-30 grid), dithered below the grid to be exactly U(0, 1)^r and
  mapped through the Gaussian quantile.

``antithetic`` appends the mirror image -z of the first half (n even), which makes the mean exactly
zero and cancels the odd part of the integrand. ``"auto"`` (the default) is ``"orthogonal"`` for
draws of at most :data:`ORTHOGONAL_MAX_DIM` dimensions, where it won in every setting measured with
time accounted, and ``"iid"`` above (at 784 dimensions the QR factorisations of the blocks cost
about as much as the variance they save, and save nothing with fewer draws than dimensions):
benchmarks/draw_variance.py, docs/user_guide.rst "Choosing the number of draws".
"""

from __future__ import annotations

import importlib
import inspect
import warnings
from dataclasses import dataclass
from typing import Any, Literal, Optional

import numpy as np

from ._backends import normal_generator, orthogonaliser
from .kernels import Gaussian, Kernel

#: The constructions of the standardised kernel draws (the ``draws=`` argument).
DrawMethod = Literal["auto", "iid", "orthogonal", "qmc"]
DRAW_METHODS: tuple[str, ...] = ("auto", "iid", "orthogonal", "qmc")
#: The default construction.
DEFAULT_DRAWS = "auto"
#: ``"auto"`` draws orthogonal blocks up to this many dimensions, i.i.d. rows above.
ORTHOGONAL_MAX_DIM = 256
#: Resolution of scipy's Sobol points (they are multiples of 2^-SOBOL_BITS) and its largest dimension.
SOBOL_BITS = 30
SOBOL_MAX_DIM = 21201


def iid_normal(rng: np.random.Generator, m: int, n: int, r: int) -> np.ndarray:
    """Independent N(0, 1) entries, shape (m, n, r): from the compiled core's generator (a ziggurat on
    a xoshiro256++ stream seeded from ``rng``; 3x NumPy's speed at the shapes of many draws) when the
    core is installed, else from ``rng`` itself. Either is exactly N(0, 1) to double rounding; the
    numbers a seed gives depend on which one the installation has.
    """
    generate = normal_generator()
    if generate is None or m * n * r == 0:
        return rng.standard_normal((m, n, r))
    seed = int(rng.integers(0, 2**63))
    return generate(seed, m * n, r).reshape(m, n, r)


def orthogonal_normal(rng: np.random.Generator, m: int, n: int, r: int) -> np.ndarray:
    """For each of ``m`` sets, n rows of length r in blocks of r mutually orthogonal rows.

    Gaussian rows, each block of r of them (the last one shorter when r does not divide n) made
    orthogonal by Gram-Schmidt in row order, every row keeping its own length. Gram-Schmidt gives the
    directions of a Haar-random orthogonal matrix (QR with a positive diagonal), and the direction of
    row k depends only on the directions of rows 1..k, which are independent of the lengths: every
    row is a uniform direction times an independent chi_r length, that is exactly N(0, I_r).
    """
    z = iid_normal(rng, m, n, r)
    if z.size:
        _orthogonalise(z)
    return z


def _orthogonalise(z: np.ndarray) -> None:
    """In place on (m, n, r): each block of r consecutive rows of each set (see :func:`orthogonal_normal`)."""
    m, n, r = z.shape
    core = orthogonaliser()
    qfac: np.ndarray
    if core is not None and n % r == 0:  # blocks never straddle two sets: one call over all of them
        core(z.reshape(m * n, r))
        return
    if core is not None:
        for s_ in range(m):
            core(z[s_])
        return
    full, rest = divmod(n, r)  # NumPy: batched QR of the blocks, signs of R's diagonal moved into Q
    for start, count, width in ((0, full, r), (full * r, 1 if rest else 0, rest)):
        if count == 0:
            continue
        blocks = z[:, start:start + count * width].reshape(m * count, width, r)
        lengths = np.linalg.norm(blocks, axis=2)
        qfac, rr = np.linalg.qr(np.swapaxes(blocks, 1, 2))
        signs = np.sign(np.diagonal(rr, axis1=1, axis2=2))
        qfac = qfac * np.where(signs == 0, 1.0, signs)[:, None, :]
        z[:, start:start + count * width] = (np.swapaxes(qfac, 1, 2) * lengths[:, :, None]).reshape(m, count * width, r)


def sobol_normal(rng: np.random.Generator, m: int, n: int, r: int) -> np.ndarray:
    """For each of ``m`` sets, the first n points of an independently scrambled Sobol sequence in r
    dimensions mapped through the Gaussian quantile (randomised quasi-Monte Carlo).

    Raises
    ------
    ImportError
        Without scipy (an optional dependency: ``pip install scipy``).
    ValueError
        Above scipy's 21201 Sobol dimensions.
    """
    try:  # scipy is optional (the ``analysis`` extra): imported on first use
        ndtri = importlib.import_module("scipy.special").ndtri
        qmc = importlib.import_module("scipy.stats.qmc")
    except ImportError:  # pragma: no cover - depends on the installation
        raise ImportError("draws='qmc' needs scipy: pip install scipy (draws='iid' and 'orthogonal' do not)") from None
    if r > SOBOL_MAX_DIM:
        raise ValueError(f"draws='qmc' supports at most {SOBOL_MAX_DIM} dimensions (scipy's Sobol), got {r}")
    out = np.empty((m, n, r))
    if n * r == 0:
        return out
    # scipy >= 1.15 names the generator ``rng``; older versions ``seed``
    key = "rng" if "rng" in inspect.signature(qmc.Sobol).parameters else "seed"
    for q in range(m):
        engine = qmc.Sobol(r, scramble=True, **{key: rng})
        with warnings.catch_warnings():
            # n need not be a power of 2: each point is still exactly uniform, which is all unbiasedness needs
            warnings.simplefilter("ignore", UserWarning)
            u = engine.random(n)
        # the points are multiples of 2^-30, each uniform on that grid: a uniform dither below the grid
        # makes every coordinate exactly U(0, 1) and never 0 or 1 (finite quantiles)
        u += rng.random(u.shape) * 2.0**-SOBOL_BITS
        out[q] = ndtri(u)
    return out


_GENERATORS = {"iid": iid_normal, "orthogonal": orthogonal_normal, "qmc": sobol_normal}


def resolve_method(method: str, r: int) -> str:
    """The construction ``method`` stands for with draws of r dimensions (``"auto"`` resolved)."""
    if method != "auto":
        return method
    return "orthogonal" if r <= ORTHOGONAL_MAX_DIM else "iid"


def standard_draws(rng: np.random.Generator, m: int, n: int, r: int, antithetic: bool,
                   method: str = DEFAULT_DRAWS) -> np.ndarray:
    """``m`` independent sets of n standardised draws z of length r, shape (m, n, r): every row is
    exactly N(0, I_r). With ``antithetic`` the second half of each set mirrors the first (n even).
    """
    if not antithetic:
        return _GENERATORS[resolve_method(method, r)](rng, m, n, r)
    half = first_half(rng, m, n, r, method)
    out = np.empty((m, 2 * half.shape[1], r))
    out[:, :half.shape[1]] = half
    return _mirror(out)


def first_half(rng: np.random.Generator, m: int, n: int, r: int, method: str = DEFAULT_DRAWS) -> np.ndarray:
    """The first n // 2 rows of each set of antithetic :func:`standard_draws`, from the same calls to
    ``rng``, shape (m, n // 2, r): the other half is their negation.
    """
    return _GENERATORS[resolve_method(method, r)](rng, m, n // 2, r)


def _mirror(rows: np.ndarray) -> np.ndarray:
    """``rows`` (..., 2k, r) with its last k rows set to the negations of its first k; returned."""
    k = rows.shape[-2] // 2
    np.negative(rows[..., :k, :], out=rows[..., k:, :])
    return rows


def standard_normal(rng: np.random.Generator, n: int, r: int, antithetic: bool,
                    method: str = DEFAULT_DRAWS) -> np.ndarray:
    """N standardised rows of length r (one set of :func:`standard_draws`)."""
    return standard_draws(rng, 1, n, r, antithetic, method)[0]


@dataclass(frozen=True)
class KernelDraw:
    """Standardised draws z (n x r) with a factor F (d x r): Y = h z F^T + offset; or explicit samples Y.

    ``second_moment`` is the exact E|Y|^2 (the control variate); ``mean`` is the sample mean of Y,
    exactly zero for antithetic draws. ``offset`` (d,) is, for an isotropic Gaussian drawn in the
    span of the data (F = V), the mean of the draws' component orthogonal to that span (see
    :meth:`KernelPlan.build`); None when it is zero. ``mirrored`` (antithetic draws): z holds the
    first half of the draws, the second half is -z (never stored: its logits are the negated first
    half's, see :meth:`ledkde_fast._data.InMemoryData.double_kde`).
    """

    h: float
    z: Optional[np.ndarray]
    factor: Optional[np.ndarray]
    explicit: Optional[np.ndarray]
    second_moment: float
    mean: np.ndarray
    offset: Optional[np.ndarray] = None
    mirrored: bool = False

    @property
    def n(self) -> int:
        rows = self.explicit if self.explicit is not None else self.z
        assert rows is not None
        return int(rows.shape[0]) * (2 if self.mirrored else 1)

    def samples(self) -> np.ndarray:
        """The draws Y (n x d), or draws equivalent to them for every estimate (see ``offset``)."""
        if self.explicit is not None:
            return self.explicit
        assert self.z is not None and self.factor is not None
        y = np.empty((self.n, self.factor.shape[0]))
        rows = y[:self.z.shape[0]]
        np.matmul(self.z, self.factor.T, out=rows)
        rows *= self.h
        if self.mirrored:
            _mirror(y)
        return y if self.offset is None else y + self.offset

    def logit_directions(self, dtype: Any = np.float64) -> np.ndarray:
        """The draws in the coordinates of ``KernelPlan.basis``: C = -(directions . basis^T) / t.

        ``dtype`` is the compute dtype: h z is formed in it in one pass (the product with the basis
        is taken in that dtype anyway).
        """
        if self.explicit is not None:
            return self.explicit
        assert self.z is not None
        out = np.empty((self.n, self.z.shape[1]), dtype=dtype)
        with np.errstate(over="ignore"):  # beyond float32: inf, refused by the logit-range check
            np.multiply(self.z, self.h, out=out[:self.z.shape[0]], casting="same_kind")
        return _mirror(out) if self.mirrored else out


@dataclass(frozen=True)
class Reduction:
    """The span of the centred data for the brute-force estimator: orthonormal columns V (d x k),
    the points' coordinates ``basis`` = (x_i - mu) V (N x k, compute dtype) and their log weights.
    """

    span: np.ndarray
    basis: np.ndarray
    log_weights: Optional[np.ndarray]


@dataclass(frozen=True)
class FreshDraws:
    """Independent draws for each of m queries (the brute-force estimator).

    ``y`` (m, n, k): the draws' coordinates V^T Y_j on the orthonormal columns of ``span`` (d x k),
    or, when ``span`` is None, the draws Y_j themselves (k = d). ``mean`` (m, d): each query's mean
    draw Ybar, in all d coordinates. Every estimate depends on the draws only through these
    (``_estimate.by_fresh_draws``). ``second_moment`` (m,): each query's E|Y|^2 where the kernel's law
    depends on the query (:class:`ledkde_fast.kernels.Local`); None when the plan's one value holds.
    """

    y: np.ndarray
    mean: np.ndarray
    span: Optional[np.ndarray]
    second_moment: Optional[np.ndarray] = None

    def samples(self) -> np.ndarray:
        """Explicit draws (m, n, d) with the same coordinates and means: V y_j + Q Ybar, Q = I - V V^T."""
        if self.span is None:
            return self.y
        v = self.span
        orth_mean = self.mean - (self.mean @ v) @ v.T
        return np.asarray(self.y @ v.T + orth_mean[:, None, :])


@dataclass(frozen=True)
class KernelPlan:
    """What a kernel needs from the data, computed once (a sampler reuses it at every step): the
    factor F (d x r) of the standardised draw S = F z (None for explicit samples), the data centre
    mu, and, where the source keeps it, ``basis`` = (x_i - mu) F (N x r, compute dtype), so that
    C = -(h/t) z basis^T.

    ``method`` is the construction of z (:data:`DRAW_METHODS`, ``"auto"`` resolved). ``in_span``: F is an orthonormal
    basis V of the span of the centred data standing in for an isotropic Gaussian's identity (see
    :meth:`build`). ``reduction``: that span, for the brute-force estimator (``shared=False``).
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
    method: str = DEFAULT_DRAWS
    in_span: bool = False
    reduction: Optional[Reduction] = None
    #: the data as a local kernel sees it (``_local.LocalGeometry`` in memory, ``_local.ShardedGeometry`` on row
    #: shards); None for the global kernels
    local: Any = None

    @classmethod
    def build(cls, kern: Kernel, source: Any, n_kernel: int, antithetic: bool, shared: bool = True,
              method: str = DEFAULT_DRAWS) -> KernelPlan:
        """The plan of a kernel on a data source; ``shared=False`` (fresh draws per query) needs the
        factor and, when the source offers the span of its centred points, that span.

        Why the span is enough. Write V (d x k) for an orthonormal basis of the span of the centred
        points x_i - mu, P = V V^T and Q = I - P. For a query x and a draw Y,
        |x - Y - x_i|^2 = |(x - mu - Y) - V b_i|^2 with b_i = V^T (x_i - mu), and the part of
        x - mu - Y outside the span adds |Q(x - mu - Y)|^2 to every i alike. Hence:

        * the softmax weights, so m_t(x - Y), depend on Y only through y = V^T Y;
        * LSE_i(x - Y) = LSE_i over the k-dimensional problem (a - y vs b_i, a = V^T (x - mu))
          minus |c - QY|^2 / 2t, with c = Q(x - mu);
        * averaged over the draws and with the control variate (mean |Y_j|^2 - E|Y|^2) / 2t,
          |Y_j|^2 = |y_j|^2 + |QY_j|^2 and the |QY_j|^2 cancel exactly:
          log p~(x) = mean_j LSE_k(a - y_j) - |c|^2/2t + c.Ybar/t + (mean_j |y_j|^2 - E|Y|^2)/2t;
        * the score needs Ybar = V ybar + Q Ybar.

        So every estimate is a function of (y_1..y_n, Ybar) alone, for any kernel: draws with the
        same law of those give outputs with the same law (the same outputs for the same values). For
        an isotropic Gaussian, V^T Y ~ N(0, h^2 I_k) independent of QY, and the orthogonal part
        enters only through its mean, Q Ybar ~ N(0, (h^2/n) Q) for independent draws: we draw y in k
        dimensions and, unless antithetic pairs make it exactly zero, Q Ybar directly, which leaves
        the law of every output unchanged. (Q Ybar is zero only on average: without antithetic
        pairs it must be drawn, not dropped.) Orthogonal and QMC draws are made in the span the same
        way; their orthogonal parts are taken independent (the mean drawn as above), so each draw is
        still exactly N(0, h^2 I_d) and the estimators unbiased.

        The shared estimator uses the span for the isotropic Gaussian (``factor`` = V, ``offset`` =
        Q Ybar): :meth:`KernelDraw.samples` returns V y_j + Q Ybar, equivalent by the above.
        """
        from ._data import InMemoryData  # _data imports the kernels, not this module: no cycle
        from ._shards import centred_basis

        mu = source.mean()
        basis = None
        reduction = None
        # an isotropic Gaussian drawn in the span (the fresh draws of ``reduction``: in memory only)
        # never forms its d x d identity factor; E|S|^2 = d all the same
        drawn_in_span = isinstance(kern, Gaussian) and (shared or isinstance(source, InMemoryData))
        span = source.span_factor() if drawn_in_span else None
        in_span = span is not None
        if in_span:
            factor, second = span, float(mu.shape[0])
        else:
            factor = source.kernel_factor(kern)
            second = kern.second_moment(factor)
            # the SVD behind the span is only worth it where it is used
            span = source.span_factor() if factor is not None and not shared else None
        if shared:
            basis = source.kernel_basis(mu, factor)
        elif span is not None and isinstance(source, InMemoryData):
            reduction = Reduction(span, centred_basis(source.data, mu, span), source.log_weights)
        basis_max = float(np.abs(basis).max(initial=0.0)) if basis is not None else 0.0
        method = resolve_method(method, 0 if factor is None else factor.shape[1])
        return cls(kern, factor, second, mu, basis, n_kernel, antithetic, basis_max, method, in_span, reduction)

    def _orthogonal_mean(self, h: float, rng: np.random.Generator, m: int) -> Optional[np.ndarray]:
        """Q Ybar (m x d) of draws made in the span (``in_span``): N(0, (h^2/n) Q) for independent
        orthogonal parts, None (exactly zero) for antithetic pairs.
        """
        if not self.in_span or self.antithetic:
            return None
        assert self.factor is not None
        g = rng.standard_normal((m, self.mu.shape[0]))
        return np.asarray(h / np.sqrt(self.n_kernel) * (g - (g @ self.factor) @ self.factor.T))

    def draw(self, h: float, rng: np.random.Generator) -> KernelDraw:
        """The draws of one call, shared by all its queries."""
        if self.factor is None:  # explicit samples, used as given
            y = h * self.kernel.samples  # type: ignore[attr-defined]
            return KernelDraw(h, None, None, y, h * h * self.second_std, y.mean(axis=0))
        r = self.factor.shape[1]
        if self.antithetic:  # the first half only: the draws' second half is -z
            z = first_half(rng, 1, self.n_kernel, r, self.method)[0]
        else:
            z = standard_normal(rng, self.n_kernel, r, False, self.method)
        offset = self._orthogonal_mean(h, rng, 1)
        if self.antithetic:
            mean = np.zeros(self.mu.shape[0])
        else:
            mean = h * (z.mean(axis=0) @ self.factor.T)
            if offset is not None:
                mean = mean + offset[0]
        return KernelDraw(h, z, self.factor, None, h * h * self.second_std, mean,
                          None if offset is None else offset[0], mirrored=self.antithetic)

    def fresh(self, h: float, rng: np.random.Generator, m: int) -> FreshDraws:
        """Independent draws for each of ``m`` queries, in the span of the data where the plan has
        it (see :meth:`build`); no product with an identity factor.
        """
        assert self.factor is not None, "explicit kernel samples cannot be redrawn"
        z = standard_draws(rng, m, self.n_kernel, self.factor.shape[1], self.antithetic, self.method)
        d = self.mu.shape[0]
        span = None if self.reduction is None else self.reduction.span
        identity = isinstance(self.kernel, Gaussian)  # the factor is I_d, or V when in_span
        if self.in_span:  # z are already the coordinates on V
            y = h * z
        elif span is not None:  # coordinates on V of Y = h F z, by the k-column product F^T V
            y = h * (z @ (self.factor.T @ span))
        else:
            y = h * z if identity else h * (z @ self.factor.T)
        if self.antithetic:
            mean = np.zeros((m, d))
        elif span is None:
            mean = y.mean(axis=1)
        else:
            zbar = z.mean(axis=1)
            mean = h * (zbar @ self.factor.T)
            offset = self._orthogonal_mean(h, rng, m)
            if offset is not None:
                mean += offset
        return FreshDraws(y, mean, span)

    def fresh_draws(self, h: float, rng: np.random.Generator, m: int) -> np.ndarray:
        """Explicit independent draws for each of ``m`` queries, shape (m, n_kernel, d): those of
        :meth:`fresh` for the same generator state (see :meth:`FreshDraws.samples`).
        """
        return self.fresh(h, rng, m).samples()
