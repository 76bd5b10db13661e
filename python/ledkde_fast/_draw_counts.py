"""How many kernel draws a sampler step takes: a fixed count, a function of t, or ``"auto"``.

``"auto"`` measures the Monte-Carlo error of the run's steps from their own draws and sets the
counts of the next steps from it:

* a measuring step (the first, then one in ``AUTO_EVERY``) with n draws makes them as two
  independent halves of n/2 (two calls); its estimates are the average of the halves' (every
  smoothed quantity is a mean over draws, so this is the estimate over all n draws). The other
  steps make their n draws in one call;
* the halves' difference measures the step's error: for two independent unbiased halves a and b,
  E|a - b|^2 / 4 is the variance of their average. Its root mean square over the samples and
  coordinates, over that of the smoothed score, is the step's relative standard error ``rel``;
* the error falls as 1/sqrt(n), so n rel^2 is the relative variance of one draw; a running average
  of it over the measurements (weight ``AUTO_SMOOTHING`` on the newest) gives the next steps
  n' = n rel^2 / target^2 draws, rounded up to a multiple of 4, between ``AUTO_MIN`` and the cap;
  the first step takes ``AUTO_START``;
* a step's draws come from a generator seeded by one number of the sampler's generator, which is
  what a step with a fixed count takes from it with the compiled core's Gaussian generator: runs
  with the same seed then share their initial noise and Brownian increments whatever the policy.

Why this stays unbiased: the count of a step is fixed by earlier steps only, and the step's draws
are fresh, independent of everything before them, so given the past each half is an unbiased
estimate of the smoothed quantities at the step's states, and so is their average. (A rule that
chose the count of a step from a pilot of that same step's draws and pooled the pilot with the rest
would weight the pilot by a function of its own values: biased in general.)

The start, the floor, the measuring period, the averaging, the target and the cap are our choices,
not the paper's. The default target, 0.5, is set by ``benchmarks/time_to_quality.py``: with 100
steps, sample quality on its three workloads was that of 1,024 draws per step (docs/user_guide.rst,
"Choosing the number of draws").
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Optional, Union

import numpy as np

from ._data import Problem
from ._estimate import Smoothed, SmoothingSetup, estimate
from ._validation import as_int, as_n_kernel, as_positive

#: Draws of the first ``"auto"`` step (before any error has been measured).
AUTO_START = 32
#: Fewest draws of an ``"auto"`` step: two halves of two antithetic pairs.
AUTO_MIN = 8
#: Default target of ``"auto"``: the Monte-Carlo standard error of the smoothed score relative to its
#: size (root mean squares over the samples and coordinates).
AUTO_TARGET = 0.5
#: Default cap on the draws of one ``"auto"`` step, and the smallest cap accepted.
AUTO_CAP = 4096
AUTO_CAP_MIN = 64
#: ``"auto"`` measures the error on one step in ``AUTO_EVERY`` (and on the first).
AUTO_EVERY = 4
#: Weight of the newest measurement in the running average of the relative variance of one draw.
AUTO_SMOOTHING = 0.5
#: ``"auto"`` steps take their draws as two halves of antithetic pairs: counts are multiples of 4.
_QUANTUM = 4

DrawCount = Union[int, Callable[[float], int], str]


@dataclasses.dataclass
class AutoState:
    """What an ``"auto"`` sampler run carries from step to step: the next step's count, the smoothed
    relative variance of one draw (None before the first measurement), the steps since the last
    measurement, and per step (t, draws, measured relative standard error or NaN) in ``history``.
    """

    next_count: int = AUTO_START
    per_draw: Optional[float] = None
    since: int = 0
    history: list[tuple[float, int, float]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class DrawPolicy:
    """A validated draw count: ``fixed`` draws, ``per_time(t)`` draws, or adaptive (both None, with
    its ``state``; one policy per sampler run).
    """

    fixed: Optional[int]
    per_time: Optional[Callable[[float], int]]
    target: float
    cap: int
    state: Optional[AutoState] = dataclasses.field(default=None, compare=False)

    @property
    def plan_count(self) -> int:
        """The count the kernel plan is built with (any valid one for the adaptive policies)."""
        return self.fixed if self.fixed is not None else AUTO_START


def as_draw_policy(n_kernel: Any, target: Any = AUTO_TARGET, cap: Any = AUTO_CAP) -> DrawPolicy:
    """Check a sampler's ``n_kernel`` (int, callable of t, or "auto") and the adaptive settings."""
    target = as_positive(target, "n_kernel_target")
    cap = as_int(cap, "n_kernel_cap", AUTO_CAP_MIN)
    if cap % 2:
        raise ValueError(f"n_kernel_cap must be even (draws come in antithetic pairs), got {cap}")
    if isinstance(n_kernel, str):
        if n_kernel != "auto":
            raise ValueError(f"n_kernel must be an int, a function of t or 'auto', got {n_kernel!r}")
        return DrawPolicy(None, None, target, cap, AutoState(_round_count(AUTO_START, cap)))
    if callable(n_kernel):
        return DrawPolicy(None, n_kernel, target, cap)
    return DrawPolicy(as_n_kernel(n_kernel, True), None, target, cap)


def _with_count(setup: SmoothingSetup, n: int) -> SmoothingSetup:
    if setup.plan.n_kernel == n:
        return setup
    return dataclasses.replace(setup, plan=dataclasses.replace(setup.plan, n_kernel=n))


def estimate_step(policy: DrawPolicy, p: Problem, setup: SmoothingSetup, h: float, rng: np.random.Generator
                  ) -> tuple[Smoothed, int]:
    """The smoothed estimates of one step and the number of draws they took."""
    if policy.fixed is not None or h == 0.0 or setup.plan.factor is None:  # explicit samples: as given
        return estimate(p, setup, h, rng), setup.plan.n_kernel
    if policy.per_time is not None:
        n = as_n_kernel(policy.per_time(p.t), True)
        return estimate(p, _with_count(setup, n), h, rng), n
    assert policy.state is not None
    return _adaptive(policy, policy.state, p, setup, h, rng)


def _round_count(n: float, cap: int) -> int:
    """The count ``n`` rounded up to a multiple of 4, within [AUTO_MIN, the cap rounded down to one]."""
    top = cap - cap % _QUANTUM
    if not math.isfinite(n):
        return top
    return int(min(top, max(AUTO_MIN, _QUANTUM * math.ceil(n / _QUANTUM))))


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """Relative standard error of the average of two independent unbiased estimates a and b of a
    vector field at the same points: root mean square of (a - b)/2 over that of (a + b)/2 (0 when
    the average is 0).
    """
    size = math.sqrt(float(np.mean(((a + b) / 2) ** 2)))
    se = math.sqrt(float(np.mean(((a - b) / 2) ** 2)))
    return se / size if size > 0 else 0.0


def _adaptive(policy: DrawPolicy, state: AutoState, p: Problem, setup: SmoothingSetup, h: float,
              rng: np.random.Generator) -> tuple[Smoothed, int]:
    n = state.next_count
    # the step's draws come from a generator seeded by one number of the sampler's: a step takes from
    # it what a step with a fixed count takes from the compiled core's generator, so a run with the
    # same seed has the same initial noise and Brownian increments whatever the draw policy
    sub = np.random.default_rng(int(rng.integers(0, 2**63)))
    if state.per_draw is not None and state.since + 1 < AUTO_EVERY:  # no measurement: one call
        state.since += 1
        state.history.append((p.t, n, math.nan))
        return estimate(p, _with_count(setup, n), h, sub), n
    half = _with_count(setup, n // 2)
    first, second = estimate(p, half, h, sub), estimate(p, half, h, sub)
    x = p.x.astype(np.float64, copy=False)
    rel = relative_error(first.score(x, p.t), second.score(x, p.t))
    state.history.append((p.t, n, rel))
    state.since = 0
    if math.isfinite(rel):
        measured = n * rel**2
        state.per_draw = measured if state.per_draw is None else (
            AUTO_SMOOTHING * measured + (1 - AUTO_SMOOTHING) * state.per_draw)
        state.next_count = _round_count(state.per_draw / policy.target**2, policy.cap)
    return _combine([first, second], [n // 2, n // 2]), n


def _combine(parts: list[Smoothed], counts: list[int]) -> Smoothed:
    """The estimate over all the parts' draws: each quantity is a mean over draws."""
    w = np.asarray(counts, dtype=np.float64) / sum(counts)

    def mix(values: list[np.ndarray]) -> np.ndarray:
        return np.tensordot(w, np.stack(values), axes=1)

    denoisers = [part.denoiser for part in parts]
    den = None if any(d is None for d in denoisers) else mix(denoisers)  # type: ignore[arg-type]
    return Smoothed(den, mix([part.ybar for part in parts]), mix([part.log_density for part in parts]))
