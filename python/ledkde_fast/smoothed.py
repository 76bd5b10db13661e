"""The kernel-smoothed score and the LED-KDE (DESIGN.md 1 and 2.2).

For a smoothing kernel K (the law of Y = h S, see :mod:`ledkde_fast.kernels`) and kernel draws
Y_1..Y_n, the estimators are

    smoothed denoiser   m~(x)   = (1/n) sum_j m_t(x - Y_j)
    smoothed score      s~(x)   = (1/n) sum_j s_t(x - Y_j)  = (m~(x) - x + Ybar) / t
    LED-KDE             log p~(x) = (1/n) sum_j log p_t(x - Y_j) + ((1/n) sum_j |Y_j|^2 - E|Y|^2) / (2t)

The last term is a control variate: it replaces the sampled second moment of the kernel by its exact
value, so ``smoothed_score`` is exactly the gradient in x of ``led_kde_log_density`` for the same
draws (Ybar = 0 with antithetic draws, the default).

By default the draws are shared by all queries of a call (common random numbers: each query's
estimate is still unbiased). Then the perturbation enters the logits only through
C_ji = -(Y_j . (x_i - mu)) / t, computed once by one GEMM, and the per-query work is one pass of exp
over the data per draw, with no factor d. ``independent=True`` draws fresh samples for every query and
evaluates the empirical quantities at every x - Y_j (the brute-force estimator).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ._backends import get_backend, resolve_name
from ._streaming import log_normaliser, lse_state
from ._validation import Problem, prepare, prepare_sharded
from .kernels import PCA, Gaussian, Kernel, Samples, as_kernel, principal_directions

__all__ = ["smoothed_denoiser", "smoothed_score", "led_kde_log_density"]

#: Memory budget, in bytes, for each of the (queries x N) weight accumulator and the (draws x N) C block.
CHUNK_BYTES = 64 << 20


# ----------------------------------------------------------------------------- argument checks
def as_bandwidth(bandwidth) -> float:
    if isinstance(bandwidth, (bool, np.bool_)) or not isinstance(bandwidth, numbers.Real):
        raise TypeError(f"bandwidth must be a real scalar, got {type(bandwidth).__name__}")
    h = float(bandwidth)
    if not np.isfinite(h) or h < 0:
        raise ValueError(f"bandwidth must be finite and >= 0, got {bandwidth}")
    return h


def as_n_kernel(n_kernel, antithetic: bool) -> int:
    if isinstance(n_kernel, (bool, np.bool_)) or not isinstance(n_kernel, numbers.Integral):
        raise TypeError(f"n_kernel must be an int, got {type(n_kernel).__name__}")
    if n_kernel < 1:
        raise ValueError(f"n_kernel must be >= 1, got {n_kernel}")
    if antithetic and n_kernel % 2:
        raise ValueError(f"n_kernel must be even when antithetic=True (pairs Y, -Y), got {n_kernel}")
    return int(n_kernel)


def as_generator(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (numbers.Integral, np.random.SeedSequence)) and not isinstance(seed, bool):
        return np.random.default_rng(seed)
    raise TypeError(f"seed must be None, an int or a numpy.random.Generator, got {type(seed).__name__}")


# ----------------------------------------------------------------------------- kernel draws
@dataclass(frozen=True)
class KernelDraw:
    """Standardised draws z (n x r) with a factor F (d x r): Y = h z F^T; or explicit samples Y.

    ``second_moment`` is the exact E|Y|^2 (the control variate); ``mean`` is the sample mean of Y,
    exactly zero for antithetic draws."""

    h: float
    z: Optional[np.ndarray]
    factor: Optional[np.ndarray]
    explicit: Optional[np.ndarray]
    second_moment: float
    mean: np.ndarray

    @property
    def n(self) -> int:
        return self.explicit.shape[0] if self.z is None else self.z.shape[0]

    def samples(self, rows=slice(None)) -> np.ndarray:
        return self.explicit[rows] if self.z is None else self.h * (self.z[rows] @ self.factor.T)

    def logit_directions(self, rows) -> np.ndarray:
        """The rows of the draws in the coordinates of ``KernelPlan.basis``."""
        return self.explicit[rows] if self.z is None else self.h * self.z[rows]


def _standard_normal(rng, n: int, r: int, antithetic: bool) -> np.ndarray:
    if not antithetic:
        return rng.standard_normal((n, r))
    half = rng.standard_normal((n // 2, r))
    return np.concatenate([half, -half])


@dataclass(frozen=True)
class KernelPlan:
    """What a kernel needs from the data, computed once (a sampler reuses it at every step):
    the factor F (d x r) of the standardised draw S = F z, the data centre mu, and
    ``basis`` = (x_i - mu) F (N x r, compute dtype), so that C = -(h/t) z basis^T. For explicit
    samples F is the identity and basis the centred data."""

    kernel: Kernel
    factor: Optional[np.ndarray]
    second_std: float
    mu: np.ndarray
    basis: np.ndarray
    n_kernel: int
    antithetic: bool

    @classmethod
    def build(cls, kern: Kernel, p: Problem, n_kernel: int, antithetic: bool) -> "KernelPlan":
        data = p.data.astype(np.float64, copy=False)
        n, d = data.shape
        mu = data.mean(axis=0)
        factor = kern.factor(data, p.log_weights)
        second = kern.second_moment(factor)
        if isinstance(kern, Gaussian) and antithetic and n < d:
            # The softmax weights see Y only through Y . (x_i - mu): the component of Y orthogonal to
            # the span of the centred data cancels. So draw the isotropic Gaussian in that span (at most
            # N dimensions instead of d); with antithetic pairs Ybar = 0 either way, and the control
            # variate keeps the exact E|Y|^2 = d h^2.
            _, sv, vt = np.linalg.svd(data - mu, full_matrices=False)
            keep = sv > sv.max() * max(n, d) * np.finfo(np.float64).eps if sv.size and sv.max() > 0 else sv > 0
            factor = np.ascontiguousarray(vt[keep].T) if keep.any() else np.zeros((d, 1))
        basis = (data - mu) if factor is None else (data - mu) @ factor
        return cls(kern, factor, second, mu, np.ascontiguousarray(basis, dtype=p.dtype), n_kernel, antithetic)

    def draw(self, h: float, rng) -> KernelDraw:
        d = self.mu.shape[0]
        if self.factor is None:  # explicit samples, used as given
            y = h * self.kernel.samples
            return KernelDraw(h, None, None, y, h * h * self.second_std, y.mean(axis=0))
        z = _standard_normal(rng, self.n_kernel, self.factor.shape[1], self.antithetic)
        mean = np.zeros(d) if self.antithetic else h * (z.mean(axis=0) @ self.factor.T)
        return KernelDraw(h, z, self.factor, None, h * h * self.second_std, mean)


def draw_kernel(kern: Kernel, p: Problem, h: float, n_kernel: int, antithetic: bool, rng) -> KernelDraw:
    return KernelPlan.build(kern, p, n_kernel, antithetic).draw(h, rng)


# ----------------------------------------------------------------------------- estimators
@dataclass(frozen=True)
class Smoothed:
    """Per-query estimates (float64): the smoothed denoiser, Ybar (the draws' mean for each query) and
    the LED-KDE log-density."""

    denoiser: Optional[np.ndarray]
    ybar: np.ndarray
    log_density: Optional[np.ndarray]


def _shared_fast(p: Problem, plan: KernelPlan, draw: KernelDraw, backend: str) -> Smoothed:
    """Shared draws on a fast backend: C once per call, then the fused exp loop."""
    be = get_backend(backend)
    data64 = p.data.astype(np.float64, copy=False)
    n, d = data64.shape
    dtype = p.dtype
    j_step = max(1, CHUNK_BYTES // (n * dtype.itemsize))
    q_step = max(1, CHUNK_BYTES // (n * 8))

    def c_block(rows):
        return draw_logits(draw.logit_directions(rows), plan.basis, p.t, backend, p.n_threads)

    m = p.x.shape[0]
    if backend == "cpp" and m * n * 8 > CHUNK_BYTES:
        return _shared_two_rounds(p, plan, draw, j_step)

    c_blocks = None
    if draw.n * n * dtype.itemsize <= 4 * CHUNK_BYTES:  # small enough to keep for every query chunk
        c_blocks = [c_block(slice(j, j + j_step)) for j in range(0, draw.n, j_step)]

    den = np.empty((m, d))
    zbar = np.empty(m)
    for q0 in range(0, m, q_step):
        xq = p.x[q0:q0 + q_step]
        wbar = np.zeros((xq.shape[0], n))
        zsum = np.zeros(xq.shape[0])
        blocks = c_blocks if c_blocks is not None else (c_block(slice(j, j + j_step)) for j in range(0, draw.n, j_step))
        for c in blocks:
            be.double_kde_accumulate(xq, p.data, p.log_weights, p.t, c, wbar, zsum, p.n_threads)
        den[q0:q0 + q_step] = _weights_times_data(wbar, data64, 1.0 / draw.n, backend, p.n_threads)
        zbar[q0:q0 + q_step] = zsum / draw.n
    x64 = p.x.astype(np.float64, copy=False)
    log_density = zbar + _dot_rows(x64 - plan.mu, draw.mean) / p.t - draw.second_moment / (2 * p.t) - log_normaliser(p)
    return Smoothed(den, np.broadcast_to(draw.mean, (m, d)), log_density)


def _dot_rows(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """a @ v without a BLAS call (whose threads would then spin on the cores of the next kernel)."""
    return np.einsum("ij,j->i", a, v)


def draw_logits(directions: np.ndarray, basis: np.ndarray, t: float, backend: str, n_threads: int) -> np.ndarray:
    """C = -(directions . basis^T) / t in the compute dtype of ``basis``. The C++ backend computes it
    in its own threads: a multithreaded BLAS call just before the double-KDE loop leaves its threads
    spinning on the cores the loop needs (the loop measured 20 % slower after one)."""
    if backend == "cpp":
        from . import _core

        z = np.ascontiguousarray(directions, dtype=basis.dtype)
        return _core.matmul_nt(z, basis, -1.0 / t, n_threads)
    return np.ascontiguousarray((directions * (-1.0 / t)).astype(basis.dtype) @ basis.T)


def _weights_times_data(wbar: np.ndarray, data64: np.ndarray, scale: float, backend: str, n_threads: int):
    """scale * wbar @ data in float64 (in the core's threads for the C++ backend, see draw_logits)."""
    if backend == "cpp":
        from . import _core

        return _core.matmul_nt(wbar, np.ascontiguousarray(data64.T), scale, n_threads)
    return (wbar @ data64) * scale


#: Data rows per slab of the two-round path: a query's logit row of a slab stays in cache.
SLAB_ROWS = 1 << 15


def _shared_two_rounds(p: Problem, plan: KernelPlan, draw: KernelDraw, j_step: int) -> Smoothed:
    """The same estimates without the (queries x N) weight accumulator, for large N: per block of
    draws and slab of data, round 1 gives each query's log-normalisers (merged over slabs), round 2
    the weighted sum (two exp passes instead of one, but O(m x draws) memory, every query tile in
    parallel, and logit rows that fit in cache)."""
    from . import _core

    m, d = p.x.shape
    n = p.data.shape[0]
    dtype = p.dtype
    slabs = [slice(a, min(n, a + SLAB_ROWS)) for a in range(0, n, SLAB_ROWS)]
    lw = p.log_weights
    acc = np.zeros((m, d))
    zsum = np.zeros(m)
    for j in range(0, draw.n, j_step):
        dirs = np.ascontiguousarray(draw.logit_directions(slice(j, j + j_step)), dtype=dtype)
        blocks = [draw_logits(dirs, plan.basis[sl], p.t, "cpp", p.n_threads) for sl in slabs] if len(slabs) > 1 else None

        def c_of(k, sl):
            return blocks[k] if blocks is not None else draw_logits(dirs, plan.basis[sl], p.t, "cpp", p.n_threads)

        mx = np.full((m, dirs.shape[0]), -np.inf)
        sm = np.zeros((m, dirs.shape[0]))
        for k, sl in enumerate(slabs):
            part = _core.dkde_normalisers(p.x, p.data[sl], None if lw is None else lw[sl], p.t, c_of(k, sl),
                                          p.n_threads)
            new = np.maximum(mx, part[0])
            with np.errstate(invalid="ignore"):
                sm = (np.where(np.isneginf(mx), 0.0, sm * np.exp(mx - new))
                      + np.where(np.isneginf(part[0]), 0.0, part[1] * np.exp(part[0] - new)))
            mx = new
        with np.errstate(divide="ignore"):
            log_norm = mx + np.log(sm)
        for k, sl in enumerate(slabs):
            acc += _core.dkde_weighted_sum(p.x, p.data[sl], None if lw is None else lw[sl], p.t, c_of(k, sl),
                                           log_norm, p.n_threads)
        zsum += log_norm.sum(axis=1)
    x64 = p.x.astype(np.float64, copy=False)
    log_density = (zsum / draw.n + _dot_rows(x64 - plan.mu, draw.mean) / p.t - draw.second_moment / (2 * p.t)
                   - log_normaliser(p))
    return Smoothed(acc / draw.n, np.broadcast_to(draw.mean, (m, d)), log_density)


def _by_definition(p: Problem, draws_for, second_moment: float, state_fn, log_norm: float, want_den: bool,
                   m_step: int) -> Smoothed:
    """Average the empirical quantities over x - Y_j, with Y_j = draws_for(rows) of shape
    (rows, n, d): the brute-force estimator (fresh draws per query) and the reference backend.
    ``state_fn(queries, want_acc)`` is the log-sum-exp state over the data; ``log_norm`` the
    normalising constant of log p_t."""
    m, d = p.x.shape
    x64 = p.x.astype(np.float64, copy=False)
    den = np.empty((m, d)) if want_den else None
    ybar = np.empty((m, d))
    log_density = np.empty(m)
    for q0 in range(0, m, m_step):
        rows = slice(q0, min(m, q0 + m_step))
        y = draws_for(rows)  # (mq, n, d)
        mq, n_draw, _ = y.shape
        shifted = np.ascontiguousarray((x64[rows, None, :] - y).reshape(mq * n_draw, d), dtype=p.dtype)
        state = state_fn(shifted, want_den)
        lse = state.log_sum_exp().reshape(mq, n_draw)
        if want_den:
            den[rows] = state.mean().reshape(mq, n_draw, d).mean(axis=1)
        ybar[rows] = y.mean(axis=1)
        sq = np.einsum("qnd,qnd->qn", y, y).mean(axis=1)
        log_density[rows] = lse.mean(axis=1) - log_norm + (sq - second_moment) / (2 * p.t)
    return Smoothed(den, ybar, log_density)


@dataclass(frozen=True)
class SmoothingSetup:
    """Validated smoothing arguments: the kernel, its plan on the data, draw count and options."""

    kernel: Kernel
    plan: Optional[KernelPlan]
    n_kernel: int
    antithetic: bool
    independent: bool
    backend: str


def prepare_smoothing(p: Problem, kernel, n_kernel, antithetic, independent, rank, backend) -> SmoothingSetup:
    kern = as_kernel(kernel, rank)
    if not isinstance(antithetic, (bool, np.bool_)):
        raise TypeError("antithetic must be a bool")
    if not isinstance(independent, (bool, np.bool_)):
        raise TypeError("independent must be a bool")
    n_kernel = as_n_kernel(n_kernel, bool(antithetic) and not isinstance(kern, Samples))
    if independent and isinstance(kern, Samples):
        raise ValueError("independent=True draws fresh samples per query; explicit kernel Samples cannot be redrawn")
    name = resolve_name(backend)
    plan = None if independent else KernelPlan.build(kern, p, n_kernel, bool(antithetic))
    return SmoothingSetup(kern, plan, n_kernel, bool(antithetic), bool(independent), name)


def estimate(p: Problem, setup: SmoothingSetup, h: float, rng, want_den: bool = True) -> Smoothed:
    """The smoothed estimates at the queries ``p.x`` with bandwidth h (0: exact, no sampling)."""
    m, d = p.x.shape

    def local_state(queries, want_acc):
        return lse_state(p, setup.backend, want_acc=want_acc, x=queries)

    if h == 0.0:
        state = lse_state(p, setup.backend, want_acc=want_den)
        den = state.mean() if want_den else None
        return Smoothed(den, np.zeros((m, d)), state.log_sum_exp() - log_normaliser(p))
    if m == 0:
        return Smoothed(np.zeros((0, d)), np.zeros((0, d)), np.zeros(0))
    if setup.independent:
        factor = setup.kernel.factor(p.data.astype(np.float64, copy=False), p.log_weights)

        def fresh(rows):
            mq = rows.stop - rows.start
            z = np.stack([_standard_normal(rng, setup.n_kernel, factor.shape[1], setup.antithetic)
                          for _ in range(mq)])
            return h * (z @ factor.T)

        m_step = max(1, CHUNK_BYTES // (8 * setup.n_kernel * d * 4))
        return _by_definition(p, fresh, h * h * setup.kernel.second_moment(factor), local_state, log_normaliser(p),
                              want_den, m_step)
    draw = setup.plan.draw(h, rng)
    if setup.backend == "reference":
        y = draw.samples()
        m_step = max(1, CHUNK_BYTES // (8 * y.size * 4))
        return _by_definition(p, lambda rows: np.broadcast_to(y, (rows.stop - rows.start,) + y.shape),
                              draw.second_moment, local_state, log_normaliser(p), want_den, m_step)
    return _shared_fast(p, setup.plan, draw, setup.backend)


def sharded_plan(data, kernel, n_kernel, antithetic, rank) -> KernelPlan:
    """The kernel plan of a ShardedData, from its aggregated moments (no data leaves the workers).
    The Gaussian kernel is drawn in all d dimensions here (no span reduction for N < d)."""
    kern = as_kernel(kernel, rank)
    if not isinstance(antithetic, (bool, np.bool_)):
        raise TypeError("antithetic must be a bool")
    n_kernel = as_n_kernel(n_kernel, bool(antithetic) and not isinstance(kern, Samples))
    d = data.d
    if isinstance(kern, Samples):
        factor = None
        if kern.samples.shape[1] != d:
            raise ValueError(f"kernel samples has {kern.samples.shape[1]} rows/columns for the dimension but data has d={d}")
    elif isinstance(kern, PCA):
        if kern.rank > min(data.n, d):
            raise ValueError(f"rank={kern.rank} exceeds min(N, d) = {min(data.n, d)}")
        factor = principal_directions(data.weighted_covariance(), kern.rank)
    else:
        factor = kern.factor(np.zeros((1, d)), None)
    return KernelPlan(kern, factor, kern.second_moment(factor), data.mean(), np.zeros((0, 0)), n_kernel,
                      bool(antithetic))


def estimate_sharded(p: Problem, data, plan: KernelPlan, h: float, rng, backend: str, independent: bool = False,
                     want_den: bool = True) -> Smoothed:
    """The smoothed estimates over a ShardedData: two rounds per call (module distributed)."""
    m, d = p.x.shape
    log_norm = data.log_mass() + 0.5 * d * np.log(2 * np.pi * p.t)

    def state_fn(queries, want_acc):
        return data.lse_state(queries, p.t, want_acc, backend, p.n_threads)

    if h == 0.0:
        state = state_fn(p.x, want_den)
        return Smoothed(state.mean() if want_den else None, np.zeros((m, d)), state.log_sum_exp() - log_norm)
    if m == 0:
        return Smoothed(np.zeros((0, d)), np.zeros((0, d)), np.zeros(0))
    if independent:
        if plan.factor is None:
            raise ValueError("independent=True draws fresh samples per query; explicit kernel Samples cannot be redrawn")

        def fresh(rows):
            z = np.stack([_standard_normal(rng, plan.n_kernel, plan.factor.shape[1], plan.antithetic)
                          for _ in range(rows.stop - rows.start)])
            return h * (z @ plan.factor.T)

        m_step = max(1, CHUNK_BYTES // (8 * plan.n_kernel * d * 4))
        return _by_definition(p, fresh, h * h * plan.second_std, state_fn, log_norm, want_den, m_step)
    draw = plan.draw(h, rng)
    factor = None if draw.z is None else plan.factor
    acc, z = data.double_kde(p.x, draw.logit_directions(slice(None)), factor, plan.mu, p.t, backend, p.n_threads)
    x64 = p.x.astype(np.float64, copy=False)
    log_density = z.mean(axis=1) + _dot_rows(x64 - plan.mu, draw.mean) / p.t - draw.second_moment / (2 * p.t) - log_norm
    return Smoothed(acc / draw.n, np.broadcast_to(draw.mean, (m, d)), log_density)


def _smoothed(x, data, t, bandwidth, kernel, n_kernel, seed, antithetic, independent, rank, weights, backend,
              n_threads, want_den=True) -> tuple[Problem, Smoothed]:
    from .distributed import streamed

    data = streamed(data)
    if getattr(data, "_ledkde_sharded", False):
        p = prepare_sharded(x, data, t, weights, n_threads)
        h = as_bandwidth(bandwidth)
        if not isinstance(independent, (bool, np.bool_)):
            raise TypeError("independent must be a bool")
        plan = sharded_plan(data, kernel, n_kernel, antithetic, rank)
        return p, estimate_sharded(p, data, plan, h, as_generator(seed), resolve_name(backend), bool(independent),
                                   want_den)
    p = prepare(x, data, t, weights, n_threads)
    h = as_bandwidth(bandwidth)
    setup = prepare_smoothing(p, kernel, n_kernel, antithetic, independent, rank, backend)
    return p, estimate(p, setup, h, as_generator(seed), want_den)


_DOC = """
    Parameters
    ----------
    x : array_like, shape (m, d) or (d,)
        Query points; a 1-D ``x`` is one point and gives a 1-D result.
    data : array_like, shape (N, d)
        Training points.
    t : float
        Diffusion time (variance of the forward Gaussian), > 0.
    bandwidth : float
        h >= 0, the scale of the smoothing kernel. 0 gives the exact empirical quantity, no sampling.
    kernel : {"gaussian", "pca"} or ledkde_fast.kernels.Kernel
        Law of the standardised kernel draw S (Y = h S); see :mod:`ledkde_fast.kernels`.
    n_kernel : int
        Number of kernel draws (even when ``antithetic``). Ignored for explicit ``Samples``.
    seed : None, int or numpy.random.Generator
        The same seed gives the same draws, hence the same numbers on every backend.
    antithetic : bool
        Draw pairs (Y, -Y), which makes their mean exactly zero.
    independent : bool
        Fresh draws for every query (the brute-force estimator) instead of draws shared by the call.
    rank : int, optional
        Number of principal directions for ``kernel="pca"``.
    weights, backend, n_threads
        As for :func:`ledkde_fast.empirical_denoiser`.
"""


def smoothed_denoiser(x, data, t, bandwidth, *, kernel="gaussian", n_kernel=1024, seed=None, antithetic=True,
                      independent=False, rank=None, weights=None, backend="auto", n_threads=None):
    p, est = _smoothed(x, data, t, bandwidth, kernel, n_kernel, seed, antithetic, independent, rank, weights,
                       backend, n_threads)
    return p.shape_output(est.denoiser)


def smoothed_score(x, data, t, bandwidth, *, kernel="gaussian", n_kernel=1024, seed=None, antithetic=True,
                   independent=False, rank=None, weights=None, backend="auto", n_threads=None):
    p, est = _smoothed(x, data, t, bandwidth, kernel, n_kernel, seed, antithetic, independent, rank, weights,
                       backend, n_threads)
    return p.shape_output((est.denoiser - p.x.astype(np.float64) + est.ybar) / p.t)


def led_kde_log_density(x, data, t, bandwidth, *, kernel="gaussian", n_kernel=1024, seed=None, antithetic=True,
                        independent=False, rank=None, weights=None, backend="auto", n_threads=None):
    p, est = _smoothed(x, data, t, bandwidth, kernel, n_kernel, seed, antithetic, independent, rank, weights,
                       backend, n_threads, want_den=False)
    return p.shape_output(est.log_density)


smoothed_denoiser.__doc__ = """Kernel-smoothed denoiser E_Y[m_t(x - Y)], shape (m, d).
""" + _DOC
smoothed_score.__doc__ = """Kernel-smoothed score E_Y[s_t(x - Y)] = (smoothed denoiser - x + Ybar) / t, shape (m, d);
the gradient of :func:`led_kde_log_density` for the same seed.
""" + _DOC
led_kde_log_density.__doc__ = """LED-KDE log-density E_Y[log p_t(x - Y)] (unnormalised in x), shape (m,), with the
exact second moment of the kernel as control variate.
""" + _DOC
