"""The smoothed estimates at a set of queries, written once for every data source.

For a smoothing kernel K (the law of Y = h S) and draws Y_1..Y_n:

    smoothed denoiser   m~(x)     = (1/n) sum_j m_t(x - Y_j)
    smoothed score      s~(x)     = (1/n) sum_j s_t(x - Y_j) = (m~(x) - x + Ybar) / t
    LED-KDE             log p~(x) = (1/n) sum_j log p_t(x - Y_j) + ((1/n) sum_j |Y_j|^2 - E|Y|^2) / (2t)

The last term is a control variate (the exact second moment of the kernel replaces the sampled
one), so the smoothed score is exactly the gradient of the LED-KDE for the same draws. Draws shared
by the queries of a call go through the factorisation (docs/design.rst, "The double-KDE
factorisation"); fresh draws per query (``independent``, :func:`by_fresh_draws`) and the reference
backend (:func:`by_definition`) average the empirical quantities over the shifted queries instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from ._backends import get_backend, resolve_name
from ._data import Problem
from ._kernel_plan import DEFAULT_DRAWS, DRAW_METHODS, FreshDraws, KernelPlan
from ._local import (
    Geometry,
    LocalDraws,
    ShardedGeometry,
    fresh_draws_of,
    local_chunks,
    local_logits,
    local_plan,
    make_local_draws,
    sharded_double_kde,
)
from ._lse import LseState
from ._streaming import lse_over_slabs
from ._validation import as_bool, as_choice, as_n_kernel
from .kernels import Local, Samples, as_kernel

#: Memory budget, in bytes, of the shifted queries of one chunk of :func:`by_definition` and :func:`by_fresh_draws`.
SHIFTED_BYTES = 64 << 20


@dataclass(frozen=True)
class Smoothed:
    """Per-query estimates (float64): the smoothed denoiser (None when not asked for), Ybar (the
    mean of the draws each query saw) and the LED-KDE log-density.
    """

    denoiser: Optional[np.ndarray]
    ybar: np.ndarray
    log_density: np.ndarray

    def score(self, x: np.ndarray, t: float) -> np.ndarray:
        """The smoothed score (m~(x) - x + Ybar) / t."""
        assert self.denoiser is not None
        return (self.denoiser - x + self.ybar) / t


@dataclass(frozen=True)
class SmoothingSetup:
    """Validated smoothing arguments: the kernel plan on the data, the options and the backend name.

    ``warm`` carries what one call leaves for the next of the same run (a sampler's steps): a local
    kernel's subspace, from which the next step's directions start (``_local.local_directions``).
    """

    plan: KernelPlan
    independent: bool
    backend: str
    warm: dict = field(default_factory=dict, compare=False, repr=False)


def prepare_smoothing(p: Problem, kernel: Any, n_kernel: Any, antithetic: Any, independent: Any, rank: Any,
                      backend: Any, draws: Any = DEFAULT_DRAWS) -> SmoothingSetup:
    """Check the smoothing arguments and build the kernel plan (once per call or sampler run)."""
    kern = as_kernel(kernel, rank)
    antithetic = as_bool(antithetic, "antithetic")
    independent = as_bool(independent, "independent")
    draws = as_choice(draws, "draws", DRAW_METHODS)
    n_kernel = as_n_kernel(n_kernel, antithetic and not isinstance(kern, Samples), "when antithetic=True (pairs Y, -Y)")
    if independent and isinstance(kern, Samples):
        raise ValueError("independent=True draws fresh samples per query; explicit kernel Samples cannot be redrawn")
    name = resolve_name(backend)
    if isinstance(kern, Local):
        plan = local_plan(kern, p.source, n_kernel, antithetic, draws)
    else:
        plan = KernelPlan.build(kern, p.source, n_kernel, antithetic, shared=not independent, method=draws)
    return SmoothingSetup(plan, independent, name)


def estimate(p: Problem, setup: SmoothingSetup, h: float, rng: np.random.Generator, want_den: bool = True
             ) -> Smoothed:
    """The smoothed estimates at the queries ``p.x`` with bandwidth h (0: exact, no sampling)."""
    m, d = p.x.shape
    source, plan, backend = p.source, setup.plan, setup.backend
    log_norm = p.log_normaliser()

    def state_of(queries: np.ndarray, want_acc: bool) -> LseState:
        return source.lse_state(queries, p.t, want_acc, backend, p.n_threads)

    if h == 0.0:
        state = state_of(p.x, want_den)
        return Smoothed(state.mean() if want_den else None, np.zeros((m, d)), state.log_sum_exp() - log_norm)
    if m == 0:
        return Smoothed(np.zeros((0, d)), np.zeros((0, d)), np.zeros(0))
    _check_smoothing_time(p.t)
    if plan.local is not None:  # a local kernel: each query's draws along its own directions
        return by_local_kernel(p, plan, h, rng, state_of, log_norm, want_den, backend, setup.warm)
    if setup.independent:
        return by_fresh_draws(p, lambda rows: plan.fresh(h, rng, rows.stop - rows.start), plan,
                              h * h * plan.second_std, state_of, log_norm, want_den, backend)
    draw = plan.draw(h, rng)
    dirs = draw.logit_directions(p.dtype)
    _check_logit_range(dirs, plan.basis_max, p.t, p.dtype)
    if get_backend(backend).SMOOTHS_BY_DEFINITION:
        y = draw.samples()
        return by_definition(p, lambda rows: np.broadcast_to(y, (rows.stop - rows.start,) + y.shape), draw.n,
                             draw.second_moment, state_of, log_norm, want_den)
    acc, zsum = source.double_kde(p.x, p.t, dirs, draw.factor, plan.mu, plan.basis, backend,
                                  p.n_threads, want_acc=want_den, mirrored=draw.mirrored)
    x64 = p.x.astype(np.float64, copy=False)
    # The draws' mean enters the logits as Ybar . (x - mu) / t (zero for antithetic pairs); with it
    # and the exact second moment, the gradient of log p~ is exactly the smoothed score.
    log_density = (zsum / draw.n + np.einsum("ij,j->i", x64 - plan.mu, draw.mean) / p.t
                   - draw.second_moment / (2 * p.t) - log_norm)
    return Smoothed(None if acc is None else acc / draw.n, np.broadcast_to(draw.mean, (m, d)), log_density)


def _check_smoothing_time(t: float) -> None:
    """The smoothed estimates divide by t (the draws' logits, the control variate): below the smallest
    normal float64, 1/t overflows and nothing finite can be formed.
    """
    if t < np.finfo(np.float64).tiny:
        raise ValueError(f"t = {t:g} is below {np.finfo(np.float64).tiny:g}, the smallest normal float64: the "
                         "smoothed estimates need a finite 1/t (the exact ones, bandwidth 0, accept any t > 0)")


def _check_logit_range(dirs: np.ndarray, basis_max: float, t: float, dtype: np.dtype) -> None:
    """The shared-draw logits C = -Y.(x_i - mu) / t must fit the compute dtype (bounded here by
    r max|Y| max|basis| / t, r the basis width), or the softmax over them would be inf - inf.
    """
    if dirs.size == 0:
        return
    with np.errstate(over="ignore"):  # (max and -min: no |dirs| temporary)
        bound = dirs.shape[1] * max(float(dirs.max()), -float(dirs.min())) * basis_max / t
    limit = float(np.finfo(dtype).max) / 4
    if not bound <= limit:
        raise ValueError(f"t = {t:g} is too small for this bandwidth in {np.dtype(dtype).name}: the smoothing "
                         f"logits Y.(x_i - mu)/t reach {bound:.3g}, beyond {limit:.3g}; use a larger t, a smaller "
                         "bandwidth or float64 data")


def by_definition(p: Problem, draws_for: Callable[[slice], np.ndarray], n_draws: int, second_moment: float,
                  state_of: Callable[[np.ndarray, bool], LseState], log_norm: float, want_den: bool) -> Smoothed:
    """Average the empirical quantities over x - Y_j, with Y_j = draws_for(rows) of shape
    (rows, n, d): the reference backend's estimator with shared draws.
    """
    m, d = p.x.shape
    m_step = max(1, SHIFTED_BYTES // (8 * n_draws * d * 4))
    x64 = p.x.astype(np.float64, copy=False)
    den = np.empty((m, d)) if want_den else None
    ybar = np.empty((m, d))
    log_density = np.empty(m)
    for q0 in range(0, m, m_step):
        rows = slice(q0, min(m, q0 + m_step))
        y = draws_for(rows)  # (mq, n, d)
        ybar[rows] = y.mean(axis=1)
        _shifted_chunk(p, x64[rows], y, second_moment, state_of, log_norm,
                       None if den is None else den[rows], log_density[rows])
    return Smoothed(den, ybar, log_density)


def _shifted_chunk(p: Problem, x64: np.ndarray, y: np.ndarray, second_moment: float | np.ndarray,
                   state_of: Callable[[np.ndarray, bool], LseState], log_norm: float, den: Optional[np.ndarray],
                   log_density: np.ndarray) -> None:
    """The denoiser and LED-KDE of queries x (mq x d) averaged over the explicit shifted queries
    x - Y_j (y: mq x n x d), written into ``den`` and ``log_density``: one call over the data for all
    the draws of the chunk.
    """
    mq, n_draw, d = y.shape
    shifted = np.ascontiguousarray((x64[:, None, :] - y).reshape(mq * n_draw, d), dtype=p.dtype)
    state = state_of(shifted, den is not None)
    lse = state.log_sum_exp().reshape(mq, n_draw)
    if den is not None:
        den[...] = state.mean().reshape(mq, n_draw, d).mean(axis=1)
    sq = np.einsum("qnd,qnd->qn", y, y).mean(axis=1)
    log_density[...] = lse.mean(axis=1) - log_norm + (sq - second_moment) / (2 * p.t)


def by_fresh_draws(p: Problem, fresh: Callable[[slice], FreshDraws], plan: KernelPlan, second_moment: float,
                   state_of: Callable[[np.ndarray, bool], LseState], log_norm: float, want_den: bool, backend: str
                   ) -> Smoothed:
    """The brute-force estimator: fresh draws for every query (``fresh(rows)`` makes them for the
    queries ``p.x[rows]``), the empirical quantities evaluated at every x - Y_j, one call over the data
    for all the draws of a chunk of queries.

    Where the plan has the span V (d x k) of the centred data (N < d, in memory), the empirical
    problem is solved in those k coordinates: queries a - y_j (a = V^T (x - mu), y_j = V^T Y_j)
    against the points' coordinates b_i, and

        m_t(x - Y_j)   = mu + V (softmax-weighted mean of the b_i),
        log p~(x)      = mean_j LSE_k(a - y_j) - |c|^2/2t + c.Ybar/t + (mean_j |y_j|^2 - E|Y|^2)/2t - log_norm,

    with c = Q(x - mu), the part of x - mu outside the span (the derivation, and why the draws'
    orthogonal parts enter only through their mean, is in :meth:`KernelPlan.build`). Elsewhere the
    shifted queries x - Y_j are formed in d dimensions.
    """
    m, d = p.x.shape
    n = plan.n_kernel
    red = plan.reduction
    # (a local kernel has no global factor: its rank)
    rank = int(getattr(plan.kernel, "rank")) if plan.factor is None else plan.factor.shape[1]
    width = max(d if red is None else red.span.shape[1], rank)
    # the draws, the shifted queries and the weighted sums of one chunk fit the memory budget
    m_step = max(1, SHIFTED_BYTES // (8 * n * (width + 2) * 4))
    x64 = p.x.astype(np.float64, copy=False)
    den = np.empty((m, d)) if want_den else None
    ybar = np.empty((m, d))
    log_density = np.empty(m)
    for q0 in range(0, m, m_step):
        rows = slice(q0, min(m, q0 + m_step))
        draws = fresh(rows)
        ybar[rows] = draws.mean
        second = second_moment if draws.second_moment is None else draws.second_moment
        if red is None:
            _shifted_chunk(p, x64[rows], draws.y, second, state_of, log_norm,
                           None if den is None else den[rows], log_density[rows])
            continue
        v = red.span
        centred = x64[rows] - plan.mu
        a = centred @ v
        c = centred - a @ v.T
        mq, _, k = draws.y.shape
        queries = np.ascontiguousarray((a[:, None, :] - draws.y).reshape(mq * n, k), dtype=p.dtype)
        state = lse_over_slabs(queries, red.basis, red.log_weights, p.t, want_den, backend,
                               p.n_threads)
        lse = state.log_sum_exp().reshape(mq, n)
        if den is not None:
            den[rows] = plan.mu + state.mean().reshape(mq, n, k).mean(axis=1) @ v.T
        sq = np.einsum("qnk,qnk->qn", draws.y, draws.y).mean(axis=1)
        log_density[rows] = (lse.mean(axis=1) - np.einsum("qd,qd->q", c, c) / (2 * p.t)
                             + np.einsum("qd,qd->q", c, draws.mean) / p.t + (sq - second) / (2 * p.t)
                             - log_norm)
    return Smoothed(den, ybar, log_density)


def by_local_kernel(p: Problem, plan: KernelPlan, h: float, rng: np.random.Generator,
                    state_of: Callable[[np.ndarray, bool], LseState], log_norm: float, want_den: bool, backend: str,
                    warm: Optional[dict] = None) -> Smoothed:
    """The estimates with a local kernel (:class:`ledkde_fast.kernels.Local`), whose draws Y_qj = h U_q D_q z_qj
    differ from query to query.

    The compiled backends use the double-KDE factorisation with each query's own draws: query q's
    logits C_qji = -Y_qj . (x_i - mu) / t are an (n x r) by (r x N) product with the basis (x_i - mu) U_q,
    and one call accumulates every query's weights and log-normalisers in memory; sharded data (a
    memmap, a ``ShardedData``) take the two rounds of :func:`ledkde_fast._local.sharded_double_kde`
    instead (the estimates then follow as in :func:`estimate`).
    The reference backend evaluates the same draws by definition, as explicit shifted queries
    (:func:`by_fresh_draws`, through ``state_of``, so on any source): an independent computation of
    the same numbers. ``warm`` (a sampler run's :attr:`SmoothingSetup.warm`) keeps each query's
    subspace for the next call on the same number of queries: the subspace iteration then continues
    across the steps instead of restarting.
    """
    geom, kern = plan.local, plan.kernel
    assert isinstance(kern, Local)
    m, d = p.x.shape
    n = plan.n_kernel
    x64 = p.x.astype(np.float64, copy=False)
    den = np.empty((m, d)) if want_den else None
    ybar = np.zeros((m, d))
    log_density = np.empty(m)
    module = get_backend(backend)
    by_definition_ = module.SMOOTHS_BY_DEFINITION
    sums = None if by_definition_ else _local_sums(p, geom, module, backend, want_den)
    previous = None if warm is None else warm.get("local_subspace")
    if previous is not None and previous.shape[0] != m:
        previous = None
    subspace: list[np.ndarray] = []
    for rows in local_chunks(m, geom, kern, n):
        draws = make_local_draws(geom, kern, x64[rows], p.t, h, n, plan.antithetic, plan.method, rng,
                                 module.matmul_nt, p.n_threads, None if previous is None else previous[rows])
        if draws.subspace is not None:
            subspace.append(draws.subspace)
        if sums is None:

            def fresh(sub: slice, draws: LocalDraws = draws) -> FreshDraws:
                return fresh_draws_of(geom, draws, plan.antithetic, sub)

            part = by_fresh_draws(p.with_queries(p.x[rows], p.t), fresh, plan, h * h * plan.second_std, state_of,
                                  log_norm, want_den, backend)
            if den is not None:
                den[rows] = part.denoiser
            ybar[rows], log_density[rows] = part.ybar, part.log_density
            continue
        acc, zsum = sums(p.x[rows], draws)
        if not plan.antithetic:  # (antithetic pairs: the mean draw is exactly zero)
            mean_k = np.einsum("qr,qkr->qk", draws.coefficients().mean(axis=1), draws.u)
            ybar[rows] = mean_k if geom.span is None else mean_k @ geom.span.T
        if den is not None and acc is not None:
            den[rows] = acc / n
        log_density[rows] = (zsum / n + np.einsum("qd,qd->q", ybar[rows], x64[rows] - plan.mu) / p.t
                             - draws.second_moment() / (2 * p.t) - log_norm)
    if warm is not None:
        warm["local_subspace"] = np.concatenate(subspace) if subspace else None
    return Smoothed(den, ybar, log_density)


#: ``sums(x, draws)``: (sum over draws of the weighted sums of the points, m x d, or None; sum over draws
#: of the log-normalisers, m) of queries x with their own local draws.
LocalSums = Callable[[np.ndarray, LocalDraws], tuple[Optional[np.ndarray], np.ndarray]]


def _local_sums(p: Problem, geom: Geometry, module: Any, backend: str, want_den: bool) -> LocalSums:
    """The double-KDE sums of a local kernel's draws for this source: one per-query call in memory,
    the two rounds of :func:`ledkde_fast._local.sharded_double_kde` on row shards.
    """
    if isinstance(geom, ShardedGeometry):
        return lambda x, draws: sharded_double_kde(geom, x, draws, p.t, backend, p.n_threads, want_den)
    source = p.source
    data64 = source.data.astype(np.float64, copy=False) if want_den else None

    def in_memory(x: np.ndarray, draws: LocalDraws) -> tuple[Optional[np.ndarray], np.ndarray]:
        c = local_logits(geom.coords, draws.u, draws.coefficients(), p.t, p.dtype)
        wbar, zsum = np.zeros((x.shape[0], source.n)), np.zeros(x.shape[0])
        _per_query_double_kde(module, x, source, p.t, c, wbar, zsum, p.n_threads)
        return (None if data64 is None else wbar @ data64), zsum

    return in_memory


def _per_query_double_kde(module: Any, x: np.ndarray, source: Any, t: float, c: np.ndarray, wbar: np.ndarray,
                          zsum: np.ndarray, n_threads: int) -> None:
    """The double-KDE sums of queries with draws of their own (c: m x n x N), in one call where the
    backend has one, else one call per query.
    """
    per_query = getattr(module, "double_kde_per_query", None)
    if per_query is not None:
        per_query(x, source.data, source.log_weights, t, c, wbar, zsum, n_threads)
        return
    for q in range(x.shape[0]):
        module.double_kde_accumulate(x[q:q + 1], source.data, source.log_weights, t, c[q], wbar[q:q + 1],
                                     zsum[q:q + 1], n_threads)
