"""Bad input, array layouts and dtypes, extreme regimes, blocking, threads and backend selection."""

import importlib.metadata
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ledkde_fast as lk
import oracle
from conftest import use_backend
from ledkde_fast import _env
from ledkde_fast._backends import get_backend

FUNCS = (lk.empirical_denoiser, lk.empirical_score, lk.kde_log_density)


@pytest.fixture
def small(rng):
    return rng.normal(size=(6, 3)), rng.normal(size=(20, 3))


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("fn", FUNCS)
@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        ({"x": np.array([[np.nan, 0, 0]])}, ValueError, "x contains NaN"),
        ({"x": np.array([[np.inf, 0, 0]])}, ValueError, "x contains NaN or infinite"),
        ({"data": np.array([[0, 0, np.nan]])}, ValueError, "data contains NaN"),
        ({"t": 0.0}, ValueError, "t must be finite and > 0"),
        ({"t": -1.0}, ValueError, "t must be finite and > 0"),
        ({"t": np.inf}, ValueError, "t must be finite and > 0"),
        ({"t": np.nan}, ValueError, "t must be finite and > 0"),
        ({"t": "1"}, TypeError, "t must be a real scalar"),
        ({"t": np.ones(2)}, TypeError, "t must be a real scalar"),
        ({"t": True}, TypeError, "t must be a real scalar"),
        ({"x": np.zeros((2, 4))}, ValueError, "dimension mismatch"),
        ({"data": np.zeros((0, 3))}, ValueError, "data is empty"),
        ({"data": np.zeros(3)}, ValueError, "data must be a 2-D array"),
        ({"x": np.zeros((1, 1, 3))}, ValueError, "x must be 1-D"),
        ({"x": np.zeros((2, 3), dtype=complex)}, TypeError, "x must be real"),
        ({"x": np.array([["a", "b", "c"]])}, TypeError, "x must have a numeric dtype"),
        ({"weights": -np.ones(20)}, ValueError, "weights must be >= 0"),
        ({"weights": np.zeros(20)}, ValueError, "weights are all zero"),
        ({"weights": np.ones(19)}, ValueError, "weights must be a 1-D array with one entry per data point"),
        ({"weights": np.full(20, np.nan)}, ValueError, "weights contains NaN"),
        ({"n_threads": 0}, ValueError, "n_threads must be >= 1"),
        ({"n_threads": 1.5}, TypeError, "n_threads must be an int"),
        ({"backend": "gpu"}, ValueError, "unknown backend 'gpu'; available backends: .*reference"),
        ({"backend": 3}, TypeError, "backend must be a string"),
    ],
)
def test_bad_input_raises_naming_the_argument(small, fn, kwargs, exc, pattern):
    x, data = small
    args = {"x": x, "data": data, "t": 0.5}
    args.update(kwargs)
    extra = {k: args.pop(k) for k in ("weights", "n_threads", "backend") if k in args}
    with pytest.raises(exc, match=pattern):
        fn(args["x"], args["data"], args["t"], **extra)


def test_bad_environment_thread_count(small, monkeypatch):
    monkeypatch.setenv(_env.NUM_THREADS, "many")
    with pytest.raises(ValueError, match=_env.NUM_THREADS):
        lk.empirical_denoiser(*small, 0.5)


# ----------------------------------------------------------------------------- layouts and dtypes
def test_layouts_and_dtypes_are_accepted(backend, rng):
    data = rng.normal(size=(40, 5))
    x = rng.normal(size=(12, 5))
    t = 0.8
    expected = oracle.denoiser(x, data, t)
    tol = 1e-10 * oracle.data_scale(data)
    ro = data.copy()
    ro.flags.writeable = False
    variants = [
        (np.asfortranarray(x), np.asfortranarray(data)),
        (np.repeat(x, 2, axis=0)[::2], np.repeat(data, 3, axis=1)[:, ::3]),  # strided views
        (x, ro),
    ]
    for xv, dv in variants:
        np.testing.assert_allclose(lk.empirical_denoiser(xv, dv, t, backend=backend), expected, rtol=0, atol=tol)
    # integers and booleans are read as float64
    xi = rng.integers(-3, 4, size=(7, 5))
    di = rng.integers(-3, 4, size=(30, 5))
    out = lk.empirical_denoiser(xi, di, 2.0, backend=backend)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, oracle.denoiser(xi, di, 2.0), rtol=0, atol=1e-10 * oracle.data_scale(di))
    xb, db = xi > 0, di > 0
    np.testing.assert_allclose(lk.empirical_denoiser(xb, db, 0.5, backend=backend), oracle.denoiser(xb, db, 0.5),
                               rtol=0, atol=1e-10)
    # mixed float32/float64 computes in float64
    assert lk.empirical_denoiser(x.astype(np.float32), data, t, backend=backend).dtype == np.float64


def test_one_point_and_empty_queries(backend, rng):
    data = rng.normal(size=(25, 4))
    x = rng.normal(size=4)
    m = lk.empirical_denoiser(x, data, 0.3, backend=backend)
    assert m.shape == (4,)
    np.testing.assert_allclose(m, oracle.denoiser(x[None], data, 0.3)[0], rtol=0, atol=1e-10 * 10)
    lp = lk.kde_log_density(x, data, 0.3, backend=backend)
    assert np.ndim(lp) == 0
    assert lk.empirical_score(np.zeros((0, 4)), data, 0.3, backend=backend).shape == (0, 4)
    assert lk.kde_log_density(np.zeros((0, 4)), data, 0.3, backend=backend).shape == (0,)


# ----------------------------------------------------------------------------- extreme regimes
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_far_queries_and_tiny_t_give_the_nearest_point(fast_backend, rng, dtype):
    data = rng.uniform(-1, 1, size=(200, 3)).astype(dtype)
    diameter = 2 * np.sqrt(3)
    direction = rng.normal(size=(10, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    far = (1e3 * diameter * direction).astype(dtype)
    near = (data[:10] + 1e-3).astype(dtype)
    tol = (1e-10 if dtype == np.float64 else 1e-4) * diameter
    for x, t in ((far, 1.0), (near, 1e-12), (far, 1e-6)):
        m = lk.empirical_denoiser(x, data, t, backend=fast_backend)
        assert np.isfinite(m).all()
        np.testing.assert_allclose(m, oracle.denoiser(x, data, t), rtol=0, atol=tol)
        lp = lk.kde_log_density(x, data, t, backend=fast_backend)
        assert np.isfinite(lp).all()
        if t < 1e-5:  # every gap in logits is astronomically large: exactly the nearest point
            d2 = ((x[:, None, :].astype(float) - data[None, :, :].astype(float)) ** 2).sum(-1)
            np.testing.assert_allclose(m, data[d2.argmin(axis=1)], rtol=0, atol=4 * np.finfo(dtype).eps * diameter)


def test_ties_split_evenly(backend):
    # the query is equidistant from the first two points and far from the third
    data = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, 50.0]])
    x = np.array([[0.0, 0.5]])
    for t in (1e-6, 1e-2, 1.0):
        np.testing.assert_allclose(lk.empirical_denoiser(x, data, t, backend=backend), [[0.0, 0.0]], rtol=0,
                                   atol=1e-12)


def test_bitwise_repeatable(fast_backend, rng):
    x = rng.normal(size=(150, 9)).astype(np.float32)
    data = rng.normal(size=(700, 9)).astype(np.float32)
    a = lk.empirical_denoiser(x, data, 0.4, backend=fast_backend, n_threads=2)
    b = lk.empirical_denoiser(x, data, 0.4, backend=fast_backend, n_threads=2)
    np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- blocking and threads
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", (2, 20))
def test_block_sizes_that_do_not_divide(fast_backend, rng, dtype, d):
    """Kernels called directly with tiles and blocks that leave remainders on both axes."""
    be = get_backend(fast_backend)
    x = rng.normal(size=(37, d)).astype(dtype)
    data = rng.normal(size=(101, d)).astype(dtype)
    t = 0.9
    blockings = [(5, 32), (1, 64), (36, 96)] if fast_backend == "cpp" else [(5, 7), (1, 3), (36, 100)]
    tol = (1e-10 if dtype == np.float64 else 1e-4) * oracle.data_scale(data)
    for tile_m, block_n in blockings:
        state = (np.full(37, -np.inf), np.zeros(37), np.zeros((37, d)))
        be.lse_accumulate(x, data, None, t, state, 0, tile_m=tile_m, block_n=block_n)
        np.testing.assert_allclose(state[2] / state[1][:, None], oracle.denoiser(x, data, t), rtol=0, atol=tol)


def test_cpp_rejects_bad_blocking(rng):
    use_backend("cpp")
    from ledkde_fast._backends import cpp

    x = rng.normal(size=(3, 2))
    state = (np.full(3, -np.inf), np.zeros(3), None)
    with pytest.raises(ValueError, match="block_n must be a positive multiple of 32"):
        cpp.lse_accumulate(x, x, None, 1.0, state, 0, block_n=33)
    with pytest.raises(ValueError, match="tile_m must be >= 1"):
        cpp.lse_accumulate(x, x, None, 1.0, state, 0, tile_m=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_thread_counts_agree(fast_backend, rng, dtype):
    x = rng.normal(size=(301, 6)).astype(dtype)
    data = rng.normal(size=(513, 6)).astype(dtype)
    results = [lk.empirical_denoiser(x, data, 0.2, backend=fast_backend, n_threads=n) for n in (1, 2, 4)]
    # each query's sums run in a fixed order whatever thread computes them: bitwise equal
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])
    tol = (1e-10 if dtype == np.float64 else 1e-4) * oracle.data_scale(data)
    np.testing.assert_allclose(results[0], oracle.denoiser(x, data, 0.2), rtol=0, atol=tol)


def test_thread_counts_agree_over_many_chunks(rng):
    """The C++ kernel packs the data in chunks whose size depends on d and the query tile; the tile
    is then shrunk to split evenly over the threads. At d = 1400 the requested tile's state spills
    out of L2 (bigger chunks) while a balanced one for 2 threads would not: the chunking must follow
    the requested tile, or the order of the sums, and so the bits, would change with the threads."""
    use_backend("cpp")
    x = rng.normal(size=(200, 1400))
    data = rng.normal(size=(3000, 1400))
    results = [lk.empirical_denoiser(x, data, 700.0, backend="cpp", n_threads=n) for n in (1, 2, 3)]
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])


def test_data_larger_than_one_slab(rng, monkeypatch, backend):
    """The driver hands the data to the kernels in slabs; merging their states must be exact."""
    from ledkde_fast import _streaming

    monkeypatch.setattr(_streaming, "SLAB_BYTES", 1)  # every slab is the 1024-row minimum
    data = rng.normal(size=(2500, 3))
    x = rng.normal(size=(8, 3))
    w = rng.uniform(0, 1, size=2500)
    w[1024:2048] = 0.0  # a whole slab without weight
    np.testing.assert_allclose(lk.empirical_denoiser(x, data, 0.05, weights=w, backend=backend),
                               oracle.denoiser(x, data, 0.05, w), rtol=0, atol=1e-10 * oracle.data_scale(data))
    np.testing.assert_allclose(lk.kde_log_density(x, data, 0.05, weights=w, backend=backend),
                               oracle.kde_log_density(x, data, 0.05, w), rtol=1e-13, atol=1e-10)


# ----------------------------------------------------------------------------- backend selection
def test_available_backends_and_env(monkeypatch, small):
    names = lk.available_backends()
    assert "reference" in names
    monkeypatch.setenv(_env.BACKEND, "reference")
    from ledkde_fast._backends import resolve_name

    assert resolve_name("auto") == "reference"
    monkeypatch.setenv(_env.BACKEND, "nonsense")
    with pytest.raises(ValueError, match="unknown backend 'nonsense'"):
        lk.empirical_denoiser(*small, 0.5)


def test_fallback_to_numba_when_compiled_module_hidden(monkeypatch, small):
    use_backend("numba")
    # hide the compiled module: importing it now raises ImportError, as on a broken build
    monkeypatch.setitem(sys.modules, "ledkde_fast._core", None)
    monkeypatch.delitem(sys.modules, "ledkde_fast._backends.cpp", raising=False)
    from ledkde_fast._backends import resolve_name

    assert "cpp" not in lk.available_backends()
    assert resolve_name("auto") == "numba"
    with pytest.raises(ValueError, match="backend 'cpp' is not available here; available backends: numba"):
        lk.empirical_denoiser(*small, 0.5, backend="cpp")
    x, data = small
    np.testing.assert_allclose(lk.empirical_denoiser(x, data, 0.5), oracle.denoiser(x, data, 0.5), rtol=0,
                               atol=1e-10 * oracle.data_scale(data))


def test_no_numba_import_at_package_import():
    code = "import sys, ledkde_fast; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_show_config(capsys):
    lk.show_config()
    out = capsys.readouterr().out
    assert f"ledkde_fast: {importlib.metadata.version('ledkde_fast')}\n" in out
    assert f"backends: {lk.available_backends()}\n" in out
    if "cpp" in lk.available_backends():
        from ledkde_fast import _core

        assert f"isa_active: {_core.active_isa()}\n" in out
        assert f"max_threads: {_core.max_threads()}\n" in out


# ----------------------------------------------------------------------------- memory
def test_peak_memory_is_o_of_output_not_m_times_n():
    """m = 20,000 queries over N = 200,000 points (d = 8, float32): an m x N matrix would take 16 GB;
    the streaming kernels must stay under 300 MB of peak RSS for the whole process."""
    use_backend("cpp")
    code = textwrap.dedent("""
        import numpy as np, ledkde_fast as lk
        rng = np.random.default_rng(0)
        data = rng.normal(size=(200_000, 8)).astype(np.float32)
        x = rng.normal(size=(20_000, 8)).astype(np.float32)
        m = lk.empirical_denoiser(x, data, 0.5, backend="cpp")
        assert m.shape == (20_000, 8) and np.isfinite(m).all()
        # VmHWM is this process's own peak RSS (ru_maxrss can carry the parent's peak across exec)
        hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
        print(int(hwm.split()[1]) // 1024)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    peak_mb = int(out.stdout.strip().splitlines()[-1])
    assert peak_mb < 300, f"peak RSS {peak_mb} MB"


def test_isa_variable_applies_before_the_first_kernel_call():
    """LEDKDE_ISA takes effect for show_config() and an early nearest_neighbors, not only after the
    first empirical call (the cpp backend module applies it, and both go through it)."""
    use_backend("cpp")
    code = ("import numpy as np, ledkde_fast as lk\n"
            "info = lk.config_dict()\n"
            "lk.nearest_neighbors(np.zeros((1, 2)), np.ones((3, 2)), 1)\n"
            "from ledkde_fast import _core\n"
            "print(info['cpp']['isa_active'], _core.active_isa())\n")
    env = dict(os.environ, **{_env.ISA: "generic"})
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["generic", "generic"]


def test_a_huge_thread_count_means_all_threads(small):
    """n_threads beyond a C int is clamped, not passed on to fail inside pybind11 with a long message."""
    x, data = small
    np.testing.assert_array_equal(lk.empirical_denoiser(x, data, 0.5, n_threads=2**31),
                                  lk.empirical_denoiser(x, data, 0.5))
