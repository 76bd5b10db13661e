"""Variance of the smoothed score per kernel draw for each construction of the draws, and its cost.

For each data set (N points on a random k-dimensional subspace of R^d, each coordinate of variance
1/k so that |x_i| ~ 1 whatever k; with N < d the isotropic Gaussian is drawn in the k-dimensional
span of the data, with N >= d in all d dimensions), time t, bandwidth h and number of draws n, the
smoothed score at m noised training points is computed for ``--seeds`` seeds with each method:

    iid            independent draws (antithetic=False)
    antithetic     i.i.d. draws in mirrored pairs (Y, -Y): the library's behaviour before draws= existed
    orthogonal     blocks of orthonormal directions with chi radii, in mirrored pairs
    orthogonal-raw the same without the mirrored pairs
    qmc            scrambled Sobol through the Gaussian quantile, in mirrored pairs
    qmc-raw        the same without the mirrored pairs

The variance over seeds of each coordinate, averaged over coordinates and queries, is the
estimator's variance (all methods are unbiased). Ratios < 1 are wins. Efficiency accounts for time:
(variance x seconds per call) relative to the antithetic draws, < 1 is a win at equal compute. Given
the draws, the estimate costs the same for every method, so a call's time is taken as the antithetic
call's (the fastest over the seeds, one thread: robust to other work on shared cores) plus the
difference in the time to make the draws (the generators timed alone, fastest of 5). Settings in
which the antithetic estimator has no Monte-Carlo error left (relative error < 1e-9: every draw gives
the same softmax, all weight on one point) are left out of the ratios.

    python benchmarks/draw_variance.py [--seeds 24] [--quick] [--json out.json]
    python benchmarks/draw_variance.py --time-independent   # the brute-force path alone (any version)
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from typing import Optional

import numpy as np

import ledkde_fast as lk

METHODS = {
    "iid": dict(draws="iid", antithetic=False),
    "antithetic": dict(draws="iid", antithetic=True),
    "orthogonal": dict(draws="orthogonal", antithetic=True),
    "orthogonal-raw": dict(draws="orthogonal", antithetic=False),
    "qmc": dict(draws="qmc", antithetic=True),
    "qmc-raw": dict(draws="qmc", antithetic=False),
}


#: Methods measured by default (the mirrored-pair-free variants on request: --methods).
DEFAULT_METHODS = "iid,antithetic,orthogonal,qmc"
#: Data sets d:N:k (N < d: draws in the span; the last, N >= d: draws in all d dimensions).
DEFAULT_DATASETS = "64:60:2,64:60:10,64:60:50,784:60:2,784:60:10,784:60:50,64:256:10"
#: Below this relative error the antithetic estimator has nothing left to reduce (degenerate softmax).
DEGENERATE = 1e-9


def subspace_data(n: int, d: int, k: int, seed: int) -> np.ndarray:
    """N Gaussian points of a random k-dimensional subspace of R^d (centred span of rank k),
    coordinates of variance 1/k (so |x_i| ~ 1)."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((d, k)))
    return rng.standard_normal((n, k)) @ basis.T / np.sqrt(k)


def noised_queries(data: np.ndarray, m: int, t: float, seed: int) -> np.ndarray:
    """m training points with forward noise of variance t in all d coordinates (typical of time t)."""
    rng = np.random.default_rng(seed)
    return data[:m] + np.sqrt(t) * rng.standard_normal((m, data.shape[1]))


def score_variance(x, data, t, h, n_kernel, kw, seeds):
    """(mean over queries and coordinates of the variance over seeds, relative RMS error, seconds per
    call: the fastest of the seeds, robust to other work on shared cores)."""
    runs, times = [], []
    for s in range(seeds):
        start = time.perf_counter()
        runs.append(lk.smoothed_score(x, data, t, h, n_kernel=n_kernel, seed=1000 + s, n_threads=1, **kw))
        times.append(time.perf_counter() - start)
    runs = np.asarray(runs)
    var = runs.var(axis=0, ddof=1)  # (m, d)
    mean = runs.mean(axis=0)
    rel = float(np.sqrt(var.sum(axis=1).mean() / np.einsum("qd,qd->q", mean, mean).mean()))
    return float(var.mean()), rel, float(np.min(times))


def draw_time(method: str, n_kernel: int, r: int, repeats: int = 5) -> float:
    """Seconds to draw n_kernel standardised draws in r dimensions (the generator alone)."""
    from ledkde_fast._kernel_plan import standard_normal

    kw = METHODS[method]
    rng = np.random.default_rng(0)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        standard_normal(rng, n_kernel, r, kw["antithetic"], kw["draws"])
        times.append(time.perf_counter() - start)
    return float(np.min(times))


def geomean(values) -> float:
    return float(np.exp(np.mean(np.log(values))))


def time_independent(repeats: int, draws: Optional[str]) -> None:
    """Median time of the brute-force estimator (independent=True) at m = N = 10, d = 784: without
    ``draws``, only arguments every version has, so that two versions can be run side by side
    (PYTHONPATH)."""
    rng = np.random.default_rng(0)
    print(f"ledkde_fast from {lk.__file__}")
    print("| dtype | n_kernel | median s |")
    print("|---|---|---|")
    for name in ("float32", "float64"):
        data = rng.standard_normal((10, 784)).astype(name)
        x = (data + 0.3 * rng.standard_normal((10, 784))).astype(name)
        for n_kernel in (1024, 10000):
            times = []
            for rep in range(repeats):
                start = time.perf_counter()
                lk.smoothed_score(x, data, 0.5, 0.3, n_kernel=n_kernel, independent=True, seed=rep,
                                  **({} if draws is None else {"draws": draws}))
                times.append(time.perf_counter() - start)
            print(f"| {name} | {n_kernel} | {np.median(times):.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=24)
    parser.add_argument("--m", type=int, default=8)
    parser.add_argument("--datasets", default=DEFAULT_DATASETS, help="d:N:k,... (dimension, points, rank)")
    parser.add_argument("--times", default="0.01,0.1,1")
    parser.add_argument("--bandwidths", default="0.05,0.3")
    parser.add_argument("--n-kernel", default="64,256,1024,4096")
    parser.add_argument("--methods", default=DEFAULT_METHODS, help=f"any of {','.join(METHODS)}")
    parser.add_argument("--quick", action="store_true", help="8 seeds, two data sets, n_kernel 64 and 1024")
    parser.add_argument("--json", help="write every measurement to this file")
    parser.add_argument("--time-independent", action="store_true", help="time independent=True only, then exit")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--draws", help="with --time-independent: pass draws= (versions that have it)")
    args = parser.parse_args()
    if args.time_independent:
        time_independent(args.repeats, args.draws)
        return
    if args.quick:
        args.seeds, args.datasets, args.n_kernel = 8, "64:60:2,64:60:10", "64,1024"
    datasets = [tuple(int(v) for v in spec.split(":")) for spec in args.datasets.split(",")]
    times_ = [float(v) for v in args.times.split(",")]
    bandwidths = [float(v) for v in args.bandwidths.split(",")]
    counts = [int(v) for v in args.n_kernel.split(",")]
    methods = args.methods.split(",")

    rows = []
    for d, n_data, k in datasets:
        data = subspace_data(n_data, d, k, seed=d + k)
        for t, h in itertools.product(times_, bandwidths):
            x = noised_queries(data, args.m, t, seed=7)
            for n in counts:
                row = {"d": d, "N": n_data, "k": k, "t": t, "h": h, "n_kernel": n}
                for name in methods:
                    var, rel, sec = score_variance(x, data, t, h, n, METHODS[name], args.seeds)
                    row[name] = {"var": var, "rel": rel, "sec": sec}
                rows.append(row)
                print(f"d={d} N={n_data} k={k} t={t} h={h} n={n}: " + ", ".join(
                    f"{name} {row[name]['var']:.3g}" for name in methods), flush=True)
    draw_dims = sorted({k if n_data < d else d for d, n_data, k in datasets} | {784})
    draw_sec = {f"{name}:{n}:{r}": draw_time(name, n, r) for name in methods for n in counts for r in draw_dims}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "rows": rows, "draw_sec": draw_sec}, fh, indent=1)
    report(rows, methods, datasets, counts, draw_sec)
    print("\n## Milliseconds to make the standardised draws alone (fastest of 5), r = draw dimension\n")
    print("| r | n_kernel | " + " | ".join(methods) + " |")
    print("|---|---|" + "---|" * len(methods))
    for r in draw_dims:
        for n in counts:
            print(f"| {r} | {n} | " + " | ".join(f"{1e3 * draw_sec[f'{name}:{n}:{r}']:.2f}" for name in methods)
                  + " |")


def live(rows):
    """The rows where the antithetic estimator still has Monte-Carlo error to reduce."""
    return [r for r in rows if "antithetic" not in r or r["antithetic"]["rel"] > DEGENERATE]


def accounted_sec(row, name, draw_sec) -> float:
    """A call's time with the given draws: the antithetic call's plus the difference in draw time."""
    if "antithetic" not in row:
        return row[name]["sec"]
    r = row["k"] if row["N"] < row["d"] else row["d"]
    n = row["n_kernel"]
    return row["antithetic"]["sec"] + draw_sec[f"{name}:{n}:{r}"] - draw_sec[f"antithetic:{n}:{r}"]


def report(rows, methods, datasets, counts, draw_sec) -> None:
    """Markdown tables: variance ratios (geometric means over t and h), time-accounted efficiency,
    seconds per call and the relative error per draw count."""
    kept = live(rows)
    print(f"\n{len(rows) - len(kept)} of {len(rows)} settings left out of the ratios (antithetic relative error "
          f"< {DEGENERATE:g}: all weight on one point for every draw)")
    refs = [r for r in ("iid", "antithetic") if r in methods]
    print("\n## Variance ratio per draw (geometric mean over t and h; < 1: fewer draws for the same error)")
    for ref in refs:
        others = [name for name in methods if name != ref]
        print(f"\n### vs {ref}\n")
        print("| d | N | k | n_kernel | settings | " + " | ".join(others) + " |")
        print("|---|---|---|---|---|" + "---|" * len(others))
        for (d, n_data, k), n in itertools.product(datasets, counts):
            sel = [r for r in kept if (r["d"], r["N"], r["k"], r["n_kernel"]) == (d, n_data, k, n)]
            if not sel:
                continue
            cells = [f"{geomean([r[name]['var'] / r[ref]['var'] for r in sel]):.3g}" for name in others]
            print(f"| {d} | {n_data} | {k} | {n} | {len(sel)} | " + " | ".join(cells) + " |")
    if "antithetic" in methods:
        print("\n## Efficiency vs antithetic: (variance x seconds per call) ratio, geometric mean over t, h and "
              "n_kernel (< 1: a win at equal compute)\n")
        print("| d | N | k | " + " | ".join(methods) + " |")
        print("|---|---|---|" + "---|" * len(methods))
        for d, n_data, k in datasets:
            sel = [r for r in kept if (r["d"], r["N"], r["k"]) == (d, n_data, k)]
            if not sel:
                continue
            ref = [r["antithetic"]["var"] * r["antithetic"]["sec"] for r in sel]
            cells = [f"{geomean([r[n]['var'] * accounted_sec(r, n, draw_sec) / a for r, a in zip(sel, ref)]):.3g}"
                     for n in methods]
            print(f"| {d} | {n_data} | {k} | " + " | ".join(cells) + " |")
    print("\n## Milliseconds per call as accounted (one thread; m queries, shared draws), median over t and h\n")
    print("| d | N | k | n_kernel | " + " | ".join(methods) + " |")
    print("|---|---|---|---|" + "---|" * len(methods))
    for (d, n_data, k), n in itertools.product(datasets, counts):
        sel = [r for r in rows if (r["d"], r["N"], r["k"], r["n_kernel"]) == (d, n_data, k, n)]
        print(f"| {d} | {n_data} | {k} | {n} | "
              + " | ".join(f"{1e3 * np.median([accounted_sec(r, m, draw_sec) for r in sel]):.2f}" for m in methods)
              + " |")
    print("\n## Relative RMS error of the smoothed score, sqrt(mean_q sum_k var / mean_q |score|^2)")
    for name in methods:
        print(f"\n### {name}\n")
        print("| d | N | k | t | h | " + " | ".join(f"n={n}" for n in counts) + " |")
        print("|---|---|---|---|---|" + "---|" * len(counts))
        for key in sorted({(r["d"], r["N"], r["k"], r["t"], r["h"]) for r in rows}):
            cells = [next(r for r in rows if (r["d"], r["N"], r["k"], r["t"], r["h"], r["n_kernel"]) == key + (n,))
                     [name]["rel"] for n in counts]
            print(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]:g} | {key[4]:g} | "
                  + " | ".join(f"{c:.2e}" for c in cells) + " |")


if __name__ == "__main__":
    main()
