"""The sampler's draw counts: fixed, a function of t, or "auto" (ledkde_fast._draw_counts)."""

import dataclasses
import math

import numpy as np
import pytest

import ledkde_fast as lk
from ledkde_fast import kernels
from ledkde_fast import sampler as sampler_module
from ledkde_fast._backends import normal_generator
from ledkde_fast._data import prepare
from ledkde_fast._draw_counts import (
    AUTO_CAP,
    AUTO_EVERY,
    AUTO_MIN,
    AUTO_START,
    _combine,
    _round_count,
    as_draw_policy,
    estimate_step,
    relative_error,
)
from ledkde_fast._estimate import estimate, prepare_smoothing


def _problem(rng):
    data = rng.normal(size=(30, 3))
    x = rng.normal(size=(5, 3))
    return prepare(x, data, 0.05)


def _with_count(setup, n):
    return dataclasses.replace(setup, plan=dataclasses.replace(setup.plan, n_kernel=n))


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


def test_round_count():
    assert _round_count(0.0, AUTO_CAP) == AUTO_MIN  # the floor
    assert _round_count(13.0, AUTO_CAP) == 16  # up to a multiple of 4 (two halves of antithetic pairs)
    assert _round_count(16.0, AUTO_CAP) == 16
    assert _round_count(1e9, 4098) == 4096  # the cap, down to a multiple of 4: at most the cap
    assert _round_count(math.inf, 256) == 256


def test_relative_error():
    a, b = np.array([[1.0, 3.0]]), np.array([[3.0, 1.0]])
    # average (2, 2), half-difference (-1, 1): rms 1 over rms 2
    assert relative_error(a, b) == pytest.approx(0.5)
    assert relative_error(a, a) == 0.0
    assert relative_error(a, -a) == 0.0  # an average of zero has no relative error (not a division by 0)


def test_auto_sets_the_next_count_from_the_measured_error(rng):
    p = _problem(rng)
    setup = prepare_smoothing(p, "gaussian", AUTO_START, True, False, None, "cpp")
    # the first step takes AUTO_START draws and measures its error
    loose = as_draw_policy("auto", target=1e9)
    _, n = estimate_step(loose, p, setup, 0.3, np.random.default_rng(1))
    assert n == AUTO_START and loose.state.next_count == AUTO_MIN  # small enough: the floor next
    strict = as_draw_policy("auto", target=1e-9, cap=256)
    est, n = estimate_step(strict, p, setup, 0.3, np.random.default_rng(1))
    assert n == AUTO_START and strict.state.next_count == 256 and np.isfinite(est.denoiser).all()
    _, n = estimate_step(strict, p, setup, 0.3, np.random.default_rng(2))
    assert n == 256  # the next step takes what the first one predicted
    # in between: n' = n rel^2 / target^2, rounded up to a multiple of 4
    mid = as_draw_policy("auto", target=0.01, cap=1 << 20)
    estimate_step(mid, p, setup, 0.3, np.random.default_rng(1))
    (t, n, rel), = mid.state.history
    assert t == p.t and n == AUTO_START and 0 < rel < 1
    assert mid.state.next_count == _round_count(AUTO_START * rel**2 / 0.01**2, 1 << 20)
    assert AUTO_MIN < mid.state.next_count < 1 << 20


def test_auto_measures_the_standard_error_of_its_estimate(rng):
    # The halves' difference must estimate the error of their average: over 400 seeded steps, the
    # mean measured squared standard error against the mean squared error from a 2^18-draw
    # estimate. Each is a mean of 400 independent values whose coefficient of variation is about
    # 1 (15 squared errors per step), so each is within about 5 % (one standard error) and their
    # ratio within about 7 %: [0.8, 1.25] is about 3 standard errors. (Measured: 1.06.) A factor 2
    # (the variance of one half instead of the average) or 4 (no 1/2 on the difference) fails.
    p = _problem(rng)
    setup = prepare_smoothing(p, "gaussian", AUTO_START, True, False, None, "cpp", "iid")
    truth = estimate(p, _with_count(setup, 1 << 18), 0.3, np.random.default_rng(0)).score(p.x, p.t)
    measured, actual, scores = [], [], []
    for k in range(400):
        policy = as_draw_policy("auto")
        est, _ = estimate_step(policy, p, setup, 0.3, np.random.default_rng(100 + k))
        score = est.score(p.x, p.t)
        rel = policy.state.history[0][2]
        measured.append(rel**2 * np.mean(score**2))
        actual.append(np.mean((score - truth) ** 2))
        scores.append(score)
    assert 0.8 < np.mean(measured) / np.mean(actual) < 1.25
    # and the step's estimate is unbiased: each of the 15 coordinates' mean over the 400 steps is
    # within 4.5 standard errors of the truth (for an unbiased estimate the largest of 15 |z| exceeds
    # 4.5 with probability about 1e-4; the truth's own error adds about 0.2 to z here)
    scores = np.array(scores)
    z = (scores.mean(axis=0) - truth) / (scores.std(axis=0, ddof=1) / np.sqrt(len(scores)))
    assert np.abs(z).max() < 4.5


def test_auto_in_the_sampler(rng, monkeypatch):
    policies = []

    def capture(*args, **kwargs):
        policies.append(as_draw_policy(*args, **kwargs))
        return policies[-1]

    monkeypatch.setattr(sampler_module, "as_draw_policy", capture)
    data = rng.normal(size=(20, 2))
    # one thread: the core's small-N double-KDE merges its tasks' sums in completion order, so with
    # two threads a call can differ in the last bit from run to run, which the sampler amplifies
    kw = dict(bandwidth=0.3, n_kernel="auto", n_kernel_target=0.05, n_steps=12, seed=3, n_threads=1)
    out = lk.sample(data, 16, **kw)
    assert out.shape == (16, 2) and np.isfinite(out).all()
    history = policies[-1].state.history
    assert len(history) == 12
    counts = [n for _, n, _ in history]
    assert counts[0] == AUTO_START
    assert all(n % 4 == 0 and AUTO_MIN <= n <= AUTO_CAP for n in counts)
    # the error is measured on the first step and then on one step in AUTO_EVERY
    measured = [k for k, (_, _, rel) in enumerate(history) if not math.isnan(rel)]
    assert measured == list(range(0, 12, AUTO_EVERY))
    # the late steps (small t, h^2/t large) need more draws than the early ones at the same target
    assert max(counts[6:]) > min(counts[1:6])
    # the counts, and so the samples, are a function of the seed
    np.testing.assert_array_equal(out, lk.sample(data, 16, **kw))
    assert [n for _, n, _ in policies[-1].state.history] == counts


@pytest.mark.skipif(normal_generator() is None, reason="without the compiled core, draws take from the sampler's "
                    "generator as many numbers as they have entries")
def test_auto_leaves_the_other_random_numbers_alone(rng):
    # An "auto" step takes one number from the sampler's generator, as a step with a fixed count does
    # with the compiled generator, so runs with one seed share their initial noise and Brownian
    # increments. With a bandwidth of 1e-9 the draws barely move the score: the samples then agree to
    # rounding, where other increments would put them O(1) apart.
    data = rng.normal(size=(20, 2))
    kw = dict(bandwidth=1e-9, n_steps=12, seed=3, n_threads=1)
    auto = lk.sample(data, 16, n_kernel="auto", **kw)
    np.testing.assert_allclose(auto, lk.sample(data, 16, n_kernel=16, **kw), atol=1e-8)
    np.testing.assert_allclose(auto, lk.sample(data, 16, n_kernel=1024, **kw), atol=1e-8)


def test_sampler_draw_counts(rng):
    data = rng.normal(size=(20, 2))
    kw = dict(bandwidth=0.2, n_steps=5, seed=3)
    # a function of t that always says 16 is the fixed count 16, bitwise (same draws, same order)
    np.testing.assert_array_equal(lk.sample(data, 4, n_kernel=lambda t: 16, **kw),
                                  lk.sample(data, 4, n_kernel=16, **kw))
    out = lk.sample(data, 4, n_kernel="auto", **kw)
    assert out.shape == (4, 2) and np.isfinite(out).all()
    # explicit kernel samples are used as given: "auto" has nothing to choose (and draws nothing)
    explicit = dict(kernel=kernels.Samples(rng.normal(size=(6, 2))), **kw)
    np.testing.assert_array_equal(lk.sample(data, 4, n_kernel="auto", **explicit),
                                  lk.sample(data, 4, n_kernel=16, **explicit))


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    (dict(n_kernel="many"), ValueError, "'auto'"),
    # sample() has no antithetic argument: the message does not name one
    (dict(n_kernel=15), ValueError, r"^n_kernel must be even \(the draws come in antithetic pairs Y, -Y\), got 15$"),
    (dict(n_kernel=lambda t: 3), ValueError, r"^n_kernel must be even \(the draws come"),
    (dict(n_kernel=lambda t: 2.5), TypeError, "n_kernel"),
    (dict(n_kernel="auto", n_kernel_target=0.0), ValueError, "n_kernel_target"),
    (dict(n_kernel="auto", n_kernel_cap=32), ValueError, "n_kernel_cap"),
    (dict(n_kernel="auto", n_kernel_cap=65), ValueError, "n_kernel_cap must be even"),
])
def test_bad_draw_counts(rng, kwargs, error, match):
    with pytest.raises(error, match=match):
        lk.sample(rng.normal(size=(10, 2)), 2, bandwidth=0.2, n_steps=2, seed=0, **kwargs)
