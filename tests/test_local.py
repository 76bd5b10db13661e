"""The local kernel (kernels.Local): its directions against an explicit eigendecomposition, its draws
confined to the data's subspace, its estimates against the float64 oracle at the same draws, and the
backends against one another for a seed."""

import numpy as np
import pytest

import ledkde_fast as lk
import oracle
from conftest import use_backend
from ledkde_fast._data import prepare
from ledkde_fast._local import fresh_draws_of, local_directions, local_plan, make_local_draws
from ledkde_fast.kernels import Local


def subspace_data(n, d, k, seed, offset=0.3):
    """n points spread along k orthonormal directions of R^d (scales 3, 2, 1, ...), shifted off the origin."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(d, k)))[0]
    coords = rng.normal(size=(n, k)) * np.linspace(3.0, 1.0, k)
    return coords @ basis.T + offset, basis


def plan_for(kern, data, x, t, n=16, antithetic=True):
    p = prepare(x, data, t)
    return p, local_plan(kern, p.source, n, antithetic, "auto")


def draws_of(kern, data, x, t, h, n, antithetic, seed):
    """The explicit draws (m, n, d) the estimators take for this seed (the same generator calls)."""
    p, plan = plan_for(kern, data, x, t, n, antithetic)
    draws = make_local_draws(plan.local, kern, p.x.astype(np.float64), t, h, n, antithetic, plan.method,
                             np.random.default_rng(seed))
    return fresh_draws_of(plan.local, draws, antithetic).samples(), draws, plan


# ------------------------------------------------------------------------------------ the directions
def oracle_covariance(x, data, t, squared):
    w = oracle.softmax_weights(x, data, t)
    if squared:
        w = w**2 / (w**2).sum(axis=1, keepdims=True)
    out = []
    for q in range(x.shape[0]):
        centred = data - w[q] @ data
        out.append((centred * w[q][:, None]).T @ centred)
    return out


@pytest.mark.parametrize("covariance", ["posterior", "squared"])
@pytest.mark.parametrize("time", [None, 4.0])
def test_directions_are_the_top_eigenvectors_of_the_local_covariance(covariance, time):
    """With enough subspace iterations the directions span the top-r eigenvectors of the explicit
    d x d local covariance (projectors equal to 1e-8: the eigen-gaps of this data are >= 10 %, so 30
    iterations converge far below that), and "eigen" scales are sqrt(lambda / mean lambda)."""
    data, _ = subspace_data(80, 6, 6, seed=1)
    x = data[:5] + np.random.default_rng(2).normal(size=(5, 6))
    t, r = 1.5, 2
    kern = Local(r, scale="eigen", covariance=covariance, time=time, n_iter=30, oversample=2)
    p, plan = plan_for(kern, data, x, t)
    geom = plan.local
    u, s, _ = local_directions(geom, geom.query_coords(x), kern.covariance_time(t), kern, np.random.default_rng(0))
    t_cov = t if time is None else max(t, time)
    for q, cov in enumerate(oracle_covariance(x, data, t_cov, covariance == "squared")):
        evals, evecs = np.linalg.eigh(cov)
        top = evecs[:, ::-1][:, :r]
        np.testing.assert_allclose(u[q] @ u[q].T, top @ top.T, atol=1e-8)
        lam = evals[::-1][:r]
        np.testing.assert_allclose(s[q], np.sqrt(lam / lam.mean()), rtol=1e-8)


def test_one_iteration_captures_most_of_the_local_variance():
    """The default (one iteration, 8 extra columns): on 300 points spread over 40 directions with
    slowly decaying scales, the captured share of the top-8 local variance is >= 0.9 for every query
    (randomised range finder: the error falls like (lambda_{r+p+1}/lambda_r)^(2 n_iter + 1), here
    about (0.6)^3 of the tail; measured 0.95-0.99 for this seed)."""
    data, _ = subspace_data(300, 50, 40, seed=3)
    x = data[:20] + 0.5 * np.random.default_rng(4).normal(size=(20, 50))
    t = 4.0
    kern = Local(8)
    _, plan = plan_for(kern, data, x, t)
    u, _, _ = local_directions(plan.local, plan.local.query_coords(x), t, kern, np.random.default_rng(5))
    for q, cov in enumerate(oracle_covariance(x, data, t, False)):
        exact = np.linalg.eigvalsh(cov)[::-1][:8].sum()
        assert np.trace(u[q].T @ cov @ u[q]) >= 0.9 * exact


# ------------------------------------------------------------------------------ draws in the subspace
@pytest.mark.parametrize("n_points, d", [(60, 8), (20, 40)], ids=["N>d", "N<d"])
@pytest.mark.parametrize("rank", [3, 5])
@pytest.mark.parametrize("scale", ["whiten", "eigen"])
def test_every_draw_stays_in_the_data_subspace(n_points, d, rank, scale):
    """Data on a 3-D subspace: the component of every draw orthogonal to it is zero to rounding
    (1e-12 of the draws' size), also with rank 5 > 3, where the two extra directions carry no local
    variance and get no smoothing."""
    data, basis = subspace_data(n_points, d, 3, seed=6)
    x = np.random.default_rng(7).normal(size=(6, d))
    for covariance in ("posterior", "squared"):
        y, draws, _ = draws_of(Local(rank, scale=scale, covariance=covariance), data, x, 0.8, 0.7, 32, False, 8)
        orth = y - (y @ basis) @ basis.T
        assert np.abs(orth).max() <= 1e-12 * np.abs(y).max()
        if rank > 3:
            assert np.all(draws.s[:, 3:] == 0.0)
        assert np.all(draws.s[:, :3] > 0.0)


def test_smoothing_off_the_subspace_is_exactly_the_exact_score():
    """Queries off the data's plane: the smoothed score's component orthogonal to the plane is the
    exact score's, -Q(x - mu)/t, for the local kernel with raw (non-antithetic) draws; an isotropic
    kernel's differs there by its draws' mean Q Ybar / t."""
    data, basis = subspace_data(50, 5, 2, seed=9, offset=0.0)
    x = np.random.default_rng(10).normal(size=(4, 5)) * 2
    t, h = 0.5, 0.8
    q = np.eye(5) - basis @ basis.T
    expected = -(x - data.mean(axis=0)) @ q / t
    local = lk.smoothed_score(x, data, t, bandwidth=h, kernel=Local(2), n_kernel=16, antithetic=False, seed=1)
    np.testing.assert_allclose(local @ q, expected, atol=1e-12)
    iso = lk.smoothed_score(x, data, t, bandwidth=h, n_kernel=16, antithetic=False, seed=1)
    assert np.abs(iso @ q - expected).max() > 1e-3


# ------------------------------------------------------------------- the estimates at the same draws
@pytest.mark.parametrize("antithetic", [True, False])
@pytest.mark.parametrize("n_points, d", [(40, 6), (12, 30)], ids=["N>d", "N<d"])
def test_estimates_are_the_oracle_averages_over_the_draws(fast_backend, antithetic, n_points, d):
    """The smoothed score is the oracle's exact score averaged over x - Y_j plus Ybar / t, and the
    LED-KDE the averaged oracle log-density with the control variate (E|Y|^2 = h^2 |D(x)|^2 per query)
    -- at the very draws the estimator takes for this seed (rtol 1e-10: float64 throughout)."""
    backend = use_backend(fast_backend)
    data, _ = subspace_data(n_points, d, 4, seed=11)
    data = data + 0.05 * np.random.default_rng(12).normal(size=data.shape)  # full-dimensional, near a plane
    x = np.random.default_rng(13).normal(size=(5, d))
    t, h, n, seed = 0.7, 0.9, 8, 3
    kern = Local(3, scale="eigen")
    y, draws, _ = draws_of(kern, data, x, t, h, n, antithetic, seed)
    shifted = (x[:, None, :] - y).reshape(-1, d)
    den = oracle.denoiser(shifted, data, t).reshape(5, n, d).mean(axis=1)
    expected_score = (den - x + y.mean(axis=1)) / t
    second = draws.second_moment()
    expected_log = (oracle.kde_log_density(shifted, data, t).reshape(5, n).mean(axis=1)
                    + ((y**2).sum(axis=2).mean(axis=1) - second) / (2 * t))
    for be in (backend, "reference"):
        got = lk.smoothed_score(x, data, t, bandwidth=h, kernel=kern, n_kernel=n, antithetic=antithetic,
                                seed=seed, backend=be)
        np.testing.assert_allclose(got, expected_score, rtol=1e-10, atol=1e-10 * np.abs(expected_score).max())
        log = lk.led_kde_log_density(x, data, t, bandwidth=h, kernel=kern, n_kernel=n, antithetic=antithetic,
                                     seed=seed, backend=be)
        np.testing.assert_allclose(log, expected_log, rtol=1e-10)


def test_backends_agree_for_a_seed_with_weights_and_float32(fast_backend):
    """cpp / numba (factorised, one call for all queries) against the reference backend (explicit
    shifted queries): 1e-10 relative in float64; float32 within 2e-4 of float64 (its logits carry
    relative rounding ~1e-7 times the logit scale, here < 100)."""
    backend = use_backend(fast_backend)
    data, _ = subspace_data(70, 10, 5, seed=14)
    weights = np.random.default_rng(15).uniform(0.5, 2.0, size=70)
    x = np.random.default_rng(16).normal(size=(9, 10))
    kw = dict(bandwidth=0.6, kernel=Local(4), n_kernel=12, seed=4, weights=weights)
    ref = lk.smoothed_denoiser(x, data, 0.4, backend="reference", **kw)
    got = lk.smoothed_denoiser(x, data, 0.4, backend=backend, **kw)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())
    # float32 inputs: against float64 on the same (float32-rounded) values, so that the draws are the same
    x32, data32 = x.astype(np.float32), data.astype(np.float32)
    got32 = lk.smoothed_denoiser(x32, data32, 0.4, backend=backend, **kw)
    ref32 = lk.smoothed_denoiser(x32.astype(np.float64), data32.astype(np.float64), 0.4, backend="reference", **kw)
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, ref32, rtol=0, atol=2e-4 * np.abs(ref32).max())


def test_no_local_variance_means_no_smoothing():
    """Two far points at a tiny t: the other point's weight underflows to exactly 0, the local
    covariance is 0, every direction is dropped and the smoothed score is the exact one."""
    data = np.array([[0.0, 0.0, 0.0], [50.0, 0.0, 0.0]])
    x = np.array([[0.1, 0.2, -0.1], [49.0, 1.0, 0.0]])
    t = 0.01
    got = lk.smoothed_score(x, data, t, bandwidth=1.0, kernel=Local(1), n_kernel=8, seed=0)
    np.testing.assert_allclose(got, oracle.score(x, data, t), rtol=1e-12)


# ------------------------------------------------------------------------------- sampler and checks
def test_sampling_along_a_line_spreads_along_it_only():
    """30 points on a segment in R^3 (spacing 0.21): with the local kernel (rank 1) the samples' mean
    distance along the segment to the nearest training point is >= 1.5x the exact score's (measured
    1.9x: mass spread between the points), while their mean distance off the line stays within 1.2x
    of the exact score's (measured 0.98x). Fixed seed, 200 samples: each mean has a relative
    standard error of about 4 %, so the margins are several standard errors wide."""
    s = np.linspace(-3.0, 3.0, 30)
    direction = np.array([1.0, 2.0, 2.0]) / 3.0
    data = s[:, None] * direction
    common = dict(n_kernel=16, n_steps=40, t_max=4.0, t_min=1e-3, seed=2)

    def along(samples):
        return float(np.abs((samples @ direction)[:, None] - s[None, :]).min(axis=1).mean())

    def off_line(samples):
        return float(np.linalg.norm(samples - (samples @ direction)[:, None] * direction, axis=1).mean())

    exact = lk.sample(data, 200, bandwidth=0.0, **common)
    local = lk.sample(data, 200, bandwidth=0.2, kernel=Local(1), **common)
    assert along(local) >= 1.5 * along(exact)
    assert off_line(local) <= 1.2 * off_line(exact)


def test_estimator_and_float32_sampler():
    data, _ = subspace_data(40, 6, 2, seed=17)
    model = lk.LEDKDE(bandwidth=0.3, kernel=Local(2), n_kernel=8, n_steps=10, random_state=0).fit(data)
    out = model.sample(5)
    assert out.shape == (5, 6) and np.isfinite(out).all()
    out32 = lk.sample(data.astype(np.float32), 5, bandwidth=0.3, kernel=Local(2), n_kernel=8, n_steps=10, seed=0)
    assert out32.dtype == np.float32 and np.isfinite(out32).all()


@pytest.mark.parametrize("make, error, match", [
    (lambda: Local(0), ValueError, "rank"), (lambda: Local(1.5), TypeError, "rank"),
    (lambda: Local(2, scale="pca"), ValueError, "scale"), (lambda: Local(2, covariance="x"), ValueError, "covariance"),
    (lambda: Local(2, n_iter=-1), ValueError, "n_iter"), (lambda: Local(2, oversample=1.0), TypeError, "oversample"),
    (lambda: Local(2, time=0.0), ValueError, "time"), (lambda: Local(2, time="a"), TypeError, "time"),
])
def test_bad_arguments_name_themselves(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_a_rank_beyond_the_span_adds_nothing():
    """10 points span 9 dimensions: rank 12 smooths exactly as rank 9 (same draws for the same seed:
    the generator's calls depend on the rank only through z, hence equal only up to the draws; so
    compare the directions' scales instead: the 3 beyond the span are 0)."""
    data, _ = subspace_data(10, 30, 9, seed=18)
    x = np.random.default_rng(19).normal(size=(3, 30))
    _, draws, _ = draws_of(Local(12, scale="whiten"), data, x, 100.0, 0.5, 4, True, 0)  # t large: all weigh
    assert draws.u.shape == (3, 9, 12) and np.all(draws.s[:, 9:] == 0.0) and np.all(draws.s[:, :9] == 1.0)
    assert np.isfinite(lk.smoothed_score(x, data, 1.0, bandwidth=0.5, kernel=Local(12), n_kernel=4)).all()


def test_what_the_local_kernel_refuses():
    data, _ = subspace_data(10, 30, 3, seed=18)
    with pytest.raises(TypeError, match="one factor per query"):
        Local(2).factor(data, None)
    with pytest.raises(ValueError, match="time"):
        Local(2, time=lambda t: -t).covariance_time(1.0)


def test_a_warm_start_tracks_the_moving_subspace():
    """A sampler step later (queries moved by a reverse-diffusion step, t 10 % smaller), Rayleigh-Ritz on
    the subspace the previous call left captures >= 0.9 of the exact top-r local variance of every
    query, as a cold start with one iteration does (same bound as above; measured 0.97-1.0)."""
    data, _ = subspace_data(300, 50, 40, seed=3)
    rng = np.random.default_rng(20)
    x = data[:20] + 0.5 * rng.normal(size=(20, 50))
    kern = Local(8)
    _, plan = plan_for(kern, data, x, 4.0)
    geom = plan.local
    _, _, subspace = local_directions(geom, geom.query_coords(x), 4.0, kern, np.random.default_rng(5))
    x2 = x + 0.1 * (data[:20] - x) + 0.2 * rng.normal(size=x.shape)
    u, _, _ = local_directions(geom, geom.query_coords(x2), 3.6, kern, np.random.default_rng(6), start=subspace)
    for q, cov in enumerate(oracle_covariance(x2, data, 3.6, False)):
        assert np.trace(u[q].T @ cov @ u[q]) >= 0.9 * np.linalg.eigvalsh(cov)[::-1][:8].sum()


def test_the_sampler_continues_the_subspace_iteration():
    """sample() keeps each sample's subspace between steps (SmoothingSetup.warm); smoothed_score starts
    cold at every call. Same seed: the estimator is deterministic either way."""
    from ledkde_fast._estimate import estimate, prepare_smoothing

    data, _ = subspace_data(40, 6, 3, seed=21)
    x = np.random.default_rng(22).normal(size=(5, 6))
    p = prepare(x, data, 0.5)
    setup = prepare_smoothing(p, Local(2), 8, True, False, None, "auto")
    first = estimate(p, setup, 0.4, np.random.default_rng(0))
    assert setup.warm["local_subspace"].shape == (5, 6, 6)  # k = d = 6 (N > d), c = min(6, 2 + 8)
    again = estimate(p, setup, 0.4, np.random.default_rng(0))
    assert np.isfinite(again.denoiser).all() and np.isfinite(first.denoiser).all()
    a = lk.sample(data, 5, bandwidth=0.4, kernel=Local(2), n_kernel=8, n_steps=5, seed=3)
    np.testing.assert_array_equal(a, lk.sample(data, 5, bandwidth=0.4, kernel=Local(2), n_kernel=8, n_steps=5, seed=3))


@pytest.mark.parametrize("far", [1e100, 1e200])
def test_a_far_query_gets_the_exact_score_without_warnings(far):
    """Far from every point all the local weight sits on one point: no local variance, so no smoothing,
    and the smoothed score is the exact one. The weights' logits leave out |a|^2 (the same for every
    point of a row), which overflowed beyond |a| = 1e154 into inf - inf and a LinAlgError."""
    data = np.random.default_rng(0).normal(size=(50, 4))
    x = np.array([[far, 0.0, 0.0, 0.0], [0.1, 0.2, 0.0, 0.0]])
    with np.errstate(invalid="raise", over="raise"):  # (exp underflows to 0 as it should)
        got = lk.smoothed_score(x, data, 1.0, bandwidth=0.5, kernel=Local(2), n_kernel=8, seed=0)
    exact = lk.empirical_score(x, data, 1.0)
    assert np.isfinite(got).all()
    # the far query's dominant coordinate, -x/t, to rounding (its others are of size 1 against 1e100)
    np.testing.assert_allclose(got[0, 0], exact[0, 0], rtol=1e-12)
    if far == 1e100:
        np.testing.assert_allclose(got[0], exact[0], rtol=1e-9, atol=1e-9)
