"""The compiled core's own products: ``matmul_nt`` (the double-KDE's C matrix and its weights x data
product) and the double-KDE kernels in the regime where the cheap bound on a draw's logits is too
loose and the kernel must fall back to the exact maximum. Each against a float64 oracle."""

import numpy as np
import pytest

from conftest import compiled_core

_core = compiled_core()

DTYPES = [np.float64, np.float32]


def _product_tolerance(z, b, dtype):
    # Each entry is a sum of r products: its rounding error is at most about r eps sum_k |z_k b_k|.
    r = z.shape[1]
    bound = np.abs(z.astype(np.float64)) @ np.abs(b.astype(np.float64)).T
    return 2 * r * np.finfo(dtype).eps * bound.max()


@pytest.mark.parametrize("dtype", DTYPES)
# rows x n x r; r <= 16 takes the narrow product (groups of 4 vectors of columns, then single vectors
# with a partial last one), r = 17 and up the packed one
@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 3, 2), (100, 33, 1), (300, 70, 16), (9, 200, 9), (5000, 10, 9),
                                   (53, 300, 17), (5, 257, 40), (64, 600, 131)])
def test_matmul_nt_against_float64(rng, dtype, shape):
    rows, n, r = shape
    z = rng.normal(size=(rows, r)).astype(dtype)
    b = (rng.normal(size=(n, r)) + 3.0).astype(dtype)  # off-centre: the product must not be centred
    got = _core.matmul_nt(z, b, -0.7, 0)
    assert got.dtype == dtype and got.shape == (rows, n)
    expected = -0.7 * (z.astype(np.float64) @ b.astype(np.float64).T)
    np.testing.assert_allclose(got, expected, rtol=0, atol=0.7 * _product_tolerance(z, b, dtype))


def test_matmul_nt_block_sizes_and_threads_give_identical_results(rng):
    z = rng.normal(size=(37, 29))
    b = rng.normal(size=(301, 29))
    ref = _core.matmul_nt(z, b, 1.0, 1)
    for threads, tile_m, block_n in [(2, 48, 256), (3, 5, 32), (1, 1, 64)]:
        np.testing.assert_array_equal(_core.matmul_nt(z, b, 1.0, threads, tile_m, block_n), ref)


@pytest.mark.parametrize("dtype", DTYPES)
def test_narrow_matmul_nt_threads_give_identical_results(rng, dtype):
    # enough entries for several threads; each row is computed alike on any of them
    z = rng.normal(size=(20000, 5)).astype(dtype)
    b = rng.normal(size=(37, 5)).astype(dtype)
    ref = _core.matmul_nt(z, b, -0.3, 1)
    for threads in (2, 3):
        np.testing.assert_array_equal(_core.matmul_nt(z, b, -0.3, threads), ref)


def test_matmul_nt_empty_and_bad_input(rng):
    assert _core.matmul_nt(np.zeros((0, 3)), np.ones((4, 3)), 1.0, 0).shape == (0, 4)
    assert _core.matmul_nt(np.ones((2, 3)), np.zeros((0, 3)), 1.0, 0).shape == (2, 0)
    with pytest.raises(ValueError, match="same number of columns"):
        _core.matmul_nt(np.ones((2, 3)), np.ones((4, 2)), 1.0, 0)
    with pytest.raises(ValueError, match="z must have 2"):
        _core.matmul_nt(np.ones(3), np.ones((4, 3)), 1.0, 0)
    with pytest.raises(ValueError, match="scale must be finite"):
        _core.matmul_nt(np.ones((2, 3)), np.ones((4, 3)), np.nan, 0)
    with pytest.raises(TypeError):
        _core.matmul_nt(np.ones((2, 3), dtype=np.float32), np.ones((4, 3)), 1.0, 0)


# ----------------------------------------------------------------------------- loose logit bounds
def _oracle(x, data, t, c):
    """wbar[q, i] = sum_j softmax_i(A_qi + C_ji) and zsum[q] = sum_j LSE_i(A_qi + C_ji), A the true
    logits -|x - x_i|^2 / 2t, in float64 with explicit differences."""
    a = -((x[:, None, :] - data[None, :, :]) ** 2).sum(-1) / (2 * t)
    lg = a[:, None, :] + c[None, :, :]  # (m, kc, n)
    mx = lg.max(axis=2, keepdims=True)
    e = np.exp(lg - mx)
    s = e.sum(axis=2, keepdims=True)
    return (e / s).sum(axis=1), (mx[..., 0] + np.log(s[..., 0])).sum(axis=1)


def _logit_terms(x, data, t, c):
    d64 = data.astype(np.float64)
    span = np.linalg.norm(x.astype(np.float64)[:, None] - d64[None], axis=-1).max()
    return span**2 / (2 * t) + np.abs(c).max()


def _loose_problem(rng, dtype):
    """Small t (logits spread over hundreds) and draw rows C of very different spreads: for the wide
    ones the bound max A + max C lies far (>> 30) above the true maximum, so the kernels must redo
    those draws against the exact maximum (beyond even double's exp range of about 708); the narrow
    ones interleaved switch back to the bound."""
    data = rng.normal(size=(70, 3))
    x = data[:9] + 0.05 * rng.normal(size=(9, 3))
    t = 0.01
    spreads = np.where(np.arange(24) % 3 == 0, 1e-3, 400.0)[:, None]
    c = spreads * rng.normal(size=(24, 70))
    return x.astype(dtype), data.astype(dtype), t, c.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_double_kde_with_loose_bounds_against_float64(rng, dtype):
    x, data, t, c = _loose_problem(rng, dtype)
    wbar = np.zeros((x.shape[0], data.shape[0]))
    zsum = np.zeros(x.shape[0])
    _core.double_kde_accumulate(x, data, None, t, c, wbar, zsum, 0)
    w_exp, z_exp = _oracle(*(a.astype(np.float64) for a in (x, data)), t, c.astype(np.float64))
    eps = np.finfo(dtype).eps
    # Weights are relative quantities in [0, 1]: their rounding follows that of the logits (relative
    # to the largest term they are built from), times the 24 draws summed.
    logit_terms = _logit_terms(x, data, t, c)
    np.testing.assert_allclose(wbar, w_exp, rtol=0, atol=24 * 64 * eps * logit_terms)
    np.testing.assert_allclose(zsum, z_exp, rtol=0, atol=24 * 64 * eps * logit_terms)


@pytest.mark.parametrize("dtype", DTYPES)
def test_round_one_normalisers_with_loose_bounds_against_float64(rng, dtype):
    x, data, t, c = _loose_problem(rng, dtype)
    mx, sm = _core.dkde_normalisers(x, data, None, t, c, 0)
    x64, d64, c64 = (a.astype(np.float64) for a in (x, data, c))
    a = -((x64[:, None, :] - d64[None, :, :]) ** 2).sum(-1) / (2 * t)
    lg = a[:, None, :] + c64[None, :, :]
    top = lg.max(axis=2)
    lse = top + np.log(np.exp(lg - top[..., None]).sum(axis=2))
    tol = 64 * np.finfo(dtype).eps * _logit_terms(x, data, t, c)
    np.testing.assert_allclose(mx + np.log(sm), lse, rtol=0, atol=tol)
    # the reported reference bounds every logit, so the sums never exceed the number of points
    assert np.all(sm <= data.shape[0] * (1 + 1e-6)) and np.all(sm > 0)


# ----------------------------------------------------------------------------- small training sets
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("m", "n", "kc"), [(1, 10, 5000), (10, 10, 50_000), (3, 64, 3000), (40, 7, 900)])
def test_small_n_double_kde_is_bitwise_the_same_for_any_thread_count(rng, dtype, m, n, kc):
    """The small-N kernel splits the draws of a tile into tasks; their number does not depend on the
    threads and their sums merge in task order, so 1, 2 and 3 threads, and repeated calls, give the
    same bits (it once merged in completion order: runs differed in the last bit)."""
    data = (rng.normal(size=(n, 784 if n == 10 else 5)) + 1.0).astype(dtype)
    x = (data[rng.integers(0, n, m)] + 0.3 * rng.normal(size=(m, data.shape[1]))).astype(dtype)
    c = (3.0 * rng.normal(size=(kc, n))).astype(dtype)
    results = []
    for threads in (1, 2, 3, 2, 2):
        wbar, zsum = np.zeros((m, n)), np.zeros(m)
        _core.double_kde_accumulate(x, data, None, 0.5, c, wbar, zsum, threads)
        results.append((wbar, zsum))
    for wbar, zsum in results[1:]:
        np.testing.assert_array_equal(wbar, results[0][0])
        np.testing.assert_array_equal(zsum, results[0][1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("m", "n", "kc"), [(1, 1, 1), (3, 2, 17), (10, 10, 1000), (5, 17, 37), (33, 64, 300),
                                            (7, 65, 45), (200, 8, 129)])
def test_double_kde_small_and_large_n_against_float64(rng, dtype, m, n, kc):
    # n <= 64 takes the kernel vectorised over draws (tasks split the draws; tails of kc that are not
    # a multiple of the vector width are masked), n = 65 the one over points: both must match the
    # oracle, and with threads 1 and 2 alike. Weights sum to one per draw, so wbar rows sum to kc.
    data = rng.normal(size=(n, 5)) + 2.0
    x = data[rng.integers(0, n, m)] + 0.3 * rng.normal(size=(m, 5))
    t = 0.5
    c = (3.0 * rng.normal(size=(kc, n))).astype(dtype)
    x, data = x.astype(dtype), data.astype(dtype)
    w_exp, z_exp = _oracle(x.astype(np.float64), data.astype(np.float64), t, c.astype(np.float64))
    eps = np.finfo(dtype).eps
    # each draw's weights round relative to the largest logit term (a few eps of it); the kc draws
    # add up (summed in T over at most 128 draws, then in double). One wrong draw would exceed this.
    tol = 16 * eps * _logit_terms(x, data, t, c) * kc
    for threads in (1, 2):
        wbar, zsum = np.zeros((m, n)), np.zeros(m)
        _core.double_kde_accumulate(x, data, None, t, c, wbar, zsum, threads)
        np.testing.assert_allclose(wbar, w_exp, rtol=0, atol=tol)
        np.testing.assert_allclose(zsum, z_exp, rtol=0, atol=tol * n)
        np.testing.assert_allclose(wbar.sum(axis=1), kc, rtol=64 * eps)


# ----------------------------------------------------------------------------- few queries
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("m", "n", "d"), [(64, 500, 784), (10, 3000, 20), (7, 100, 3), (200, 5000, 50)])
def test_few_queries_split_over_threads_give_the_same_bits(rng, dtype, m, n, d):
    """Fewer queries than one tile per thread are cut into smaller tiles so that every thread has one
    (a sampler's 64 samples against tiles of 96 ran on one thread); a query's sums do not depend on
    its tile, so 1, 2 and 3 threads give the same bits (the accuracy itself: tests/test_empirical_accuracy.py)."""
    data = rng.normal(size=(n, d)).astype(dtype)
    x = (data[rng.integers(0, n, m)] + 0.5 * rng.normal(size=(m, d))).astype(dtype)
    t = 0.5
    results = []
    for threads in (1, 2, 3):
        mx, sm, acc = np.full(m, -np.inf), np.zeros(m), np.zeros((m, d))
        _core.lse_accumulate(x, data, None, t, mx, sm, acc, threads, 96, 256)
        results.append((mx, sm, acc))
    for part in results[1:]:
        for got, first in zip(part, results[0]):
            np.testing.assert_array_equal(got, first)
