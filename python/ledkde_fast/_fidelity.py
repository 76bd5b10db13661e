"""k-NN precision and recall of generated samples (Kynkaanniemi, Karras, Laine, Lehtinen and Aila 2019,
"Improved precision and recall metric for assessing generative models").

The manifold of a point set is the union of the balls centred at its points with radius the distance
to each point's k-th nearest other point. Precision is the fraction of samples inside the reference
manifold; recall the fraction of reference points inside the sample manifold. The membership test is
exact: for each query, whether ANY centre c has ``|q - c| <= radius_c``, decided in blocks of queries
and centres whose temporaries stay below ``BLOCK_BYTES`` (no m x N matrix). Public through
:func:`ledkde_fast.analysis.precision_recall` and :func:`ledkde_fast.analysis.fidelity`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

#: Largest temporary (in bytes) of one block of the membership test.
BLOCK_BYTES = 64 << 20

#: Pairs whose expanded squared distance is within this fraction of ``|q|^2 + |c|^2`` of the squared
#: radius are decided again from explicit differences (the expansion's rounding error is about
#: d * 1e-16 of that scale), so the test agrees with ``|q - c| <= radius`` computed directly.
_AMBIGUOUS_FRACTION = 1e-10

Knn = Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def knn_radii(points: np.ndarray, k: int, knn: Knn) -> np.ndarray:
    """Distance from each point to its k-th nearest *other* point (float64, shape (n,)); needs k < n.

    The search includes the point itself (distance 0), so the k-th other neighbour is the (k+1)-th
    result, duplicates included (a duplicate is another point at distance 0).
    """
    dist, _ = knn(points, points, k + 1)
    return np.asarray(dist[:, k], dtype=np.float64)


def inside_union_of_balls(queries: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Boolean (m,): whether each query lies in some closed ball ``|q - c_j| <= radii_j``.

    Squared distances come from the expansion ``|q|^2 + |c|^2 - 2 q.c`` on coordinates centred at the
    centres' mean, one (queries x centres) block at a time; pairs too close to the boundary for that
    expansion's rounding are recomputed from explicit differences of the original coordinates.
    Queries already found inside are not tested against further blocks.
    """
    q = np.asarray(queries, dtype=np.float64)
    c = np.asarray(centres, dtype=np.float64)
    r = np.asarray(radii, dtype=np.float64)
    m, d = q.shape
    n = c.shape[0]
    shift = c.mean(axis=0)
    qc, cc = q - shift, c - shift
    nq = np.einsum("ij,ij->i", qc, qc)
    nc = np.einsum("ij,ij->i", cc, cc)
    r2 = r * r
    inside = np.zeros(m, dtype=bool)
    bc = max(1, min(n, 4096, BLOCK_BYTES // (8 * max(d, 1))))
    bq = max(1, min(m, BLOCK_BYTES // (8 * 4 * bc)))  # the block and about three temporaries of its size
    for q0 in range(0, m, bq):
        rows = np.arange(q0, min(q0 + bq, m))
        for c0 in range(0, n, bc):
            if rows.size == 0:
                break
            cols = slice(c0, c0 + bc)
            scale = nq[rows, None] + nc[None, cols]
            sq = scale - 2.0 * (qc[rows] @ cc[cols].T)
            margin = sq - r2[None, cols]
            hit = (margin <= 0.0).any(axis=1)
            ii, jj = np.nonzero(~hit[:, None] & (np.abs(margin) <= _AMBIGUOUS_FRACTION * scale))
            if ii.size:
                diff = q[rows[ii]] - c[c0 + jj]
                close = np.sqrt(np.einsum("pd,pd->p", diff, diff)) <= r[c0 + jj]
                hit[ii[close]] = True
            inside[rows[hit]] = True
            rows = rows[~hit]
    return inside


def precision_recall(samples: np.ndarray, reference: np.ndarray, k: int, knn: Knn) -> tuple[float, float]:
    """(precision, recall) of ``samples`` against ``reference`` with k-NN balls; needs k < both sizes."""
    ref_radii = knn_radii(reference, k, knn)
    sample_radii = knn_radii(samples, k, knn)
    precision = float(np.mean(inside_union_of_balls(samples, reference, ref_radii)))
    recall = float(np.mean(inside_union_of_balls(reference, samples, sample_radii)))
    return precision, recall
