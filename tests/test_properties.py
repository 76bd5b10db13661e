"""Property-based tests (hypothesis) over the public API.

Three kinds of property, on every backend ("cpp", "numba", "reference"):

* valid random inputs agree with an independent float64 oracle (tests/oracle.py, brute force from
  explicit differences), or with the reference backend for the same seed (the smoothed estimators
  draw the same kernel samples on every backend), or satisfy an exact identity;
* invalid inputs raise ValueError or TypeError: never another exception, a warning, a crash or NaN;
* extreme but valid inputs (t from the smallest subnormal to 1e307, coordinates scaled by 2^-530..2^498
  (1e-160..1e150) in float64 and up to ~1e19 in float32, weights spanning 1e-300..1e300, far-away
  repeated points) give finite answers that satisfy exact identities (scale equivariance, support of
  the softmax, bounds of the log-density at a training point).

The examples are derandomised (the same ones on every run, no example database), so a failure is
reproducible and the suite's runtime is fixed. Numerical tolerances follow the README's "Numerical
guarantees": a logit is exact to 64 ulps of the largest term it is built from,
S = (|x - mu| + R)^2 / 2t (mu, R: centre and radius of the data); see :func:`accuracy`.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ledkde_fast as lk
import oracle
from conftest import ALL_BACKENDS, FAST_BACKENDS, use_backend
from ledkde_fast import analysis, kernels


def examples(n: int) -> settings:
    """Derandomised (reproducible, the same examples on every run), no example database, and no
    deadline: the first numba call of a process compiles, which no per-example deadline allows for."""
    return settings(max_examples=n, derandomize=True, database=None, deadline=None, print_blob=False)


DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
EVERY_BACKEND = pytest.mark.parametrize("backend", ALL_BACKENDS)
COMPILED_BACKENDS = pytest.mark.parametrize("backend", FAST_BACKENDS)
EXACT = (lk.empirical_denoiser, lk.empirical_score, lk.kde_log_density)
SMOOTHED = (lk.smoothed_denoiser, lk.smoothed_score, lk.led_kde_log_density)
LOG_2PI = math.log(2.0 * math.pi)
#: A softmax weight below exp(-LEAK) of the largest is below the smallest subnormal double relative to it.
LEAK = 750.0


# ============================================================================= strategies
def coords(dtype, bound: float = 8.0):
    return st.floats(-bound, bound, width=32 if dtype == np.float32 else 64)


#: Multiples of 2^-10 in [-8, 8]: exact in float32, their differences exact, and a power-of-two scaling
#: (see :func:`powers_of_two`) keeps them exact.
DYADIC = st.integers(-(8 << 10), 8 << 10).map(lambda i: i / 1024.0)
#: Diffusion times spread over six decades (moderate: the extreme tests cover the rest).
TIMES = st.floats(-3.0, 3.0).map(lambda e: 10.0**e)


@st.composite
def problems(draw, dtype, elements=None, max_n=40, max_d=6, max_m=5):
    """(queries (m, d), data (N, d)): queries on training points (ties, self-queries), near them or
    anywhere in the box."""
    el = coords(dtype) if elements is None else elements
    n, d, m = draw(st.integers(1, max_n)), draw(st.integers(1, max_d)), draw(st.integers(1, max_m))
    data = draw(hnp.arrays(dtype, (n, d), elements=el))
    base = data[draw(hnp.arrays(np.intp, m, elements=st.integers(0, n - 1)))]
    offset = draw(hnp.arrays(dtype, (m, d), elements=el))
    spread = draw(st.sampled_from([0.0, 2.0**-10, 1.0]))
    return (base + spread * offset).astype(dtype), data


@st.composite
def weight_vectors(draw, n, elements=None):
    """n non-negative weights (some zero), at least one positive."""
    el = st.just(0.0) | st.floats(1e-3, 10.0) if elements is None else elements
    w = draw(hnp.arrays(np.float64, n, elements=el))
    if not (w > 0).any():
        w[draw(st.integers(0, n - 1))] = 1.0
    return w


def layouts(hyp, arr):
    """The same values as a C array, a Fortran array, a strided view or a read-only array."""
    kind = hyp.draw(st.sampled_from(["c", "f", "strided", "readonly"]), label="layout")
    if kind == "f":
        return np.asfortranarray(arr)
    if kind == "strided":
        return np.repeat(arr, 2, axis=1)[:, ::2]
    out = arr.copy()
    out.flags.writeable = kind != "readonly"
    return out


# ============================================================================= oracles and tolerances
def sq_dists(x, data):
    diff = np.asarray(x, dtype=np.float64)[:, None, :] - np.asarray(data, dtype=np.float64)[None, :, :]
    return np.einsum("mnd,mnd->mn", diff, diff)


def distances(x, data):
    """Euclidean distances (m, N) from explicit differences, scaled by their largest component so that
    neither the squares of subnormal differences underflow nor those of huge ones overflow."""
    diff = np.asarray(x, dtype=np.float64)[:, None, :] - np.asarray(data, dtype=np.float64)[None, :, :]
    big = np.abs(diff).max(axis=-1)
    safe = np.where(big > 0, big, 1.0)[..., None]
    return big * np.sqrt(np.einsum("mnd,mnd->mn", diff / safe, diff / safe))


def log_weights(n, weights):
    """Normalised float64 log-weights (-inf for zero weights), computed in the log domain."""
    if weights is None:
        return np.full(n, -math.log(n))
    with np.errstate(divide="ignore"):
        lw = np.log(np.asarray(weights, dtype=np.float64))
    top = lw.max()
    return lw - (top + math.log(np.exp(lw - top).sum()))


def unit_scaled(x, data, t):
    """(x c, data c, t c^2, e) in float64 for c = 2^-e, the power of two that brings the largest
    coordinate to [1/2, 1): the squared differences then neither overflow nor underflow, and
    |x - x_i|^2 / 2t is unchanged (t c^2 may over- or underflow: the limit the logits tend to)."""
    x64, d64 = np.asarray(x, dtype=np.float64), np.asarray(data, dtype=np.float64)
    top = max(float(np.abs(x64).max(initial=0.0)), float(np.abs(d64).max()))
    e = int(np.frexp(top)[1]) if top > 0 else 0
    with np.errstate(over="ignore", under="ignore"):
        return np.ldexp(x64, -e), np.ldexp(d64, -e), float(np.ldexp(t, -2 * e)), e


def relative_logits(x, data, t, weights=None):
    """Logits of every query relative to those of its nearest positive-weight point (float64, from
    explicit differences of the unit-scaled points), and that point's logit: no term overflows or
    loses its digits for any t > 0 and any scale, so unlike tests/oracle.py this is the oracle at
    subnormal and huge t and coordinates too."""
    xs, ds, ts, _ = unit_scaled(x, data, t)
    sq = sq_dists(xs, ds)
    lw = log_weights(sq.shape[1], weights)
    pos = np.isfinite(lw)
    ref = np.where(pos, sq, np.inf).argmin(axis=1)
    rows = np.arange(sq.shape[0])
    gap = sq - sq[rows, ref][:, None]
    with np.errstate(all="ignore"):  # gap / 0 is the limit t -> 0 (0 / 0: a tie, no gap)
        rel = (lw - lw[ref][:, None]) - np.where(gap == 0, 0.0, gap / (2.0 * ts))
        ref_logit = lw[ref] - np.where(sq[rows, ref] == 0, 0.0, sq[rows, ref] / (2.0 * ts))
    return np.where(pos[None, :], rel, -np.inf), ref_logit


def exact_oracle(x, data, t, weights=None):
    """(denoiser (m, d), log-density (m,)) in float64, for any t > 0 (see :func:`relative_logits`)."""
    rel, ref_logit = relative_logits(x, data, t, weights)
    top = rel.max(axis=1)
    e = np.exp(rel - top[:, None])
    s = e.sum(axis=1)
    den = (e / s[:, None]) @ np.asarray(data, dtype=np.float64)
    d = np.shape(data)[1]
    logp = ref_logit + top + np.log(s) - 0.5 * d * (LOG_2PI + math.log(t))
    return den, logp


def accuracy(x, data, t, dtype, weights=None):
    """(denoiser tolerance (m, 1), logit tolerance (m,)) promised by the README.

    A logit is exact to 64 ulps of S = (|x - mu| + R)^2 / 2t, plus the rounding of its log-weight.
    The softmax moves by at most twice the largest logit error in l1 (first order), and the denoiser,
    a convex combination of the points, by that times R (and never by more than the diameter 2R);
    the weighted sums and the final rounding add (N + 8) ulps of the largest coordinate (at least
    N + 8 subnormal spacings).
    """
    eps = float(np.finfo(dtype).eps)
    xs, ds, ts, e = unit_scaled(x, data, t)
    n = ds.shape[0]
    mu = ds.mean(axis=0)
    rs = float(np.linalg.norm(ds - mu, axis=1).max())
    reach = (np.linalg.norm(xs - mu, axis=1) + rs) ** 2
    with np.errstate(all="ignore"):  # t c^2 may have underflowed to 0
        s = np.where(reach == 0, 0.0, reach / (2.0 * ts))
    r, big = float(np.ldexp(rs, e)), float(np.abs(np.asarray(data, dtype=np.float64)).max())
    if weights is not None:
        lw = log_weights(n, weights)
        s = s + np.abs(lw[np.isfinite(lw)]).max()
    logit_err = 64 * eps * (1.0 + s)
    den = 2.0 * r * np.minimum(1.0, logit_err) + (n + 8) * ulp_floor(eps * big, dtype)
    return den[:, None], logit_err


def ulp_floor(value, dtype):
    """value, but at least the spacing of the subnormals, where rounding is absolute."""
    return max(float(value), float(np.finfo(dtype).smallest_subnormal))


def logp_tolerance(logit_err, expected, n, d, t, dtype):
    """The logit error, 16 ulps of the result and 8 ulps of the normaliser log N + (d/2) log(2 pi t)."""
    eps = float(np.finfo(dtype).eps)
    return logit_err + 16 * eps * np.abs(expected) + 8 * eps * (math.log(n) + 0.5 * d * (LOG_2PI + abs(math.log(t))))


def support(x, data, t, dtype, weights=None):
    """Boolean (m, N): the points that can carry weight given the documented rounding. A point whose
    true logit is below the top by more than LEAK plus twice the logit error is below exp(-LEAK)
    relative to the top one even after rounding, i.e. it contributes nothing to a double."""
    rel, _ = relative_logits(x, data, t, weights)
    _, logit_err = accuracy(x, data, t, dtype, weights)
    return rel >= rel.max(axis=1, keepdims=True) - LEAK - 2.0 * logit_err[:, None]


def assert_in_support_box(den, x, data, t, dtype, weights=None):
    """The denoiser is a convex combination of the points that carry weight: it lies in their
    bounding box, up to (N + 8) ulps of the largest coordinate (the sums and the final rounding)."""
    d64 = np.asarray(data, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    assert np.isfinite(den).all(), "the denoiser is not finite"
    keep = support(x, data, t, dtype, weights)
    slack = (d64.shape[0] + 8) * ulp_floor(np.finfo(dtype).eps * np.abs(d64).max(), dtype)
    for q in range(den.shape[0]):
        pts = d64[keep[q]]
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        assert np.all(den[q] >= lo - slack) and np.all(den[q] <= hi + slack), (
            f"query {q}: denoiser {den[q]} outside the box [{lo}, {hi}] of the points carrying weight")


def check_knn(x, data, k, dist, idx, dtype):
    """The k nearest neighbours against brute force, allowing only what rounding in the selection
    can do: swap points whose squared distances are within delta of each other."""
    m, n = x.shape[0], data.shape[0]
    assert dist.shape == (m, k) and idx.shape == (m, k)
    assert dist.dtype == np.float64 and idx.dtype == np.int64
    exact = distances(x, data)
    sq = exact**2
    order = np.argsort(exact, axis=1, kind="stable")
    eps = float(np.finfo(dtype).eps)
    d64 = np.asarray(data, dtype=np.float64)
    mu = d64.mean(axis=0)
    r = float(np.linalg.norm(d64 - mu, axis=1).max())
    # the selection's squared distances come from a GEMM expansion in the compute dtype: 64 ulps of
    # the largest term (|x - mu| + R)^2 they are built from
    delta = 64 * eps * (np.linalg.norm(np.asarray(x, dtype=np.float64) - mu, axis=1) + r) ** 2
    for q in range(m):
        assert np.all((idx[q] >= 0) & (idx[q] < n)) and len(set(idx[q].tolist())) == k
        # distances are recomputed from explicit differences in float64: a few ulps
        np.testing.assert_allclose(dist[q], exact[q, idx[q]], rtol=8 * np.finfo(np.float64).eps, atol=0)
        assert np.all(np.diff(dist[q]) >= 0), "distances not ascending"
        tied = np.diff(dist[q]) == 0
        assert np.all(np.diff(idx[q])[tied] > 0), "equal distances not ordered by index"
        best = sq[q, order[q, :k]]
        assert np.all(np.abs(dist[q] ** 2 - best) <= delta[q] + 8 * np.finfo(np.float64).eps * best), (
            f"query {q}: distances {dist[q]} are not the {k} smallest {np.sqrt(best)}")
        if k < n and sq[q, order[q, k]] - sq[q, order[q, k - 1]] > 2 * delta[q]:
            assert set(idx[q].tolist()) == set(order[q, :k].tolist())


# ============================================================================= valid input: the oracle
@DTYPES
@EVERY_BACKEND
@examples(80)
@given(hyp=st.data())
def test_exact_quantities_match_the_oracle(backend, dtype, hyp):
    use_backend(backend)
    x, data = hyp.draw(problems(dtype), label="x, data")
    t = hyp.draw(TIMES, label="t")
    weights = hyp.draw(st.none() | weight_vectors(data.shape[0]), label="weights")
    n, d = data.shape
    den_tol, logit_err = accuracy(x, data, t, dtype, weights)
    xl, dl = layouts(hyp, x), layouts(hyp, data)

    den = lk.empirical_denoiser(xl, dl, t, weights=weights, backend=backend)
    assert den.dtype == dtype and den.shape == x.shape
    expected = oracle.denoiser(x, data, t, weights)
    assert np.all(np.abs(den - expected) <= den_tol)
    assert_in_support_box(den, x, data, t, dtype, weights)

    score = lk.empirical_score(xl, dl, t, weights=weights, backend=backend)
    assert score.dtype == dtype and score.shape == x.shape
    # (m - x) / t: the denoiser's error and the rounding of the difference, over t
    eps = float(np.finfo(dtype).eps)
    score_tol = (den_tol + 8 * eps * (np.abs(x).max() + np.abs(data).max())) / t
    assert np.all(np.abs(score - oracle.score(x, data, t, weights)) <= score_tol + 4 * eps * np.abs(score))

    logp = lk.kde_log_density(xl, dl, t, weights=weights, backend=backend)
    assert logp.dtype == dtype and logp.shape == (x.shape[0],)
    expected = oracle.kde_log_density(x, data, t, weights)
    assert np.all(np.abs(logp - expected) <= logp_tolerance(logit_err, expected, n, d, t, dtype))

    # one query point gives a 1-D result (a scalar log-density), equal to its row up to rounding
    one = lk.empirical_denoiser(x[0], data, t, weights=weights, backend=backend)
    assert one.shape == (d,) and np.all(np.abs(one - den[0]) <= 2 * den_tol[0])
    assert np.ndim(lk.kde_log_density(x[0], data, t, weights=weights, backend=backend)) == 0
    if backend != "reference":
        # documented: bitwise identical for any thread count
        np.testing.assert_array_equal(lk.empirical_denoiser(x, data, t, weights=weights, backend=backend,
                                                            n_threads=1),
                                      lk.empirical_denoiser(x, data, t, weights=weights, backend=backend,
                                                            n_threads=2))


@DTYPES
@EVERY_BACKEND
@examples(60)
@given(hyp=st.data())
def test_nearest_neighbors_match_brute_force(backend, dtype, hyp):
    use_backend(backend)
    x, data = hyp.draw(problems(dtype), label="x, data")
    k = hyp.draw(st.integers(1, data.shape[0]), label="k")
    dist, idx = lk.nearest_neighbors(layouts(hyp, x), layouts(hyp, data), k, backend=backend)
    check_knn(x, data, k, dist, idx, dtype)
    d1, i1 = lk.nearest_neighbors(x[0], data, k, backend=backend)
    assert d1.shape == (k,) and i1.shape == (k,)
    check_knn(x[:1], data, k, d1[None], i1[None], dtype)


@EVERY_BACKEND
@examples(50)
@given(hyp=st.data())
def test_nearest_neighbors_break_exact_ties_by_index(backend, hyp):
    """Small integers: every squared distance is exact in float64, so ties are exact ties, and the
    docstring promises them in index order: the result is the stable brute-force sort."""
    use_backend(backend)
    ints = st.integers(-3, 3).map(float)
    x, data = hyp.draw(problems(np.float64, elements=ints, max_d=3, max_n=12), label="x, data")
    k = hyp.draw(st.integers(1, data.shape[0]), label="k")
    _, idx = lk.nearest_neighbors(x, data, k, backend=backend)
    np.testing.assert_array_equal(idx, np.argsort(sq_dists(x, data), axis=1, kind="stable")[:, :k])


@st.composite
def smoothing_kernels(draw, n, d, independent):
    """(kernel, rank) of every family; explicit samples only with shared draws (they cannot be redrawn)."""
    names = ["gaussian", "pca", "covariance", "factor"] + ([] if independent else ["samples"])
    name = draw(st.sampled_from(names), label="kernel family")
    small = st.floats(-2.0, 2.0)
    if name == "gaussian":
        return "gaussian", None
    if name == "pca":
        return "pca", draw(st.integers(1, min(n, d)), label="rank")
    if name == "covariance":
        a = draw(hnp.arrays(np.float64, (d, d), elements=small))
        m = a @ a.T
        return kernels.Covariance(0.5 * (m + m.T)), None
    if name == "factor":
        return kernels.Factor(draw(hnp.arrays(np.float64, (d, draw(st.integers(1, 3))), elements=small))), None
    return kernels.Samples(draw(hnp.arrays(np.float64, (draw(st.integers(1, 8)), d), elements=small))), None


def kernel_plan(x, data, t, kernel, rank, n_kernel, seed, antithetic, independent, weights):
    """The library's own kernel plan and a generator for this seed, to rebuild the draws a call makes
    (as tests/test_smoothed.py does): only for the tolerance."""
    from ledkde_fast._data import prepare
    from ledkde_fast._kernel_plan import KernelPlan
    from ledkde_fast.kernels import Samples, as_kernel

    p = prepare(x, data, t, weights)
    kern = as_kernel(kernel, rank)
    n_kernel = n_kernel if not isinstance(kern, Samples) else kern.samples.shape[0]
    plan = KernelPlan.build(kern, p.source, n_kernel, antithetic and not isinstance(kern, Samples),
                            shared=not independent)
    rng = np.random.default_rng(seed)
    return plan, rng, kern


@COMPILED_BACKENDS
@DTYPES
@examples(50)
@given(hyp=st.data())
def test_smoothed_match_the_reference_for_a_seed(backend, dtype, hyp):
    """The same seed gives the same kernel draws on every backend (the draws come from NumPy in
    _kernel_plan, before any backend runs): the factorised estimators of the compiled backends and
    the reference's average of empirical quantities over x - Y_j then agree to rounding."""
    use_backend(backend)
    x, data = hyp.draw(problems(dtype, max_n=30), label="x, data")
    n, d = data.shape
    t = hyp.draw(TIMES, label="t")
    h = hyp.draw(st.sampled_from([0.0, 0.1, 0.5]) | st.floats(0.0, 2.0), label="bandwidth")
    antithetic = hyp.draw(st.booleans(), label="antithetic")
    independent = hyp.draw(st.booleans(), label="independent")
    n_kernel = hyp.draw(st.integers(1, 8), label="pairs") * (2 if antithetic else 1)
    kernel, rank = hyp.draw(smoothing_kernels(n, d, independent), label="kernel")
    seed = hyp.draw(st.integers(0, 2**32), label="seed")
    weights = hyp.draw(st.none() | weight_vectors(n), label="weights")
    kw = dict(kernel=kernel, rank=rank, n_kernel=n_kernel, seed=seed, antithetic=antithetic,
              independent=independent, weights=weights)

    # the draws' largest norm enters the shifted queries' logit scale (|x - Y - mu| + R)^2 / 2t
    plan, rng, kern = kernel_plan(x, data, t, kernel, rank, n_kernel, seed, antithetic, independent, weights)
    if h == 0.0:
        y_max = 0.0
    elif independent:
        y_max = float(np.linalg.norm(plan.fresh_draws(h, rng, x.shape[0]), axis=-1).max())
    else:
        y_max = float(np.linalg.norm(plan.draw(h, rng).samples(), axis=1).max())
    eps = float(np.finfo(dtype).eps)
    mu = data.astype(np.float64).mean(axis=0)
    far = np.linalg.norm(x.astype(np.float64) - mu, axis=1) + y_max
    shifted = mu + far[:, None] * np.eye(d)[0]  # a stand-in query at the largest distance from mu
    den_tol, logit_err = accuracy(shifted, data, t, dtype, weights)
    den_tol = den_tol + 8 * eps * y_max  # Ybar, and x - Y rounded to the compute dtype
    logit_err = logit_err + 8 * eps * (1.0 + y_max**2 / t)  # the control variate |Y|^2 / 2t

    got = {f.__name__: f(x, data, t, h, backend=backend, **kw) for f in SMOOTHED}
    ref = {f.__name__: f(x, data, t, h, backend="reference", **kw) for f in SMOOTHED}
    note(f"y_max={y_max}, den_tol={den_tol.ravel()}")
    for name, value in got.items():
        assert value.dtype == dtype and np.isfinite(value).all(), name
        # the same seed repeats bitwise
        np.testing.assert_array_equal(value, getattr(lk, name)(x, data, t, h, backend=backend, **kw))
    assert np.all(np.abs(got["smoothed_denoiser"] - ref["smoothed_denoiser"]) <= den_tol)
    score_tol = (den_tol + 8 * eps * (np.abs(x).max() + np.abs(data).max() + y_max)) / t
    assert np.all(np.abs(got["smoothed_score"] - ref["smoothed_score"])
                  <= score_tol + 4 * eps * np.abs(ref["smoothed_score"]))
    lp, lp_ref = got["led_kde_log_density"], ref["led_kde_log_density"]
    assert np.all(np.abs(lp - lp_ref) <= logp_tolerance(logit_err, lp_ref, n, d, t, dtype))
    if h == 0.0:  # no smoothing: exactly the empirical quantities
        np.testing.assert_array_equal(got["smoothed_denoiser"],
                                      lk.empirical_denoiser(x, data, t, weights=weights, backend=backend))
    if antithetic and not independent and not isinstance(kern, kernels.Samples):
        # antithetic pairs have mean exactly zero: the score is exactly (denoiser - x) / t
        den64 = got["smoothed_denoiser"].astype(np.float64)
        np.testing.assert_allclose(got["smoothed_score"], (den64 - x) / t, rtol=4 * eps, atol=score_tol.max())


# ============================================================================= kernels
@examples(80)
@given(hyp=st.data())
def test_kernel_factors(hyp):
    """Covariance(M): F F^T = M and E|S|^2 = trace M; Factor(L): L itself and ||L||_F^2; PCA(r):
    orthonormal eigenvectors of the (weighted) covariance for its r largest eigenvalues, each with its
    largest-magnitude entry positive; Samples(s): mean |s_j|^2."""
    n = hyp.draw(st.integers(1, 30), label="N")
    d = hyp.draw(st.integers(1, 6), label="d")
    el = st.floats(-4.0, 4.0)
    data = hyp.draw(hnp.arrays(np.float64, (n, d), elements=el), label="data")
    a = hyp.draw(hnp.arrays(np.float64, (d, d), elements=el), label="A")
    m = a @ a.T
    m = 0.5 * (m + m.T)
    scale = max(1.0, float(np.abs(m).max()))
    f = kernels.Covariance(m).factor(data, None)
    # eigh: residuals of a few tens of ulps of ||M||
    tol = 64 * d * np.finfo(float).eps * scale
    np.testing.assert_allclose(f @ f.T, m, rtol=0, atol=tol)
    assert kernels.Covariance(m).second_moment(f) == pytest.approx(np.trace(m), abs=tol)

    lmat = hyp.draw(hnp.arrays(np.float64, (d, hyp.draw(st.integers(1, 4))), elements=el), label="L")
    factor = kernels.Factor(lmat)
    np.testing.assert_array_equal(factor.factor(data, None), lmat)
    assert factor.second_moment(factor.factor(data, None)) == float(np.sum(lmat * lmat))

    samples = hyp.draw(hnp.arrays(np.float64, (hyp.draw(st.integers(1, 6)), d), elements=el), label="s")
    assert kernels.Samples(samples).factor(data, None) is None
    assert kernels.Samples(samples).second_moment(None) == pytest.approx(np.mean(np.sum(samples**2, axis=1)),
                                                                          rel=1e-14, abs=1e-300)

    rank = hyp.draw(st.integers(1, min(n, d)), label="rank")
    weights = hyp.draw(st.none() | weight_vectors(n), label="weights")
    lw = None if weights is None else log_weights(n, weights)
    pf = kernels.PCA(rank).factor(data, lw)
    assert pf.shape == (d, rank)
    np.testing.assert_allclose(pf.T @ pf, np.eye(rank), rtol=0, atol=1e-12)
    w = np.full(n, 1.0 / n) if weights is None else weights / weights.sum()
    centred = data - w @ data
    cov = (centred * w[:, None]).T @ centred
    top = np.sort(np.linalg.eigvalsh(cov))[::-1][:rank]
    # eigh is backward stable: residuals of a few ulps of ||C||, itself rounded to ulps of max|x|^2
    cscale = float(np.abs(cov).max()) + 64 * n * np.finfo(float).eps * float(np.abs(data).max()) ** 2
    np.testing.assert_allclose(cov @ pf, pf * top, rtol=0, atol=1e-10 * cscale)
    col = np.abs(pf)
    order = np.sort(col, axis=0)
    clear = order[-1] - (order[-2] if d > 1 else 0.0) > 1e-8  # a unique largest-magnitude entry
    assert np.all(pf[col.argmax(axis=0), np.arange(rank)][clear] > 0)
    assert kernels.PCA(rank).second_moment(pf) == float(rank)


# ============================================================================= sampler and estimator
@EVERY_BACKEND
@examples(25)
@given(hyp=st.data())
def test_sampler_invariants(backend, hyp):
    """Shape and dtype, finiteness, the same numbers for a seed (an int or a Generator seeded with it),
    the trajectory ending at the output, and a final denoising step (the exact denoiser at t_min of the
    last states) inside the box of the points that can carry weight."""
    use_backend(backend)
    dtype = hyp.draw(st.sampled_from([np.float64, np.float32]), label="dtype")
    _, data = hyp.draw(problems(dtype, max_n=20, max_d=4), label="data")
    n, d = data.shape
    n_samples = hyp.draw(st.integers(1, 6), label="n_samples")
    n_steps = hyp.draw(st.integers(1, 4), label="n_steps")
    h = hyp.draw(st.sampled_from([0.0, 0.2]) | st.floats(0.0, 1.0), label="bandwidth")
    method = hyp.draw(st.sampled_from(["euler_maruyama", "probability_flow", "langevin"]), label="method")
    t_min = hyp.draw(st.floats(-3.0, 0.0).map(lambda e: 10.0**e), label="t_min")
    t_max = t_min * hyp.draw(st.floats(2.0, 100.0), label="t_max / t_min")
    seed = hyp.draw(st.integers(0, 2**32), label="seed")
    weights = hyp.draw(st.none() | weight_vectors(n), label="weights")
    kw = dict(bandwidth=h, n_kernel=4, n_steps=n_steps, t_max=t_max, t_min=t_min, method=method, weights=weights,
              backend=backend)
    out, traj = lk.sample(data, n_samples, seed=seed, return_trajectory=True, **kw)
    assert out.shape == (n_samples, d) and out.dtype == dtype and np.isfinite(out).all()
    assert traj.shape == (n_steps + 1, n_samples, d) and traj.dtype == dtype
    np.testing.assert_array_equal(traj[-1], out)
    np.testing.assert_array_equal(lk.sample(data, n_samples, seed=np.random.default_rng(seed), **kw), out)
    den, states = lk.sample(data, n_samples, seed=seed, final_denoise=True, return_trajectory=True,
                            **dict(kw, bandwidth=0.0))
    assert den.dtype == dtype
    # the trajectory stops before the denoising step: its last states are the denoiser's queries
    assert_in_support_box(den, states[-1], data, t_min, dtype, weights)


def _default_times_underflow(data):
    """Whether the default t_min, (0.1 x median nearest-neighbour spacing)^2 / d, is below the
    smallest normal float64 (spacings by brute force: the oracle of sampler.default_t_min)."""
    diff = data[:, None, :] - data[None, :, :]
    big = np.abs(diff).max(axis=-1)
    safe = np.where(big > 0, big, 1.0)
    gaps = big * np.sqrt(((diff / safe[..., None]) ** 2).sum(-1))  # no underflow of the squares
    np.fill_diagonal(gaps, np.inf)
    spacing = float(np.median(gaps.min(axis=1)))
    return spacing > 0 and (0.1 * spacing) ** 2 / data.shape[1] < np.finfo(np.float64).tiny


@EVERY_BACKEND
@examples(20)
@given(hyp=st.data())
def test_default_times_for_any_spacing(backend, hyp):
    """The default times (sample's t_max and t_min, the estimator's DSM times) work for data of any
    scale: here distinct points (spacing >= 1) scaled by 2^-e, e up to 1064, so that the squared
    spacing and the variance underflow."""
    use_backend(backend)
    _, pts = hyp.draw(problems(np.float64, elements=DYADIC, max_n=8, max_d=3), label="points")
    pts[:, 0] = np.arange(pts.shape[0])  # distinct rows, at least 1 apart
    data = pts * 2.0 ** -hyp.draw(st.integers(0, 1064), label="-log2 scale")
    # below a spacing of about 1e-153 the default t_min, (0.1 spacing)^2 / d, is not a normal
    # float64: then it falls back to 1e-6 t_max, and where that is not one either, a ValueError
    # names the limit; anything else must work
    underflow = _default_times_underflow(data)
    try:
        out = lk.sample(data, 3, n_steps=3, seed=0, bandwidth=0.0, backend=backend)
        assert out.shape == (3, data.shape[1]) and np.isfinite(out).all()
        est = lk.LEDKDE(bandwidth=0.0, t=1.0, n_kernel=4, random_state=0, backend=backend).fit(data)
        assert math.isfinite(est.score(data[:2]))
    except ValueError as exc:
        assert underflow and "smallest normal float64" in str(exc), exc


@EVERY_BACKEND
@examples(20)
@given(hyp=st.data())
def test_estimator_fit_score_sample(backend, hyp):
    """LEDKDE.score_samples is led_kde_log_density with the estimator's parameters and seed (bitwise),
    score is finite, sample has the right shape and repeats for a seed, and the parameters round-trip."""
    use_backend(backend)
    x, data = hyp.draw(problems(np.float64, max_n=20, max_d=4), label="x, data")
    n = data.shape[0]
    t = hyp.draw(TIMES, label="t")
    h = hyp.draw(st.floats(0.0, 1.0), label="bandwidth")
    seed = hyp.draw(st.integers(0, 2**32), label="random_state")
    weights = hyp.draw(st.none() | weight_vectors(n), label="sample_weight")
    est = lk.LEDKDE(bandwidth=h, t=t, n_kernel=4, n_steps=3, random_state=seed, backend=backend)
    assert est.fit(data, sample_weight=weights) is est
    assert est.n_features_in_ == data.shape[1] and est.bandwidth_ == h
    np.testing.assert_array_equal(est.score_samples(x),
                                  lk.led_kde_log_density(x, data, t, h, n_kernel=4, seed=seed, weights=weights,
                                                         backend=backend))
    try:
        assert math.isfinite(est.score(x))
    except ValueError as exc:  # the default DSM times are not normal float64s (see above)
        assert data.shape[0] > 1 and _default_times_underflow(data) and "smallest normal float64" in str(exc), exc
    a, b = est.sample(3, random_state=seed), est.sample(3, random_state=seed)
    assert a.shape == (3, data.shape[1]) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert lk.LEDKDE(**est.get_params()).get_params() == est.get_params()


# ============================================================================= analysis
@EVERY_BACKEND
@examples(40)
@given(hyp=st.data())
def test_denoiser_statistics_match_the_oracle(backend, hyp):
    """effective_sample_size = 1 / sum_i w_i(x)^2 in [1, #points of positive weight]; denoiser_covariance =
    sum_i w_i(x)^2 (x_i - m)(x_i - m)^T, symmetric positive semi-definite."""
    use_backend(backend)
    x, data = hyp.draw(problems(np.float64, max_n=25, max_d=4), label="x, data")
    t = hyp.draw(TIMES, label="t")
    weights = hyp.draw(st.none() | weight_vectors(data.shape[0]), label="weights")
    w = oracle.softmax_weights(x, data, t, weights)
    _, logit_err = accuracy(x, data, t, np.float64, weights)
    # ESS = exp(2 LSE(l) - LSE(2 l)): relative error about 4 logit errors (the second at t/2)
    ess = analysis.effective_sample_size(x, data, t, weights=weights, backend=backend)
    expected = 1.0 / (w**2).sum(axis=1)
    rel = np.minimum(1.0, 8 * logit_err)
    assert np.all(np.abs(ess - expected) <= rel * expected + 1e-12 * expected)
    # 1 / sum p_i^2 of a distribution on the points of positive weight is at most their number (the
    # docstring's bound 1 / sum_i w_i^2 holds for unit weights only: the softmax can be flatter than w)
    support_size = data.shape[0] if weights is None else int((weights > 0).sum())
    assert np.all(ess >= 1.0 - rel - 1e-12) and np.all(ess <= support_size * (1 + rel + 1e-12))

    cov = analysis.denoiser_covariance(x, data, t, weights=weights, backend=backend)
    m = w @ data
    diff = data[None, :, :] - m[:, None, :]
    expected = np.einsum("qi,qia,qib->qab", w**2, diff, diff)
    r = oracle.data_scale(data)
    # weights off by a relative 2 logit errors, squared: 4; the mean off by 2 R logit errors
    tol = (2 * r) ** 2 * np.minimum(1.0, 16 * logit_err)[:, None, None] + 64 * np.finfo(float).eps * (
        1 + np.abs(data).max()) ** 2
    assert np.all(np.abs(cov - expected) <= tol)
    np.testing.assert_array_equal(cov, np.swapaxes(cov, 1, 2))
    assert np.all(np.linalg.eigvalsh(cov) >= -tol.max(axis=(1, 2))[:, None])


@examples(100)
@given(hyp=st.data())
def test_two_sample_distances(hyp):
    """energy_distance and mmd against their brute-force formulas; both symmetric; the energy
    distance of a sample to itself is 0 and the MMD^2 of a sample to itself is -2(1 - mean k)/(n-1)."""
    a = hyp.draw(problems(np.float64, max_n=15, max_d=3), label="a")[1]
    b = hyp.draw(hnp.arrays(np.float64, (hyp.draw(st.integers(1, 15)), a.shape[1]), elements=coords(np.float64)),
                 label="b")

    def mean_dist(u, v):
        return np.sqrt(sq_dists(u, v)).mean()

    spread = 1.0 + float(np.abs(np.concatenate([a, b])).max())
    # means of at most 225 distances of size <= 2 sqrt(3) spread, each to a few ulps: far below 1e-12
    tol = 1e-12 * spread
    e = analysis.energy_distance(a, b)
    assert e == pytest.approx(2 * mean_dist(a, b) - mean_dist(a, a) - mean_dist(b, b), abs=tol)
    assert e == pytest.approx(analysis.energy_distance(b, a), abs=tol) and e >= -tol
    assert abs(analysis.energy_distance(a, a)) <= tol
    if a.shape[0] >= 2 and b.shape[0] >= 2:
        sigma = hyp.draw(st.floats(0.1, 10.0), label="sigma")

        def kmean(u, v, off_diagonal):
            k = np.exp(-sq_dists(u, v) / (2 * sigma**2))
            nu = u.shape[0]
            return (k.sum() - nu) / (nu * (nu - 1)) if off_diagonal else k.mean()

        expected = kmean(a, a, True) + kmean(b, b, True) - 2 * kmean(a, b, False)
        got = analysis.mmd(a, b, bandwidth=sigma)
        assert got == pytest.approx(expected, abs=1e-12)
        assert got == pytest.approx(analysis.mmd(b, a, bandwidth=sigma), abs=1e-12)
        self_mmd = analysis.mmd(a, a, bandwidth=sigma)
        assert self_mmd == pytest.approx(-2 * (1 - kmean(a, a, False)) / (a.shape[0] - 1), abs=1e-12)


@examples(200)
@given(n=st.integers(1, 10**6), t=st.floats(1e-6, 1e6), k=st.floats(0.5, 50.0), c=st.floats(-1e6, 1e6),
       h=st.floats(0.0, 1e3))
def test_theory_laws(n, t, k, c, h):
    """The documented identities of the scaling laws: N_eff(h = 0) = N, N_eff grows with h,
    smoothed_variance_scaling(t, k, 0, n, c) = variance_scaling(t, k, c / n), and the closed forms."""
    assert analysis.n_eff(n, t, 0.0, k) == n
    assert analysis.n_eff(n, t, h, k) >= n
    assert analysis.n_eff(n, t, h, k) == pytest.approx(n * (1 + h * h / t) ** (k / 2 + 1), rel=1e-13)
    assert analysis.memorization_time(n, k) == pytest.approx(n ** (-2.0 / k), rel=1e-13)
    assert analysis.variance_scaling(t, k, c) == pytest.approx(c * t ** (1 - k / 2), rel=1e-13, abs=1e-300)
    assert analysis.smoothed_variance_scaling(t, k, 0.0, n, c) == pytest.approx(
        analysis.variance_scaling(t, k, c / n), rel=1e-13, abs=1e-300)
    arr = analysis.n_eff(np.array([n, n]), t, np.array([0.0, h]), k)
    assert isinstance(arr, np.ndarray) and arr.shape == (2,)


@EVERY_BACKEND
@examples(40)
@given(hyp=st.data())
def test_nearest_training_points_and_reports(backend, hyp):
    """nearest_training_points is the first two nearest neighbours; memorisation and diversity reports
    agree with their definitions on them; precision and recall of a set against itself are 1."""
    use_backend(backend)
    x, data = hyp.draw(problems(np.float64, max_n=20, max_d=3), label="x, data")
    d1, d2, idx = analysis.nearest_training_points(x, data, backend=backend)
    dist, nn = lk.nearest_neighbors(x, data, min(2, data.shape[0]), backend=backend)
    np.testing.assert_array_equal(d1, dist[:, 0])
    np.testing.assert_array_equal(idx, nn[:, 0])
    if data.shape[0] >= 2:
        np.testing.assert_array_equal(d2, dist[:, 1])
    else:
        assert np.all(d2 == np.inf)
    report = analysis.memorization_report(x, data, backend=backend)
    assert report["nn_distance"]["min"] == d1.min() and report["nn_distance"]["max"] == d1.max()
    div = analysis.diversity(x, data, backend=backend)
    assert div["n_unique_nearest"] == len(set(idx.tolist()))
    if data.shape[0] > 1:
        k = hyp.draw(st.integers(1, data.shape[0] - 1), label="k")
        assert analysis.precision_recall(data, data, k=k, backend=backend) == (1.0, 1.0)


# ============================================================================= invalid input
# Hypothesis explores the first choices of an example systematically and later ones less evenly, so
# each test is parametrized by the kind of defect and draws the function and the value first, the
# valid remainder of the call last.
def _calls(a):
    """One call of every public function that takes these arguments."""
    common = dict(weights=a["weights"], backend=a["backend"], n_threads=a["n_threads"])
    smooth = dict(common, kernel=a["kernel"], rank=a["rank"], n_kernel=a["n_kernel"], seed=a["seed"],
                  antithetic=a["antithetic"], independent=a["independent"])
    calls = {f.__name__: (lambda f=f: f(a["x"], a["data"], a["t"], **common)) for f in EXACT}
    calls.update({f.__name__: (lambda f=f: f(a["x"], a["data"], a["t"], a["bandwidth"], **smooth)) for f in SMOOTHED})
    calls["nearest_neighbors"] = lambda: lk.nearest_neighbors(a["x"], a["data"], a["k"], backend=a["backend"],
                                                              n_threads=a["n_threads"])
    calls["effective_sample_size"] = lambda: analysis.effective_sample_size(a["x"], a["data"], a["t"], **common)
    calls["denoiser_covariance"] = lambda: analysis.denoiser_covariance(a["x"], a["data"], a["t"], **common)
    calls["nearest_training_points"] = lambda: analysis.nearest_training_points(
        a["x"], a["data"], backend=a["backend"], n_threads=a["n_threads"])
    calls["sample"] = lambda: lk.sample(a["data"], a["n_samples"], bandwidth=a["bandwidth"], kernel=a["kernel"],
                                        rank=a["rank"], n_kernel=a["n_kernel"], t_max=a["t_max"], t_min=a["t_min"],
                                        n_steps=a["n_steps"], seed=a["seed"], **common)
    calls["LEDKDE"] = lambda: lk.LEDKDE(bandwidth=a["bandwidth"], t=a["t"], kernel=a["kernel"], rank=a["rank"],
                                        n_kernel=a["n_kernel"], n_steps=a["n_steps"], backend=a["backend"],
                                        n_threads=a["n_threads"], random_state=a["seed"]).fit(
        a["data"], sample_weight=a["weights"]).score_samples(a["x"])
    return calls


_EMPIRICAL = ["empirical_denoiser", "empirical_score", "kde_log_density"]
_SMOOTHED = ["smoothed_denoiser", "smoothed_score", "led_kde_log_density"]
_DENOISER_STATS = ["effective_sample_size", "denoiser_covariance"]
#: Which functions read each argument (an invalid value of another one is not an error there).
USES = {
    "x": _EMPIRICAL + _SMOOTHED + _DENOISER_STATS + ["nearest_neighbors", "nearest_training_points", "LEDKDE"],
    "data": _EMPIRICAL + _SMOOTHED + _DENOISER_STATS + ["nearest_neighbors", "nearest_training_points", "LEDKDE",
                                                         "sample"],
    "t": _EMPIRICAL + _SMOOTHED + _DENOISER_STATS + ["LEDKDE"],
    "weights": _EMPIRICAL + _SMOOTHED + _DENOISER_STATS + ["sample", "LEDKDE"],
    "bandwidth": _SMOOTHED + ["sample", "LEDKDE"],
    "n_kernel": _SMOOTHED + ["sample", "LEDKDE"],
    "seed": _SMOOTHED + ["sample", "LEDKDE"],
    "kernel": _SMOOTHED + ["sample", "LEDKDE"],
    "flag": _SMOOTHED,
    "k": ["nearest_neighbors"],
    "n_threads": _EMPIRICAL + _SMOOTHED + _DENOISER_STATS + ["nearest_neighbors", "nearest_training_points",
                                                              "sample"],
    "backend": _EMPIRICAL + _SMOOTHED + _DENOISER_STATS + ["nearest_neighbors", "nearest_training_points",
                                                            "sample", "LEDKDE"],
}


@st.composite
def valid_arguments(draw):
    """The arguments of a valid call of every function in :func:`_calls`."""
    n, d, m = draw(st.integers(2, 6)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    data = draw(hnp.arrays(np.float64, (n, d), elements=st.floats(-4, 4)))
    x = draw(hnp.arrays(np.float64, (m, d), elements=st.floats(-4, 4)))
    backend = draw(st.sampled_from([b for b in ALL_BACKENDS if b in lk.available_backends()]))
    return dict(x=x, data=data, t=0.5, weights=None, backend=backend, n_threads=None, bandwidth=0.3,
                kernel="gaussian", rank=None, n_kernel=4, seed=0, antithetic=True, independent=False, k=1,
                n_samples=2, t_max=2.0, t_min=0.1, n_steps=2)


#: Objects that are no kind of real number or array of real numbers.
JUNK = [None, "1.0", b"1", object(), {"a": 1}, {1.0, 2.0}, print, 1j, complex(1, 0), Decimal("1.5"), [1.0, "a"],
        [[1.0], [1.0, 2.0]]]
ARRAY_DEFECTS = ["nonfinite", "columns", "ndim", "empty", "complex", "strings", "object_strings", "datetime",
                 "huge_ints", "longdouble", "junk"]


def bad_array(hyp, kind, good, name):
    """``good`` (m, d) made invalid: the wrong shape, a non-finite entry, a non-real dtype, or junk."""
    m, d = good.shape
    if kind == "nonfinite":
        out = good.astype(hyp.draw(st.sampled_from([np.float64, np.float32, np.float16]), label="dtype"))
        out.flat[hyp.draw(st.integers(0, out.size - 1), label="entry")] = hyp.draw(
            st.sampled_from([np.nan, np.inf, -np.inf]), label="value")
        return out
    if kind == "columns":
        return np.zeros((m, hyp.draw(st.integers(0, 5).filter(lambda c: c != d), label="columns")))
    if kind == "ndim":
        return np.zeros(hyp.draw(st.sampled_from([(), (1, m, d), (m, d, 1)]), label="shape"))
    if kind == "empty":  # no point at all (data), or no column (both)
        return np.zeros((0, d)) if name == "data" else np.zeros((m, 0))
    if kind == "complex":
        return good + hyp.draw(st.sampled_from([0j, 1j]), label="imaginary part")
    if kind == "strings":
        return good.astype(str)
    if kind == "object_strings":  # a number spelled as a string is still a string
        out = good.astype(object)
        out.flat[0] = str(out.flat[0])
        return out
    if kind == "datetime":
        return good.astype("datetime64[s]")
    if kind == "huge_ints":  # an integer no double can hold: not a finite real of the compute dtype
        out = good.astype(object)
        out.flat[0] = 10**400
        return out.tolist()
    if kind == "longdouble":  # finite as an 80-bit long double, infinite as a double
        out = good.astype(np.longdouble)
        out.flat[0] = np.longdouble(np.finfo(np.float64).max) * 4
        return out
    return hyp.draw(st.sampled_from(JUNK), label="junk")


@pytest.mark.parametrize("kind", ARRAY_DEFECTS)
@examples(20)
@given(hyp=st.data())
def test_invalid_arrays_raise(kind, hyp):
    which, fn = hyp.draw(st.sampled_from([(w, f) for w in ("x", "data") for f in USES[w]]), label="argument, function")
    args = hyp.draw(valid_arguments(), label="valid arguments")
    if fn == "sample" and kind == "columns":
        kind = "empty"  # the sampler has no queries: any width but 0 is valid data
    args[which] = bad_array(hyp, kind, args[which], which)
    raises_cleanly(_calls(args)[fn])


#: Values of a time or bandwidth argument that are not a finite real scalar > 0 (>= 0 for a bandwidth).
SCALAR_DEFECTS = {
    "negative": st.floats(max_value=-5e-324).filter(lambda v: not math.isnan(v)),
    "zero": st.sampled_from([0.0, -0.0, 0, np.float32(0.0), Fraction(0)]),
    "nan": st.sampled_from([math.nan, np.float32(np.nan), np.float64(np.nan)]),
    "infinite": st.sampled_from([math.inf, -math.inf, np.float32(np.inf)]),
    "huge_int": st.sampled_from([10**400, -(10**400), 2**1024]),  # beyond the doubles: not finite
    "underflow": st.sampled_from([Fraction(1, 10**400), 5e-324 / 4]),  # rounds to 0 as a double
    "bool": st.booleans(),
    "array": st.sampled_from([np.array([1.0, 2.0]), np.ones((1, 1)), [1.0], (0.5,)]),
    "string": st.text(max_size=5).filter(lambda s: s != "auto"),  # the estimator's bandwidth may be "auto"
    "complex": st.sampled_from([0.5j, complex(0.5, 0), np.complex128(1.0)]),
    "junk": st.sampled_from([v for v in JUNK if v is not None]),
}


@pytest.mark.parametrize("kind", list(SCALAR_DEFECTS))
@examples(15)
@given(hyp=st.data())
def test_invalid_scalars_raise(kind, hyp):
    """t, the bandwidth and the sampler's t_max, t_min and langevin_step."""
    targets = [("t", f) for f in USES["t"]] + [("bandwidth", f) for f in USES["bandwidth"]] + [
        ("t_max", "sample"), ("t_min", "sample"), ("langevin_step", "sample")]
    which, fn = hyp.draw(st.sampled_from(targets), label="argument, function")
    if which == "bandwidth" and kind in ("zero", "underflow"):
        which, fn = "t", "empirical_denoiser"  # a bandwidth of 0 is valid (no smoothing)
    value = hyp.draw(SCALAR_DEFECTS[kind], label=which)
    args = hyp.draw(valid_arguments(), label="valid arguments")
    if which in ("t", "bandwidth"):
        args[which] = value
        raises_cleanly(_calls(args)[fn])
    else:
        raises_cleanly(lambda: lk.sample(args["data"], 2, n_steps=2, method="langevin", backend=args["backend"],
                                         **{"t_max": 2.0, "t_min": 0.1, which: value}))


WEIGHT_DEFECTS = ["negative", "nonfinite", "zero", "length", "ndim", "dtype", "huge_int", "junk"]


def bad_weights(hyp, kind, n):
    w = hyp.draw(hnp.arrays(np.float64, n, elements=st.floats(0.0, 10.0)), label="weights")
    if kind == "negative":
        w[hyp.draw(st.integers(0, n - 1), label="entry")] = -hyp.draw(st.floats(5e-324, 1e300), label="value")
    elif kind == "nonfinite":
        w[hyp.draw(st.integers(0, n - 1), label="entry")] = hyp.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    elif kind == "zero":
        w = np.zeros(n, dtype=hyp.draw(st.sampled_from([np.float64, np.int64, bool]), label="dtype"))
    elif kind == "length":
        w = np.ones(hyp.draw(st.integers(0, 9).filter(lambda c: c != n), label="length"))
    elif kind == "ndim":
        w = hyp.draw(st.sampled_from([np.ones((n, 1)), np.float64(1.0), np.ones((1, n))]), label="shape")
    elif kind == "dtype":
        w = hyp.draw(st.sampled_from([w + 1j, w.astype(str), w.astype("datetime64[s]")]), label="dtype")
    elif kind == "huge_int":
        w = w.astype(object)
        w[0] = 10**400
        w = w.tolist()
    else:
        w = hyp.draw(st.sampled_from([v for v in JUNK if v is not None]), label="junk")
    return w


@pytest.mark.parametrize("kind", WEIGHT_DEFECTS)
@examples(15)
@given(hyp=st.data())
def test_invalid_weights_raise(kind, hyp):
    fn = hyp.draw(st.sampled_from(USES["weights"]), label="function")
    args = hyp.draw(valid_arguments(), label="valid arguments")
    args["weights"] = bad_weights(hyp, kind, args["data"].shape[0])
    raises_cleanly(_calls(args)[fn])


def _not_an_int(minimum):
    """Not an int >= minimum: too small, or not an int at all (floats, bools, strings, ...)."""
    return st.integers(max_value=minimum - 1) | st.sampled_from(
        [1.0, 2.0, np.float64(2.0), True, False, "2", 1j, Fraction(2, 1), np.array([2]), [2]])


def _bad_backends():
    known = {"auto", "cpp", "numba", "reference", "cuda"}
    unavailable = [b for b in ("cuda", "cpp", "numba") if b not in lk.available_backends()]
    return st.text(max_size=12).filter(lambda s: s.strip().lower() not in known) | st.sampled_from(
        unavailable + [None, 1, b"cpp", ["cpp"], 1.5])


def _bad_kernel(name, d):
    """An unknown kernel name, something that is not a kernel, or a kernel of the wrong width."""
    return {"None": None, "int": 1, "matrix": np.eye(d), "factor": kernels.Factor(np.ones((d + 1, 1))),
            "samples": kernels.Samples(np.ones((3, d + 1))), "covariance": kernels.Covariance(np.eye(d + 1))
            }.get(name, name)


OPTION_DEFECTS = ["n_kernel", "odd_n_kernel", "k", "n_threads", "seed", "backend", "kernel", "rank", "flag"]


@pytest.mark.parametrize("option", OPTION_DEFECTS)
@examples(25)
@given(hyp=st.data())
def test_invalid_options_raise(option, hyp):
    """n_kernel (and an odd one with antithetic pairs), k, n_threads, seeds, backend names, the kernel and
    its rank, the boolean flags."""
    uses = {"odd_n_kernel": "n_kernel", "rank": "kernel"}.get(option, option)
    fn = hyp.draw(st.sampled_from(USES[uses]), label="function")
    if option == "n_kernel":
        value = hyp.draw(_not_an_int(1), label="n_kernel")
    elif option == "odd_n_kernel":
        value = hyp.draw(st.integers(0, 50).map(lambda i: 2 * i + 1), label="n_kernel")
    elif option == "k":
        value = hyp.draw(_not_an_int(1) | st.integers(min_value=7), label="k")  # N <= 6
    elif option == "n_threads":
        value = hyp.draw(_not_an_int(1), label="n_threads")
    elif option == "seed":
        value = hyp.draw(st.integers(max_value=-1) | st.sampled_from(
            [1.5, "0", True, b"0", 1j, [0], np.array([0, 1]), np.float64(0.0), object()]), label="seed")
    elif option == "backend":
        value = hyp.draw(_bad_backends(), label="backend")
    elif option == "kernel":
        value = hyp.draw(st.sampled_from(["None", "int", "matrix", "factor", "samples", "covariance"]) | st.text(
            max_size=10).filter(lambda s: s.strip().lower() not in ("gaussian", "pca")), label="kernel")
    elif option == "rank":
        value = hyp.draw(st.sampled_from([("pca", None), ("pca", 0), ("pca", -1), ("pca", 4), ("pca", 1.0),
                                          ("pca", "1"), ("gaussian", 1), (kernels.PCA(1), 1)]), label="kernel, rank")
    else:
        value = hyp.draw(st.tuples(st.sampled_from(["antithetic", "independent"]),
                                   st.sampled_from([0, 1, "yes", None, np.float64(1.0)])), label="flag")
    args = hyp.draw(valid_arguments(), label="valid arguments")
    if option == "kernel":
        value = _bad_kernel(value, args["data"].shape[1])
    if option == "rank":
        args["kernel"], args["rank"] = value
        if args["rank"] == 4:
            args["rank"] = min(args["data"].shape) + 1  # more directions than the data have
    elif option == "flag":
        args[value[0]] = value[1]
    else:
        args[uses] = value
    raises_cleanly(_calls(args)[fn])


SAMPLER_DEFECTS = ["n_samples", "n_steps", "method", "schedule", "times_order", "flags", "bandwidth_schedule",
                   "unfitted", "width", "estimator_params", "explicit_independent"]


@pytest.mark.parametrize("case", SAMPLER_DEFECTS)
@examples(10)
@given(hyp=st.data())
def test_invalid_sampler_and_estimator_arguments_raise(case, hyp):
    if case == "n_samples":
        kw = {"n_samples": hyp.draw(_not_an_int(1), label="n_samples")}
    elif case == "n_steps":
        kw = {"n_steps": hyp.draw(_not_an_int(1), label="n_steps")}
    elif case == "method":
        kw = {"method": hyp.draw(st.text(max_size=10).filter(
            lambda s: s not in ("euler_maruyama", "probability_flow", "langevin")) | st.sampled_from([None, 1]),
            label="method")}
    elif case == "schedule":
        kw = {"schedule": hyp.draw(st.text(max_size=10).filter(lambda s: s not in ("geometric", "linear"))
                                   | st.sampled_from([[1.0], [1.0, 2.0], [2.0, 0.0], [2.0, -1.0], [2.0, np.nan],
                                                      [[2.0, 1.0]], ["2", "1"], [2.0, 1.0, 1.0], None, 3]),
                                   label="schedule")}
    elif case == "times_order":
        kw = {"t_max": 0.1, "t_min": hyp.draw(st.floats(0.1, 10.0), label="t_min")}
    elif case == "flags":  # booleans: an int or a string is a mistake, not a flag
        kw = {hyp.draw(st.sampled_from(["final_denoise", "return_trajectory", "progress"]), label="flag"):
              hyp.draw(st.sampled_from([0, 1, "yes", None]), label="value")}
    elif case == "bandwidth_schedule":  # a callable bandwidth is checked at every step
        value = hyp.draw(st.sampled_from([-1.0, math.nan, math.inf, "0.1", None, 1j]), label="h(t)")
        kw = {"bandwidth": lambda t: value}
    else:
        kw = {}
    args = hyp.draw(valid_arguments(), label="valid arguments")
    data, x, backend = args["data"], args["x"], args["backend"]
    if case in ("n_samples", "n_steps", "method", "schedule", "times_order", "flags", "bandwidth_schedule"):
        kw = dict({"n_samples": 2, "n_steps": 2, "backend": backend}, **kw)
        raises_cleanly(lambda: lk.sample(data, **kw))
    elif case == "unfitted":
        raises_cleanly(lambda: lk.LEDKDE(backend=backend).score_samples(x))
    elif case == "width":
        est = lk.LEDKDE(n_kernel=4, backend=backend).fit(data)
        raises_cleanly(lambda: est.score_samples(np.zeros((2, data.shape[1] + 1))))
    elif case == "estimator_params":
        param = hyp.draw(st.sampled_from(["bandwidth", "t", "n_kernel", "random_state"]), label="parameter")
        value = hyp.draw({"bandwidth": SCALAR_DEFECTS["negative"] | SCALAR_DEFECTS["nan"] | SCALAR_DEFECTS["string"],
                          "t": SCALAR_DEFECTS["zero"] | SCALAR_DEFECTS["infinite"] | SCALAR_DEFECTS["junk"],
                          "n_kernel": _not_an_int(1),
                          "random_state": st.integers(max_value=-1) | st.sampled_from([1.5, "0"])}[param],
                         label="value")
        raises_cleanly(lambda: lk.LEDKDE(n_kernel=4, backend=backend, **{param: value}).fit(data).score_samples(x))
    else:  # explicit kernel samples cannot be redrawn for every query
        raises_cleanly(lambda: lk.smoothed_score(x, data, 0.5, 0.3, independent=True, backend=backend,
                                                 kernel=kernels.Samples(np.ones((2, data.shape[1])))))


KERNEL_AND_LAW_DEFECTS = ["covariance", "factor", "samples", "pca", "laws", "two_sample"]


@pytest.mark.parametrize("case", KERNEL_AND_LAW_DEFECTS)
@examples(15)
@given(hyp=st.data())
def test_invalid_kernel_and_analysis_arguments_raise(case, hyp):
    """Kernel constructors refuse non-PSD, non-symmetric, non-finite or non-real matrices; the scaling
    laws and the two-sample distances refuse values out of their domain."""
    d = hyp.draw(st.integers(1, 3), label="d")
    if case == "covariance":
        a = hyp.draw(hnp.arrays(np.float64, (d, d), elements=st.floats(-2, 2)), label="A")
        m = a @ a.T
        m = hyp.draw(st.sampled_from([m - (1.0 + np.abs(m).max() * d) * np.eye(d), m + np.triu(np.ones((d, d)), 1),
                                      np.full((d, d + 1), 1.0), np.full((d, d), np.nan), m + 1j, m.astype(str),
                                      np.ones(d)]), label="M")
        raises_cleanly(lambda: kernels.Covariance(m))
    elif case == "factor":
        value = hyp.draw(st.sampled_from([np.ones(d), np.full((d, 1), np.inf), np.ones((d, 1)) * 1j, "1"]), label="L")
        raises_cleanly(lambda: kernels.Factor(value))
    elif case == "samples":
        value = hyp.draw(st.sampled_from([np.ones((0, d)), np.ones(d), np.full((2, d), np.nan), [["a"] * d]]),
                         label="s")
        raises_cleanly(lambda: kernels.Samples(value))
    elif case == "pca":
        value = hyp.draw(_not_an_int(1), label="rank")
        raises_cleanly(lambda: kernels.PCA(value))
    elif case == "laws":
        law = hyp.draw(st.sampled_from(["n_eff(n)", "n_eff(t)", "memorization_time(k)", "variance_scaling(t)",
                                        "smoothed_variance_scaling(k)"]), label="law")
        value = hyp.draw(st.one_of(*[SCALAR_DEFECTS[k] for k in ("negative", "zero", "nan", "infinite", "huge_int",
                                                                  "bool", "string", "complex")])
                         | st.sampled_from([[1.0, -1.0], [1.0, np.nan], np.zeros(2)]), label="value")
        call = {"n_eff(n)": lambda: analysis.n_eff(value, 1.0, 0.1, 2.0),
                "n_eff(t)": lambda: analysis.n_eff(10, value, 0.1, 2.0),
                "memorization_time(k)": lambda: analysis.memorization_time(10, value),
                "variance_scaling(t)": lambda: analysis.variance_scaling(value, 2.0),
                "smoothed_variance_scaling(k)": lambda: analysis.smoothed_variance_scaling(1.0, value, 0.1)}[law]
        raises_cleanly(call)
    else:
        which = hyp.draw(st.sampled_from(["mmd one point", "energy widths", "mmd zero bandwidth", "precision k"]),
                         label="call")
        call = {"mmd one point": lambda: analysis.mmd(np.zeros((1, d)), np.zeros((3, d))),
                "energy widths": lambda: analysis.energy_distance(np.zeros((3, d)), np.zeros((3, d + 1))),
                "mmd zero bandwidth": lambda: analysis.mmd(np.ones((3, d)), np.ones((3, d)), bandwidth=0.0),
                "precision k": lambda: analysis.precision_recall(np.ones((3, d)), np.ones((3, d)), k=3)}[which]
        raises_cleanly(call)


def raises_cleanly(call):
    """A ValueError or TypeError: not another exception (a warning is one here), and not a value."""
    with pytest.raises((ValueError, TypeError)):
        call()


# ============================================================================= extreme but valid input
def powers_of_two(dtype, subnormal=False):
    """Scales s = 2^e: exact for the dyadic coordinates, and within float64 1e-160..1e150 (t s^2 down
    to the subnormals, coordinates up to ~1e150), float32 1e-12..1e18 (coordinates up to ~1e19). With
    ``subnormal``, down to the subnormal coordinates (still exact: multiples of 2^-1074, 2^-149)."""
    lo, hi = (-530, 498) if dtype == np.float64 else (-40, 60)
    exponents = st.integers(lo, hi)
    if subnormal:  # as often as the rest: spreads below the smallest normal number
        tiny = st.integers(-1064, -1020) if dtype == np.float64 else st.integers(-139, -125)
        exponents = tiny | exponents
    return exponents.map(lambda e: 2.0**e)


@DTYPES
@EVERY_BACKEND
@examples(40)
@given(hyp=st.data())
def test_nearest_neighbors_are_scale_invariant(backend, dtype, hyp):
    """A power-of-two scaling is exact, so nearest_neighbors(x s, data s) equals nearest_neighbors(x, data)
    with distances times s, whatever the magnitude of the coordinates, subnormal ones included."""
    use_backend(backend)
    x, data = hyp.draw(problems(dtype, elements=DYADIC), label="x, data")
    k = hyp.draw(st.integers(1, data.shape[0]), label="k")
    s = hyp.draw(powers_of_two(dtype, subnormal=True), label="s")
    xs, ds = (x * s).astype(dtype), (data * s).astype(dtype)
    # exact only while no scaled coordinate falls below the dtype's subnormal range
    assume(np.array_equal(xs.astype(np.float64) / s, x) and np.array_equal(ds.astype(np.float64) / s, data))
    dist, idx = lk.nearest_neighbors(x, data, k, backend=backend)
    dist_s, idx_s = lk.nearest_neighbors(xs, ds, k, backend=backend)
    np.testing.assert_array_equal(idx_s, idx)
    # float64 distances: relative rounding, or a few subnormal spacings where they are subnormal
    np.testing.assert_allclose(dist_s, dist * s, rtol=8 * np.finfo(np.float64).eps,
                               atol=4 * np.finfo(np.float64).smallest_subnormal)


@DTYPES
@EVERY_BACKEND
@examples(40)
@given(hyp=st.data())
def test_exact_quantities_are_scale_equivariant(backend, dtype, hyp):
    """With s a power of two: m(x s; data s, t s^2) = s m(x; data, t), s_t scales by 1/s and the
    log-density shifts by -d log s (the density of s X is s^-d that of X). Both sides are compared
    within the unscaled problem's accuracy (times s)."""
    use_backend(backend)
    x, data = hyp.draw(problems(dtype, elements=DYADIC), label="x, data")
    t = hyp.draw(st.integers(-10, 10).map(lambda e: 2.0**e), label="t")  # t s^2 exact, even subnormal
    # as often as the rest: scales where t s^2 is subnormal and |x - x_i|^2 underflows
    deep = st.integers(-530, -505).map(lambda e: 2.0**e) if dtype == np.float64 else st.nothing()
    s = hyp.draw(deep | powers_of_two(dtype), label="s")
    n, d = data.shape
    xs, ds, ts = (x * s).astype(dtype), (data * s).astype(dtype), t * s * s
    den_tol, logit_err = accuracy(x, data, t, dtype)
    den = lk.empirical_denoiser(x, data, t, backend=backend).astype(np.float64)
    den_s = lk.empirical_denoiser(xs, ds, ts, backend=backend).astype(np.float64)
    assert np.isfinite(den_s).all()
    assert np.all(np.abs(den_s / s - den) <= 2 * den_tol)
    assert_in_support_box(den_s, xs, ds, ts, dtype)
    score = lk.empirical_score(x, data, t, backend=backend).astype(np.float64)
    score_s = lk.empirical_score(xs, ds, ts, backend=backend).astype(np.float64)
    eps = float(np.finfo(dtype).eps)
    score_tol = (2 * den_tol + 16 * eps * (np.abs(x).max() + np.abs(data).max())) / t
    assert np.isfinite(score_s).all() and np.all(np.abs(score_s * s - score) <= score_tol + 8 * eps * np.abs(score))
    lp = lk.kde_log_density(x, data, t, backend=backend).astype(np.float64)
    lp_s = lk.kde_log_density(xs, ds, ts, backend=backend).astype(np.float64)
    assert np.isfinite(lp_s).all()
    shift = d * math.log(s)
    tol = 2 * logp_tolerance(logit_err, lp, n, d, t, dtype) + 8 * eps * (abs(shift) + np.abs(lp_s))
    assert np.all(np.abs(lp_s + shift - lp) <= tol)


def representable(values, dtype):
    """Where a true value is a finite number of the dtype: elsewhere the correctly rounded answer is
    an infinity, which no property here asks about."""
    return np.isfinite(values) & (np.abs(values) < float(np.finfo(dtype).max) / 2)


@DTYPES
@EVERY_BACKEND
@examples(60)
@given(hyp=st.data())
def test_extreme_times_and_scales(backend, dtype, hyp):
    """t anywhere from the smallest subnormal to 1e307, coordinates scaled by s: the denoiser is finite
    and lies in the box of the points that can carry weight (at tiny t, the nearest ones), agrees with
    the oracle within the documented accuracy, and at a training point the log-density is finite and
    between log(w_i) - (d/2) log(2 pi t) and -(d/2) log(2 pi t)."""
    use_backend(backend)
    x, data = hyp.draw(problems(dtype, elements=DYADIC), label="x, data")
    s = hyp.draw(st.just(1.0) | powers_of_two(dtype), label="s")
    t = hyp.draw(st.sampled_from([5e-324, 1e-310, 1e-20, 1e300, 1e307]) | st.floats(-323.0, 307.0).map(
        lambda e: 10.0**e), label="t")
    weights = hyp.draw(st.none() | weight_vectors(data.shape[0]), label="weights")
    x, data = (x * s).astype(dtype), (data * s).astype(dtype)
    n, d = data.shape
    den = lk.empirical_denoiser(x, data, t, weights=weights, backend=backend)
    assert_in_support_box(den, x, data, t, dtype, weights)
    expected, lp_expected = exact_oracle(x, data, t, weights)
    den_tol, logit_err = accuracy(x, data, t, dtype, weights)
    assert np.all(np.abs(den - expected) <= den_tol)
    # the log-density of the queries where it is a number of the dtype (off the data at tiny t it is
    # below -1e308: -inf is then its correct rounding)
    ok = representable(lp_expected, dtype)
    lp = lk.kde_log_density(x[ok], data, t, weights=weights, backend=backend).astype(np.float64)
    lp_expected, tol = lp_expected[ok], logp_tolerance(logit_err, lp_expected, n, d, t, dtype)[ok]
    assert np.isfinite(lp).all() and np.all(np.abs(lp - lp_expected) <= tol)
    # at a training point of positive weight (always representable): within the bounds, the upper one
    # exact up to the rounding of the normaliser, the lower one within the documented logit error
    lw = log_weights(n, weights)
    on_point = np.all(x[ok][:, None, :] == data[None, :, :], axis=-1) & np.isfinite(lw)[None, :]
    bound = -0.5 * d * (LOG_2PI + math.log(t))
    eps = float(np.finfo(dtype).eps)
    for q in np.flatnonzero(on_point.any(axis=1)):
        own = np.logaddexp.reduce(lw[on_point[q]])
        assert lp[q] <= bound + 16 * eps * (abs(bound) + math.log(n)), f"query {q}: {lp[q]} > {bound}"
        assert lp[q] >= own + bound - tol[q], f"query {q}: {lp[q]} < {own + bound}"


@EVERY_BACKEND
@examples(50)
@given(hyp=st.data())
def test_weights_spanning_the_float64_range(backend, hyp):
    """Weights from 1e-300 to 1e300 (and zeros) are exact relative masses: against the oracle, which
    normalises them in the log domain."""
    use_backend(backend)
    x, data = hyp.draw(problems(np.float64), label="x, data")
    n, d = data.shape
    wide = st.just(0.0) | st.floats(-300.0, 300.0).map(lambda e: 10.0**e) | st.sampled_from([1e-300, 1e300])
    weights = hyp.draw(weight_vectors(n, elements=wide), label="weights")
    t = hyp.draw(TIMES, label="t")
    den = lk.empirical_denoiser(x, data, t, weights=weights, backend=backend)
    assert_in_support_box(den, x, data, t, np.float64, weights)
    expected, lp_expected = exact_oracle(x, data, t, weights)
    den_tol, logit_err = accuracy(x, data, t, np.float64, weights)
    assert np.all(np.abs(den - expected) <= den_tol)
    lp = lk.kde_log_density(x, data, t, weights=weights, backend=backend)
    assert np.all(np.abs(lp - lp_expected) <= logp_tolerance(logit_err, lp_expected, n, d, t, np.float64))


@EVERY_BACKEND
@examples(50)
@given(hyp=st.data())
def test_weights_are_relative(backend, hyp):
    """Multiplying every weight by c in 1e-200..1e200 changes nothing beyond rounding."""
    use_backend(backend)
    x, data = hyp.draw(problems(np.float64), label="x, data")
    n = data.shape[0]
    mid = st.just(0.0) | st.floats(-100.0, 100.0).map(lambda e: 10.0**e)
    weights = hyp.draw(weight_vectors(n, elements=mid), label="weights")
    c = hyp.draw(st.floats(-200.0, 200.0).map(lambda e: 10.0**e), label="c")
    t = hyp.draw(TIMES, label="t")
    den_tol, logit_err = accuracy(x, data, t, np.float64, weights)
    den = lk.empirical_denoiser(x, data, t, weights=weights, backend=backend)
    den_c = lk.empirical_denoiser(x, data, t, weights=weights * c, backend=backend)
    assert np.all(np.abs(den_c - den) <= 2 * den_tol)
    lp = lk.kde_log_density(x, data, t, weights=weights, backend=backend)
    lp_c = lk.kde_log_density(x, data, t, weights=weights * c, backend=backend)
    assert np.all(np.abs(lp_c - lp) <= 2 * logp_tolerance(logit_err, lp, n, data.shape[1], t, np.float64))


@DTYPES
@EVERY_BACKEND
@examples(40)
@given(hyp=st.data())
def test_far_away_repeated_points(backend, dtype, hyp):
    """A cluster and copies of one point at distance D (up to 2^480 in float64, 2^60 in float32), so that
    the data mean is far from the cluster: everything stays finite and within the documented accuracy
    (which is relative to the whole data's spread), the far copies carry no weight at the cluster
    (their logits are below the cluster's by D^2 / 2t, far more than the rounding, 64 ulps of D^2 / 2t),
    so the denoiser lies in the cluster's box and the neighbours are the cluster's; at the far point the
    denoiser is that point."""
    use_backend(backend)
    x, cluster = hyp.draw(problems(dtype, elements=DYADIC, max_n=20), label="x, cluster")
    n1, d = cluster.shape
    n2 = hyp.draw(st.integers(1, 30), label="copies")
    hi = 480 if dtype == np.float64 else 60
    far = hyp.draw(hnp.arrays(np.float64, d, elements=st.sampled_from([-1.0, 1.0])), label="direction")
    far = (far * 2.0 ** hyp.draw(st.integers(7, hi), label="log2 D")).astype(dtype)
    data = np.concatenate([cluster, np.repeat(far[None, :], n2, axis=0)]).astype(dtype)
    n = n1 + n2
    # t <= 1 and D >= 128 (the queries are within 8 sqrt(d) of the cluster's box): the far copies'
    # logits are below the cluster's by more than LEAK
    t = hyp.draw(st.integers(-8, 0).map(lambda e: 2.0**e), label="t")
    den_tol, logit_err = accuracy(x, data, t, dtype)
    expected, lp_expected = exact_oracle(x, data, t)
    den = lk.empirical_denoiser(x, data, t, backend=backend)
    assert np.all(np.abs(den - expected) <= den_tol)
    assert_in_support_box(den, x, data, t, dtype)
    assert np.all(support(x, data, t, dtype)[:, n1:] == 0), "test premise: the far copies carry no weight"
    lp = lk.kde_log_density(x, data, t, backend=backend)
    assert np.isfinite(lp).all()
    assert np.all(np.abs(lp - lp_expected) <= logp_tolerance(logit_err, lp_expected, n, d, t, dtype))
    k = hyp.draw(st.integers(1, n1), label="k")
    dist, idx = lk.nearest_neighbors(x, data, k, backend=backend)
    check_knn(x, data, k, dist, idx, dtype)
    assert np.all(idx < n1)
    # a query at the far point (every copy is nearest, at distance 0): that point, exactly
    at_far = lk.empirical_denoiser(far[None, :], data, t, backend=backend)
    np.testing.assert_allclose(at_far[0], far, rtol=(n + 8) * np.finfo(dtype).eps, atol=0)


@DTYPES
@EVERY_BACKEND
@examples(40)
@given(hyp=st.data())
def test_one_repeated_point(backend, dtype, hyp):
    """Data that are one point p repeated, anywhere: the denoiser is p, the score (p - x) / t and the
    log-density -|x - p|^2 / 2t - (d/2) log(2 pi t), for any query and any t (no cancellation: every
    logit is the same), wherever those are numbers of the dtype."""
    use_backend(backend)
    d = hyp.draw(st.integers(1, 6), label="d")
    s = hyp.draw(powers_of_two(dtype), label="s")
    p = hyp.draw(hnp.arrays(np.float64, d, elements=DYADIC), label="p") * s
    x = hyp.draw(hnp.arrays(np.float64, (hyp.draw(st.integers(1, 4)), d), elements=DYADIC), label="x") * s
    x = np.concatenate([x, p[None, :]])
    n = hyp.draw(st.integers(1, 30), label="N")
    t = hyp.draw(st.floats(-300.0, 300.0).map(lambda e: 10.0**e), label="t")
    p, x = p.astype(dtype), x.astype(dtype)
    p64, x64 = p.astype(np.float64), x.astype(np.float64)
    with np.errstate(over="ignore"):
        score_expected = (p64 - x64) / t
        lp_expected = -(distances(x64, p64[None, :])[:, 0] / math.sqrt(2 * t)) ** 2 - 0.5 * d * (
            LOG_2PI + math.log(t))
    # queries whose score and log-density are numbers of the dtype (p itself always is)
    ok = representable(score_expected, dtype).all(axis=1) & representable(lp_expected, dtype)
    x, score_expected, lp_expected = x[ok], score_expected[ok], lp_expected[ok]
    data = np.repeat(p[None, :], n, axis=0)
    eps = float(np.finfo(dtype).eps)
    den = lk.empirical_denoiser(x, data, t, backend=backend)
    np.testing.assert_allclose(den, np.broadcast_to(p, x.shape), rtol=(n + 8) * eps, atol=0)
    score = lk.empirical_score(x, data, t, backend=backend).astype(np.float64)
    # relative, where the expected value is a normal number (a subnormal has fewer digits)
    normal = np.abs(score_expected) >= np.finfo(dtype).tiny
    np.testing.assert_allclose(score[normal], score_expected[normal], rtol=(n + 16) * eps, atol=0)
    assert np.all(np.abs(score[~normal]) <= 4 * np.finfo(dtype).tiny)
    lp = lk.kde_log_density(x, data, t, backend=backend).astype(np.float64)
    np.testing.assert_allclose(lp, lp_expected, rtol=16 * eps, atol=16 * eps * (1 + 0.5 * d * abs(math.log(t))))
