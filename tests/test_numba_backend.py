"""The Numba backend's routes for the empirical kernel, each against the float64 oracle: the fused
Numba kernel (a few dimensions, or where the expansion's rounding is too large), the products in
Numba loops on the calling thread (small problems) and the BLAS path (blocks of queries x points:
a GEMM for the logits, the fused max / exp / merge in Numba, a GEMM for the weighted sum). And the
BLAS path's promises: bits independent of n_threads, float32 products where float32's rounding
is within the C++ core's bound and float64 products where it is not.
"""

import math

import numpy as np
import pytest

import ledkde_fast as lk
import oracle
from conftest import use_backend


@pytest.fixture
def nb():
    use_backend("numba")
    from ledkde_fast._backends import numba

    return numba


def _route(nb, monkeypatch, route):
    """Force one route (and, for the BLAS path, small blocks that leave remainders on both axes and a
    merge on several threads)."""
    if route == "fused":
        monkeypatch.setattr(nb, "_FUSED_MAX_D", 10**9)
        return
    monkeypatch.setattr(nb, "_FUSED_MAX_D", 0)
    monkeypatch.setattr(nb, "_SMALL_WORK", 10**15 if route == "small" else 0)
    if route == "blas":
        monkeypatch.setattr(nb, "_BLAS_ROWS", 16)
        monkeypatch.setattr(nb, "_BLAS_CELLS", 1600)  # 6 queries x 256 points: 37 = 6 * 6 + 1, 700 = 2 * 256 + 188
        monkeypatch.setattr(nb, "_PARALLEL_CELLS", 0)


def _spy_products(nb, monkeypatch):
    """Record the dtype of the products of every call to the expansion path."""
    seen = []
    inner = nb._lse_blas

    def spy(xc, *args):
        seen.append(xc.dtype)
        return inner(xc, *args)

    monkeypatch.setattr(nb, "_lse_blas", spy)
    return seen


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("route", ["fused", "small", "blas"])
def test_each_route_matches_the_oracle(nb, monkeypatch, rng, route, dtype):
    _route(nb, monkeypatch, route)
    seen = _spy_products(nb, monkeypatch)
    n, d = 700, 20
    data = (rng.normal(size=(n, d)) + 3.0).astype(dtype)
    x = (data[rng.integers(0, n, size=37)] + 0.3 * rng.normal(size=(37, d))).astype(dtype)
    # points of weight zero: the first 300 (whole blocks of the BLAS route without mass) and a few more
    w = rng.uniform(0.5, 2.0, size=n)
    w[:300] = 0.0
    w[rng.integers(300, n, size=20)] = 0.0
    t = 1.5
    den_tol = (1e-10 if dtype == np.float64 else 1e-4) * oracle.data_scale(data)
    logp_tol = 64 * np.finfo(dtype).eps * (1.0 + oracle.logit_scale(x, data, t).max())
    for weights in (None, w):
        got = lk.empirical_denoiser(x, data, t, weights=weights, backend="numba")
        assert got.dtype == dtype
        np.testing.assert_allclose(got, oracle.denoiser(x, data, t, weights), rtol=0, atol=den_tol)
        lp = lk.kde_log_density(x, data, t, weights=weights, backend="numba")
        np.testing.assert_allclose(lp, oracle.kde_log_density(x, data, t, weights), rtol=16 * np.finfo(dtype).eps,
                                   atol=logp_tol)
    # the products run in the input's dtype (float32 within the C++ core's bound), except on the fused route
    assert seen == ([] if route == "fused" else [np.dtype(dtype)] * 4)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blas_route_bits_do_not_depend_on_the_threads(nb, monkeypatch, rng, dtype):
    seen = _spy_products(nb, monkeypatch)
    # m N d above _SMALL_WORK, d above _FUSED_MAX_D, blocks above _PARALLEL_CELLS: the default BLAS route
    x = rng.normal(size=(300, 40)).astype(dtype)
    data = rng.normal(size=(3000, 40)).astype(dtype)
    assert 300 * 3000 * 40 > nb._SMALL_WORK and 40 > nb._FUSED_MAX_D
    results = [lk.empirical_denoiser(x, data, 20.0, backend="numba", n_threads=k) for k in (1, 2, 4, 2)]
    assert seen == [np.dtype(dtype)] * 4
    for other in results[1:]:
        np.testing.assert_array_equal(results[0], other)
    tol = (1e-10 if dtype == np.float64 else 1e-4) * oracle.data_scale(data)
    np.testing.assert_allclose(results[0], oracle.denoiser(x, data, 20.0), rtol=0, atol=tol)


def test_float32_products_give_way_to_float64_beyond_their_bound(nb, monkeypatch, rng):
    # Queries far from the data next to sqrt(t): eps32 |x - mu|^2 / 2t is about 0.1 > 2^-5, while
    # float64's eps64 |x - mu|^2 / 2t stays far below 2^-20: the products run in float64 (the weights
    # are one-hot here; the oracle is exact all the same).
    _route(nb, monkeypatch, "small")
    seen = _spy_products(nb, monkeypatch)
    data = rng.normal(size=(200, 20)).astype(np.float32)
    x = (data[:10] + np.float32(300.0)).astype(np.float32)
    t = 1.0
    got = lk.empirical_denoiser(x, data, t, backend="numba")
    assert seen == [np.dtype(np.float64)]
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, oracle.denoiser(x, data, t), rtol=0, atol=1e-4 * oracle.data_scale(data))


def test_direct_form_in_many_dimensions(nb, rng):
    # At a training point with t = 1e-20 every other point has weight zero: the expansion's rounding
    # would swamp the logits, so the logits come from differences (the fused kernel) above _FUSED_MAX_D too.
    d = 20
    assert d > nb._FUSED_MAX_D
    data = rng.standard_normal((100, d))
    got = lk.kde_log_density(data[:5], data, 1e-20, backend="numba")
    expected = math.log(1 / 100) - 0.5 * d * (math.log(2 * math.pi) + math.log(1e-20))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(lk.empirical_denoiser(data[:5], data, 1e-20, backend="numba"), data[:5], rtol=0,
                               atol=4 * np.finfo(np.float64).eps * oracle.data_scale(data))
