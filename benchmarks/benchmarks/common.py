"""Seeded problem data shared by the benchmarks."""

import numpy as np

import ledkde_fast


def problem(m, n, d, dtype, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(n, d)).astype(dtype)
    x = rng.normal(size=(m, d)).astype(dtype)
    # t of the order of the squared distances: weights neither one-hot nor uniform
    return x, data, float(d)


def backends(*wanted):
    have = ledkde_fast.available_backends()
    return [b for b in wanted if b in have]
