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

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from ._backends import get_backend, resolve_name
from ._data import Problem
from ._kernel_plan import DEFAULT_DRAWS, DRAW_METHODS, FreshDraws, KernelPlan
from ._lse import LseState
from ._streaming import lse_over_slabs
from ._validation import as_bool, as_choice, as_n_kernel
from .kernels import Samples, as_kernel

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
    """Validated smoothing arguments: the kernel plan on the data, the options and the backend name."""

    plan: KernelPlan
    independent: bool
    backend: str


def prepare_smoothing(p: Problem, kernel: Any, n_kernel: Any, antithetic: Any, independent: Any, rank: Any,
                      backend: Any, draws: Any = DEFAULT_DRAWS) -> SmoothingSetup:
    """Check the smoothing arguments and build the kernel plan (once per call or sampler run)."""
    kern = as_kernel(kernel, rank)
    antithetic = as_bool(antithetic, "antithetic")
    independent = as_bool(independent, "independent")
    draws = as_choice(draws, "draws", DRAW_METHODS)
    n_kernel = as_n_kernel(n_kernel, antithetic and not isinstance(kern, Samples))
    if independent and isinstance(kern, Samples):
        raise ValueError("independent=True draws fresh samples per query; explicit kernel Samples cannot be redrawn")
    name = resolve_name(backend)
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
    if setup.independent:
        return by_fresh_draws(p, lambda count: plan.fresh(h, rng, count), plan, h * h * plan.second_std, state_of,
                              log_norm, want_den, backend)
    draw = plan.draw(h, rng)
    dirs = draw.logit_directions()
    _check_logit_range(dirs, plan.basis_max, p.t, p.dtype)
    if get_backend(backend).SMOOTHS_BY_DEFINITION:
        y = draw.samples()
        return by_definition(p, lambda rows: np.broadcast_to(y, (rows.stop - rows.start,) + y.shape), draw.n,
                             draw.second_moment, state_of, log_norm, want_den)
    acc, zsum = source.double_kde(p.x, p.t, dirs, draw.factor, plan.mu, plan.basis, backend,
                                  p.n_threads, want_acc=want_den)
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


def _shifted_chunk(p: Problem, x64: np.ndarray, y: np.ndarray, second_moment: float,
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


def by_fresh_draws(p: Problem, fresh: Callable[[int], FreshDraws], plan: KernelPlan, second_moment: float,
                   state_of: Callable[[np.ndarray, bool], LseState], log_norm: float, want_den: bool, backend: str
                   ) -> Smoothed:
    """The brute-force estimator: fresh draws for every query (``fresh(count)`` makes them for
    ``count`` queries), the empirical quantities evaluated at every x - Y_j, one call over the data
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
    assert plan.factor is not None
    width = max(d if red is None else red.span.shape[1], plan.factor.shape[1])
    # the draws, the shifted queries and the weighted sums of one chunk fit the memory budget
    m_step = max(1, SHIFTED_BYTES // (8 * n * (width + 2) * 4))
    x64 = p.x.astype(np.float64, copy=False)
    den = np.empty((m, d)) if want_den else None
    ybar = np.empty((m, d))
    log_density = np.empty(m)
    for q0 in range(0, m, m_step):
        rows = slice(q0, min(m, q0 + m_step))
        draws = fresh(rows.stop - rows.start)
        ybar[rows] = draws.mean
        if red is None:
            _shifted_chunk(p, x64[rows], draws.y, second_moment, state_of, log_norm,
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
                             + np.einsum("qd,qd->q", c, draws.mean) / p.t + (sq - second_moment) / (2 * p.t)
                             - log_norm)
    return Smoothed(den, ybar, log_density)
