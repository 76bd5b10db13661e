"""Data as a numpy.memmap streams from disk in row shards and gives the in-memory results."""

import numpy as np
import pytest

import ledkde_fast as lk
from ledkde_fast import _streaming
from ledkde_fast._streaming import StreamedData

REL = 1e-12


def close(actual, desired):
    """Relative to the largest entry: what the exact shard merges guarantee (float64)."""
    np.testing.assert_allclose(actual, desired, rtol=0, atol=REL * np.abs(desired).max())


@pytest.fixture
def on_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(_streaming, "SLAB_BYTES", 4096)  # the 1024-row minimum: several shards
    rng = np.random.default_rng(3)
    data = rng.normal(size=(3000, 5)) + 1.0
    path = tmp_path / "data.npy"
    np.save(path, data)
    return np.load(path, mmap_mode="r"), data, rng.normal(size=(9, 5)) + 1.0


def test_memmap_equals_in_memory(on_disk):
    mm, data, x = on_disk
    assert len(StreamedData(mm).slices) == 3
    for fn in (lk.empirical_denoiser, lk.empirical_score, lk.kde_log_density):
        close(fn(x, mm, 0.2), fn(x, data, 0.2))
    for fn in (lk.smoothed_denoiser, lk.smoothed_score, lk.led_kde_log_density):
        close(fn(x, mm, 0.2, 0.3, n_kernel=16, seed=2), fn(x, data, 0.2, 0.3, n_kernel=16, seed=2))
    d1, i1 = lk.nearest_neighbors(x, mm, 4)
    d2, i2 = lk.nearest_neighbors(x, data, 4)
    np.testing.assert_array_equal(i1, i2)
    kw = dict(bandwidth=0.2, n_kernel=16, n_steps=5, seed=1)
    np.testing.assert_allclose(lk.sample(mm, 10, **kw), lk.sample(data, 10, **kw), rtol=0, atol=1e-10)


def test_bad_values_on_disk_raise(tmp_path):
    data = np.ones((50, 3))
    data[40, 2] = np.inf
    np.save(tmp_path / "bad.npy", data)
    with pytest.raises(ValueError, match="data contains NaN or infinite values"):
        lk.empirical_denoiser(np.zeros((1, 3)), np.load(tmp_path / "bad.npy", mmap_mode="r"), 0.5)


class RowReader:
    """A stand-in for an on-disk array library (h5py, zarr): shape, dtype and row slicing only."""

    def __init__(self, array):
        self._a = array
        self.shape, self.dtype = array.shape, array.dtype
        self.reads = 0

    def __getitem__(self, rows):
        self.reads += 1
        return self._a[rows].copy()


def test_row_readable_array_likes_stream(on_disk):
    _, data, x = on_disk
    reader = RowReader(data)
    close(lk.empirical_denoiser(x, reader, 0.2), lk.empirical_denoiser(x, data, 0.2))
    assert reader.reads >= 3  # read shard by shard, never as a whole


class SliceOnlyReader(RowReader):
    """Like zarr: only slices of rows, no NumPy fancy indexing."""

    def __getitem__(self, rows):
        assert isinstance(rows, slice), f"indexed with {type(rows).__name__}"
        return super().__getitem__(rows)


def test_sampler_default_times_on_a_row_readable_array(on_disk):
    """The sampler's default times come from a random subset read by slices: the same times, hence
    the same samples, as for the array in memory."""
    _, data, _ = on_disk
    kw = dict(bandwidth=0.2, n_kernel=16, n_steps=5, seed=1)
    np.testing.assert_allclose(lk.sample(SliceOnlyReader(data), 10, **kw), lk.sample(data, 10, **kw), rtol=0,
                               atol=1e-10)


def test_weights_with_data_on_disk_are_refused(on_disk):
    mm, _, x = on_disk
    with pytest.raises(ValueError, match="weights are not supported for out-of-core data"):
        lk.empirical_denoiser(x, mm, 0.2, weights=np.ones(mm.shape[0]))


def test_a_slice_of_a_memmap_streams_its_own_rows(on_disk):
    """A row slice of a memmap keeps its parent's file name and offset: reading it with plain file I/O
    from that offset would read the parent's first rows (it did)."""
    mm, data, x = on_disk
    close(lk.empirical_denoiser(x, mm[1000:], 0.2), lk.empirical_denoiser(x, data[1000:], 0.2))
    np.testing.assert_array_equal(lk.nearest_neighbors(x, mm[1000:], 3)[1], lk.nearest_neighbors(x, data[1000:], 3)[1])


def test_float32_data_on_disk_with_float64_queries_computes_in_float64(tmp_path):
    """As for data in memory: the common dtype of queries and data (float64 here), not the data's."""
    rng = np.random.default_rng(4)
    data = rng.normal(size=(2500, 3)).astype(np.float32)
    np.save(tmp_path / "f32.npy", data)
    mm = np.load(tmp_path / "f32.npy", mmap_mode="r")
    x = rng.normal(size=(5, 3))
    np.testing.assert_allclose(lk.kde_log_density(x, mm, 1e-3), lk.kde_log_density(x, data, 1e-3), rtol=1e-12)
