"""Ctrl-C stops a long call within half a second: a real SIGINT sent to a subprocess.

The compiled core polls for signals from the calling thread every 20 ms (between tiles, chunks and
blocks of draws), the Numba backend runs query chunks of bounded work, and the sampler returns to
Python between steps; each case below would otherwise run for seconds after the signal.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import use_backend

# The child warms up (imports, Numba's compilation) on a tiny problem, says "ready", then starts a
# call that takes several seconds even on a fast machine, and reports how it ended.
CHILD = textwrap.dedent("""
    import signal, sys, time
    import numpy as np
    import ledkde_fast as lk

    # a test run started where SIGINT is ignored (nohup, a background job, some CI runners) passes
    # SIG_IGN on to this child, and Python then installs no KeyboardInterrupt handler: the long call
    # would run to its end
    signal.signal(signal.SIGINT, signal.default_int_handler)

    case, backend = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(0)
    m, n, d = 6000, 20000, 512  # several seconds on either backend
    data, x = rng.standard_normal((n, d)), rng.standard_normal((m, d))
    calls = {
        "empirical": lambda q, p: lk.empirical_denoiser(q, p, 0.5, backend=backend),
        "neighbors": lambda q, p: lk.nearest_neighbors(q, p, 5, backend=backend),
        # the smoothed cases in 32 dimensions: many draws, cheap to generate
        "smoothed": lambda q, p: lk.smoothed_score(q[:64, :32], p[:, :32], 0.5, bandwidth=0.3, n_kernel=100000,
                                                  seed=0, backend=backend),
        "sampler": lambda q, p: lk.sample(p[:, :32], q.shape[0] // 50, bandwidth=0.3, n_kernel=20000,
                                         n_steps=q.shape[0] // 5, seed=0, backend=backend, progress=False),
    }
    # warm up: imports, and Numba's compilation of every function the long call takes (a SIGINT that
    # lands inside Numba's compiler is not a KeyboardInterrupt: once it broke the cache write with a
    # RuntimeError). Hence the same paths: for the empirical case a block of at least 2^18 logits (the
    # parallel merge), for the smoothed case the long call's queries and points with 2 draws.
    warm_ups = {
        "empirical": lambda: calls["empirical"](x[:300], data[:2000]),
        "neighbors": lambda: calls["neighbors"](x[:100], data[:2000]),
        "smoothed": lambda: lk.smoothed_score(x[:64, :32], data[:, :32], 0.5, bandwidth=0.3, n_kernel=2, seed=0,
                                              backend=backend),
        "sampler": lambda: calls["sampler"](x[:100], data[:50]),
    }
    warm_ups[case]()
    print("ready", flush=True)
    start = time.monotonic()
    try:
        calls[case](x, data)
        print(f"finished in {time.monotonic() - start:.2f} s without an interrupt", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
""")

#: Longest accepted delay between the signal and the KeyboardInterrupt, in seconds.
MAX_LATENCY = 0.5


@pytest.mark.parametrize(("case", "backend"), [("empirical", "cpp"), ("neighbors", "cpp"), ("smoothed", "cpp"),
                                               ("sampler", "cpp"), ("empirical", "numba"), ("smoothed", "numba")])
def test_sigint_stops_a_long_call(case, backend):
    use_backend(backend)
    with subprocess.Popen([sys.executable, "-c", CHILD, case, backend], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=dict(os.environ)) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        try:
            ready = proc.stdout.readline().strip()
            if ready != "ready":
                proc.kill()
                pytest.fail(f"the child did not start: {ready!r} {proc.stderr.read()}")
            time.sleep(0.4)  # well inside the long call
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            outcome = proc.stdout.readline().strip()
            latency = time.monotonic() - sent
        finally:
            proc.kill()
            _, stderr = proc.communicate()
    # the child's stderr says how it ended otherwise (a traceback, or nothing when killed by a signal)
    assert outcome == "interrupted", f"{outcome!r}, exit status {proc.returncode}, stderr: {stderr[-2000:]!r}"
    assert latency < MAX_LATENCY, f"KeyboardInterrupt came {latency:.2f} s after SIGINT"
