"""The population laws of the synthetic data sets (ledkde_fast.truth), checked against independent
computations: finite differences of the log-density, Monte-Carlo posterior means and convolutions
over 10^6 draws of the law, normalisation integrals, and reference formulas or quadratures written
here from scratch.

Every random draw uses a fixed seed; each statistical bound says why it holds.
"""

import math
import subprocess
import sys

import numpy as np
import pytest

from ledkde_fast import datasets
from ledkde_fast.datasets import Dataset
from ledkde_fast.truth import GaussianMixtureLaw, SphereLaw, SubspaceLaw, SwissRollLaw, law_of

pytest.importorskip("scipy")  # the sphere and cube laws evaluate scipy.special (test and analysis extras)

TIMES = (1e-4, 1e-2, 1.0, 1e2)
MIXTURE = {"means": [[0.0, 0.0], [2.0, 1.0], [-1.0, 2.0]], "stds": [0.3, 0.5, 0.2], "weights": [0.5, 0.3, 0.2]}

# name -> generator of the data set with n points: every family, noise > 0 and ambient_dim > natural
# dimension for the circle, a sphere, the subspace and the Swiss roll
FAMILIES = {
    "circle": lambda n: datasets.circle(n, seed=0),
    "circle_noisy": lambda n: datasets.circle(n, radius=1.5, noise=0.1, ambient_dim=4, seed=1),
    "sphere1": lambda n: datasets.sphere(n, 1, radius=0.8, seed=2),
    "sphere2": lambda n: datasets.sphere(n, 2, seed=3),
    "sphere2_noisy": lambda n: datasets.sphere(n, 2, noise=0.05, ambient_dim=5, seed=4),
    "sphere3": lambda n: datasets.sphere(n, 3, radius=0.7, seed=5),
    "sphere5": lambda n: datasets.sphere(n, 5, noise=0.02, ambient_dim=7, seed=6),
    "subspace": lambda n: datasets.subspace(n, 2, ambient_dim=2, seed=7),
    "subspace_noisy": lambda n: datasets.subspace(n, 2, ambient_dim=4, extent=0.8, noise=0.05, seed=8),
    "mixture": lambda n: datasets.gaussian_mixture(n, seed=9, **MIXTURE),
    "swiss_roll": lambda n: datasets.swiss_roll(n, seed=10),
    "swiss_roll_noisy": lambda n: datasets.swiss_roll(n, turns=1.0, width=0.5, noise=0.05, ambient_dim=4, seed=11),
}
_CACHE = {}


def family(name):
    if name not in _CACHE:
        _CACHE[name] = FAMILIES[name](50)
    return _CACHE[name]


def _tau(law, t):
    return t + law.noise**2


def _near(law, t, m, seed):
    """m query points x = X_0 + sqrt(t) Z, X_0 from the law: where p_t has its mass."""
    rng = np.random.default_rng(seed)
    return law.sample(m, seed=rng) + math.sqrt(t) * rng.standard_normal((m, law.ambient_dim))


# ---------------------------------------------------------------------------- score = grad log p
@pytest.mark.parametrize("t", TIMES)
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_score_is_the_gradient_of_the_log_density(name, t):
    law = family(name).truth
    d = law.ambient_dim
    rng = np.random.default_rng(12)
    x = np.vstack([_near(law, t, 3, 13), _near(law, t, 1, 14) + rng.standard_normal(d), np.zeros((1, d))])
    score = law.score(x, t)
    # Central differences with h = 1e-4 sqrt(t). f = log p_t varies on the scale sqrt(tau) >= sqrt(t)
    # (tau = t + noise^2), so the truncation error h^2 |f'''| / 6 ~ 1e-8 t tau^(-3/2) / 6 is below
    # 2e-9 / sqrt(tau). Rounding: eps |f| / h, with |f| ~ 25 + d^2 / (2 tau) at distance d from the
    # data, i.e. ~1e-10 / sqrt(t) near the data and eps d / (2 h) ~ 1e-9 |s| (|s| ~ d / tau) at d <= 5.
    # So 1e-6 relative to |s| (floor 1/sqrt(tau), for the zero score at the centre of a sphere) leaves
    # a margin of ~100 over both errors.
    h = 1e-4 * math.sqrt(t)
    fd = np.empty_like(x)
    for j in range(d):
        step = np.zeros(d)
        step[j] = h
        fd[:, j] = (law.log_density(x + step, t) - law.log_density(x - step, t)) / (2 * h)
    scale = np.maximum(np.linalg.norm(score, axis=1), 1 / math.sqrt(_tau(law, t)))
    assert np.all(np.abs(fd - score).max(axis=1) <= 1e-6 * scale)


# ---------------------------------------------------------------------------- Monte-Carlo checks
# (family, t) pairs where 10^6 draws of the law leave an effective sample size >= 1000 in the posterior
# of queries drawn from p_t: the delta-method standard error below is then reliable (its relative bias
# is O(1/ESS)). Measured ESS elsewhere: t = 1e-4 gives 10..300 except on a circle (1-D: the posterior
# covers a fraction ~sqrt(t) of the law); sphere5 (5-D) at t = 1e-2 gives ~150. There the checks of
# log_density and score against reference quadratures below cover small t instead.
_MC_TIMES = {name: (1e-2, 1.0, 1e2) for name in FAMILIES}
_MC_TIMES.update({"circle": TIMES, "sphere1": TIMES, "sphere5": (1.0, 1e2)})


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_denoiser_and_density_match_monte_carlo_over_a_million_draws(name):
    law = family(name).truth
    draws = law.sample(10**6, seed=15)  # X_0 from the data law, noise included
    for k, t in enumerate(_MC_TIMES[name]):
        queries = _near(law, t, 2, 16 + k)
        denoised, log_p = law.denoiser(queries, t), law.log_density(queries, t)
        for x, expected, lp in zip(queries, denoised, log_p):
            diff = draws - x
            logw = -np.einsum("ij,ij->i", diff, diff) / (2 * t)  # log N(x; X_0, t I) + const
            top = logw.max()
            w = np.exp(logw - top)
            total = w.sum()
            ess = total**2 / np.dot(w, w)
            assert ess >= 1000, f"{name} t={t}: ESS {ess:.0f}; the delta method needs a large ESS"
            # Self-normalised estimator of E[X_0 | x] = E[X_0 w] / E[w]. Delta method: its variance is
            # sum_i w_i^2 (X_i - m)^2 / (sum_i w_i)^2 per coordinate, so a correct denoiser lies within 4
            # SE with probability 1 - 6e-5 per coordinate (~250 coordinates and ~75 densities below: a
            # correct implementation passes with probability >= 98%, and then always: the seeds are fixed).
            mean = w @ draws / total
            se = np.sqrt((w * w) @ (draws - mean) ** 2) / total
            assert np.all(np.abs(mean - expected) <= 4 * se), (name, t, mean - expected, se)
            # p_t(x) = E[N(x; X_0, t I)]: the plain average of N(x; X_i, t I) has relative standard error
            # sqrt((N / ESS - 1) / N) (the relative variance of w over N draws); 4 SE as above.
            log_mc = top + math.log(total / len(w)) - 0.5 * law.ambient_dim * math.log(2 * math.pi * t)
            rel_se = math.sqrt((len(w) / ess - 1) / len(w))
            assert abs(math.expm1(log_mc - lp)) <= 4 * rel_se, (name, t, log_mc - lp, rel_se)


# ---------------------------------------------------------------------------- importance-sampled Monte Carlo
# The (family, t) pairs the plain-draw test above skips (ESS < 1000 there): every family but the two 1-D ones
# at t = 1e-4, and the 5-sphere at 1e-4 and 1e-2. Here the 10^6 draws come from a proposal q concentrated
# where the posterior of X_0 given X_t = x lives, written from the generators' documented parametrisation
# (datasets.py), not from ledkde_fast.truth:
#   manifolds: X_0 = c(theta) @ basis + noise * Z, with the intrinsic parameter theta (angle to the query on
#     a sphere, box coordinates, spiral parameter and height) uniform in a window W around the query, and
#     noise * Z given c from a widened Gaussian around its conditional posterior (full support: no window);
#   mixture: X_0 ~ N(x, 2 t I), of full support (the law has a density: all stds > 0), so no window at all.
# With the exact weights dLaw/dq(X_0) N(x; X_0, t I), the self-normalised estimate converges to the
# posterior mean given theta in W: that restriction is its only bias. With the noise integrated out (noise
# N(0, sigma^2 I) then diffusion N(0, t I): c is seen through N(x; c, tau I), tau = t + sigma^2), the
# posterior of theta is a product of 1-D laws, and _window cuts each 1-D window from its 1-D posterior, by
# quadrature, so that it leaves out <= 1e-13 of that posterior's mass. A query has at most 2 windows, so
# the posterior mass outside W is <= 2e-13, 5x below the 1e-12 required (asserted for every query, and
# added to the tolerances below).
_IS_PAIRS = [(name, t) for name in sorted(FAMILIES) for t in TIMES if t not in _MC_TIMES[name]]
_IS_EPS = 1e-13  # posterior mass each 1-D window may leave out
_IS_GRID = 1 << 18  # quadrature nodes over the whole range of each intrinsic parameter
_IS_SPREAD = 1.5  # variance of the noise proposal / variance of the noise's conditional posterior
_IS_CHUNK = 1 << 14  # draws per block: small temporaries, and products that OpenBLAS runs on one thread


def _window(grid, log_f, scale, eps=_IS_EPS):
    """Sub-interval [lo, hi] of the grid leaving out at most eps of the mass of exp(log_f), and that mass.

    Trapezoid rule on the grid, each tail summed from its outer end (positive terms: a tail of 1e-13 of the
    total is resolved, not lost in the rounding of the total). f = exp(log_f) is smooth on the length
    `scale` (sqrt(tau) in a Gaussian coordinate; 1 / sqrt(kappa) for a sphere's angle), and the nodes are
    asserted to be <= scale / 250 apart: the trapezoid rule's relative error, ~h^2 |f''/f| / 12, is then
    ~1e-6 near the mode and < 1e-4 even 8 scales out in the tails (|f''/f| ~ 64 / scale^2 there), so the
    computed mass left out is the true one to far better than the margin between eps and 1e-12.
    """
    assert np.diff(grid).max() <= scale / 250, "quadrature grid too coarse for the posterior"
    f = np.exp(log_f - log_f.max())
    cells = 0.5 * (f[1:] + f[:-1]) * np.diff(grid)
    total = cells.sum()
    left = np.concatenate([[0.0], np.cumsum(cells)])  # mass left of grid[i]
    right = np.concatenate([np.cumsum(cells[::-1])[::-1], [0.0]])  # mass right of grid[i]
    i = np.flatnonzero(left <= 0.5 * eps * total)[-1]
    j = np.flatnonzero(right <= 0.5 * eps * total)[0]
    return grid[i], grid[j], (left[i] + right[j]) / total


def _sq(a):
    """Row-wise squared norms."""
    return np.einsum("ij,ij->i", a, a)


def _proposal(ds, x, t):
    """The proposal for the query x at time t: (draw, eps, diam).

    draw(m, rng) returns m draws X_0 (m, D) and the logs of their weights dLaw/dq(X_0) N(x; X_0, t I); eps
    is the posterior mass outside the window (a bound: the sum over the independent 1-D windows); diam is
    the diameter of the clean support, which bounds how far the window moves the posterior mean.
    """
    d = ds.ambient_dim

    def log_lik(y):
        return -0.5 * _sq(y - x) / t - 0.5 * d * math.log(2 * math.pi * t)

    if ds.name == "gaussian_mixture":
        mu, sd, wt = (np.asarray(MIXTURE[key], dtype=float) for key in ("means", "stds", "weights"))
        assert sd.min() > 0
        log_wt = np.log(wt / wt.sum()) - 0.5 * d * np.log(2 * np.pi * sd**2)

        def draw(m, rng):
            y = x + math.sqrt(2 * t) * rng.standard_normal((m, d))
            log_q = -_sq(y - x) / (4 * t) - 0.5 * d * math.log(4 * math.pi * t)
            log_law = _lse(log_wt - ((y[:, None, :] - mu) ** 2).sum(axis=2) / (2 * sd**2))
            return y, log_law - log_q + log_lik(y)

        return draw, 0.0, 0.0

    p, basis, sigma = ds.params, ds.basis, ds.params["noise"]
    tau = t + sigma**2
    y = x @ basis.T  # natural coordinates of the query; the orthogonal part does not involve theta
    if ds.name in ("circle", "sphere"):
        # u uniform on S^k: its angle theta to e = y / |y| has density sin^(k-1)(theta) / S_k on [0, pi],
        # S_k = sqrt(pi) Gamma(k/2) / Gamma((k+1)/2), and given theta, u = cos(theta) e + sin(theta) v with v
        # uniform on the unit sphere of the hyperplane orthogonal to e. Draw theta uniform in its window and
        # v from its law. Posterior of theta: exp(kappa cos theta) sin^(k-1)(theta), kappa = r |y| / tau.
        k, r = ds.intrinsic_dim, p["radius"]
        e = y / np.linalg.norm(y)
        kappa = r * np.linalg.norm(y) / tau
        grid = np.linspace(0.0, math.pi, _IS_GRID)
        with np.errstate(divide="ignore"):
            log_sin = (k - 1) * np.log(np.sin(grid)) if k > 1 else np.zeros_like(grid)
        lo, hi, eps = _window(grid, kappa * np.cos(grid) + log_sin, 1 / math.sqrt(kappa))
        log_const = math.log(hi - lo) - (0.5 * math.log(math.pi) + math.lgamma(k / 2) - math.lgamma((k + 1) / 2))

        def sample_clean(m, rng):
            theta = rng.uniform(lo, hi, m)
            v = rng.standard_normal((m, k + 1))
            v -= np.outer(v @ e, e)
            v *= (r * np.sin(theta) / np.linalg.norm(v, axis=1))[:, None]
            v += np.outer(r * np.cos(theta), e)
            return v @ basis, log_const + (k - 1) * np.log(np.sin(theta))

        diam = 2 * r
    elif ds.name == "subspace":
        # v uniform in [-a, a]^k: the posterior of each coordinate is exp(-(v_j - y_j)^2 / 2 tau) on [-a, a]
        k, a = ds.intrinsic_dim, p["extent"]
        grid = np.linspace(-a, a, _IS_GRID)
        windows = [_window(grid, -((grid - y[j]) ** 2) / (2 * tau), math.sqrt(tau)) for j in range(k)]
        eps = sum(w[2] for w in windows)
        log_const = sum(math.log((hi - lo) / (2 * a)) for lo, hi, _ in windows)

        def sample_clean(m, rng):
            coords = np.column_stack([rng.uniform(lo, hi, m) for lo, hi, _ in windows])
            return coords @ basis, np.full(m, log_const)

        diam = 2 * a * math.sqrt(k)
    else:
        # (s, h) uniform in [s0, s1] x [0, width], point (s cos s / s1, h, s sin s / s1): the posterior is
        # exp(-|(y_0, y_2) - gamma(s)|^2 / 2 tau) for s times exp(-(h - y_1)^2 / 2 tau) for h. The spiral lies
        # in the unit disc, so the roll's diameter is <= sqrt(4 + width^2). The speed |gamma'(s)| =
        # sqrt(1 + s^2) / s1 <= sqrt(1 + s1^2) / s1, so the posterior of s varies on lengths >= sqrt(tau) / that.
        s0, s1, width = p["s0"], p["s1"], p["width"]
        grid = np.linspace(s0, s1, _IS_GRID)
        dist2 = (y[0] - grid * np.cos(grid) / s1) ** 2 + (y[2] - grid * np.sin(grid) / s1) ** 2
        s_lo, s_hi, eps_s = _window(grid, -dist2 / (2 * tau), math.sqrt(tau) * s1 / math.sqrt(1 + s1**2))
        grid = np.linspace(0.0, width, _IS_GRID)
        h_lo, h_hi, eps_h = _window(grid, -((grid - y[1]) ** 2) / (2 * tau), math.sqrt(tau))
        eps = eps_s + eps_h
        log_const = math.log((s_hi - s_lo) / (s1 - s0)) + math.log((h_hi - h_lo) / width)

        def sample_clean(m, rng):
            s, h = rng.uniform(s_lo, s_hi, m), rng.uniform(h_lo, h_hi, m)
            return np.column_stack([s * np.cos(s) / s1, h, s * np.sin(s) / s1]) @ basis, np.full(m, log_const)

        diam = math.sqrt(4 + width**2)

    def draw(m, rng):
        clean, log_ratio = sample_clean(m, rng)
        if sigma == 0:
            return clean, log_ratio + log_lik(clean)
        # X_0 = clean + z, z ~ N(0, sigma^2 I), drawn from N(sigma^2 / tau (x - clean), spread sigma^2 t / tau I):
        # its conditional posterior, widened so that the weights stay bounded (any full-support proposal is
        # exact), and weighted by N(z; 0, sigma^2 I) / q(z)
        var_q = _IS_SPREAD * sigma**2 * t / tau
        step = rng.standard_normal((m, d))  # (z - centre) / sqrt(var_q)
        z = sigma**2 / tau * (x - clean) + math.sqrt(var_q) * step
        log_ratio += 0.5 * (_sq(step) - _sq(z) / sigma**2) + 0.5 * d * math.log(var_q / sigma**2)
        y = clean + z
        return y, log_ratio + log_lik(y)

    return draw, eps, diam


@pytest.mark.parametrize("name, t", _IS_PAIRS)
def test_denoiser_and_density_match_importance_sampling_over_a_million_draws(name, t):
    ds = family(name)
    law = ds.truth
    index = _IS_PAIRS.index((name, t))
    queries = _near(law, t, 2, 40 + index)
    denoised, log_p = law.denoiser(queries, t), law.log_density(queries, t)
    rng = np.random.default_rng(60 + index)
    n = 10**6
    for x, expected, lp in zip(queries, denoised, log_p):
        draw, eps, diam = _proposal(ds, x, t)
        assert eps <= 1e-12, f"{name} t={t}: posterior mass {eps:.1e} outside the window"
        draws, logw = np.empty((n, ds.ambient_dim)), np.empty(n)
        for start in range(0, n, _IS_CHUNK):
            block = slice(start, min(start + _IS_CHUNK, n))
            draws[block], logw[block] = draw(block.stop - block.start, rng)
        top = logw.max()
        w = np.exp(logw - top)
        total = w.sum()
        ess = total**2 / np.dot(w, w)
        assert ess >= 1000, f"{name} t={t}: ESS {ess:.0f}; the delta method needs a large ESS"
        # As in the plain-draw test: the delta-method SE of the self-normalised estimator, 4 SE per
        # coordinate. The window moves the posterior mean by eps |E[X_0 | x, out] - E[X_0 | x, in]| <= eps diam
        # (E[X_0 | x, c] = c t / tau + x sigma^2 / tau, so means over c differ by at most the diameter): the
        # tolerance adds eps diam, <= 1e-12 diam, far below the SE (>= 1e-6 here).
        mean = w @ draws / total
        draws -= mean
        se = np.sqrt(np.einsum("i,ij,ij->j", w * w, draws, draws)) / total
        assert np.all(np.abs(mean - expected) <= 4 * se + eps * diam), (name, t, mean - expected, se)
        # The mean weight estimates the mass in the window, (1 - eps) p_t(x), with relative standard error
        # sqrt((N / ESS - 1) / N): 4 SE, plus eps for the window.
        log_mc = top + math.log(total / n)
        rel_se = math.sqrt((n / ess - 1) / n)
        assert abs(math.expm1(log_mc - lp)) <= 4 * rel_se + eps, (name, t, log_mc - lp, rel_se)


# ---------------------------------------------------------------------------- reference formulas
def _lse(a, axis=-1):
    top = a.max(axis=axis, keepdims=True)
    return (top + np.log(np.exp(a - top).sum(axis=axis, keepdims=True))).squeeze(axis)


def _sphere_reference(k, r, y, tau):
    """log p and score of the uniform S^k diffused, by quadrature over the polar angle (identity basis).

    Uniform u on S^k: u . e has density proportional to sin^(k-1)(theta). For odd k the integrand
    exp(kappa cos) sin^(k-1) is smooth and 2 pi-periodic, so the trapezoid rule on 2^15 points is
    exact to rounding; k = 2 uses the elementary sinh(kappa) / kappa instead.
    """
    rho = np.linalg.norm(y, axis=1)
    kappa = r * rho / tau
    if k == 2:
        with np.errstate(divide="ignore", invalid="ignore"):
            log_mgf = np.where(kappa > 1e-8, kappa + np.log(-np.expm1(-2 * kappa) / (2 * kappa)), kappa**2 / 6)
            mean_cos = np.where(kappa > 1e-2, 1 / np.tanh(kappa) - 1 / kappa,
                                kappa / 3 - kappa**3 / 45 + 2 * kappa**5 / 945)  # coth - 1/kappa
    else:
        theta = np.linspace(0.0, 2 * np.pi, 1 << 15, endpoint=False)
        with np.errstate(divide="ignore"):
            log_sin = (k - 1) * np.log(np.abs(np.sin(theta))) if k > 1 else np.zeros_like(theta)
        base = _lse(log_sin)
        logit = kappa[:, None] * (np.cos(theta) - 1) + log_sin
        log_mgf = kappa + _lse(logit) - base
        wts = np.exp(logit - logit.max(axis=1, keepdims=True))
        mean_cos = (wts * np.cos(theta)).sum(axis=1) / wts.sum(axis=1)
    logp = -(k + 1) / 2 * np.log(2 * np.pi * tau) - (rho**2 + r**2) / (2 * tau) + log_mgf
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(rho[:, None] > 0, y / rho[:, None], 0.0)
    return logp, -y / tau + (r / tau) * mean_cos[:, None] * unit


def _cube_reference(a, y, tau):
    """log p and score of U(-a, a)^k diffused, by the textbook formula (no tail tricks: points chosen
    where it is accurate)."""
    from scipy.special import ndtr

    s = math.sqrt(tau)
    upper, lower = (a - y) / s, (-a - y) / s
    mass = ndtr(upper) - ndtr(lower)
    pdf = lambda z: np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)  # noqa: E731
    return np.log(mass / (2 * a)).sum(axis=1), (pdf(lower) - pdf(upper)) / (s * mass)


def _spiral_reference(q, tau, s0, s1, width, panels=20000):
    """log p and score of the Swiss roll (identity basis), independently: 32-point Gauss-Legendre on
    `panels` equal panels for the spiral (a bump of width >= sqrt(tau) / 1.8 > 10 panels at tau = 1e-4)
    and the textbook formula for the height."""
    x, w = np.polynomial.legendre.leggauss(32)
    edges = np.linspace(s0, s1, panels + 1)
    half = 0.5 * np.diff(edges)
    s = ((edges[:-1] + half)[:, None] + half[:, None] * x).ravel()
    logw = np.log((half[:, None] * w).ravel() / (s1 - s0))
    gx, gz = s * np.cos(s) / s1, s * np.sin(s) / s1
    logp, score = np.empty(len(q)), np.empty_like(q)
    for i, (px, h, pz) in enumerate(q):
        dx, dz = gx - px, gz - pz
        logit = logw - (dx * dx + dz * dz) / (2 * tau)
        e = np.exp(logit - logit.max())
        logp[i] = logit.max() + np.log(e.sum()) - np.log(2 * np.pi * tau)
        score[i, 0], score[i, 2] = e @ dx / (e.sum() * tau), e @ dz / (e.sum() * tau)
    lh, sh = _cube_reference(0.5 * width, q[:, 1:2] - 0.5 * width, tau)
    score[:, 1] = sh[:, 0]
    return logp + lh, score


@pytest.mark.parametrize("t", TIMES)
@pytest.mark.parametrize("name", ["circle", "sphere1", "sphere2", "sphere3", "sphere5", "subspace", "mixture",
                                  "swiss_roll"])
def test_log_density_and_score_match_reference_computations(name, t):
    ds = family(name)
    law = ds.truth
    tau = _tau(law, t)
    x = _near(law, t, 4, 17)
    if name == "mixture":
        mu, sd, w = (np.asarray(MIXTURE[k]) for k in ("means", "stds", "weights"))
        var = sd**2 + tau
        diff = mu[None] - x[:, None]
        logit = np.log(w) - np.log(2 * np.pi * var) - (diff**2).sum(axis=2) / (2 * var)
        ref_logp = _lse(logit)
        resp = np.exp(logit - ref_logp[:, None])
        ref_score = np.einsum("ij,ijk->ik", resp / var, diff)
    elif name.startswith("sphere") or name == "circle":
        # the noisy k = 5 sphere: log p = natural part at tau + Gaussian orthogonal part
        y = x @ ds.basis.T
        orth = x - y @ ds.basis
        ref_logp, ref_nat = _sphere_reference(ds.intrinsic_dim, ds.params["radius"], y, tau)
        ref_logp = ref_logp - (orth**2).sum(axis=1) / (2 * tau) - (ds.ambient_dim - y.shape[1]) / 2 * np.log(
            2 * np.pi * tau)
        ref_score = ref_nat @ ds.basis - orth / tau
    elif name == "subspace":
        y = x @ ds.basis.T
        ref_logp, ref_nat = _cube_reference(ds.params["extent"], y, tau)
        ref_score = ref_nat @ ds.basis
    else:
        if t < 1e-3:
            x = x[:2]  # 2 x 640,000 reference nodes
        p = ds.params
        ref_logp, ref_score = _spiral_reference(x, tau, p["s0"], p["s1"], p["width"])
    # Both sides are accurate to ~1e-13 relative here; 1e-9 allows for the references' own rounding
    # (sums over 10^5 nodes, differences of ~1e4-sized exponents at tau = 1e-4).
    np.testing.assert_allclose(law.log_density(x, t), ref_logp, rtol=1e-9, atol=1e-9)
    scale = np.linalg.norm(ref_score, axis=1, keepdims=True) + 1 / math.sqrt(tau)
    assert np.all(np.abs(law.score(x, t) - ref_score) <= 1e-9 * scale)


@pytest.mark.parametrize("t", TIMES)
def test_high_dimensional_sphere_matches_the_reference(t):
    # k = 401: scipy's ive underflows at moderate kappa for this order, so the 0F1 series is summed in
    # full there; the reference quadrature works for any odd k
    k, r = 401, 1.0
    law = SphereLaw(k, radius=r)
    y = np.zeros((8, k + 1))
    y[:, 0] = [0.0, 1e-3, 0.05, 0.3, 0.9, 1.0, 1.1, 3.0]
    ref_logp, ref_score = _sphere_reference(k, r, y, t)
    np.testing.assert_allclose(law.log_density(y, t), ref_logp, rtol=1e-9, atol=1e-9)
    scale = np.linalg.norm(ref_score, axis=1, keepdims=True) + 1 / math.sqrt(t)
    assert np.all(np.abs(law.score(y, t) - ref_score) <= 1e-9 * scale)


def test_sphere_beyond_the_range_of_ive():
    # kappa = r |y| / t > 1e8 uses Hankel's expansion (scipy's ive is NaN from ~1e10); S^2 has the
    # elementary reference sinh(kappa) / kappa
    law, t = SphereLaw(2, radius=1.0), 1e-6
    y = np.zeros((4, 3))
    y[:, 2] = [50.0, 99.0, 200.0, 1e4]
    ref_logp, ref_score = _sphere_reference(2, 1.0, y, t)
    np.testing.assert_allclose(law.log_density(y, t), ref_logp, rtol=1e-13)
    np.testing.assert_allclose(law.score(y, t), ref_score, rtol=1e-13)


def test_swiss_roll_quadrature_is_converged(monkeypatch):
    import ledkde_fast.truth as truth

    law = family("swiss_roll").truth
    rng = np.random.default_rng(18)
    for t in TIMES:
        x = np.vstack([_near(law, t, 3, 19), 3 * rng.standard_normal((2, 3)), 1e3 * rng.standard_normal((1, 3))])
        coarse = law.log_density(x, t), law.score(x, t)
        with monkeypatch.context() as patch:  # panels half as wide, end panels 4x smaller
            patch.setattr(truth, "_PANEL_SIGMAS", truth._PANEL_SIGMAS / 2)
            patch.setattr(truth, "_PANEL_MAX", truth._PANEL_MAX / 2)
            patch.setattr(truth, "_END_RATE", truth._END_RATE / 4)
            fine = law.log_density(x, t), law.score(x, t)
        np.testing.assert_allclose(coarse[0], fine[0], rtol=1e-12, atol=1e-12)
        assert np.all(np.linalg.norm(coarse[1] - fine[1], axis=1) <= 1e-10 * np.linalg.norm(fine[1], axis=1))


# ---------------------------------------------------------------------------- normalisation
def _grid_integral(law, t, lo, hi, step):
    """Trapezoid rule on a 2-D grid: spectrally accurate for a smooth density that has decayed at
    the edges (aliasing error ~exp(-2 pi^2 t / step^2), e^-490 here)."""
    axis = np.arange(lo, hi + step / 2, step)
    gx, gy = np.meshgrid(axis, axis, indexing="ij")
    points = np.column_stack([gx.ravel(), gy.ravel()])
    return np.exp(law.log_density(points, t)).sum() * step**2


@pytest.mark.parametrize("name, lo, hi, step", [
    ("circle", -1.9, 1.9, 0.01),  # 9 sqrt(t) beyond the circle
    ("subspace", -2.5, 2.5, 0.01),  # the rotated square reaches sqrt(2); 10 sqrt(t) beyond
    ("mixture", -6.0, 7.0, 0.04),  # >= 9 standard deviations beyond every mean; smallest std 0.22
])
def test_two_dimensional_laws_integrate_to_one(name, lo, hi, step):
    assert _grid_integral(family(name).truth, 1e-2, lo, hi, step) == pytest.approx(1.0, abs=1e-10)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_sphere_laws_integrate_to_one(k):
    # radially: int_0^inf |S^k| rho^k p_t(rho e_1) d rho, |S^k| = 2 pi^((k+1)/2) / Gamma((k+1)/2);
    # 64-point Gauss-Legendre on 40 panels of [0, r + 10 sqrt(t) + ...] (the tail beyond is < e^-50)
    law, t = SphereLaw(k, radius=1.2), 1e-2
    x, w = np.polynomial.legendre.leggauss(64)
    edges = np.linspace(0.0, 2.5, 41)
    half = 0.5 * np.diff(edges)
    rho = ((edges[:-1] + half)[:, None] + half[:, None] * x).ravel()
    weights = (half[:, None] * w).ravel()
    points = np.zeros((len(rho), k + 1))
    points[:, 0] = rho
    area = 2 * math.pi ** ((k + 1) / 2) / math.gamma((k + 1) / 2)
    total = (weights * area * rho**k * np.exp(law.log_density(points, t))).sum()
    assert total == pytest.approx(1.0, abs=1e-12)


def test_swiss_roll_integrates_to_one():
    # p = p_spiral(x, z) p_height(h) (s and h independent, orthogonal coordinates): the 2-D integral at
    # a fixed height times the 1-D integral at a fixed (x, z), over their product at the fixed point
    law, t = family("swiss_roll").truth, 1e-2
    axis = np.arange(-2.0, 2.0 + 0.01, 0.02)  # the spiral lies in the unit disc: 10 sqrt(t) beyond
    gx, gz = np.meshgrid(axis, axis, indexing="ij")
    plane = np.column_stack([gx.ravel(), np.full(gx.size, 0.5), gz.ravel()])
    heights = np.arange(-1.0, 2.0 + 0.005, 0.01)
    line = np.column_stack([np.full(heights.size, 0.3), heights, np.full(heights.size, -0.4)])
    anchor = float(law.log_density([0.3, 0.5, -0.4], t))
    log_total = (np.log(np.exp(law.log_density(plane, t)).sum() * 0.02**2)
                 + np.log(np.exp(law.log_density(line, t)).sum() * 0.01) - anchor)
    assert log_total == pytest.approx(0.0, abs=1e-10)


# ---------------------------------------------------------------------------- extremes
@pytest.mark.parametrize("t", [1e-4, 1e2])
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_finite_near_and_far_at_extreme_times(name, t):
    law = family(name).truth
    d = law.ambient_dim
    rng = np.random.default_rng(20)
    directions = rng.standard_normal((4, d))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    x = np.vstack([np.zeros(d), law.sample(3, seed=21), _near(law, t, 2, 22), 3 * directions[:2],
                   1e3 * directions])
    for value in (law.log_density(x, t), law.score(x, t), law.denoiser(x, t)):
        assert np.isfinite(value).all()
    far = law.score(1e3 * directions, t)
    assert np.all(np.einsum("ij,ij->i", far, directions) < 0)  # pulled back toward the data


def test_noise_is_a_time_shift_and_the_denoiser_uses_t():
    noisy = family("circle_noisy").truth
    clean = SphereLaw(1, radius=1.5, basis=noisy.basis)
    x, t = _near(noisy, 0.3, 5, 23), 0.3
    np.testing.assert_allclose(noisy.log_density(x, t), clean.log_density(x, t + 0.01), rtol=1e-14)
    np.testing.assert_allclose(noisy.score(x, t), clean.score(x, t + 0.01), rtol=1e-13)
    np.testing.assert_allclose(noisy.denoiser(x, t), x + t * noisy.score(x, t), rtol=1e-14, atol=1e-15)


# ---------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_sample_is_reproducible_by_seed(name):
    law = family(name).truth
    a, b, c = law.sample(100, seed=3), law.sample(100, seed=3), law.sample(100, seed=4)
    assert a.shape == (100, law.ambient_dim) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_sample_moments():
    n = 20000
    # noiseless spheres and circle: radius exactly r; in the span of the basis
    for name in ("circle", "sphere1", "sphere2", "sphere3"):
        ds = family(name)
        x = ds.truth.sample(n, seed=24)
        np.testing.assert_allclose(np.linalg.norm(x, axis=1), ds.params["radius"], rtol=1e-13)
        assert ds.distance_to_manifold(x).max() < 1e-12
    # cube: on the subspace, in the box; each coordinate U(-a, a), variance a^2 / 3 (the sample
    # variance of n draws has SE sqrt((m4 - var^2) / n) with m4 = a^4 / 5: 4 SE)
    ds = family("subspace_noisy")
    clean = SubspaceLaw(2, extent=0.8, basis=ds.basis).sample(n, seed=25)
    coords = clean @ ds.basis.T
    assert ds.distance_to_manifold(clean).max() < 1e-12 and np.abs(coords).max() <= 0.8
    a = 0.8
    assert np.all(np.abs(coords.var(axis=0) - a * a / 3) <= 4 * math.sqrt((a**4 / 5 - a**4 / 9) / n))
    # noise adds D sigma^2 to E|x|^2 (|clean|^2 = r^2 exactly; |x|^2 - r^2 has variance 4 r^2 sigma^2
    # + 2 D sigma^4: 4 SE)
    ds = family("circle_noisy")
    sq = (ds.truth.sample(n, seed=26) ** 2).sum(axis=1)
    r, s, d = 1.5, 0.1, 4
    assert abs(sq.mean() - (r * r + d * s * s)) <= 4 * math.sqrt((4 * r * r * s * s + 2 * d * s**4) / n)
    # Swiss roll: on the roll, heights in [0, width]
    ds = family("swiss_roll")
    x = ds.truth.sample(2000, seed=27)
    assert ds.distance_to_manifold(x).max() < 1e-9 and 0 <= x[:, 1].min() and x[:, 1].max() <= 1.0
    # mixture: the mean is sum_j w_j mu_j (each coordinate's sample mean within 4 SE, SE from the
    # sample standard deviation)
    x = family("mixture").truth.sample(n, seed=28)
    expected = np.asarray(MIXTURE["weights"]) @ np.asarray(MIXTURE["means"])
    assert np.all(np.abs(x.mean(axis=0) - expected) <= 4 * x.std(axis=0) / math.sqrt(n))


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_sample_has_the_law_of_the_generator(name):
    # Two-sample check that truth describes the generator (parametrisation, basis, noise): the mean of
    # log p_t over the generator's points and over truth's draws estimate the same expectation; their
    # difference is within 4 SE (SE from the two sample variances) for a correct law.
    n, t = 5000, 1e-2
    ds = FAMILIES[name](n)
    law = ds.truth
    a, b = law.log_density(ds.points, t), law.log_density(law.sample(n, seed=29), t)
    se = math.sqrt(a.var() / n + b.var() / n)
    assert abs(a.mean() - b.mean()) <= 4 * se


# ---------------------------------------------------------------------------- API and errors
def test_single_point_shapes_and_values():
    law = family("sphere2").truth
    assert law.log_density([0.0, 0.0, 2.0], 0.1).shape == ()
    assert law.score([0.0, 0.0, 2.0], 0.1).shape == (3,)
    assert law.denoiser([[0.0, 0.0, 2.0]], 0.1).shape == (1, 3)
    np.testing.assert_array_equal(law.score([0.0, 0.0, 0.0], 0.1), 0.0)  # the centre is critical
    assert repr(law) == "SphereLaw(k=2, radius=1.0, ambient_dim=3, noise=0.0)"


def test_dataset_truth_and_law_of():
    ds = family("swiss_roll_noisy")
    assert ds.truth is ds.truth  # built once
    assert isinstance(ds.truth, SwissRollLaw) and ds.truth.noise == 0.05 and ds.truth.ambient_dim == 4
    np.testing.assert_array_equal(ds.truth.basis, ds.basis)
    assert isinstance(family("mixture").truth, GaussianMixtureLaw)
    assert isinstance(law_of(family("subspace")), SubspaceLaw)


def test_datasets_without_a_population_law():
    mnist_like = Dataset(points=np.zeros((3, 784)), name="mnist", intrinsic_dim=784)
    with pytest.raises(ValueError, match="no known population law.*circle, sphere, subspace, swiss_roll"):
        _ = mnist_like.truth
    by_hand = Dataset(points=np.zeros((3, 2)), name="circle", intrinsic_dim=1)
    with pytest.raises(ValueError, match="no basis"):
        _ = by_hand.truth
    with pytest.raises(ValueError, match="lacks the parameter 'radius'"):
        _ = Dataset(points=np.zeros((3, 2)), name="circle", intrinsic_dim=1, basis=np.eye(2)).truth
    with pytest.raises(TypeError, match="^dataset must be"):
        law_of(np.zeros((3, 2)))


@pytest.mark.parametrize("call, error, start", [
    (lambda law: law.log_density(np.zeros((2, 3)), 0.1), ValueError, "x "),
    (lambda law: law.score("abc", 0.1), TypeError, "x "),
    (lambda law: law.denoiser(np.zeros(2), 0.0), ValueError, "t "),
    (lambda law: law.score(np.zeros(2), "1"), TypeError, "t "),
    (lambda law: law.log_density([np.nan, 0.0], 1.0), ValueError, "x "),
    (lambda law: law.sample(0), ValueError, "n "),
    (lambda law: law.sample(2.0), TypeError, "n "),
    (lambda law: law.sample(2, seed=-1), ValueError, "seed "),
])
def test_method_arguments_are_checked(call, error, start):
    with pytest.raises(error, match=f"^{start}"):
        call(SphereLaw(1))


@pytest.mark.parametrize("make, error, start", [
    (lambda: SphereLaw(0), ValueError, "k "),
    (lambda: SphereLaw(1.0), TypeError, "k "),
    (lambda: SphereLaw(1, radius=-1.0), ValueError, "radius "),
    (lambda: SphereLaw(1, noise=-0.1), ValueError, "noise "),
    (lambda: SphereLaw(1, basis=np.ones((2, 3))), ValueError, "basis "),
    (lambda: SubspaceLaw(2, extent=0.0), ValueError, "extent "),
    (lambda: SwissRollLaw(turns="1"), TypeError, "turns "),
    (lambda: GaussianMixtureLaw([0.0, 1.0]), ValueError, "means "),
    (lambda: GaussianMixtureLaw([[0.0]], stds=-1.0), ValueError, "stds "),
    (lambda: GaussianMixtureLaw([[0.0], [1.0]], weights=[0.0, 0.0]), ValueError, "weights "),
])
def test_constructor_arguments_are_checked(make, error, start):
    with pytest.raises(error, match=f"^{start}"):
        make()


def test_importing_the_package_does_not_import_scipy():
    code = ("import sys, ledkde_fast, ledkde_fast.truth, ledkde_fast.datasets as d\n"
            "law = d.circle(5, seed=0).truth\nlaw.sample(3, seed=0)\nprint('scipy' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
