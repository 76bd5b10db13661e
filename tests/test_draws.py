"""The constructions of the kernel draws (``draws="iid" | "orthogonal" | "qmc"``, with or without
antithetic pairs): every draw exactly N(0, I), the structure each promises, the span reduction of
the brute-force estimator, and the unbiasedness of every estimator against Gauss-Hermite quadrature.
"""

import numpy as np
import pytest

import ledkde_fast as lk
import oracle
from conftest import use_backend
from ledkde_fast import kernels
from ledkde_fast._data import prepare
from ledkde_fast._estimate import by_definition, by_fresh_draws, prepare_smoothing
from ledkde_fast._kernel_plan import DEFAULT_DRAWS, ORTHOGONAL_MAX_DIM, KernelPlan, standard_draws

stats = pytest.importorskip("scipy.stats")

SMOOTHED = (lk.smoothed_denoiser, lk.smoothed_score, lk.led_kde_log_density)
#: The constructions ("auto" is one of them, by dimension)
METHODS = ("iid", "orthogonal", "qmc")
#: (draws, antithetic) of every construction
CONSTRUCTIONS = [(method, anti) for method in METHODS for anti in (True, False)]


def construction_id(c):
    return f"{c[0]}-{'antithetic' if c[1] else 'raw'}"


# ----------------------------------------------------------------------------- the draws themselves
@pytest.mark.parametrize("construction", CONSTRUCTIONS, ids=construction_id)
def test_every_draw_is_standard_normal(construction):
    """Each row position j of a set, over 3000 independent sets, is N(0, I_r): its squared norm is
    chi2_r and its projection on a fixed unit vector N(0, 1) (Kolmogorov-Smirnov, p > 1e-4 for the
    fixed seed; a wrong radius law or a non-uniform direction gives p ~ 0 at this size), its mean is
    within 5 standard errors of 0 and its covariance within 6 standard errors of I. r = 3 and 8
    rows: full and partial orthogonal blocks, mirrored halves."""
    method, anti = construction
    r, n, sets = 3, 8, 3000
    z = standard_draws(np.random.default_rng(11), sets, n, r, anti, method)
    assert z.shape == (sets, n, r) and np.isfinite(z).all()
    u = np.ones(r) / np.sqrt(r)
    for j in range(n):
        rows = z[:, j, :]
        assert stats.kstest((rows**2).sum(axis=1), stats.chi2(r).cdf).pvalue > 1e-4, j
        assert stats.kstest(rows @ u, stats.norm.cdf).pvalue > 1e-4, j
        assert np.all(np.abs(rows.mean(axis=0)) <= 5 / np.sqrt(sets)), j
        # each entry of the sample covariance has standard error <= sqrt(2 / sets) for N(0, I) rows
        assert np.all(np.abs(np.cov(rows.T) - np.eye(r)) <= 6 * np.sqrt(2 / sets)), j


def test_structure_of_each_construction():
    rng = np.random.default_rng(3)
    r, n = 5, 12
    # orthogonal: rows of a block of r are mutually orthogonal; the last block (2 rows) too
    z = standard_draws(rng, 7, n, r, False, "orthogonal")
    for block in (slice(0, 5), slice(5, 10), slice(10, 12)):
        gram = np.einsum("qir,qjr->qij", z[:, block], z[:, block])
        off = gram - np.einsum("qii->qi", gram)[:, :, None] * np.eye(gram.shape[1])
        np.testing.assert_allclose(off, 0.0, atol=1e-12 * np.abs(gram).max())
    # blocks and sets are independent: different draws
    assert not np.allclose(z[0, :5], z[1, :5])
    for method in METHODS:
        z = standard_draws(rng, 3, n, r, True, method)
        np.testing.assert_array_equal(z[:, n // 2:], -z[:, :n // 2])  # mirrored pairs: mean exactly zero
    # the same generator state gives the same draws
    for method in METHODS:
        a = standard_draws(np.random.default_rng(5), 2, n, r, False, method)
        np.testing.assert_array_equal(a, standard_draws(np.random.default_rng(5), 2, n, r, False, method))


@pytest.mark.parametrize("shape", [(1, 25000, 9), (3, 12, 5), (2, 3, 7), (1, 40, 40), (2, 11, 1)])
def test_compiled_orthogonal_rows_equal_the_numpy_qr(shape, monkeypatch):
    """The compiled Gram-Schmidt (8 blocks at a time; the last, shorter block alone) and the NumPy
    fallback (batched QR, signs of R's diagonal moved into Q, each row's length restored) are two
    computations of one map: equal to rounding (1e-12 relative; the blocks are well conditioned
    Gaussian matrices, whose Gram-Schmidt error is a few ulp times their condition number)."""
    from ledkde_fast import _kernel_plan

    use_backend("cpp")  # the compiled module; a failure, not a skip, where LEDKDE_REQUIRE_BACKENDS names cpp

    compiled = _kernel_plan.orthogonal_normal(np.random.default_rng(4), *shape)
    monkeypatch.setattr(_kernel_plan, "orthogonaliser", lambda: None)
    fallback = _kernel_plan.orthogonal_normal(np.random.default_rng(4), *shape)
    np.testing.assert_allclose(compiled, fallback, rtol=0, atol=1e-12 * np.abs(fallback).max())
    # and each row kept the length of the Gaussian row it came from
    raw = _kernel_plan.iid_normal(np.random.default_rng(4), *shape)
    np.testing.assert_allclose(np.linalg.norm(compiled, axis=2), np.linalg.norm(raw, axis=2), rtol=1e-13)


def test_qmc_is_more_even_than_iid_in_low_dimension():
    """A smooth integrand in 2-D: E|z|^2 = 2. Scrambled Sobol averages of 1024 points vary much
    less over seeds than i.i.d. ones (theory: O(n^-3/2) against O(n^-1/2) in standard deviation)."""
    spread = {}
    for method in ("iid", "qmc"):
        means = [(standard_draws(np.random.default_rng(s), 1, 1024, 2, False, method)[0] ** 2).sum(axis=1).mean()
                 for s in range(20)]
        spread[method] = np.std(means)
    assert spread["qmc"] < 0.1 * spread["iid"]


def test_draws_argument_is_checked():
    data = np.random.default_rng(0).normal(size=(10, 2))
    with pytest.raises(ValueError, match="draws must be one of"):
        lk.smoothed_score(data[:2], data, 0.1, 0.2, draws="sobol")
    with pytest.raises(TypeError, match="draws must be a string"):
        lk.smoothed_score(data[:2], data, 0.1, 0.2, draws=1)



def test_the_default_and_auto():
    """Every entry point defaults to draws="auto": orthogonal blocks up to ORTHOGONAL_MAX_DIM
    dimensions of draws (the span of the data for the Gaussian with N < d), i.i.d. rows above."""
    import inspect

    for f in (*SMOOTHED, lk.sample, lk.LEDKDE):
        assert inspect.signature(f).parameters["draws"].default == DEFAULT_DRAWS == "auto", f
    assert lk.LEDKDE(draws="qmc").get_params()["draws"] == "qmc"
    rng = np.random.default_rng(0)
    d = ORTHOGONAL_MAX_DIM + 4
    for n_data, expected in ((20, "orthogonal"), (d + 10, "iid")):  # span of 19 dimensions; all d
        data = rng.normal(size=(n_data, d))
        p = prepare(data[:2], data, 1.0)
        plan = KernelPlan.build(kernels.Gaussian(), p.source, 8, True)
        assert plan.method == expected and plan.factor.shape[1] == min(n_data - 1, d)
        kw = dict(n_kernel=8, seed=3)
        np.testing.assert_array_equal(lk.smoothed_score(data[:2], data, 1.0, 0.2, **kw),
                                      lk.smoothed_score(data[:2], data, 1.0, 0.2, draws=expected, **kw))
    # the options reach the sampler and the estimator
    data = rng.normal(size=(30, 2))
    a, b = (lk.sample(data, 3, bandwidth=0.3, n_kernel=8, n_steps=3, seed=1, draws=m) for m in ("iid", "qmc"))
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, lk.sample(data, 3, bandwidth=0.3, n_kernel=8, n_steps=3, seed=1, draws="iid"))
    est = {m: lk.LEDKDE(bandwidth=0.3, t=0.05, n_kernel=8, random_state=0, draws=m).fit(data) for m in ("iid", "qmc")}
    assert not np.array_equal(est["iid"].score_samples(data[:3]), est["qmc"].score_samples(data[:3]))


# ----------------------------------------------------------------------------- the span reduction
@pytest.mark.parametrize("construction", CONSTRUCTIONS, ids=construction_id)
@pytest.mark.parametrize("kernel", ["gaussian", "factor", "pca"])
def test_brute_force_in_the_span_equals_the_shifted_queries(construction, kernel):
    """N < d: the brute-force estimator works in the k-dimensional span of the centred data. For the
    same draws it equals the average over the d-dimensional shifted queries x - Y_j (rounding only):
    for the Gaussian the explicit draws V y_j + Q Ybar (``fresh_draws``), for other kernels the
    draws Y = h F z themselves."""
    method, anti = construction
    rng = np.random.default_rng(4)
    d, n_data, m, n, t, h = 40, 7, 5, 32, 0.3, 0.5
    data = rng.normal(size=(n_data, d))
    x = data[:m] + 0.6 * rng.normal(size=(m, d))
    kern = {"gaussian": "gaussian", "factor": kernels.Factor(rng.normal(size=(d, 3))), "pca": kernels.PCA(2)}[kernel]
    p = prepare(x, data, t)
    plan = prepare_smoothing(p, kern, n, anti, True, None, "reference", method).plan
    assert plan.reduction is not None and plan.reduction.span.shape[1] == n_data - 1
    fresh = plan.fresh(h, np.random.default_rng(9), m)
    if kernel == "gaussian":
        y = plan.fresh_draws(h, np.random.default_rng(9), m)
        np.testing.assert_allclose(y.mean(axis=1), fresh.mean, atol=1e-14)
    else:  # the draws themselves, from the same standardised z
        z = standard_draws(np.random.default_rng(9), m, n, plan.factor.shape[1], anti, method)
        y = h * z @ plan.factor.T
    np.testing.assert_allclose(y @ plan.reduction.span, fresh.y, atol=1e-13)

    def state_of(q, want):
        return p.source.lse_state(q, t, want, "reference", 1)

    second = h * h * plan.second_std
    got = by_fresh_draws(p, lambda rows: fresh, plan, second, state_of, p.log_normaliser(), True, "reference")
    ref = by_definition(p, lambda rows: y[rows], n, second, state_of, p.log_normaliser(), True)
    np.testing.assert_allclose(got.denoiser, ref.denoiser, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.ybar, ref.ybar, rtol=0, atol=1e-14)
    np.testing.assert_allclose(got.log_density, ref.log_density, rtol=1e-13, atol=1e-11)


@pytest.mark.parametrize("independent", [False, True])
@pytest.mark.parametrize("construction", CONSTRUCTIONS, ids=construction_id)
def test_orthogonal_part_of_the_draws_is_kept(construction, independent):
    """Draws made in the span (N < d) still carry the mean of their component orthogonal to it:
    outside the span the smoothed score is (-Q(x - mu) + Q Ybar) / t, so over seeds each orthogonal
    coordinate varies with variance exactly h^2 / (n t^2) (independent orthogonal parts), and not at
    all with antithetic pairs. Checked against the chi-square law of the sample variance over 400
    seeds (bounds at its 1e-6 quantiles); dropping Q Ybar would give 0."""
    method, anti = construction
    rng = np.random.default_rng(2)
    d, t, h, n, seeds = 6, 0.5, 0.4, 16, 400
    data = rng.normal(size=(3, d))
    data[:, 2:] = 0.0  # the span is within the first two axes
    x = rng.normal(size=(2, d))
    scores = np.array([lk.smoothed_score(x, data, t, h, n_kernel=n, seed=s, draws=method, antithetic=anti,
                                         independent=independent) for s in range(seeds)])
    outside = scores[:, :, 2:]
    np.testing.assert_allclose(outside.mean(axis=0), -x[:, 2:] / t, atol=6 * h / (np.sqrt(n * seeds) * t))
    var = outside.var(axis=0, ddof=1)
    if anti:
        np.testing.assert_allclose(var, 0.0, atol=1e-20)
    else:
        expected = h * h / (n * t * t)
        lo, hi = stats.chi2(seeds - 1).ppf([1e-6, 1 - 1e-6]) / (seeds - 1)
        assert np.all((var >= lo * expected) & (var <= hi * expected)), var / expected


# ----------------------------------------------------------------------------- unbiasedness
def gauss_hermite(x, data, t, h, n_nodes):
    """E_Y[(m_t, s_t, log p_t)(x - Y)], Y ~ N(0, h^2 I_d), d <= 2, by tensor Gauss-Hermite
    quadrature on the oracle."""
    nodes, w = np.polynomial.hermite.hermgauss(n_nodes)
    nodes, w = np.sqrt(2.0) * h * nodes, w / np.sqrt(np.pi)
    d = x.shape[1]
    ys = np.stack([g.ravel() for g in np.meshgrid(*([nodes] * d), indexing="ij")], axis=1)
    ws = np.prod(np.meshgrid(*([w] * d), indexing="ij"), axis=0).ravel()
    out = [np.zeros_like(x), np.zeros_like(x), np.zeros(x.shape[0])]
    for y, wy in zip(ys, ws):
        out[0] += wy * oracle.denoiser(x - y, data, t)
        out[1] += wy * oracle.score(x - y, data, t)
        out[2] += wy * oracle.kde_log_density(x - y, data, t)
    return out


#: (d, N, t): N > d (draws in all d dimensions) and N < d (drawn in the 1-dimensional span). h = 0.3;
#: with two points the integrand must vary on the scale of h, not be a step of width t / |x_1 - x_2|
#: (a step gives rare events the standard error over seeds does not see, and slow quadrature)
CASES = {"1d": (1, 30, 0.05), "2d": (2, 30, 0.05), "2d-span": (2, 2, 0.5)}
SEEDS = 24
#: |mean - exact| <= BOUND standard errors: (mean - exact) / se is close to Student's t with 23
#: degrees of freedom (each estimate is an average of 512 draws, near-normal); P(|t_23| > 6) < 4e-6,
#: so over the ~10^3 comparisons of this module a correct estimator fails with probability < 0.5 %,
#: and with these fixed seeds it passes or fails the same way on every run
BOUND = 6.0


def unbiasedness_margins(case, method, anti, independent):
    """(|mean over SEEDS estimates - quadrature| - BOUND * se - quadrature error) for the denoiser,
    the score and the LED-KDE: <= 0 everywhere for an unbiased estimator."""
    d, n_data, t = CASES[case]
    h = 0.3
    rng = np.random.default_rng(17 + d + n_data)
    data = rng.normal(size=(n_data, d))
    x = data[np.arange(3) % n_data] + 0.3 * rng.normal(size=(3, d))
    coarse = gauss_hermite(x, data, t, h, 50 if d == 1 else 30)
    exact = gauss_hermite(x, data, t, h, 80 if d == 1 else 45)
    kw = dict(n_kernel=512, draws=method, antithetic=anti, independent=independent)
    margins = []
    for f, ex, co in zip(SMOOTHED, exact, coarse):
        runs = np.array([f(x, data, t, h, seed=s, **kw) for s in range(SEEDS)])
        se = runs.std(axis=0, ddof=1) / np.sqrt(SEEDS)
        quad_err = np.abs(ex - co) + 1e-12 * (1 + np.abs(ex))  # the coarser rule's error bounds the finer's
        margins.append(np.abs(runs.mean(axis=0) - ex) - BOUND * se - quad_err)
    return margins


@pytest.mark.parametrize("independent", [False, True])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("construction", CONSTRUCTIONS, ids=construction_id)
def test_every_construction_is_unbiased(construction, case, independent):
    method, anti = construction
    for name, margin in zip(("denoiser", "score", "log density"), unbiasedness_margins(case, method, anti,
                                                                                       independent)):
        assert np.all(margin <= 0.0), (name, margin)


def test_the_unbiasedness_check_detects_a_biased_construction(monkeypatch):
    """The check above has the power to fail: orthogonal directions with the fixed radius sqrt(r)
    (the right second moment, the wrong law of |z|) smooth with the wrong kernel, and the check sees
    the bias."""
    from ledkde_fast import _kernel_plan

    def fixed_radius(rng, m, n, r):
        z = _kernel_plan.orthogonal_normal(rng, m, n, r)
        return z / np.linalg.norm(z, axis=-1, keepdims=True) * np.sqrt(r)

    monkeypatch.setitem(_kernel_plan._GENERATORS, "orthogonal", fixed_radius)
    margins = unbiasedness_margins("2d", "orthogonal", True, False)
    assert max(float(np.max(mg)) for mg in margins) > 0.0


# ----------------------------------------------------------------------------- the shared path in the span
def test_shared_draws_in_the_span_match_the_reference_backend(fast_backend):
    """N < d with shared draws of every construction: the compiled double-KDE (draws in the span, the
    orthogonal mean in ``offset``) and the reference backend's average over the equivalent explicit
    draws V y_j + Q Ybar agree to rounding, and the plan's draws have the exact mean."""
    rng = np.random.default_rng(8)
    d, n_data = 30, 6
    data = rng.normal(size=(n_data, d))
    x = data[:4] + 0.4 * rng.normal(size=(4, d))
    t, h = 0.4, 0.5
    p = prepare(x, data, t)
    for method, anti in CONSTRUCTIONS:
        plan = KernelPlan.build(kernels.Gaussian(), p.source, 64, anti, method=method)
        assert plan.in_span and plan.factor.shape == (d, n_data - 1)
        draw = plan.draw(h, np.random.default_rng(1))
        np.testing.assert_allclose(draw.samples().mean(axis=0), draw.mean, atol=1e-15)
        kw = dict(n_kernel=64, seed=1, draws=method, antithetic=anti)
        for f in SMOOTHED:
            got, ref = f(x, data, t, h, backend=fast_backend, **kw), f(x, data, t, h, backend="reference", **kw)
            np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-11)


def test_the_compiled_normal_generator():
    """The core's ziggurat stream (used for the kernel draws when the core is installed): 2e6 draws
    have mean, variance, skewness and excess kurtosis within 5 standard errors of N(0, 1)'s, the
    Kolmogorov-Smirnov p-value against N(0, 1) is > 1e-4, the two-sided tail frequencies beyond 1, 2,
    3, the ziggurat's tail start 3.4426 and 4 are within 5 binomial standard errors, and the stream is
    the same for 1 and 2 threads and differs between seeds."""
    use_backend("cpp")
    from ledkde_fast import _core

    n = 2_000_000
    z = _core.normal_rows(12345, n // 4, 4).ravel()
    se = 1 / np.sqrt(n)
    assert abs(z.mean()) < 5 * se
    assert abs(z.var() - 1) < 5 * np.sqrt(2) * se
    assert abs(stats.skew(z)) < 5 * np.sqrt(6) * se
    assert abs(stats.kurtosis(z)) < 5 * np.sqrt(24) * se
    assert stats.kstest(z[:500_000], stats.norm.cdf).pvalue > 1e-4
    for a in (1.0, 2.0, 3.0, 3.442619855899, 4.0):
        p = 2 * stats.norm.sf(a)
        assert abs((np.abs(z) > a).mean() - p) < 5 * np.sqrt(p * (1 - p) / n), a
    np.testing.assert_array_equal(_core.normal_rows(7, 1000, 9, 1), _core.normal_rows(7, 1000, 9, 2))
    assert not np.array_equal(_core.normal_rows(7, 10, 3), _core.normal_rows(8, 10, 3))
