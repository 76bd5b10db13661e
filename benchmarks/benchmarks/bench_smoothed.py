"""Kernel-smoothed score: time, peak memory, kernel-weight throughput and accuracy against the
float64 reference (which evaluates the same draws by definition)."""

import numpy as np

import ledkde_fast as lk

from .common import backends, problem


class SmoothedScore:
    params = ([64, 256], [1000], [16, 784], [256, 1024], ["float32", "float64"], backends("cpp", "numba"))
    param_names = ["m", "N", "d", "n_kernel", "dtype", "backend"]
    timeout = 300

    def setup(self, m, n, d, n_kernel, dtype, backend):
        if backend == "numba" and (d > 16 or n_kernel > 256):
            raise NotImplementedError("the Numba fallback is timed at small sizes only")
        self.x, self.data, self.t = problem(m, n, d, np.dtype(dtype))
        lk.smoothed_score(self.x[:2], self.data[:64], self.t, 0.5, n_kernel=8, seed=0, backend=backend)

    def time_smoothed_score(self, m, n, d, n_kernel, dtype, backend):
        lk.smoothed_score(self.x, self.data, self.t, 0.5, n_kernel=n_kernel, seed=0, backend=backend)

    def peakmem_smoothed_score(self, m, n, d, n_kernel, dtype, backend):
        lk.smoothed_score(self.x, self.data, self.t, 0.5, n_kernel=n_kernel, seed=0, backend=backend)


class SmoothedThroughput:
    """Kernel weights (m * n_kernel * N) per second of the shared-sample loop."""

    params = (["float32", "float64"],)
    param_names = ["dtype"]
    timeout = 300

    def setup(self, dtype):
        self.x, self.data, self.t = problem(256, 1000, 784, np.dtype(dtype))
        lk.smoothed_score(self.x[:2], self.data, self.t, 0.5, n_kernel=8, seed=0)

    def track_kernel_weights_per_second(self, dtype):
        import time

        start = time.perf_counter()
        lk.smoothed_score(self.x, self.data, self.t, 0.5, n_kernel=1024, seed=0)
        return 256 * 1024 * 1000 / (time.perf_counter() - start)

    track_kernel_weights_per_second.unit = "weights/s"


class SmoothedAccuracy:
    """Largest error of the smoothed denoiser against the reference for the same draws, relative to
    the data radius."""

    params = (["float32", "float64"], backends("cpp", "numba"))
    param_names = ["dtype", "backend"]

    def setup(self, dtype, backend):
        self.x, self.data, self.t = problem(32, 500, 8, np.dtype(dtype))
        self.expected = lk.smoothed_denoiser(self.x.astype(float), self.data.astype(float), self.t, 0.5,
                                             n_kernel=64, seed=1, backend="reference")
        centred = self.data.astype(float) - self.data.astype(float).mean(axis=0)
        self.scale = float(np.linalg.norm(centred, axis=1).max())

    def track_max_error(self, dtype, backend):
        got = lk.smoothed_denoiser(self.x, self.data, self.t, 0.5, n_kernel=64, seed=1, backend=backend)
        return float(np.abs(got - self.expected).max() / self.scale)

    track_max_error.unit = "relative"
