"""The CUDA backend against the float64 oracle and the CPU core. Runs only where the CUDA module is
built and a GPU is visible (or fails where LEDKDE_REQUIRE_BACKENDS names cuda)."""

import numpy as np
import pytest

import ledkde_fast as lk
import oracle
from conftest import use_backend


@pytest.fixture(autouse=True)
def gpu():
    """Skip where the CUDA module is not built or no GPU is visible (fail where LEDKDE_REQUIRE_BACKENDS
    names cuda)."""
    use_backend("cuda")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [2, 37, 784])
def test_empirical_against_the_oracle(rng, dtype, d):
    data = (rng.normal(size=(700, d)) + 1.0).astype(dtype)
    x = (data[:33] + 0.3 * rng.normal(size=(33, d)) / np.sqrt(d)).astype(dtype)
    t = 0.05 * d
    tol = (1e-10 if dtype == np.float64 else 1e-4) * oracle.data_scale(data)
    np.testing.assert_allclose(lk.empirical_denoiser(x, data, t, backend="cuda"), oracle.denoiser(x, data, t),
                               rtol=0, atol=tol)
    np.testing.assert_allclose(lk.kde_log_density(x, data, t, backend="cuda"), oracle.kde_log_density(x, data, t),
                               rtol=1e-12, atol=1e-9 * (1 + oracle.logit_scale(x, data, t).max()))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_smoothed_matches_the_cpu_core(rng, dtype):
    data = rng.normal(size=(500, 16)).astype(dtype)
    x = rng.normal(size=(20, 16)).astype(dtype)
    kw = dict(n_kernel=64, seed=3)
    for fn in (lk.smoothed_denoiser, lk.led_kde_log_density):
        gpu = fn(x, data, 0.8, 0.3, backend="cuda", **kw)
        cpu = fn(x.astype(float), data.astype(float), 0.8, 0.3, backend="reference", **kw)
        np.testing.assert_allclose(gpu, cpu, rtol=1e-4 if dtype == np.float32 else 1e-10,
                                   atol=1e-4 if dtype == np.float32 else 1e-10)


def test_errors_are_python_exceptions(rng):
    from ledkde_fast import _core_cuda

    with pytest.raises(ValueError, match="same number of columns"):
        _core_cuda.lse_state(np.zeros((2, 3)), np.zeros((4, 2)), None, 1.0, True)
