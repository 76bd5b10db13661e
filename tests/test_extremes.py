"""Extreme but valid inputs: finite, correct answers (or a ValueError naming the limit).

One regression test per case found by trying extreme values (tiny and huge t, coordinates far from
the origin or tiny, weights spanning the float64 range). Each failed before the fix it guards: the
expansion |x|^2 - 2 x.x_i + |x_i|^2 losing every digit at tiny t, overflow to inf - inf, weights
normalised by a sum that underflows, squared distances that overflow in the neighbour search.
"""

import math

import numpy as np
import pytest

import oracle
from ledkde_fast import (
    empirical_denoiser,
    empirical_score,
    kde_log_density,
    nearest_neighbors,
    smoothed_denoiser,
    smoothed_score,
)


def _gaussian_peak(d, t):
    """log N(0; 0, t I) = -(d/2) log(2 pi t), the largest value a Gaussian KDE can take."""
    return -0.5 * d * (math.log(2 * math.pi) + math.log(t))


@pytest.mark.parametrize("t", [1e-16, 1e-20, 1e-200])
def test_kde_at_a_training_point_for_tiny_t(backend, rng, t):
    # At a training point of well-separated data every other point has weight exp(-O(1)/t) = 0, so
    # the exact value is log(1/N) + the Gaussian peak (the float64 oracle agrees: explicit
    # differences). Before: 8253.7 / -4034 on cpp and numba at t = 1e-20 (the expansion's rounding
    # eps * |x - mu|^2 / t ~ 1e4 swamped the logits).
    data = rng.standard_normal((100, 3))
    got = kde_log_density(data[:5], data, t, backend=backend)
    expected = math.log(1 / 100) + _gaussian_peak(3, t)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(got, oracle.kde_log_density(data[:5], data, t), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tiny_t_between_points_matches_the_oracle(backend, rng, dtype):
    # Queries off the data at t small next to the spacing: the softmax is nearly one-hot but not
    # quite; the float64 oracle from explicit differences is exact to rounding here.
    data = rng.standard_normal((60, 4)).astype(dtype)
    x = (data[:8] + 1e-4 * rng.standard_normal((8, 4))).astype(dtype)
    t = 1e-9
    got = empirical_denoiser(x, data, t, backend=backend)
    np.testing.assert_allclose(got, oracle.denoiser(x, data, t), atol=10 * np.finfo(dtype).eps * 4)


def test_weights_spanning_more_than_the_float64_range(backend):
    # The point at 1 has weight 1e300 but logit log(1e300) - 1/(2e-4) = -4309; the point at 0 has
    # log(1e-300) = -691: the denoiser is 0 to within exp(-3618). Before: w / sum(w) underflowed to 0
    # for the small weight, which dropped its point, and the answer was 1.
    got = empirical_denoiser([[0.0]], [[0.0], [1.0]], 1e-4, weights=[1e-300, 1e300], backend=backend)
    assert got[0, 0] == 0.0
    # and a common factor of the weights changes nothing, across the whole range
    data = np.linspace(-1.0, 1.0, 7)[:, None]
    w = np.arange(1.0, 8.0)
    base = empirical_denoiser([[0.1]], data, 0.3, weights=w, backend=backend)
    for factor in (1e-300, 1e-150, 1e150, 1e300 / 8):
        np.testing.assert_allclose(empirical_denoiser([[0.1]], data, 0.3, weights=w * factor, backend=backend),
                                   base, rtol=1e-12)


@pytest.mark.parametrize("scale", [1e20, 1e146])
def test_repeated_points_far_from_the_origin(backend, scale):
    # Three copies of one point (weights 1, 2, 5) at a query on it: the density is the Gaussian peak
    # exactly, whatever the scale. Before: off by log 3 at 1e146 on cpp (the rounding of the data
    # mean entered as delta^2 / 2t), NaN for the denoiser at 1e20 with t = 1e-300.
    data = np.full((3, 2), scale)
    for t in (1.0, 1e-300):
        got = kde_log_density(data[0], data, t, weights=[1, 2, 5], backend=backend)
        np.testing.assert_allclose(got, _gaussian_peak(2, t), rtol=1e-12)
        np.testing.assert_array_equal(empirical_denoiser(data[0], data, t, weights=[1, 2, 5], backend=backend),
                                      data[0])


def test_repeated_points_at_random_scales(backend):
    # The same at 200 random scales 1e10 .. 1e150 (fixed seed). The rounding of the mean, delta, enters
    # the expansion's logits as terms of about |delta|^2 / t that should cancel; the fast kernels
    # switch to differences wherever that rounding could exceed 2^-20 in a logit, which bounds the
    # error here. Before: off by log 3 at 80 of 300 such scales.
    rng = np.random.default_rng(7)
    for s in 10.0 ** rng.uniform(10, 150, 200):
        data = np.tile(rng.standard_normal(2) * s, (3, 1))
        got = kde_log_density(data[0], data, 1.0, weights=[1, 2, 5], backend=backend)
        assert abs(got - _gaussian_peak(2, 1.0)) < 4 * 2.0 ** -20, s


def test_repeated_points_far_away_between_them_at_tiny_t(backend):
    # Points at 1e20 + {0, 2^20, 2^21} (weights 1, 2, 5; float64 spacing there is 2^14) and a query
    # 2^18 from the first at t = 1e-300: every logit is below -3e310, beyond float64, yet the softmax
    # tends to all weight on the nearest point. Before: NaN on every backend.
    data = (1e20 + np.array([0.0, 2.0**20, 2.0**21]))[:, None]
    x = np.array([[1e20 + 2.0**18]])
    np.testing.assert_array_equal(empirical_denoiser(x, data, 1e-300, weights=[1, 2, 5], backend=backend),
                                  data[:1])


def test_logits_that_overflow_float64(backend):
    # -|x - x_i|^2 / 2t = -5e319 for the point at 0: below the float64 range, a weight of zero; the
    # point at 1e150 has logit 0. Before: NaN on cpp and numba (inf - inf in the expansion).
    got = empirical_denoiser([[1e150]], [[0.0], [1e150]], 1e-20, backend=backend)
    np.testing.assert_array_equal(got, [[1e150]])


def test_float32_with_t_below_the_float32_range(backend, rng):
    # t < 2.9e-39 is not a normal float32 (1/t overflows float32); near-query softmax is one-hot on
    # the nearest point. Before: NaN on cpp.
    data = rng.standard_normal((50, 2)).astype(np.float32)
    x = data[:3] + np.float32(0.01)
    for t in (1e-40, 1e-80):
        got = empirical_denoiser(x, data, t, backend=backend)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, oracle.denoiser(x, data, t).astype(np.float32))


def test_float32_coordinates_near_the_float32_range(backend, rng):
    # Squared coordinates of 4e19 overflow float32 (3.4e38). At the data points the answer is the
    # point itself; between points, t = 1 is tiny next to the spacing, so the answer is the nearest
    # point. Before: NaN on cpp for both.
    # The fast kernels return mu + (x_i - mu) with x_i - mu rounded to float32: one rounding.
    data = (rng.standard_normal((50, 2)) * 4e19).astype(np.float32)
    eps = np.finfo(np.float32).eps
    np.testing.assert_allclose(empirical_denoiser(data[:4], data, 1.0, backend=backend), data[:4], rtol=2 * eps)
    x = data[:4] * np.float32(1.0001)
    expected = oracle.denoiser(x, data, 1.0)
    np.testing.assert_allclose(empirical_denoiser(x, data, 1.0, backend=backend), expected, rtol=2 * eps)


def test_subnormal_t(backend, rng):
    # t = 5e-320: 1/t overflows float64. The exact estimators still have a finite answer (the nearest
    # point carries all the weight); the smoothed ones cannot divide by t and say so. Before: NaN.
    data = rng.standard_normal((40, 3))
    x = data[:2] + 1e-160
    # (the fast kernels return mu + (x_i - mu): one rounding)
    np.testing.assert_allclose(empirical_denoiser(x, data, 5e-320, backend=backend), data[:2], rtol=0,
                               atol=4 * np.finfo(np.float64).eps)
    with pytest.raises(ValueError, match="smallest normal float64"):
        smoothed_denoiser(x, data, 5e-320, bandwidth=0.1, n_kernel=8, seed=0, backend=backend)


@pytest.mark.parametrize("t", [2.9e307, 1e308, 1.7e308])
def test_huge_t(backend, rng, t):
    # The density is flat at this scale: every exp term is 1, so log p = -(d/2) log(2 pi t) exactly.
    # Before: -inf (log(2 pi t) was formed as the log of a product that overflows).
    data = rng.standard_normal((10, 3))
    got = kde_log_density(data[:2], data, t, backend=backend)
    np.testing.assert_allclose(got, _gaussian_peak(3, t), rtol=1e-14)
    assert np.all(np.isfinite(empirical_score(data[:2], data, t, backend=backend)))


def test_queries_too_far_for_any_logit(backend):
    # |x - x_i|^2 / 2t is at least 8e308 for every point: beyond float64, but the softmax tends to all
    # weight on the nearest point, and the log-density is below the float64 range (-inf is its
    # correct rounding).
    data = np.array([[0.0], [1e5], [3e5]])
    np.testing.assert_array_equal(empirical_denoiser([[2.6e5]], data, 1e-300, backend=backend), [[3e5]])
    assert kde_log_density([[2.6e5]], data, 1e-300, backend=backend)[0] == -np.inf


def test_smoothing_logits_beyond_the_dtype_range(rng):
    # The shared draws enter as C = -Y.(x_i - mu)/t: with h = 1e10 at t = 1e-300 that is 1e310, beyond
    # float64. A ValueError names the limit instead of a NaN from inf - inf.
    data = rng.standard_normal((20, 2))
    with pytest.raises(ValueError, match="too small for this bandwidth"):
        smoothed_score(data[:2], data, 1e-300, bandwidth=1e10, n_kernel=8, seed=0)


@pytest.mark.parametrize(("dtype", "scale"), [(np.float32, 2e19), (np.float32, 1e-25), (np.float64, 1e154),
                                              (np.float64, 1e-170)])
def test_nearest_neighbors_at_extreme_scales(fast_backend, rng, dtype, scale):
    # Neighbours do not change under a common scaling. Before: index -1 or wrong neighbours on cpp
    # where the squared distances overflowed or underflowed (float32 ~2e19 and ~1e-25, float64 ~1e154).
    data = rng.standard_normal((300, 3))
    x = rng.standard_normal((20, 3))
    _, expected = nearest_neighbors(x, data, 4, backend="reference")
    dist, got = nearest_neighbors((x * scale).astype(dtype), (data * scale).astype(dtype), 4, backend=fast_backend)
    np.testing.assert_array_equal(got, expected)
    assert np.all(np.isfinite(dist)) and np.all(dist > 0)


def test_float32_nearest_neighbors_resolve_near_ties(fast_backend, rng):
    # N = 2000 points on a line in float32: the selection's float32 distances misordered near-ties
    # (about 1 query in 1,000); the answer must be that of exact float64 distances on the same values.
    data = rng.uniform(-1, 1, (2000, 1)).astype(np.float32)
    x = rng.uniform(-1, 1, (3000, 1)).astype(np.float32)
    _, got = nearest_neighbors(x, data, 1, backend=fast_backend)
    exact = np.abs(x.astype(np.float64) - data.astype(np.float64).T)
    best = exact.min(axis=1)
    # where the two nearest are exactly tied, either is right
    assert np.all(exact[np.arange(x.shape[0]), got[:, 0]] == best)
