"""Sample quality against wall time, per draw policy of the smoothed score.

Three workloads (the sizes and bandwidths are ours):

* the 40-point circle (uniform grid), h = 0.1, 300 samples;
* 200 uniform points of the 9-sphere in R^10, h = 0.2 (the bandwidth ``analysis.select_bandwidth``
  chooses for them: 0.16 and 0.22 tie; at h = 0.3 every sample collapses to radius 0.4 whatever the
  draws), 200 samples;
* the 500 images of the digit 3 of the offline MNIST subset (d = 784, float32; the ``mnist`` extra,
  ``pip install "ledkde_fast[mnist]"``), h = 1.1, 64 samples.

sample() runs with 100 Euler-Maruyama steps and its default times (so the time includes what every
call pays whatever its draws: the default times and the data's span, printed as "setup", the time
of a 1-step run; and, printed as "floor", the time of the same run with the exact score, h = 0,
which no draw policy can beat), with fixed draw counts 16 ... 4096 (default construction of the
draws), with 1,024 draws of every construction (``draws=``), with ``n_kernel="auto"`` (optionally
at other targets, ``--targets``), and with its default arguments. A row that is another row (the default's
arguments, or a construction that is the default one at this dimension: bitwise-equal samples)
is run once and marked "(= row)".

Quality (ours), against ``--ref-seeds`` reference runs with 16,384 draws per step:

* ``memorized``: fraction of samples memorised (ratio rule of
  :func:`ledkde_fast.analysis.memorization_report`: nearest over second-nearest training point
  below 1/3);
* ``mmd``: squared MMD (unbiased, :func:`ledkde_fast.analysis.mmd`) with a Gaussian kernel at the
  data's median nearest-neighbour spacing (the scale of memorisation), the mean over the reference
  runs of the run's MMD to each;
* ``manifold``: mean distance to the manifold (circle and sphere).

Each policy runs ``--repeats`` seeds, interleaved with the other policies so that the machine's
load drifts over all of them alike; a row gives the median wall time of its runs and the mean of
each metric over them.

The rule for "the quality of fixed 1,024 draws" (ours). The seed-to-seed spread of a metric is
twice the standard deviation of one reference run's value: for the memorised fraction and the
distance to the manifold, means over a run's samples, which are independent given the data (the
kernel draws they share number 16,384), that is the standard error over the samples, pooled over
the reference runs (for the memorised fraction at least one sample, 1/n_samples, the metric's
resolution); for the MMD, the standard deviation of the MMD between two halves of the pooled
reference samples over random splits (two independent runs of the reference law; a policy's MMD,
averaged over the reference runs, varies a little less, so this errs on the lenient side). A
policy reaches the quality of fixed 1,024 when, for every metric, its mean over its seeds differs
from the 1,024-draw row's by at most that spread (for the MMD, a lower value, nearer the
reference, also counts). Two policies of equal quality, whose runs vary as the reference's, then
pass with probability 0.995 per metric with 4 seeds each (the difference of their means has a
standard deviation of 0.71 of one run's, the spread is 2), so a "NOT reached" means a difference
the reference's own seed noise hardly ever makes; the reference runs' own values are printed as a
check of the spread. (With the compiled core's Gaussian generator, the runs of every policy but
"qmc" with one seed share their initial noise and Brownian increments, so their differences vary
less still.)

The table in docs/user_guide.rst was made with ``--blas-threads 1``: on the shared build machine,
NumPy's two spinning BLAS threads made the setup's SVDs of the MNIST workload take seconds.

Prints a markdown table per workload, the verdicts and the ratio of each row's time to fixed
1,024's, writes a plot and (``--json``) every run's values.

    python benchmarks/time_to_quality.py [--quick] [--png PATH] [--json PATH] [--cache DIR]
                                         [--repeats 4] [--ref-seeds 2] [--targets 0.2,0.5]
                                         [--workloads circle,sphere,mnist] [--policies LABELS]
                                         [--blas-threads 1]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

import ledkde_fast as lk
from ledkde_fast import analysis, datasets

FIXED = (16, 32, 64, 256, 1024, 4096)
DRAW_SCHEMES = ("iid", "orthogonal", "qmc")
REFERENCE_DRAWS = 16384
N_STEPS = 100
BASELINE = "fixed 1024"
#: The sample() arguments a policy sets; the default row is one of the others when these agree.
POLICY_KEYS = ("n_kernel", "draws", "n_kernel_target", "n_kernel_cap")
#: The ratio rule of memorisation (as analysis.memorization_report's default).
MEMORISED_RATIO = 1 / 3
#: Random splits of the pooled reference samples for the MMD's null spread.
MMD_SPLITS = 50
#: Draws of the 1-step run that times what every call pays whatever its draw policy.
SETUP_DRAWS = 8


@dataclass
class Workload:
    key: str
    name: str
    data: np.ndarray
    bandwidth: float
    n_samples: int
    manifold: Optional[datasets.Dataset]


def workloads(quick: bool, keys: list[str]) -> list[Workload]:
    """The workloads named in ``keys`` (fewer samples with ``quick``)."""
    out = []
    if "circle" in keys:
        circle = datasets.circle(40, uniform_grid=True)
        out.append(Workload("circle", "circle N=40", circle.points, 0.1, 100 if quick else 300, circle))
    if "sphere" in keys:
        sphere = datasets.sphere(200, 9, seed=0)
        out.append(Workload("sphere", "9-sphere in R^10 N=200", sphere.points, 0.2, 100 if quick else 200, sphere))
    if "mnist" in keys:
        try:
            digits = datasets.load_mnist(digits=3, n=500, seed=0)
            out.append(Workload("mnist", "MNIST 3s N=500 d=784", digits.points.astype(np.float32), 1.1,
                                32 if quick else 64, None))
        except (FileNotFoundError, ImportError) as exc:  # no offline MNIST here
            print(f"MNIST workload skipped: {exc}")
    return out


def policies(targets: list[float]) -> list[tuple[str, dict[str, Any]]]:
    """(label, sample() keyword arguments) of every policy to time, the default row last."""
    out: list[tuple[str, dict[str, Any]]] = [(f"fixed {k}", {"n_kernel": k}) for k in FIXED]
    out += [(f"{scheme} 1024", {"n_kernel": 1024, "draws": scheme}) for scheme in DRAW_SCHEMES]
    out.append(("auto", {"n_kernel": "auto"}))
    out += [(f"auto target {target:g}", {"n_kernel": "auto", "n_kernel_target": target}) for target in targets]
    out.append(("default", {}))
    return out


def _resolved(kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """The policy arguments with sample()'s defaults filled in (a callable compares by identity)."""
    params = inspect.signature(lk.sample).parameters
    return tuple(kwargs.get(key, params[key].default if key in params else None) for key in POLICY_KEYS)


def run(w: Workload, kwargs: dict[str, Any], seed: int, n_steps: int = N_STEPS) -> tuple[np.ndarray, float]:
    """One sample() call: the samples (float64) and its wall time."""
    start = time.perf_counter()
    kwargs = {"bandwidth": w.bandwidth, **kwargs}  # (the floor row overrides it: the exact score)
    out = lk.sample(w.data, w.n_samples, n_steps=n_steps, seed=seed, **kwargs)
    return np.asarray(out, dtype=np.float64), time.perf_counter() - start


def reference_runs(w: Workload, seeds: list[int], cache: Optional[str]) -> list[np.ndarray]:
    """The reference samples (16,384 draws per step), read from / written to ``cache`` if given."""
    out = []
    for seed in seeds:
        path = None
        if cache:
            path = os.path.join(cache, f"ref_{w.key}_h{w.bandwidth:g}_m{w.n_samples}_n{REFERENCE_DRAWS}_s{seed}.npy")
            if os.path.exists(path):
                out.append(np.load(path))
                continue
        samples, seconds = run(w, {"n_kernel": REFERENCE_DRAWS}, seed)
        print(f"  reference seed {seed}: {seconds:.1f} s")
        if path:
            os.makedirs(cache or ".", exist_ok=True)
            np.save(path, samples)
        out.append(samples)
    return out


def spacing(data: np.ndarray) -> float:
    """Median nearest-neighbour distance of the training points."""
    dist, _ = lk.nearest_neighbors(data.astype(np.float64), data.astype(np.float64), 2)
    return float(np.median(dist[:, 1]))


def per_sample(w: Workload, samples: np.ndarray) -> dict[str, np.ndarray]:
    """The metrics that are means over samples, per sample: memorised (0/1), distance to the manifold."""
    d1, d2, _ = analysis.nearest_training_points(samples, w.data)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(d1 == 0, 0.0, d1 / d2)
    out = {"memorized": (ratio < MEMORISED_RATIO).astype(np.float64)}
    if w.manifold is not None:
        out["manifold"] = np.asarray(w.manifold.distance_to_manifold(samples), dtype=np.float64)
    return out


def metrics(w: Workload, samples: np.ndarray, refs: list[np.ndarray], sigma: float) -> dict[str, float]:
    """Memorised fraction, mean MMD to the reference runs ``refs`` and mean distance to the manifold."""
    values = per_sample(w, samples)
    out = {"memorized": float(values["memorized"].mean()),
           "mmd": float(np.mean([analysis.mmd(samples, ref, bandwidth=sigma) for ref in refs]))}
    if "manifold" in values:
        out["manifold"] = float(values["manifold"].mean())
    return out


def reference_spread(w: Workload, refs: list[np.ndarray], sigma: float) -> dict[str, Any]:
    """Twice the standard deviation of one reference run's metrics (the module's rule), and what the
    reference runs measured (their metrics, the MMD between each pair).
    """
    n = w.n_samples
    values = [per_sample(w, ref) for ref in refs]
    spread = {k: 2 * float(np.sqrt(np.mean([v[k].var(ddof=1) for v in values]) / n)) for k in values[0]}
    spread["memorized"] = max(spread["memorized"], 1.0 / n)
    pooled = np.concatenate(refs)
    rng = np.random.default_rng(0)
    splits = [rng.permutation(len(pooled)) for _ in range(MMD_SPLITS)]
    null = [analysis.mmd(pooled[perm[:n]], pooled[perm[n:2 * n]], bandwidth=sigma) for perm in splits]
    spread["mmd"] = 2 * float(np.std(null, ddof=1))
    observed = {k: [float(v[k].mean()) for v in values] for k in values[0]}
    observed["mmd"] = [float(analysis.mmd(refs[i], refs[j], bandwidth=sigma))
                       for i in range(len(refs)) for j in range(i + 1, len(refs))]
    return {"spread": spread, "observed": observed}


def evaluate(rows: dict[str, dict[str, Any]], spread: dict[str, float]) -> list[str]:
    """Per row: the verdict and the time ratio to fixed 1,024; the metrics' names."""
    keys = [k for k in ("memorized", "mmd", "manifold") if k in spread]
    base = rows[BASELINE]
    for row in rows.values():
        row["reached"] = all(_within(k, row["mean"][k], base["mean"][k], spread[k]) for k in keys)
        row["ratio"] = row["seconds"] / base["seconds"]
    return keys


def _within(key: str, value: float, base: float, spread: float) -> bool:
    if key == "mmd":  # nearer the reference is never worse
        return value <= base + spread
    return abs(value - base) <= spread


def benchmark(w: Workload, args: argparse.Namespace, targets: list[float]) -> dict[str, Any]:
    print(f"\n### {w.name} (h = {w.bandwidth}, {w.n_samples} samples, {N_STEPS} steps)\n", flush=True)
    sigma = spacing(w.data)
    ref_seeds = list(range(1001, 1001 + args.ref_seeds))
    refs = reference_runs(w, ref_seeds, args.cache)
    ref = reference_spread(w, refs, sigma)
    labels = policies(targets)
    if args.policies:
        wanted = set(args.policies.split(",")) | {BASELINE, "default"}
        labels = [(label, kwargs) for label, kwargs in labels if label in wanted]
    aliases = _aliases(w, labels)
    to_run = [(label, kwargs) for label, kwargs in labels if label not in aliases]
    for label, kwargs in to_run:  # warm-up: first calls load code, compile, touch buffers
        run(w, kwargs, seed=0, n_steps=2)
    seeds = list(range(1, 1 + args.repeats))
    raw: dict[str, dict[str, list[Any]]] = {label: {"seconds": [], "metrics": []} for label, _ in to_run}
    setup: list[float] = []
    exact: list[float] = []
    for seed in seeds:  # round robin: the machine's load drifts over all policies alike
        for label, kwargs in to_run:
            samples, seconds = run(w, kwargs, seed)
            raw[label]["seconds"].append(seconds)
            raw[label]["metrics"].append(metrics(w, samples, refs, sigma))
        # what no draw count changes: the default times, the span of the data, one cheap step
        setup.append(run(w, {"n_kernel": SETUP_DRAWS}, seed, n_steps=1)[1])
        # the floor of every policy: the same run with the exact score (h = 0, no draws at all)
        exact.append(run(w, {"bandwidth": 0.0}, seed)[1])
    rows: dict[str, dict[str, Any]] = {}
    for label, _ in labels:
        r = raw[aliases.get(label, label)]
        rows[label] = {"seconds": float(np.median(r["seconds"])), "all_seconds": r["seconds"],
                       "mean": {k: float(np.mean([m[k] for m in r["metrics"]])) for k in r["metrics"][0]},
                       "runs": r["metrics"]}
    keys = evaluate(rows, ref["spread"])
    _print_table(rows, keys, ref, aliases)
    setup_seconds = float(np.median(setup))
    print(f"setup: a 1-step run with {SETUP_DRAWS} draws takes {setup_seconds:.3f} s, "
          f"{setup_seconds / rows[BASELINE]['seconds']:.3f}x fixed 1024's time (no draw policy is faster)",
          flush=True)
    exact_seconds = float(np.median(exact))
    print(f"floor: the same run with the exact score (h = 0, no draws) takes {exact_seconds:.3f} s, "
          f"{exact_seconds / rows[BASELINE]['seconds']:.3f}x fixed 1024's time", flush=True)
    return {"name": w.name, "setup_seconds": setup_seconds, "exact_seconds": exact_seconds,
            "bandwidth": w.bandwidth, "n_samples": w.n_samples,
            "mmd_bandwidth": sigma,
            "aliases": aliases, "spread": ref["spread"], "reference_observed": ref["observed"], "rows": rows}


def _aliases(w: Workload, labels: list[tuple[str, dict[str, Any]]]) -> dict[str, str]:
    """Rows that are another row, run once: the default where its arguments resolve to a row's, and
    a draw construction that is the default one here (``draws="auto"`` picks one by dimension), seen
    from bitwise-equal samples of a 2-step run with the same seed.
    """
    kwargs_of = dict(labels)
    out: dict[str, str] = {}
    resolved = {label: _resolved(kwargs) for label, kwargs in labels}
    same = [label for label, _ in labels if label != "default" and resolved[label] == resolved["default"]]
    if same:
        out["default"] = same[0]
    if BASELINE in kwargs_of:
        base = run(w, kwargs_of[BASELINE], seed=0, n_steps=2)[0]
        for scheme in DRAW_SCHEMES:
            label = f"{scheme} 1024"
            if label in kwargs_of and np.array_equal(run(w, kwargs_of[label], seed=0, n_steps=2)[0], base):
                out[label] = BASELINE
    return out


def _print_table(rows: dict[str, dict[str, Any]], keys: list[str], ref: dict[str, Any], aliases: dict[str, str]
                 ) -> None:
    spread, observed = ref["spread"], ref["observed"]
    print("| policy | seconds (median) | x fixed 1024 | " + " | ".join(keys) + " | quality of fixed 1024 |")
    print("|---" * (4 + len(keys)) + "|")
    for label, row in rows.items():
        name = f"{label} (= {aliases[label]})" if label in aliases else label
        print(f"| {name} | {row['seconds']:.3f} | {row['ratio']:.3f} | "
              + " | ".join(f"{row['mean'][k]:.4f}" for k in keys)
              + f" | {'reached' if row['reached'] else 'NOT reached'} |")
    print(f"| reference runs ({REFERENCE_DRAWS} draws; MMD: between them) | | | "
          + " | ".join(", ".join(f"{v:.4f}" for v in observed[k]) for k in keys) + " | |")
    print("| seed-to-seed spread (2 sd of one reference run) | | | "
          + " | ".join(f"{spread[k]:.4f}" for k in keys) + " | |")
    print()
    for label in ("default", "auto"):
        if label in rows and not (label == "auto" and aliases.get("default") == "auto"):
            d = rows[label]
            print(f"verdict: {label} {'reaches' if d['reached'] else 'does NOT reach'} the quality of fixed 1024 "
                  f"in {d['ratio']:.3f}x its time ({'<=' if d['ratio'] <= 0.1 else '>'} 1/10)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, 2 seeds (a smoke run)")
    parser.add_argument("--png", default=_default_png())
    parser.add_argument("--json")
    parser.add_argument("--cache", help="folder for the reference samples (reused when present)")
    parser.add_argument("--repeats", type=int, default=4, help="seeds per policy")
    parser.add_argument("--ref-seeds", type=int, default=2, help="reference runs (at least 2)")
    parser.add_argument("--targets", default="", help="extra n_kernel_target values of 'auto', comma-separated")
    parser.add_argument("--workloads", default="circle,sphere,mnist")
    parser.add_argument("--policies", help="only these rows (comma-separated labels; fixed 1024 and the default "
                        "always run)")
    parser.add_argument("--blas-threads", type=int, help="limit NumPy's BLAS/LAPACK threads (threadpoolctl): on a "
                        "loaded machine, spinning BLAS threads can make one SVD of the setup take seconds")
    args = parser.parse_args()
    if args.blas_threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.blas_threads, user_api="blas")
    if args.ref_seeds < 2:
        parser.error("--ref-seeds must be at least 2 (the MMD's spread splits their pooled samples in two)")
    if args.quick:
        args.repeats = min(args.repeats, 2)
    targets = [float(v) for v in args.targets.split(",") if v]
    start = time.perf_counter()
    report = {w.key: benchmark(w, args, targets) for w in workloads(args.quick, args.workloads.split(","))}
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    _plot(report, args.png)


def _default_png() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    static = os.path.join(os.path.dirname(here), "docs", "_static")
    return os.path.join(static if os.path.isdir(static) else here, "time_to_quality.png")


def _plot(report: dict[str, Any], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    metric_names = {"mmd": "MMD² to the reference", "memorized": "memorised fraction",
                    "manifold": "distance to the manifold"}
    cols = list(report.values())
    fig, axes = plt.subplots(3, len(cols), figsize=(4.6 * len(cols), 9.6), squeeze=False)
    labels = list(cols[0]["rows"])
    fixed = [label for label in labels if label.startswith("fixed")]
    others = [label for label in labels if not label.startswith("fixed")]
    colours = {label: plt.get_cmap("viridis")(i / max(1, len(fixed) - 1)) for i, label in enumerate(fixed)}
    colours.update({label: plt.get_cmap("tab10")(i % 10) for i, label in enumerate(others)})
    for c, rep in enumerate(cols):
        base = rep["rows"][BASELINE]
        for r, key in enumerate(metric_names):
            ax = axes[r][c]
            if key not in rep["spread"]:
                ax.axis("off")
                ax.text(0.5, 0.5, f"{metric_names[key]}:\nunknown for {rep['name']}", ha="center", va="center")
                continue
            lo, hi = base["mean"][key] - rep["spread"][key], base["mean"][key] + rep["spread"][key]
            ax.axhspan(lo, hi, color="0.85", zorder=0, label="fixed 1024 ± reference spread")
            ax.axvline(base["seconds"] / 10, color="0.4", ls="--", lw=1, label="1/10 of fixed 1024's time")
            if "exact_seconds" in rep:
                ax.axvline(rep["exact_seconds"], color="C3", ls=":", lw=1.2, label="exact score (h = 0): the floor")
            for label, row in rep["rows"].items():
                if label in rep["aliases"] and label != "default":
                    continue  # the same runs as another row
                if label == "default":
                    name = f"default (= {rep['aliases']['default']})" if "default" in rep["aliases"] else "default"
                    ax.scatter(row["seconds"], row["mean"][key], marker="*", s=160, facecolor="none",
                               edgecolor="k", linewidth=1.2, label=name, zorder=4)
                    continue
                marker = "o" if label.startswith("fixed") else "s"
                ax.scatter(row["seconds"], row["mean"][key], marker=marker, s=36, color=colours[label],
                           label=label, zorder=3)
            ax.set_xscale("log")
            ax.grid(alpha=0.3)
            if r == 0:
                default = f" (default = {rep['aliases']['default']})" if "default" in rep["aliases"] else ""
                ax.set_title(f"{rep['name']}, h = {rep['bandwidth']}{default}", fontsize=9)
            if c == 0 or key == "manifold":
                ax.set_ylabel(metric_names[key])
            if r == 2 or (key == "memorized" and "manifold" not in rep["spread"]):
                ax.set_xlabel("median wall time of sample() [s]")
    legend: dict[str, Any] = {}
    for ax in axes.flat:
        for handle, name in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(name, handle)
    fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=min(6, len(legend)), fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}")


if __name__ == "__main__":
    main()
