"""Exact k-nearest neighbours against brute force, on every backend."""

import numpy as np
import pytest

from ledkde_fast.neighbors import nearest_neighbors


def brute(x, data, k):
    d2 = ((np.asarray(x, float)[:, None, :] - np.asarray(data, float)[None, :, :]) ** 2).sum(-1)
    idx = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return np.sqrt(np.take_along_axis(d2, idx, axis=1)), idx


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d, k", [(1, 1), (3, 5), (40, 7)])
def test_equals_brute_force(backend, rng, dtype, d, k):
    data = (rng.normal(size=(777, d)) + 5.0).astype(dtype)
    x = (rng.normal(size=(101, d)) + 5.0).astype(dtype)
    dist, idx = nearest_neighbors(x, data, k, backend=backend)
    ref_d, ref_i = brute(x, data, k)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-12, atol=0)


def test_duplicates_ties_and_self(backend, rng):
    data = np.repeat(rng.normal(size=(20, 2)), 2, axis=0)  # every point twice
    dist, idx = nearest_neighbors(data, data, 2, backend=backend)
    np.testing.assert_array_equal(dist, 0.0)
    # ties are broken by the smaller index
    np.testing.assert_array_equal(idx, np.repeat(np.arange(0, 40, 2), 2)[:, None] + [0, 1])


def test_one_point_k_equals_n_and_bad_k(backend, rng):
    data = rng.normal(size=(6, 3))
    dist, idx = nearest_neighbors(data[2], data, 6, backend=backend)
    assert dist.shape == (6,) and idx[0] == 2 and sorted(idx) == list(range(6))
    with pytest.raises(ValueError, match="k must be between 1 and the number of data points"):
        nearest_neighbors(data, data, 7, backend=backend)
    with pytest.raises(TypeError, match="k must be an int"):
        nearest_neighbors(data, data, 1.0, backend=backend)
