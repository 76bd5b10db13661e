"""How many kernel draws a sampler step takes: a fixed count, a function of t, or ``"auto"``.

``"auto"`` measures the Monte-Carlo error of each step from the step's own draws: it first takes
``AUTO_BATCHES`` batches of ``AUTO_BATCH`` fresh draws (separate calls), whose spread gives the
standard error of the smoothed score; if the error relative to the score is above the target, one
more call takes as many further draws as that error predicts (the variance falls as 1/n), within
the cap. The estimates of the batches average exactly into the estimate over all their draws: the
smoothed denoiser, the draws' mean and the LED-KDE are all means over draws. The batch sizes, the
target and the cap are our choices, not the paper's.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Optional, Union

import numpy as np

from ._data import Problem
from ._estimate import Smoothed, SmoothingSetup, estimate
from ._validation import as_int, as_n_kernel, as_positive

#: Draws per batch of ``"auto"`` and the number of batches that measure the error.
AUTO_BATCH = 16
AUTO_BATCHES = 4
#: Default target of ``"auto"``: the Monte-Carlo standard error of the smoothed score relative to its
#: size (root mean squares over the samples and coordinates).
AUTO_TARGET = 0.05
#: Default cap on the draws of one ``"auto"`` step.
AUTO_CAP = 4096

DrawCount = Union[int, Callable[[float], int], str]


@dataclasses.dataclass(frozen=True)
class DrawPolicy:
    """A validated draw count: ``fixed`` draws, ``per_time(t)`` draws, or adaptive (both None)."""

    fixed: Optional[int]
    per_time: Optional[Callable[[float], int]]
    target: float
    cap: int

    @property
    def plan_count(self) -> int:
        """The count the kernel plan is built with (any valid one for the adaptive policies)."""
        return self.fixed if self.fixed is not None else AUTO_BATCH


def as_draw_policy(n_kernel: Any, target: Any = AUTO_TARGET, cap: Any = AUTO_CAP) -> DrawPolicy:
    """Check a sampler's ``n_kernel`` (int, callable of t, or "auto") and the adaptive settings."""
    target = as_positive(target, "n_kernel_target")
    cap = as_int(cap, "n_kernel_cap", AUTO_BATCH * AUTO_BATCHES)
    if cap % 2:
        raise ValueError(f"n_kernel_cap must be even (draws come in antithetic pairs), got {cap}")
    if isinstance(n_kernel, str):
        if n_kernel != "auto":
            raise ValueError(f"n_kernel must be an int, a function of t or 'auto', got {n_kernel!r}")
        return DrawPolicy(None, None, target, cap)
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
    if policy.fixed is not None or h == 0.0:
        return estimate(p, setup, h, rng), setup.plan.n_kernel
    if policy.per_time is not None:
        n = as_n_kernel(policy.per_time(p.t), True)
        return estimate(p, _with_count(setup, n), h, rng), n
    return _adaptive(policy, p, setup, h, rng)


def _adaptive(policy: DrawPolicy, p: Problem, setup: SmoothingSetup, h: float, rng: np.random.Generator
              ) -> tuple[Smoothed, int]:
    batch = _with_count(setup, AUTO_BATCH)
    parts = [estimate(p, batch, h, rng) for _ in range(AUTO_BATCHES)]
    counts = [AUTO_BATCH] * AUTO_BATCHES
    x = p.x.astype(np.float64, copy=False)
    scores = np.stack([part.score(x, p.t) for part in parts])
    mean = scores.mean(axis=0)
    se = scores.std(axis=0, ddof=1) / math.sqrt(AUTO_BATCHES)
    size = math.sqrt(float(np.mean(mean**2)))
    relative = math.sqrt(float(np.mean(se**2))) / size if size > 0 else 0.0
    taken = AUTO_BATCH * AUTO_BATCHES
    if relative > policy.target and taken < policy.cap:
        wanted = taken * (relative / policy.target) ** 2
        extra = int(min(policy.cap, math.ceil(wanted))) - taken
        extra += extra % 2  # antithetic pairs
        if extra > 0:
            parts.append(estimate(p, _with_count(setup, extra), h, rng))
            counts.append(extra)
    return _combine(parts, counts), sum(counts)


def _combine(parts: list[Smoothed], counts: list[int]) -> Smoothed:
    """The estimate over all the parts' draws: each quantity is a mean over draws."""
    w = np.asarray(counts, dtype=np.float64) / sum(counts)

    def mix(values: list[np.ndarray]) -> np.ndarray:
        return np.tensordot(w, np.stack(values), axes=1)

    denoisers = [part.denoiser for part in parts]
    den = None if any(d is None for d in denoisers) else mix(denoisers)  # type: ignore[arg-type]
    return Smoothed(den, mix([part.ybar for part in parts]), mix([part.log_density for part in parts]))
