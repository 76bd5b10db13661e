"""GPU check: the CUDA tests and a throughput benchmark, in one script for a machine with a GPU.

    pip install . -Ccmake.define.LEDKDE_USE_CUDA=ON && python benchmarks/gpu_check.py

Runs tests/gpu (with LEDKDE_REQUIRE_BACKENDS=cuda, so a missing GPU fails instead of skipping), then
times the empirical denoiser and the smoothed score on the GPU and reports throughput and the share of
the GPU's FP32 peak (from a table of known devices).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np

#: FP32 (non-tensor) peak in TFLOP/s of devices we report against.
FP32_PEAK_TFLOPS = {"H200": 67.0, "H100": 67.0, "A100": 19.5}


def main() -> int:
    env = dict(os.environ, LEDKDE_REQUIRE_BACKENDS="cuda")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", os.path.join(root, "tests", "gpu")], env=env)
    import ledkde_fast as lk
    from ledkde_fast import _core_cuda

    name = _core_cuda.device_name(0)
    peak = next((v for k, v in FP32_PEAK_TFLOPS.items() if k in name), None)
    print(f"\ndevice: {name}; FP32 peak used: {peak} TFLOP/s")
    rng = np.random.default_rng(0)
    for m, n, d in ((4096, 100_000, 64), (1024, 20_000, 784)):
        data = rng.standard_normal((n, d)).astype(np.float32)
        x = rng.standard_normal((m, d)).astype(np.float32)
        lk.empirical_denoiser(x[:8], data, float(d), backend="cuda")
        start = time.perf_counter()
        lk.empirical_denoiser(x, data, float(d), backend="cuda")
        sec = time.perf_counter() - start
        tflops = 4.0 * m * n * d / sec / 1e12
        share = f"{100 * tflops / peak:.1f} %" if peak else "n/a"
        print(f"empirical m={m} N={n} d={d}: {sec:.3f} s, {tflops:.2f} TFLOP/s (4mNd), {share} of FP32 peak")
    data = rng.standard_normal((1000, 784)).astype(np.float32)
    x = rng.standard_normal((256, 784)).astype(np.float32)
    lk.smoothed_score(x[:4], data, 40.0, 0.5, n_kernel=64, seed=0, backend="cuda")
    start = time.perf_counter()
    lk.smoothed_score(x, data, 40.0, 0.5, n_kernel=4096, seed=0, backend="cuda")
    sec = time.perf_counter() - start
    print(f"smoothed score m=256 N=1000 d=784 n_kernel=4096: {sec:.3f} s, "
          f"{256 * 4096 * 1000 / sec:.3g} kernel weights/s")
    return tests.returncode


if __name__ == "__main__":
    sys.exit(main())
