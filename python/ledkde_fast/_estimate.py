"""The smoothed estimates at a set of queries, written once for every data source.

For a smoothing kernel K (the law of Y = h S) and draws Y_1..Y_n:

    smoothed denoiser   m~(x)     = (1/n) sum_j m_t(x - Y_j)
    smoothed score      s~(x)     = (1/n) sum_j s_t(x - Y_j) = (m~(x) - x + Ybar) / t
    LED-KDE             log p~(x) = (1/n) sum_j log p_t(x - Y_j) + ((1/n) sum_j |Y_j|^2 - E|Y|^2) / (2t)

The last term is a control variate (the exact second moment of the kernel replaces the sampled
one), so the smoothed score is exactly the gradient of the LED-KDE for the same draws. Draws shared
by the queries of a call go through the factorisation (docs/design.rst, "The double-KDE
factorisation"); fresh draws per query (``independent``) and the reference backend average the
empirical quantities over the shifted queries instead (:func:`by_definition`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from ._backends import get_backend, resolve_name
from ._data import Problem
from ._kernel_plan import KernelPlan
from ._lse import LseState
from ._validation import as_bool, as_n_kernel
from .kernels import Samples, as_kernel

#: Memory budget, in bytes, of the shifted queries of one chunk of :func:`by_definition`.
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
                      backend: Any) -> SmoothingSetup:
    """Check the smoothing arguments and build the kernel plan (once per call or sampler run)."""
    kern = as_kernel(kernel, rank)
    antithetic = as_bool(antithetic, "antithetic")
    independent = as_bool(independent, "independent")
    n_kernel = as_n_kernel(n_kernel, antithetic and not isinstance(kern, Samples))
    if independent and isinstance(kern, Samples):
        raise ValueError("independent=True draws fresh samples per query; explicit kernel Samples cannot be redrawn")
    name = resolve_name(backend)
    plan = KernelPlan.build(kern, p.source, n_kernel, antithetic, shared=not independent)
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
        return by_definition(p, lambda rows: plan.fresh_draws(h, rng, rows.stop - rows.start), plan.n_kernel,
                             h * h * plan.second_std, state_of, log_norm, want_den)
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
    (rows, n, d): the brute-force estimator (fresh draws per query) and the reference backend.
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
        mq, n_draw, _ = y.shape
        shifted = np.ascontiguousarray((x64[rows, None, :] - y).reshape(mq * n_draw, d), dtype=p.dtype)
        state = state_of(shifted, want_den)
        lse = state.log_sum_exp().reshape(mq, n_draw)
        if den is not None:
            den[rows] = state.mean().reshape(mq, n_draw, d).mean(axis=1)
        ybar[rows] = y.mean(axis=1)
        sq = np.einsum("qnd,qnd->qn", y, y).mean(axis=1)
        log_density[rows] = lse.mean(axis=1) - log_norm + (sq - second_moment) / (2 * p.t)
    return Smoothed(den, ybar, log_density)
