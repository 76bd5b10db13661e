"""The shapes of a one-class image study (issue #13): ten training images of d = 784, ten samples,
tens of thousands of kernel draws; the brute-force estimator at that shape; and the local kernel
(kernels.Local) on 300 images. Sizes are ours."""

import numpy as np

import ledkde_fast as lk
from ledkde_fast.kernels import Local


def _images(n, seed=0):
    """n image-like points in [0, 1]^784 (smooth blobs: a low-dimensional family like one digit)."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(np.arange(28), np.arange(28)), axis=-1).reshape(-1, 2)
    centres = rng.uniform(8, 20, size=(n, 2))
    widths = rng.uniform(3, 6, size=(n, 1))
    return np.exp(-((grid[None] - centres[:, None]) ** 2).sum(-1) / (2 * widths**2))


class SmallShapes:
    params = (["float32", "float64"],)
    param_names = ["dtype"]
    timeout = 300

    def setup(self, dtype):
        self.data = _images(10).astype(dtype)
        self.x = (self.data + np.random.default_rng(1).normal(scale=0.3, size=self.data.shape)).astype(dtype)
        lk.smoothed_score(self.x, self.data, 0.5, 1.1, n_kernel=64, seed=0)

    def time_smoothed_score_50k_draws(self, dtype):
        lk.smoothed_score(self.x, self.data, 0.5, 1.1, n_kernel=50_000, seed=0)

    def track_weights_per_second_50k_draws(self, dtype):
        import time

        start = time.perf_counter()
        lk.smoothed_score(self.x, self.data, 0.5, 1.1, n_kernel=50_000, seed=0)
        return 10 * 10 * 50_000 / (time.perf_counter() - start)

    track_weights_per_second_50k_draws.unit = "weights/s"

    def time_sample_100_steps_50k_draws(self, dtype):
        lk.sample(self.data, 10, bandwidth=1.1, n_kernel=50_000, n_steps=100, seed=0)

    def time_independent_1024_draws(self, dtype):
        lk.smoothed_score(self.x, self.data, 0.5, 1.1, n_kernel=1024, independent=True, seed=0)


class LocalKernel:
    params = (["float32", "float64"],)
    param_names = ["dtype"]
    timeout = 300

    def setup(self, dtype):
        self.data = _images(300).astype(dtype)
        self.x = (self.data[:64] + np.random.default_rng(1).normal(scale=0.3, size=(64, 784))).astype(dtype)
        lk.smoothed_score(self.x[:2], self.data, 0.5, 4.0, kernel=Local(8), n_kernel=64, seed=0)

    def time_smoothed_score(self, dtype):
        lk.smoothed_score(self.x, self.data, 0.5, 4.0, kernel=Local(8), n_kernel=64, seed=0)

    def time_eight_empirical_calls(self, dtype):
        for _ in range(8):
            lk.empirical_score(self.x, self.data, 0.5)

    def time_sample_60_steps(self, dtype):
        lk.sample(self.data, 64, bandwidth=4.0, kernel=Local(8), n_kernel=64, n_steps=60, seed=0)
