"""The kernel-smoothed denoiser/score and the LED-KDE: identities, quadrature accuracy, estimators,
backends, kernel families and bad input."""

import numpy as np
import pytest

import ledkde_fast as lk
import oracle
from conftest import use_backend
from ledkde_fast import kernels
from ledkde_fast._data import prepare
from ledkde_fast._kernel_plan import KernelPlan


def draw_kernel(kern, p, h, n_kernel, antithetic, rng):
    """The draws one call of the shared-sample estimators makes."""
    return KernelPlan.build(kern, p.source, n_kernel, antithetic).draw(h, rng)

SMOOTHED = (lk.smoothed_denoiser, lk.smoothed_score, lk.led_kde_log_density)


@pytest.fixture
def cloud(rng):
    return rng.normal(size=(9, 2)), rng.normal(size=(60, 2))


# ----------------------------------------------------------------------------- exact identities
def test_bandwidth_zero_is_the_empirical_quantity(backend, cloud):
    x, data = cloud
    t = 0.3
    for smooth, exact in ((lk.smoothed_denoiser, lk.empirical_denoiser), (lk.smoothed_score, lk.empirical_score),
                          (lk.led_kde_log_density, lk.kde_log_density)):
        np.testing.assert_array_equal(smooth(x, data, t, 0.0, backend=backend), exact(x, data, t, backend=backend))


@pytest.mark.parametrize("antithetic", [True, False])
@pytest.mark.parametrize("kernel", ["gaussian", "pca", "factor", "samples"])
def test_score_is_the_gradient_of_the_led_kde(fast_backend, rng, kernel, antithetic):
    d = 3
    data = rng.normal(size=(40, d)) * [1.0, 0.5, 0.2]
    x = rng.normal(size=(5, d))
    t, h, n = 0.2, 0.4, 64
    kern = {"gaussian": "gaussian", "pca": kernels.PCA(2), "factor": kernels.Factor(rng.normal(size=(d, 2))),
            "samples": kernels.Samples(rng.normal(size=(n, d)))}[kernel]
    kw = dict(kernel=kern, n_kernel=n, seed=7, antithetic=antithetic, backend=fast_backend)
    score = lk.smoothed_score(x, data, t, h, **kw)
    eps = 1e-5
    fd = np.empty_like(score)
    for k in range(d):
        e = np.zeros(d)
        e[k] = eps
        upper = lk.led_kde_log_density(x + e, data, t, h, **kw)
        fd[:, k] = (upper - lk.led_kde_log_density(x - e, data, t, h, **kw)) / (2 * eps)
    # central differences: truncation ~ eps^2 |f'''| and rounding ~ 1e-16 |f| / eps, both < 1e-7 |score| here
    np.testing.assert_allclose(score, fd, rtol=1e-6, atol=1e-6 * np.abs(score).max())


def test_antithetic_draws_have_mean_exactly_zero(rng):
    data = rng.normal(size=(30, 4))
    p = prepare(data[:2], data, 1.0)
    draw = draw_kernel(kernels.Gaussian(), p, 0.7, 256, True, np.random.default_rng(3))
    assert draw.mirrored and draw.n == 256 and draw.z.shape[0] == 128  # the second half is -z, not stored
    dirs = draw.logit_directions()
    np.testing.assert_array_equal(dirs[:128] + dirs[128:], 0.0)
    np.testing.assert_array_equal(dirs[:128], 0.7 * draw.z)
    y = draw.samples()
    np.testing.assert_array_equal(y[:128] + y[128:], 0.0)  # pairs cancel exactly, so the mean is zero
    np.testing.assert_array_equal(draw.mean, 0.0)
    # hence the score is exactly (denoiser - x) / t
    x = rng.normal(size=(6, 4))
    den = lk.smoothed_denoiser(x, data, 0.5, 0.7, n_kernel=256, seed=3)
    np.testing.assert_allclose(lk.smoothed_score(x, data, 0.5, 0.7, n_kernel=256, seed=3), (den - x) / 0.5,
                               rtol=1e-13, atol=1e-13)


# ----------------------------------------------------------------------------- backends and seeds
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(80, 3), (25, 40)])  # N > d, and N < d (draws in the data span)
def test_backends_agree_for_a_seed(rng, dtype, shape):
    data = rng.normal(size=shape).astype(dtype)
    x = (data[:7] + 0.3 * rng.normal(size=(7, shape[1]))).astype(dtype)
    t, h = 0.5 * shape[1] ** 0.5, 0.3
    kw = dict(n_kernel=48, seed=11)
    expected = {f.__name__: f(x.astype(np.float64), data.astype(np.float64), t, h, backend="reference", **kw)
                for f in SMOOTHED}
    scale = oracle.data_scale(data)
    den_tol = (1e-10 if dtype == np.float64 else 1e-4) * scale
    lp_tol = 64 * np.finfo(dtype).eps * (1 + oracle.logit_scale(x, data, t).max())
    for backend in ("cpp", "numba"):
        if backend not in lk.available_backends():
            continue
        got = {f.__name__: f(x, data, t, h, backend=backend, **kw) for f in SMOOTHED}
        assert got["smoothed_denoiser"].dtype == dtype
        np.testing.assert_allclose(got["smoothed_denoiser"], expected["smoothed_denoiser"], rtol=0, atol=den_tol)
        np.testing.assert_allclose(got["smoothed_score"], expected["smoothed_score"], rtol=0, atol=den_tol / t)
        np.testing.assert_allclose(got["led_kde_log_density"], expected["led_kde_log_density"],
                                   rtol=16 * np.finfo(dtype).eps, atol=lp_tol)


def test_seed_generator_and_repeatability(cloud):
    x, data = cloud
    a = lk.smoothed_score(x, data, 0.3, 0.2, n_kernel=32, seed=5)
    np.testing.assert_array_equal(a, lk.smoothed_score(x, data, 0.3, 0.2, n_kernel=32, seed=5))
    np.testing.assert_array_equal(a, lk.smoothed_score(x, data, 0.3, 0.2, n_kernel=32, seed=np.random.default_rng(5)))
    assert not np.array_equal(a, lk.smoothed_score(x, data, 0.3, 0.2, n_kernel=32, seed=6))


# ----------------------------------------------------------------------------- accuracy against quadrature
def gauss_hermite_smoothed(x, data, t, h, n_nodes):
    """E_Y[f(x - Y)], Y ~ N(0, h^2 I_d), d <= 2, by tensor Gauss-Hermite quadrature on the oracle:
    exact to far below Monte-Carlo error for these smooth integrands."""
    nodes, w = np.polynomial.hermite.hermgauss(n_nodes)
    nodes = np.sqrt(2.0) * h * nodes
    w = w / np.sqrt(np.pi)
    d = x.shape[1]
    grids = np.meshgrid(*([nodes] * d), indexing="ij")
    ys = np.stack([g.ravel() for g in grids], axis=1)
    ws = np.prod(np.meshgrid(*([w] * d), indexing="ij"), axis=0).ravel()
    score = np.zeros_like(x, dtype=float)
    logp = np.zeros(x.shape[0])
    for y, wy in zip(ys, ws):
        score += wy * oracle.score(x - y, data, t)
        logp += wy * oracle.kde_log_density(x - y, data, t)
    return score, logp


@pytest.mark.parametrize("d", [1, 2])
def test_accuracy_against_gauss_hermite(rng, d):
    data = rng.normal(size=(30, d))
    x = rng.normal(size=(4, d))
    t, h = 0.05, 0.3
    q_score, q_logp = gauss_hermite_smoothed(x, data, t, h, 60 if d == 1 else 40)
    runs = {}
    for independent in (False, True):
        scores, logps = [], []
        for seed in range(24):
            kw = dict(n_kernel=512, seed=seed, independent=independent)
            scores.append(lk.smoothed_score(x, data, t, h, **kw))
            logps.append(lk.led_kde_log_density(x, data, t, h, **kw))
        runs[independent] = (np.array(scores), np.array(logps))
        s_mean, s_se = runs[independent][0].mean(0), runs[independent][0].std(0, ddof=1) / np.sqrt(24)
        l_mean, l_se = runs[independent][1].mean(0), runs[independent][1].std(0, ddof=1) / np.sqrt(24)
        # the mean of 24 independent estimates is within 5 standard errors of the exact value
        # (a t-distribution with 23 dof exceeds 5 with probability < 5e-5; fixed seeds make it exact)
        assert np.all(np.abs(s_mean - q_score) <= 5 * s_se + 1e-9)
        assert np.all(np.abs(l_mean - q_logp) <= 5 * l_se + 1e-9)
    # shared and independent estimators agree within their combined standard errors
    for k in (0, 1):
        a, b = runs[False][k], runs[True][k]
        se = np.sqrt(a.var(0, ddof=1) / 24 + b.var(0, ddof=1) / 24)
        assert np.all(np.abs(a.mean(0) - b.mean(0)) <= 5 * se + 1e-9)


# ----------------------------------------------------------------------------- kernel families
def test_factor_identity_equals_gaussian(cloud):
    x, data = cloud
    kw = dict(n_kernel=40, seed=2)
    np.testing.assert_array_equal(lk.smoothed_score(x, data, 0.3, 0.5, kernel=kernels.Factor(np.eye(2)), **kw),
                                  lk.smoothed_score(x, data, 0.3, 0.5, **kw))


def test_covariance_kernel_matches_its_definition(rng):
    a = rng.normal(size=(3, 3))
    cov = a @ a.T
    kern = kernels.Covariance(cov)
    f = kern.factor(np.zeros((5, 3)), None)
    np.testing.assert_allclose(f @ f.T, cov, rtol=0, atol=1e-12 * np.abs(cov).max())
    data = rng.normal(size=(10, 3))
    p = prepare(data[:1], data, 1.0)
    y = draw_kernel(kern, p, 0.5, 200_000, True, np.random.default_rng(0)).samples()
    # sample covariance of 2e5 draws: each entry within 6 standard errors (se <= 0.25 |Sigma| sqrt(2/n))
    se = 0.25 * np.sqrt(2.0 / 100_000) * np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    assert np.all(np.abs(y.T @ y / y.shape[0] - 0.25 * cov) <= 6 * se)


def test_pca_kernel_leaves_the_orthogonal_complement_untouched(fast_backend, rng):
    # data exactly in a 2-D subspace of R^5; a query displaced by o orthogonal to it
    basis = np.linalg.qr(rng.normal(size=(5, 5)))[0]
    span, perp = basis[:, :2], basis[:, 2:]
    data = rng.normal(size=(50, 2)) @ span.T
    s = rng.normal(size=(4, 2)) @ span.T
    o = rng.normal(size=(4, 3)) @ perp.T
    t, h = 0.1, 0.4
    kw = dict(kernel="pca", rank=2, n_kernel=64, seed=1, backend=fast_backend)
    # draws lie in the data's principal span
    p = prepare(s, data, t)
    y = draw_kernel(kernels.PCA(2), p, h, 64, True, np.random.default_rng(1)).samples()
    np.testing.assert_allclose(y @ perp, 0.0, atol=1e-12)
    # so the LED-KDE sees o only through the diffusion's Gaussian, exactly: -|o|^2 / 2t
    diff = lk.led_kde_log_density(s + o, data, t, h, **kw) - lk.led_kde_log_density(s, data, t, h, **kw)
    np.testing.assert_allclose(diff, -(o**2).sum(1) / (2 * t), rtol=1e-9, atol=1e-9)
    # and the score's orthogonal component is the diffusion's pull back to the span, -o / t
    score = lk.smoothed_score(s + o, data, t, h, **kw)
    np.testing.assert_allclose(score @ perp, -(o @ perp) / t, rtol=0, atol=1e-8 * np.abs(o).max() / t)


def test_explicit_samples_follow_the_definition(backend, rng):
    data = rng.normal(size=(35, 3))
    x = rng.normal(size=(5, 3))
    s = rng.normal(size=(10, 3))
    t, h = 0.4, 0.6
    kern = kernels.Samples(s)
    expected = np.mean([oracle.denoiser(x - h * sj, data, t) for sj in s], axis=0)
    np.testing.assert_allclose(lk.smoothed_denoiser(x, data, t, h, kernel=kern, backend=backend), expected,
                               rtol=0, atol=1e-10 * oracle.data_scale(data))
    lp = np.mean([oracle.kde_log_density(x - h * sj, data, t) for sj in s], axis=0)
    # the control variate uses the samples' own second moment, so it cancels exactly here
    np.testing.assert_allclose(lk.led_kde_log_density(x, data, t, h, kernel=kern, backend=backend), lp,
                               rtol=1e-12, atol=1e-10)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("fn", SMOOTHED)
@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        ({"bandwidth": -0.1}, ValueError, "bandwidth must be finite and >= 0"),
        ({"bandwidth": np.nan}, ValueError, "bandwidth must be finite"),
        ({"bandwidth": "big"}, TypeError, "bandwidth must be a real scalar"),
        ({"n_kernel": 0}, ValueError, "n_kernel must be >= 1"),
        ({"n_kernel": 3}, ValueError, "n_kernel must be even when antithetic=True"),
        ({"n_kernel": 2.0}, TypeError, "n_kernel must be an int"),
        ({"kernel": "box"}, ValueError, "unknown kernel 'box'"),
        ({"kernel": np.eye(2)}, TypeError, "kernels.Covariance"),
        ({"kernel": "pca"}, ValueError, "needs rank="),
        ({"kernel": "pca", "rank": 3}, ValueError, r"rank=3 exceeds min\(N, d\)"),
        ({"kernel": "gaussian", "rank": 1}, ValueError, "rank is only used with kernel='pca'"),
        ({"kernel": kernels.Factor(np.ones((3, 1)))}, ValueError, "kernel factor has 3 rows"),
        ({"kernel": kernels.Samples(np.ones((4, 3)))}, ValueError, "kernel samples has 3"),
        ({"seed": "abc"}, TypeError, "seed must be None, an int or a numpy.random.Generator"),
        ({"antithetic": "yes"}, TypeError, "antithetic must be a bool"),
        ({"independent": True, "kernel": kernels.Samples(np.ones((4, 2)))}, ValueError, "cannot be redrawn"),
    ],
)
def test_bad_input(cloud, fn, kwargs, exc, pattern):
    x, data = cloud
    args = dict(bandwidth=0.3)
    args.update(kwargs)
    bw = args.pop("bandwidth")
    with pytest.raises(exc, match=pattern):
        fn(x, data, 0.5, bw, **args)


@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda: kernels.Covariance(np.array([[1.0, 0.0], [0.0, -1.0]])), "positive semi-definite"),
        (lambda: kernels.Covariance(np.array([[1.0, 0.5], [0.0, 1.0]])), "symmetric"),
        (lambda: kernels.Covariance(np.ones((2, 3))), "square"),
        (lambda: kernels.Covariance(np.ones(3)), "2-D"),
        (lambda: kernels.Factor(np.full((2, 2), np.nan)), "NaN"),
        (lambda: kernels.PCA(0), "rank must be a positive integer"),
        (lambda: kernels.Samples(np.ones((0, 2))), "at least one row"),
    ],
)
def test_bad_kernels(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_two_round_path_for_large_data_equals_the_fused_one(rng, monkeypatch):
    """Above the accumulator budget the cpp backend switches to the two-round kernels (no m x N
    weights); both paths must give the same numbers."""
    use_backend("cpp")
    from ledkde_fast import _data

    data = rng.normal(size=(700, 6))
    x = rng.normal(size=(13, 6))
    kw = dict(n_kernel=40, seed=9, backend="cpp")
    fused = [f(x, data, 0.3, 0.4, **kw) for f in SMOOTHED]
    monkeypatch.setattr(_data, "CHUNK_BYTES", 1024)  # forces the two-round path and several draw blocks
    monkeypatch.setattr(_data, "CACHE_SLAB_ROWS", 256)  # and several data slabs
    rounds = [f(x, data, 0.3, 0.4, **kw) for f in SMOOTHED]
    for a, b in zip(rounds, fused):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12 * np.abs(b).max())


def test_the_led_kde_skips_the_weighted_sums(rng, monkeypatch):
    """The LED-KDE needs only the log-normalisers: on the two-round path its round 2 (the weighted sums
    over the data) must not run, and the value is that of the full computation."""
    use_backend("cpp")
    from ledkde_fast import _data
    from ledkde_fast._backends import cpp

    data = rng.normal(size=(700, 6))
    x = rng.normal(size=(13, 6))
    kw = dict(n_kernel=40, seed=9, backend="cpp")
    expected = lk.led_kde_log_density(x, data, 0.3, 0.4, **kw)
    monkeypatch.setattr(_data, "CHUNK_BYTES", 1024)  # the two-round path

    def no_round_two(*args, **kwargs):
        raise AssertionError("round 2 ran for the LED-KDE")

    monkeypatch.setattr(cpp, "dkde_weighted_sum", no_round_two)
    np.testing.assert_allclose(lk.led_kde_log_density(x, data, 0.3, 0.4, **kw), expected, rtol=0,
                               atol=1e-12 * np.abs(expected).max())
