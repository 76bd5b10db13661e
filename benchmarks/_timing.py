"""Timing helper shared by the comparison scripts."""

import time

import numpy as np


def median_time(fn, repeats):
    """Median wall time of ``repeats`` calls after one warm-up call (JIT, first touch of buffers)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))
