"""Every backend against the float64 brute-force oracle, across dimensions, dtypes and weight regimes."""

import numpy as np
import pytest

import ledkde_fast as lk
import oracle
from conftest import cpp_isas
from oracle import data_scale, logit_scale

# Each regime is a target for the median effective sample size 1 / sum_i w_i^2 of the weights, hit
# by bisection on log t with the oracle: one-hot, a handful of points sharing the weight, nearly
# uniform.
REGIMES = {"one_hot": 1.0001, "between": 5.0, "near_uniform": 0.9}  # the last as a fraction of N
DIMS = (1, 2, 37, 784)


def make_problem(rng, d, dtype, m=23, n=301):
    data = rng.normal(size=(n, d)) + 3.0  # off the origin, so centring matters
    x = data[rng.integers(0, n, size=m)] + 0.3 * rng.normal(size=(m, d)) * (d ** -0.5 if d > 2 else 0.05)
    return x.astype(dtype), data.astype(dtype)


def median_ess(x, data, t):
    w = oracle.softmax_weights(x, data, t)
    return float(np.median(1.0 / (w**2).sum(axis=1)))


def regime_t(x, data, regime):
    target = REGIMES[regime] * (data.shape[0] if regime == "near_uniform" else 1.0)
    lo, hi = -30.0, 30.0  # log t; the median ESS grows with t
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if median_ess(x, data, np.exp(mid)) < target else (lo, mid)
    return float(np.exp(hi))


def check_regime(x, data, t, regime):
    w = oracle.softmax_weights(x, data, t)
    ess = 1.0 / (w**2).sum(axis=1)
    if regime == "one_hot":
        assert np.median(w.max(axis=1)) > 0.999
    elif regime == "near_uniform":
        assert np.median(ess) > 0.8 * data.shape[0]
    else:
        assert 2.0 < np.median(ess) < 0.5 * data.shape[0]


def tolerances(dtype, x, data, t):
    """Denoiser: 1e-10 (float64) / 1e-4 (float32) times the data radius, as promised in the README.
    Log-density: 64 ulps of the largest term a GEMM-expanded logit is built from (absolute), plus
    16 ulps of the result itself (rtol, for the normalising constants)."""
    eps = np.finfo(dtype).eps
    scale = data_scale(data)
    den_tol = (1e-10 if dtype == np.float64 else 1e-4) * scale
    logp_tol = 64 * eps * (1.0 + logit_scale(x, data, t).max())
    return den_tol, logp_tol


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("regime", list(REGIMES))
def test_matches_oracle(backend, rng, d, dtype, regime):
    x, data = make_problem(rng, d, dtype)
    t = regime_t(x, data, regime)
    check_regime(x, data, t, regime)
    den_tol, logp_tol = tolerances(dtype, x, data, t)

    m = lk.empirical_denoiser(x, data, t, backend=backend)
    assert m.dtype == dtype and m.shape == x.shape
    # oracle on the float32-rounded inputs, in float64
    np.testing.assert_allclose(m, oracle.denoiser(x, data, t), rtol=0, atol=den_tol)

    s = lk.empirical_score(x, data, t, backend=backend)
    assert s.dtype == dtype
    np.testing.assert_allclose(s, oracle.score(x, data, t), rtol=0, atol=den_tol / t)

    lp = lk.kde_log_density(x, data, t, backend=backend)
    assert lp.dtype == dtype and lp.shape == (x.shape[0],)
    np.testing.assert_allclose(lp, oracle.kde_log_density(x, data, t), rtol=16 * np.finfo(dtype).eps,
                               atol=logp_tol)


@pytest.mark.parametrize("isa", cpp_isas() or ["none"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", (3, 16, 64))
def test_every_instruction_set(rng, isa, dtype, d):
    """The compiled core carries one kernel per instruction set; each must be right on its own."""
    if isa == "none":
        pytest.skip("compiled core not available")
    from ledkde_fast import _core

    x, data = make_problem(rng, d, dtype, m=19, n=97)
    t = regime_t(x, data, "between")
    den_tol, logp_tol = tolerances(dtype, x, data, t)
    previous = _core.active_isa()
    _core.select_isa(isa)
    try:
        m = lk.empirical_denoiser(x, data, t, backend="cpp")
        lp = lk.kde_log_density(x, data, t, backend="cpp")
    finally:
        _core.select_isa(previous)
    np.testing.assert_allclose(m, oracle.denoiser(x, data, t), rtol=0, atol=den_tol)
    np.testing.assert_allclose(lp, oracle.kde_log_density(x, data, t), rtol=16 * np.finfo(dtype).eps,
                               atol=logp_tol)


def test_weighted_data(backend, rng):
    data = rng.normal(size=(40, 5))
    x = rng.normal(size=(9, 5))
    w = rng.uniform(0.1, 3.0, size=40)
    w[[3, 17]] = 0.0  # zero weight: the point must drop out
    t = 0.7
    tol = 1e-10 * data_scale(data)
    np.testing.assert_allclose(lk.empirical_denoiser(x, data, t, weights=w, backend=backend),
                               oracle.denoiser(x, data, t, w), rtol=0, atol=tol)
    np.testing.assert_allclose(lk.kde_log_density(x, data, t, weights=w, backend=backend),
                               oracle.kde_log_density(x, data, t, w), rtol=0, atol=1e-10)
    # weights are relative: scaling them changes nothing
    np.testing.assert_allclose(lk.empirical_denoiser(x, data, t, weights=7.5 * w, backend=backend),
                               lk.empirical_denoiser(x, data, t, weights=w, backend=backend), rtol=0, atol=tol)


def test_integer_weights_equal_repeated_points(backend, rng):
    data = rng.normal(size=(30, 4))
    counts = rng.integers(0, 4, size=30)
    counts[0] = 2
    repeated = np.repeat(data, counts, axis=0)
    x = rng.normal(size=(11, 4))
    t = 0.3
    tol = 1e-10 * data_scale(data)
    for fn in (lk.empirical_denoiser, lk.empirical_score):
        np.testing.assert_allclose(fn(x, data, t, weights=counts, backend=backend),
                                   fn(x, repeated, t, backend=backend), rtol=0, atol=tol / t)
    np.testing.assert_allclose(lk.kde_log_density(x, data, t, weights=counts, backend=backend),
                               lk.kde_log_density(x, repeated, t, backend=backend), rtol=0, atol=1e-10)
