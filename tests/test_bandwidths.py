"""Named bandwidth schedules (ledkde_fast.bandwidths): their values, their checks, and that the
sampler treats them exactly as the equivalent number or function."""

import math

import numpy as np
import pytest

import ledkde_fast as lk
from ledkde_fast import bandwidths


def test_values_and_repr():
    assert bandwidths.constant(0.7)(1e-9) == 0.7
    s = bandwidths.sqrt_time(0.5, t_ref=0.04)
    for t in (1e-6, 0.04, 0.3, 9.0):
        assert s(t) == pytest.approx(0.5 * math.sqrt(t / 0.04), rel=1e-15)
    b = bandwidths.below(0.3, t_stop=0.1)
    assert (b(0.1), b(0.0999), b(0.1000001)) == (0.3, 0.3, 0.0)
    assert repr(s) == "sqrt_time(h=0.5, t_ref=0.04)"
    assert repr(b) == "below(h=0.3, t_stop=0.1)"
    assert repr(bandwidths.constant(2.0)) == "constant(h=2.0)"
    assert eval(repr(s), vars(bandwidths)) == s  # the repr is the call that makes it


@pytest.mark.parametrize("make, args, name", [
    (bandwidths.constant, (-1.0,), "bandwidth"), (bandwidths.constant, (float("nan"),), "bandwidth"),
    (bandwidths.sqrt_time, (1.0, 0.0), "t_ref"), (bandwidths.sqrt_time, (1.0, float("inf")), "t_ref"),
    (bandwidths.below, (1.0, -2.0), "t_stop"), (bandwidths.below, (-0.1, 1.0), "bandwidth"),
])
def test_bad_values_name_the_argument(make, args, name):
    with pytest.raises(ValueError, match=name):
        make(*args)
    with pytest.raises(TypeError):
        bandwidths.constant("0.1")


DATA = np.random.default_rng(0).normal(size=(30, 3))
COMMON = dict(n_kernel=16, n_steps=12, t_max=2.0, t_min=0.01, seed=5)


def test_the_sampler_takes_a_schedule_as_the_function_it_is():
    """Same seed, same draws: a schedule gives bit for bit what the plain number or lambda gives."""
    np.testing.assert_array_equal(lk.sample(DATA, 6, bandwidth=bandwidths.constant(0.2), **COMMON),
                                  lk.sample(DATA, 6, bandwidth=0.2, **COMMON))
    np.testing.assert_array_equal(lk.sample(DATA, 6, bandwidth=bandwidths.sqrt_time(0.3, 0.5), **COMMON),
                                  lk.sample(DATA, 6, bandwidth=lambda t: 0.3 * math.sqrt(t / 0.5), **COMMON))


def test_below_a_time_never_reached_is_the_exact_score():
    """t_stop below t_min: every step has h = 0, which takes no kernel draws, so the run is the exact
    score's, bit for bit; a t_stop inside the run changes the samples."""
    exact = lk.sample(DATA, 6, bandwidth=0.0, **COMMON)
    np.testing.assert_array_equal(lk.sample(DATA, 6, bandwidth=bandwidths.below(0.5, 0.005), **COMMON), exact)
    assert not np.array_equal(lk.sample(DATA, 6, bandwidth=bandwidths.below(0.5, 0.5), **COMMON), exact)
