"""The local kernel (kernels.Local) on row-sharded data: a memmap read in several slabs and a Dask
ShardedData give the in-memory numbers for a seed (the same chunks and generator calls, hence the
same draws); the sharded covariance is the explicit one; the draws stay in the data's subspace; and
each call takes the documented number of rounds over the shards."""

import numpy as np
import pytest

import ledkde_fast as lk
import oracle
from conftest import use_backend
from ledkde_fast import _streaming
from ledkde_fast._backends import get_backend
from ledkde_fast._data import prepare
from ledkde_fast._estimate import estimate, prepare_smoothing
from ledkde_fast._local import ShardedGeometry, fresh_draws_of, local_plan, make_local_draws
from ledkde_fast._streaming import StreamedData
from ledkde_fast.kernels import Local
from test_local import oracle_covariance, subspace_data

#: rows per slab once ``slabs`` is active: 300 rows give 5 slabs (70, 70, 70, 70, 20)
SLAB_ROWS = 70
#: float64: the sharded sums differ from the in-memory ones by their order and by exp(l - lse) for
#: exp(l - max) / sum (a few ulps), which the eigenvectors and draws carry over at well-separated
#: eigenvalues; measured 2e-15 relative
REL64 = 1e-10


@pytest.fixture
def slabs(monkeypatch):
    """Memmaps stream in slabs of SLAB_ROWS rows (the 1024-row minimum lowered too)."""
    monkeypatch.setattr(_streaming, "SLAB_BYTES", 1)
    monkeypatch.setattr(_streaming, "MIN_SLAB_ROWS", SLAB_ROWS)


def on_disk(tmp_path, data, name="data.npy"):
    """``data`` written with np.lib.format.open_memmap and opened again read-only."""
    path = tmp_path / name
    out = np.lib.format.open_memmap(path, mode="w+", dtype=data.dtype, shape=data.shape)
    out[:] = data
    out.flush()
    del out
    return np.load(path, mmap_mode="r")


def full_rank_data(n=300, d=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * np.linspace(2.0, 0.5, d) + 0.3, rng.normal(size=(7, d))


def close(actual, desired, rel):
    np.testing.assert_allclose(actual, desired, rtol=0, atol=rel * np.abs(desired).max())


# --------------------------------------------------------------------- memmap against in memory
@pytest.mark.parametrize("backend", ["cpp", "numba", "reference"])
@pytest.mark.parametrize("covariance, antithetic", [("posterior", True), ("squared", False)])
def test_memmap_in_slabs_equals_in_memory(slabs, tmp_path, backend, covariance, antithetic):
    """N = 300 > d = 5 in 5 slabs: no span in memory either, so the same seed gives the same draws, and
    the three estimates agree to REL64 (float64 throughout)."""
    backend = use_backend(backend)
    data, x = full_rank_data()
    mm = on_disk(tmp_path, data)
    assert len(StreamedData(mm).slices) == 5
    kw = dict(kernel=Local(3, covariance=covariance, n_iter=2), n_kernel=8, seed=5, antithetic=antithetic,
              backend=backend)
    for fn in (lk.smoothed_score, lk.smoothed_denoiser, lk.led_kde_log_density):
        close(fn(x, mm, 0.4, 0.6, **kw), fn(x, data, 0.4, 0.6, **kw), REL64)


@pytest.mark.parametrize("backend", ["cpp", "numba", "reference"])
def test_float32_memmap_equals_float32_in_memory(slabs, tmp_path, backend):
    """float32 points on disk and in memory: the covariances are float64 on both sides (the same draws
    to ~1e-15), the logits C are cast to float32 from float64 values that can then differ by one ulp
    (6e-8 relative, of logits up to ~80 here: ~5e-6 in a weight), and the float32 sums run in another
    order (two rounds over the slabs instead of one pass). Bound 1e-5 of the largest estimate;
    measured 2e-7 (cpp) and 0 (numba, reference: float64 inside)."""
    backend = use_backend(backend)
    data, x = full_rank_data(seed=1)
    data32, x32 = data.astype(np.float32), x.astype(np.float32)
    mm = on_disk(tmp_path, data32)
    kw = dict(kernel=Local(2), n_kernel=8, seed=3, backend=backend)
    for fn in (lk.smoothed_score, lk.led_kde_log_density):
        got, ref = fn(x32, mm, 0.5, 0.5, **kw), fn(x32, data32, 0.5, 0.5, **kw)
        assert got.dtype == np.float32
        close(got.astype(np.float64), ref.astype(np.float64), 1e-5)


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("t_cov", [0.01, 2.0])
def test_sharded_covariance_is_the_explicit_one(slabs, tmp_path, squared, t_cov):
    """Queries next to a point of each of the five slabs: the merged heaviest point is the in-memory one
    (the argmax over all rows), and S p from the rounds is the explicit d x d local covariance times p
    to 1e-10 of each query's own product -- also at t_cov = 0.01, where nearly all weight sits on one
    point and the covariance is that of the others' tiny weights (the explicit form centres before it
    weighs, so it is accurate there too; measured 6e-13 there, 1e-15 at t_cov = 2)."""
    data, _ = full_rank_data(seed=2)
    rows = np.array([10, 100, 170, 250, 290])
    x = data[rows] + 0.01 * np.random.default_rng(3).normal(size=(5, 5))
    source = StreamedData(on_disk(tmp_path, data))
    geom = ShardedGeometry(source, source.mean())
    product = get_backend("reference").matmul_nt
    cov = geom.covariance(geom.query_coords(x), t_cov, squared, product, 1)
    in_memory = local_plan(Local(2), prepare(x, data, 1.0).source, 8, True, "auto").local
    expected_nearest = in_memory.covariance(in_memory.query_coords(x), t_cov, squared, product, 1).nearest
    np.testing.assert_array_equal(cov.arrays["star_index"], expected_nearest)
    assert len(set(expected_nearest // SLAB_ROWS)) == 5
    p = np.random.default_rng(4).normal(size=(5, 5, 3))
    got = cov.apply(p)
    for q, sigma in enumerate(oracle_covariance(x, data, t_cov, squared)):
        expected = sigma @ p[q]
        close(got[q], expected, 1e-10)


# ------------------------------------------------------------------ N < d: against the float64 oracle
@pytest.mark.parametrize("backend", ["cpp", "numba", "reference"])
def test_memmap_with_fewer_points_than_dimensions_is_the_oracle_average(monkeypatch, tmp_path, backend):
    """N = 12 < d = 30: in memory the draws live in the 11-dimensional span, on a memmap in all d
    coordinates (no span), so the seeds give other draws; instead, at the very draws the memmap call
    takes (same generator calls on the sharded geometry), the score and the LED-KDE are the oracle's
    averages over x - Y_j (rtol 1e-10, float64). Three slabs of 5, 5 and 2 rows."""
    backend = use_backend(backend)
    monkeypatch.setattr(_streaming, "SLAB_BYTES", 1)
    monkeypatch.setattr(_streaming, "MIN_SLAB_ROWS", 5)
    data, _ = subspace_data(12, 30, 4, seed=11)
    data = data + 0.05 * np.random.default_rng(12).normal(size=data.shape)
    x = np.random.default_rng(13).normal(size=(4, 30))
    mm = on_disk(tmp_path, data)
    source = StreamedData(mm)
    assert len(source.slices) == 3
    t, h, n, seed = 0.7, 0.9, 8, 3
    kern = Local(3)
    plan = local_plan(kern, source, n, False, "auto")
    draws = make_local_draws(plan.local, kern, x, t, h, n, False, plan.method, np.random.default_rng(seed),
                             get_backend(backend).matmul_nt)
    y = fresh_draws_of(plan.local, draws, False).samples()
    shifted = (x[:, None, :] - y).reshape(-1, 30)
    den = oracle.denoiser(shifted, data, t).reshape(4, n, 30).mean(axis=1)
    expected_score = (den - x + y.mean(axis=1)) / t
    expected_log = (oracle.kde_log_density(shifted, data, t).reshape(4, n).mean(axis=1)
                    + ((y**2).sum(axis=2).mean(axis=1) - draws.second_moment()) / (2 * t))
    kw = dict(kernel=kern, n_kernel=n, antithetic=False, seed=seed, backend=backend)
    close(lk.smoothed_score(x, mm, t, h, **kw), expected_score, REL64)
    np.testing.assert_allclose(lk.led_kde_log_density(x, mm, t, h, **kw), expected_log, rtol=REL64)


# ------------------------------------------------------------------------------- the subspace
def test_draws_and_scores_stay_in_the_plane(slabs, tmp_path):
    """200 points on a 2-D plane through 0.3 in R^5, in 3 slabs: every draw the memmap call takes has no
    component off the plane (1e-12 of the draws' size), and the smoothed score off the plane is the
    exact score's -Q(x - mu)/t (raw draws: the local kernel's mean draw is in the plane too)."""
    data, basis = subspace_data(200, 5, 2, seed=6)
    mm = on_disk(tmp_path, data)
    source = StreamedData(mm)
    assert len(source.slices) == 3
    x = np.random.default_rng(7).normal(size=(6, 5)) * 2
    kern = Local(2)
    plan = local_plan(kern, source, 32, False, "auto")
    draws = make_local_draws(plan.local, kern, x, 0.8, 0.7, 32, False, plan.method, np.random.default_rng(8))
    y = fresh_draws_of(plan.local, draws, False).samples()
    q = np.eye(5) - basis @ basis.T
    assert np.abs(y @ q).max() <= 1e-12 * np.abs(y).max()
    score = lk.smoothed_score(x, mm, 0.5, 0.8, kernel=kern, n_kernel=16, antithetic=False, seed=1)
    np.testing.assert_allclose(score @ q, -(x - data.mean(axis=0)) @ q / 0.5, atol=1e-12)


# ----------------------------------------------------------------------------- rounds per call
def test_rounds_per_call(slabs, tmp_path, monkeypatch):
    """Cold: one round for the heaviest points, n_iter + 1 products, two evaluation rounds (one without
    the denoiser); warm (a sampler's next step): the heaviest points, one product, the evaluation."""
    data, x = full_rank_data()
    mm = on_disk(tmp_path, data)
    calls = []
    original = StreamedData._round

    def counting(self, fn, *args):
        calls.append(fn.__name__)
        return original(self, fn, *args)

    monkeypatch.setattr(StreamedData, "_round", counting)
    lk.smoothed_score(x, mm, 0.4, 0.6, kernel=Local(2, n_iter=3), n_kernel=8, seed=0, backend="cpp")
    evaluation = ["_local_normalisers_task", "_local_weighted_sum_task"]
    assert calls == ["_heaviest_task"] + ["_covariance_task"] * 4 + evaluation
    calls.clear()
    lk.led_kde_log_density(x, mm, 0.4, 0.6, kernel=Local(2, n_iter=0), n_kernel=8, seed=0, backend="cpp")
    assert calls == ["_heaviest_task", "_covariance_task", "_local_normalisers_task"]
    p = prepare(x, mm, 0.4)
    setup = prepare_smoothing(p, Local(2), 8, True, False, None, "cpp")
    estimate(p, setup, 0.6, np.random.default_rng(0))
    calls.clear()
    estimate(p.with_queries(x + 0.01, 0.39), setup, 0.6, np.random.default_rng(1))
    assert calls == ["_heaviest_task", "_covariance_task"] + evaluation


# ------------------------------------------------------------------------------------ sampler
def test_sampler_on_a_memmap_equals_in_memory(slabs, tmp_path):
    """12 steps from t = 4 to 1e-3 with the local kernel: the same samples as in memory (the start, the
    draws and every step agree to rounding; 1e-9 of the samples' size leaves room for the steps'
    amplification of the ~1e-15 differences, measured 1e-14)."""
    data, _ = full_rank_data(seed=4)
    mm = on_disk(tmp_path, data)
    kw = dict(bandwidth=0.3, kernel=Local(2), n_kernel=8, n_steps=12, t_max=4.0, t_min=1e-3, seed=2, backend="cpp")
    close(lk.sample(mm, 10, **kw), lk.sample(data, 10, **kw), 1e-9)


# ------------------------------------------------------------------------------------- Dask
@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


def test_dask_shards_equal_in_memory(client):
    """Three shards of uneven size with weights (unnormalised on the shards, normalised in memory; the
    first shard's all zero, so its partial states carry no mass and its rows can never be the
    heaviest): the smoothed score of the cpp backend agrees to REL64; a short sampler run
    (unweighted, explicit times) to 1e-9 of the samples' size, as on a memmap."""
    from ledkde_fast.distributed import ShardedData

    use_backend("cpp")
    data, x = full_rank_data(seed=5)
    w = np.random.default_rng(6).uniform(0.2, 3.0, size=300)
    cuts = [0, 40, 190, 300]
    w[:40] = 0.0
    parts = [data[a:b] for a, b in zip(cuts[:-1], cuts[1:])]
    sd = ShardedData.from_arrays(parts, client=client, weights=[w[a:b] for a, b in zip(cuts[:-1], cuts[1:])])
    kw = dict(kernel=Local(3), n_kernel=8, seed=7, antithetic=False, backend="cpp")
    close(lk.smoothed_score(x, sd, 0.4, 0.6, **kw), lk.smoothed_score(x, data, 0.4, 0.6, weights=w, **kw), REL64)
    unweighted = ShardedData.from_arrays(parts, client=client)
    kw = dict(bandwidth=0.3, kernel=Local(2), n_kernel=8, n_steps=6, t_max=4.0, t_min=1e-3, seed=2, backend="cpp")
    close(lk.sample(unweighted, 8, **kw), lk.sample(data, 8, **kw), 1e-9)
