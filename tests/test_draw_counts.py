"""The sampler's draw counts: fixed, a function of t, or "auto" (ledkde_fast._draw_counts)."""

import numpy as np
import pytest

import ledkde_fast as lk
from ledkde_fast import kernels
from ledkde_fast._data import prepare
from ledkde_fast._draw_counts import AUTO_BATCH, AUTO_BATCHES, _combine, as_draw_policy, estimate_step
from ledkde_fast._estimate import estimate, prepare_smoothing


def _problem(rng):
    data = rng.normal(size=(30, 3))
    x = rng.normal(size=(5, 3))
    return prepare(x, data, 0.05)


def test_combining_parts_is_the_estimate_over_all_their_draws(rng):
    # Every smoothed quantity is a mean over draws, so parts of 16 and 48 explicit draws, mixed by
    # their counts, equal the estimate over the 64 draws together (to rounding).
    p = _problem(rng)
    y = rng.normal(size=(64, 3))

    def with_samples(s):
        setup = prepare_smoothing(p, kernels.Samples(s), s.shape[0], True, False, None, "cpp")
        return estimate(p, setup, 0.3, np.random.default_rng(0))

    whole = with_samples(y)
    mixed = _combine([with_samples(y[:16]), with_samples(y[16:])], [16, 48])
    np.testing.assert_allclose(mixed.denoiser, whole.denoiser, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mixed.ybar, whole.ybar, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mixed.log_density, whole.log_density, rtol=1e-12)


def test_auto_stops_at_its_batches_or_at_the_cap(rng):
    p = _problem(rng)
    setup = prepare_smoothing(p, "gaussian", AUTO_BATCH, True, False, None, "cpp")
    loose = as_draw_policy("auto", target=1e9)
    _, n = estimate_step(loose, p, setup, 0.3, np.random.default_rng(1))
    assert n == AUTO_BATCH * AUTO_BATCHES  # the error is measured, and already small enough
    strict = as_draw_policy("auto", target=1e-9, cap=256)
    est, n = estimate_step(strict, p, setup, 0.3, np.random.default_rng(1))
    assert n == 256 and np.isfinite(est.denoiser).all()
    # in between: the extra draws follow the measured error, n ~ (error / target)^2
    mid = as_draw_policy("auto", target=0.01, cap=1 << 20)
    _, n_mid = estimate_step(mid, p, setup, 0.3, np.random.default_rng(1))
    assert AUTO_BATCH * AUTO_BATCHES < n_mid < 1 << 20


def test_sampler_draw_counts(rng):
    data = rng.normal(size=(20, 2))
    kw = dict(bandwidth=0.2, n_steps=5, seed=3)
    # a function of t that always says 16 is the fixed count 16, bitwise (same draws, same order)
    np.testing.assert_array_equal(lk.sample(data, 4, n_kernel=lambda t: 16, **kw),
                                  lk.sample(data, 4, n_kernel=16, **kw))
    out = lk.sample(data, 4, n_kernel="auto", **kw)
    assert out.shape == (4, 2) and np.isfinite(out).all()


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    (dict(n_kernel="many"), ValueError, "'auto'"),
    (dict(n_kernel=15), ValueError, "even"),
    (dict(n_kernel=lambda t: 3), ValueError, "even"),
    (dict(n_kernel=lambda t: 2.5), TypeError, "n_kernel"),
    (dict(n_kernel="auto", n_kernel_target=0.0), ValueError, "n_kernel_target"),
    (dict(n_kernel="auto", n_kernel_cap=32), ValueError, "n_kernel_cap"),
    (dict(n_kernel="auto", n_kernel_cap=65), ValueError, "n_kernel_cap must be even"),
])
def test_bad_draw_counts(rng, kwargs, error, match):
    with pytest.raises(error, match=match):
        lk.sample(rng.normal(size=(10, 2)), 2, bandwidth=0.2, n_steps=2, seed=0, **kwargs)
