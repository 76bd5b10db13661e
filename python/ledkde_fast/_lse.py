"""The streaming log-sum-exp state of a set of queries, and the one rule that merges two of them.

Every reduction over the data in this package (data slabs, out-of-core shards, Dask shards, the
double-KDE normalisers, the CUDA backend's partial results) ends in :func:`merge_lse`
(docs/design.rst, "Streaming log-sum-exp over data blocks").
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np


def merge_lse(max_a: np.ndarray, sum_a: np.ndarray, max_b: np.ndarray, sum_b: np.ndarray,
              acc_a: Optional[np.ndarray] = None, acc_b: Optional[np.ndarray] = None
              ) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """Merge two partial log-sum-exp states of the same rows: rescale the side with the smaller max.

    A side whose max is -inf (no mass) contributes nothing, and two empty sides stay empty (-inf,
    0), never NaN. The accumulators ``acc`` (rows x d, scaled like the sums) are merged when both
    are given. Associative and commutative up to rounding.
    """
    mx = np.maximum(max_a, max_b)
    finite = np.isfinite(mx)
    safe = np.where(finite, mx, 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        fa = np.where(np.isneginf(max_a), 0.0, np.exp(np.where(finite, max_a - safe, 0.0)))
        fb = np.where(np.isneginf(max_b), 0.0, np.exp(np.where(finite, max_b - safe, 0.0)))
    acc = None
    if acc_a is not None and acc_b is not None:
        acc = acc_a * fa[..., None] + acc_b * fb[..., None]
    return mx, sum_a * fa + sum_b * fb, acc


def log_of(mx: np.ndarray, sm: np.ndarray) -> np.ndarray:
    """log(sum) + max of a state: -inf where the state holds no mass."""
    with np.errstate(divide="ignore"):
        return mx + np.log(sm)


class LseState(NamedTuple):
    """Per query: max of the logits (log w_i - |x - x_i|^2 / 2t), sum of exp(logit - max), and the
    same sum weighted by x_i (None when not requested). Float64 whatever the input dtype.
    """

    max: np.ndarray
    sum: np.ndarray
    acc: Optional[np.ndarray]

    @classmethod
    def empty(cls, m: int, d: int, want_acc: bool) -> LseState:
        """The state of ``m`` queries over no data (max -inf, sums zero)."""
        return cls(np.full(m, -np.inf), np.zeros(m), np.zeros((m, d)) if want_acc else None)

    def merged(self, other: LseState) -> LseState:
        """Merge with another state of the same queries (see :func:`merge_lse`)."""
        return LseState(*merge_lse(self.max, self.sum, other.max, other.sum, self.acc, other.acc))

    def merge_rows(self, rows: slice, other: LseState) -> None:
        """Merge ``other`` (a state of the queries ``rows``) into this state, in place."""
        acc = None if self.acc is None else self.acc[rows]
        mx, sm, acc = merge_lse(self.max[rows], self.sum[rows], other.max, other.sum, acc, other.acc)
        self.max[rows], self.sum[rows] = mx, sm
        if self.acc is not None:
            self.acc[rows] = acc

    def log_sum_exp(self) -> np.ndarray:
        """LSE of the logits of each query (-inf for a query that saw no mass)."""
        return log_of(self.max, self.sum)

    def mean(self) -> np.ndarray:
        """The softmax-weighted mean of the data points for each query (the denoiser)."""
        assert self.acc is not None, "state was accumulated without the weighted sum"
        return self.acc / self.sum[:, None]
