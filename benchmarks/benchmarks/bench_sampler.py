"""One step of the sampler, nearest neighbours, and thread scaling of the empirical kernel."""

import os

import numpy as np

import ledkde_fast as lk

from .common import problem


class SamplerStep:
    params = ([0.0, 1.0], ["float32"])
    param_names = ["bandwidth", "dtype"]
    timeout = 300

    def setup(self, bandwidth, dtype):
        _, self.data, _ = problem(1, 5000, 784, np.dtype(dtype))
        lk.sample(self.data[:100], 2, bandwidth=bandwidth, n_kernel=8, t_max=10.0, t_min=1.0, n_steps=1, seed=0)

    def time_one_step_1000_samples(self, bandwidth, dtype):
        lk.sample(self.data, 1000, bandwidth=bandwidth, n_kernel=64, t_max=10.0, t_min=1.0, n_steps=1, seed=0)


class NearestNeighbors:
    params = ([3, 784], [1, 10])
    param_names = ["d", "k"]
    timeout = 300

    def setup(self, d, k):
        self.x, self.data, _ = problem(1000, 20000, d, np.dtype(np.float32))
        lk.nearest_neighbors(self.x[:2], self.data[:100], k)

    def time_knn(self, d, k):
        lk.nearest_neighbors(self.x, self.data, k)

    def peakmem_knn(self, d, k):
        lk.nearest_neighbors(self.x, self.data, k)


class ThreadScaling:
    params = ([1, 2, 4, 8, 16],)
    param_names = ["n_threads"]
    timeout = 300

    def setup(self, n_threads):
        if n_threads > (os.cpu_count() or 1):
            raise NotImplementedError("more threads than cores")  # asv skips the case
        self.x, self.data, self.t = problem(1000, 20000, 64, np.dtype(np.float32))
        lk.empirical_denoiser(self.x[:2], self.data[:64], self.t)

    def time_empirical_denoiser(self, n_threads):
        lk.empirical_denoiser(self.x, self.data, self.t, n_threads=n_threads)
