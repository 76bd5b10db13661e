"""Sharded data over a Dask LocalCluster (worker processes on the loopback interface): every function
equals its single-machine result; bad shards raise the local errors; a killed worker changes nothing."""

import os
import signal
import threading
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

import ledkde_fast as lk  # noqa: E402
from ledkde_fast.distributed import ShardedData, communication_bytes, merge_states, partial_state  # noqa: E402

# uneven cuts of 300 rows into 1, 2, 3 and 7 shards, with empty shards among them
CUTS = {1: [0, 300], 2: [0, 0, 300], 3: [0, 17, 17, 300], 7: [0, 1, 50, 50, 120, 121, 299, 300]}
REL = 1e-12


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(7)
    data = rng.normal(size=(300, 4)) * [1.0, 0.7, 0.4, 0.2] + 2.0
    x = rng.normal(size=(11, 4)) + 2.0
    return x, data


def shards_of(data, n_shards):
    cuts = CUTS[n_shards]
    return [data[a:b] for a, b in zip(cuts[:-1], cuts[1:])]


def rel_err(a, b):
    return np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max()


@pytest.mark.parametrize("n_shards", sorted(CUTS))
def test_every_function_equals_the_local_result(client, problem, n_shards):
    x, data = problem
    sd = ShardedData.from_arrays(shards_of(data, n_shards), client=client)
    assert sd.n == 300 and sd.n_shards == len(CUTS[n_shards]) - 1
    t = 0.3
    for fn in (lk.empirical_denoiser, lk.empirical_score, lk.kde_log_density):
        assert rel_err(fn(x, sd, t), fn(x, data, t)) <= REL, fn.__name__
    for fn in (lk.smoothed_denoiser, lk.smoothed_score, lk.led_kde_log_density):
        for kernel, rank in (("gaussian", None), ("pca", 2)):
            kw = dict(kernel=kernel, rank=rank, n_kernel=32, seed=5)
            assert rel_err(fn(x, sd, t, 0.3, **kw), fn(x, data, t, 0.3, **kw)) <= REL, (fn.__name__, kernel)
    d_local, i_local = lk.nearest_neighbors(x, data, 3)
    d_sh, i_sh = lk.nearest_neighbors(x, sd, 3)
    np.testing.assert_array_equal(i_sh, i_local)
    np.testing.assert_allclose(d_sh, d_local, rtol=REL)
    kw = dict(bandwidth=0.2, t_max=5.0, t_min=1e-3, n_steps=8, n_kernel=16, seed=3)
    np.testing.assert_allclose(lk.sample(sd, 20, **kw), lk.sample(data, 20, **kw), rtol=0, atol=REL * 10)


def test_weights_paths_and_dask_arrays(client, problem, tmp_path):
    x, data = problem
    w = np.random.default_rng(1).uniform(0, 2, size=300)
    parts = shards_of(data, 3)
    wparts = shards_of(w[:, None], 3)
    sd = ShardedData.from_arrays(parts, client=client, weights=[p[:, 0] for p in wparts])
    for fn in (lk.empirical_denoiser, lk.kde_log_density):
        assert rel_err(fn(x, sd, 0.4), fn(x, data, 0.4, weights=w)) <= REL
    paths = []
    for i, p in enumerate(parts):
        paths.append(str(tmp_path / f"shard{i}.npy"))
        np.save(paths[-1], p)
    from_files = ShardedData.from_paths(paths, client=client)
    assert rel_err(lk.smoothed_score(x, from_files, 0.4, 0.2, n_kernel=16, seed=1),
                   lk.smoothed_score(x, data, 0.4, 0.2, n_kernel=16, seed=1)) <= REL
    arr = da.from_array(data, chunks=(70, 4))
    from_dask = ShardedData.from_dask_array(arr, client=client)
    assert from_dask.n_shards == 5
    assert rel_err(lk.empirical_denoiser(x, from_dask, 0.4), lk.empirical_denoiser(x, data, 0.4)) <= REL


def test_partial_states_merge_in_any_grouping(problem):
    x, data = problem
    whole = partial_state(x, data, 0.5)
    parts = [partial_state(x, np.ascontiguousarray(s), 0.5) for s in shards_of(data, 7)]
    left = parts[0]
    for p in parts[1:]:
        left = merge_states(left, p)
    right = parts[-1]
    for p in reversed(parts[:-1]):
        right = merge_states(p, right)
    for merged in (left, right):
        np.testing.assert_allclose(merged.mean(), whole.mean(), rtol=REL)
        np.testing.assert_allclose(merged.log_sum_exp(), whole.log_sum_exp(), rtol=REL)


def test_bad_shards_raise_the_local_errors(client, problem):
    _, data = problem
    with pytest.raises(ValueError, match="data shards have different numbers of columns"):
        ShardedData.from_arrays([data[:10], data[10:20, :3]], client=client)
    bad = data[:10].copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="data contains NaN or infinite values"):
        ShardedData.from_arrays([data[10:], bad], client=client)
    with pytest.raises(ValueError, match="data is empty"):
        ShardedData.from_arrays([data[:0]], client=client)
    sd = ShardedData.from_arrays([data], client=client)
    with pytest.raises(ValueError, match="dimension mismatch"):
        lk.empirical_denoiser(np.zeros((2, 3)), sd, 0.5)
    with pytest.raises(ValueError, match="weights of a ShardedData"):
        lk.empirical_denoiser(np.zeros((2, 4)), sd, 0.5, weights=np.ones(300))
    with pytest.raises(ValueError, match="needs explicit t_max and t_min"):
        lk.sample(sd, 3)


def test_a_killed_worker_changes_nothing(client, problem):
    """Kill one worker process while a sampler run is in flight: Dask rebuilds its shards from their
    tasks and reruns its work elsewhere; the result is still exact and seeded."""
    x, data = problem
    sd = ShardedData.from_arrays(shards_of(data, 7), client=client)
    kw = dict(bandwidth=0.2, t_max=5.0, t_min=1e-3, n_steps=40, n_kernel=16, seed=11)
    expected = lk.sample(data, 20, **kw)
    result = {}

    def run():
        result["samples"] = lk.sample(sd, 20, **kw)

    victim = sorted(client.scheduler_info()["workers"])[0]
    pid = client.run(os.getpid, workers=[victim])[victim]
    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.5)
    assert thread.is_alive()  # the run is still in flight
    os.kill(pid, signal.SIGKILL)  # its nanny starts a fresh worker process
    thread.join(timeout=120)
    assert not thread.is_alive()
    np.testing.assert_allclose(result["samples"], expected, rtol=0, atol=REL * 10)


def test_communication_volume_formula():
    vol = communication_bytes(m=1000, d=64, n_kernel=256, n_shards=4)
    assert vol["empirical"]["to_workers"] == 1000 * 64 * 8
    assert vol["empirical"]["from_workers"] == 4 * 1000 * 66 * 8
    assert vol["smoothed"]["from_workers"] == 4 * (2 * 1000 * 256 * 8 + 1000 * 64 * 8)
