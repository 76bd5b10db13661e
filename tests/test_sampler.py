"""The reverse-diffusion sampler and the LEDKDE estimator."""

import numpy as np
import pytest

import ledkde_fast as lk
from ledkde_fast import analysis
from ledkde_fast.sampler import default_t_max, default_t_min, time_grid


def circle(n=40):
    a = 2 * np.pi * np.arange(n) / n
    return np.stack([np.cos(a), np.sin(a)], axis=1)


def nearest_distance(samples, data):
    return np.sqrt(((samples[:, None, :] - data[None, :, :]) ** 2).sum(-1)).min(axis=1)


def test_memorisation_smoothing_and_bias_on_the_circle():
    """The paper's story on 40 points of the unit circle (spacing 0.157). Observed with these seeds:
    99 % memorised at h = 0, about 35 % within 0.03 at h = 0.15 (the uniform-on-the-circle value is
    2 x 0.03 / 0.157 = 38 %) with mean distance to the circle 0.013, and mean radius 0.87 at h = 0.4;
    the bounds below leave wide margins on each."""
    data = circle()
    kw = dict(t_max=9.0, t_min=1e-4, n_steps=200)
    exact = lk.sample(data, 300, bandwidth=0.0, seed=1, **kw)
    assert (nearest_distance(exact, data) < 0.03).mean() >= 0.75
    smooth = lk.sample(data, 300, bandwidth=0.15, seed=2, **kw)
    radius = np.linalg.norm(smooth, axis=1)
    assert (nearest_distance(smooth, data) < 0.03).mean() <= 0.50
    assert np.abs(radius - 1.0).mean() <= 0.03
    blurred = lk.sample(data, 300, bandwidth=0.4, seed=3, **kw)
    assert np.linalg.norm(blurred, axis=1).mean() < 0.95


def test_other_methods_and_options():
    data = circle()
    kw = dict(t_max=9.0, t_min=1e-4, n_steps=60, seed=0)
    flow = lk.sample(data, 50, method="probability_flow", **kw)
    # the deterministic flow with the exact score also ends on training points
    assert np.median(nearest_distance(flow, data)) < 0.03
    langevin = lk.sample(data, 50, method="langevin", bandwidth=0.1, **kw)
    assert np.isfinite(langevin).all() and langevin.shape == (50, 2)
    out, traj = lk.sample(data, 20, return_trajectory=True, **kw)
    assert traj.shape == (61, 20, 2)
    np.testing.assert_array_equal(traj[-1], out)
    # a final denoising step at tiny t_min with the exact score puts samples on training points
    den = lk.sample(data, 20, final_denoise=True, **kw)
    np.testing.assert_allclose(nearest_distance(den, data), 0.0, atol=1e-9)


def test_bandwidth_schedule_and_seeds():
    data = circle()
    kw = dict(t_max=4.0, t_min=1e-3, n_steps=30, n_kernel=32)
    a = lk.sample(data, 25, bandwidth=0.1, seed=4, **kw)
    b = lk.sample(data, 25, bandwidth=lambda t: 0.1, seed=np.random.default_rng(4), **kw)
    np.testing.assert_array_equal(a, b)
    c = lk.sample(data, 25, bandwidth=lambda t: 0.2 * np.sqrt(t), seed=4, **kw)
    assert np.isfinite(c).all() and not np.array_equal(a, c)
    f32 = lk.sample(data.astype(np.float32), 5, seed=0, **kw)
    assert f32.dtype == np.float32


def test_default_times_and_grid():
    data = circle()
    assert default_t_max(data) == pytest.approx(5.0)  # both principal variances of the circle are 1/2
    spacing = 2 * np.sin(np.pi / 40)  # chord between neighbours
    assert default_t_min(data) == pytest.approx((0.1 * spacing) ** 2 / 2, rel=1e-12)
    np.testing.assert_allclose(time_grid(8.0, 1.0, 3, "geometric"), [8, 4, 2, 1])
    np.testing.assert_allclose(time_grid(4.0, 1.0, 3, "linear"), [4, 3, 2, 1])


@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        ({"n_samples": 0}, ValueError, "n_samples must be >= 1"),
        ({"n_samples": 2.5}, TypeError, "n_samples must be an int"),
        ({"method": "rk4"}, ValueError, "method must be one of"),
        ({"t_min": 10.0, "t_max": 1.0}, ValueError, "t_min .* must be smaller than t_max"),
        ({"t_max": -1.0}, ValueError, "t_max must be finite and > 0"),
        ({"schedule": [1.0, 2.0]}, ValueError, "strictly decreasing"),
        ({"schedule": "cosine"}, ValueError, "schedule must be one of"),
        ({"bandwidth": -1.0}, ValueError, "bandwidth must be finite and >= 0"),
        ({"bandwidth": lambda t: -1.0}, ValueError, "bandwidth must be finite and >= 0"),
        ({"n_steps": 0}, ValueError, "n_steps must be >= 1"),
        ({"n_steps": True}, TypeError, "n_steps must be an int"),
    ],
)
def test_bad_input(kwargs, exc, pattern):
    args = dict(n_samples=5, t_max=4.0, t_min=1e-2, n_steps=3)
    args.update(kwargs)
    n = args.pop("n_samples")
    with pytest.raises(exc, match=pattern):
        lk.sample(circle(), n, **args)


# ----------------------------------------------------------------------------- estimator
def test_estimator_scores_and_samples(rng):
    data = rng.normal(size=(50, 3))
    x = rng.normal(size=(7, 3))
    est = lk.LEDKDE(bandwidth=0.3, t=0.2, n_kernel=64, random_state=5).fit(data)
    expected = lk.led_kde_log_density(x, data, 0.2, 0.3, n_kernel=64, seed=5)
    np.testing.assert_array_equal(est.score_samples(x), expected)
    # score is minus the held-out denoising score-matching loss (a proper criterion), same seed
    assert est.score(x) == -analysis.dsm_loss(x, data, 0.3, n_kernel=64, seed=5)
    assert est.n_features_in_ == 3
    s = est.sample(4, random_state=0)
    assert s.shape == (4, 3) and np.isfinite(s).all()


def test_estimator_params_protocol():
    est = lk.LEDKDE(bandwidth=0.2, kernel="pca", rank=1)
    params = est.get_params()
    assert params["bandwidth"] == 0.2 and params["rank"] == 1
    twin = type(est)(**params)
    assert twin.get_params() == params
    assert est.set_params(t=0.5) is est and est.t == 0.5
    with pytest.raises(ValueError, match="invalid parameter 'width'"):
        est.set_params(width=1)
    with pytest.raises(ValueError, match="not fitted"):
        est.score_samples(np.zeros((1, 2)))
    assert "LEDKDE(bandwidth=0.2" in repr(est)


def test_estimator_clones_with_scikit_learn(rng):
    base = pytest.importorskip("sklearn.base")
    est = lk.LEDKDE(bandwidth=0.25, t=0.1, n_kernel=16, random_state=1).fit(rng.normal(size=(20, 2)))
    twin = base.clone(est)
    assert twin.get_params() == est.get_params()
    assert not hasattr(twin, "data_")


def test_estimator_exposes_the_sampler_settings(rng):
    """Any data scale and any t: the start time defaults to at least 10 x the stop time (before, a small
    data set with t = 1 raised 't_min (1.0) must be smaller than t_max (0.0915)')."""
    X = 0.1 * rng.standard_normal((20, 2))
    out = lk.LEDKDE(t=1.0, bandwidth=0.05, n_kernel=16, n_steps=10).fit(X).sample(3, random_state=0)
    assert out.shape == (3, 2) and np.isfinite(out).all()
    kw = dict(bandwidth=0.05, n_kernel=16, n_steps=8, t_max=2.0, t_min=0.01, schedule="linear",
              method="probability_flow", final_denoise=True)
    est = lk.LEDKDE(t=0.5, **kw).fit(X)
    expected = lk.sample(X, 4, seed=3, **kw)
    np.testing.assert_array_equal(est.sample(4, random_state=3), expected)
    with pytest.raises(ValueError, match="method must be one of"):
        lk.LEDKDE(method="rk4").fit(X).sample(2)


def test_kernel_repr_shows_shapes_not_values():
    from ledkde_fast import kernels

    assert repr(kernels.Covariance(np.eye(300))) == "Covariance(matrix=<array 300x300 float64>)"
    assert repr(kernels.Samples(np.ones((4, 3)))) == "Samples(samples=<array 4x3 float64>)"
    assert repr(kernels.PCA(2)) == "PCA(rank=2)"


def test_configuration_as_a_dict():
    info = lk.config_dict()
    assert info["backends"] == lk.available_backends() and info["ledkde_fast"] == lk.__version__


def test_an_explicit_schedule_needs_no_default_times():
    """With the times given as an array, t_max and t_min are not needed (not even for sharded data, whose
    default times cannot be computed) and their defaults are not computed."""
    from ledkde_fast._shards import ShardedSource

    data = circle()
    times = [4.0, 1.0, 0.25, 0.0625]
    expected = lk.sample(data, 5, schedule=times, bandwidth=0.1, n_kernel=8, seed=0)
    assert expected.shape == (5, 2)

    class NoDefaults(ShardedSource):  # a sharded source over the same points, in this process
        def __init__(self, points):
            from ledkde_fast._shards import make_shard, shard_summary

            self.shard = make_shard(points, 0, None, None)
            super().__init__([shard_summary(self.shard)])

        def _round(self, fn, arrays, scattered, *args):
            return [fn(self.shard, *args, **arrays)]

    out = lk.sample(NoDefaults(data), 5, schedule=times, bandwidth=0.1, n_kernel=8, seed=0)
    assert out.shape == (5, 2) and np.isfinite(out).all()
    with pytest.raises(TypeError, match="schedule"):
        lk.sample(data, 5, schedule=["a", "b"])
