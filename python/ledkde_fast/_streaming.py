"""Drives a backend's streaming log-sum-exp over the data in slabs, so that the packed copy a
kernel makes stays bounded however large the data set; the per-query state merges across slabs."""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from ._backends import get_backend
from ._validation import Problem

#: Largest slice of the data handed to one kernel call, in bytes of input.
SLAB_BYTES = 64 << 20


class LseState(NamedTuple):
    """Per query: max of the logits (log w_i - |x - x_i|^2 / 2t), sum of exp(logit - max), and the
    same sum weighted by x_i (None when not requested). Float64 whatever the input dtype."""

    max: np.ndarray
    sum: np.ndarray
    acc: Optional[np.ndarray]

    @classmethod
    def empty(cls, m: int, d: int, want_acc: bool) -> "LseState":
        return cls(np.full(m, -np.inf), np.zeros(m), np.zeros((m, d)) if want_acc else None)

    def log_sum_exp(self) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return self.max + np.log(self.sum)

    def mean(self) -> np.ndarray:
        return self.acc / self.sum[:, None]


def slab_rows(d: int, itemsize: int) -> int:
    return max(1024, SLAB_BYTES // max(1, d * itemsize))


def lse_state(problem: Problem, backend: str, want_acc: bool, x: Optional[np.ndarray] = None) -> LseState:
    """Streaming log-sum-exp state of queries ``x`` (default: the problem's) over all the data."""
    be = get_backend(backend)
    x = problem.x if x is None else x
    data, log_w = problem.data, problem.log_weights
    state = LseState.empty(x.shape[0], data.shape[1], want_acc)
    if x.shape[0] == 0:
        return state
    step = slab_rows(data.shape[1], data.itemsize)
    for start in range(0, data.shape[0], step):
        rows = slice(start, start + step)
        be.lse_accumulate(x, data[rows], None if log_w is None else log_w[rows], problem.t, state,
                          problem.n_threads)
    return state


def log_normaliser(problem: Problem) -> float:
    """log of the total weight the logits carry: log N for unit weights, 0 for normalised weights,
    plus the Gaussian's (d/2) log(2 pi t)."""
    n, d = problem.data.shape
    log_mass = np.log(n) if problem.log_weights is None else 0.0
    return log_mass + 0.5 * d * np.log(2.0 * np.pi * problem.t)
