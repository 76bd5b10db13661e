"""Sample quality against wall time, per draw policy of the smoothed score.

Three workloads (sizes and bandwidths are ours): the 40-point circle (h = 0.1), a 9-sphere in R^10
(N = 200, h = 0.3) and one MNIST digit (N = 500, d = 784, h = 1.1; the offline subset of the
``mnist`` extra, ``pip install "ledkde_fast[mnist]"``). For each, sample() runs with fixed draw
counts 64 ... 4096, with every draw scheme sample() offers, and with its default; quality is
measured against a reference run with 16,384 draws per step:

* the memorised fraction (ratio rule of :func:`ledkde_fast.analysis.memorization_report`);
* the MMD to the reference samples (Gaussian kernel, median-heuristic bandwidth);
* the mean distance to the manifold (circle and sphere).

Two more reference runs (other seeds) give the reference's own seed-to-seed spread, against which
"the same quality" is judged: a policy matches fixed 1,024 draws when each metric is within that
spread of the 1,024-draw run's. Prints a markdown table and the verdict, writes a plot.

    python benchmarks/time_to_quality.py [--quick] [--png time_to_quality.png] [--json out.json]
"""

from __future__ import annotations

import argparse
import inspect
import json
import time
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

import ledkde_fast as lk
from ledkde_fast import analysis, datasets

FIXED = (64, 256, 1024, 4096)
REFERENCE_DRAWS = 16384


@dataclass
class Workload:
    name: str
    data: np.ndarray
    bandwidth: float
    n_samples: int
    manifold: Optional[datasets.Dataset]


def workloads(quick: bool) -> list[Workload]:
    """The three workloads (smaller sample counts with ``quick``)."""
    circle = datasets.circle(40, uniform_grid=True)
    sphere = datasets.sphere(200, 9, seed=0)
    out = [Workload("circle N=40", circle.points, 0.1, 100 if quick else 300, circle),
           Workload("sphere R^10 N=200", sphere.points, 0.3, 100 if quick else 300, sphere)]
    try:
        digits = datasets.load_mnist(digits=3, n=500, seed=0)
        out.append(Workload("MNIST 3s N=500", digits.points.astype(np.float32), 1.1, 32 if quick else 64, None))
    except (FileNotFoundError, ImportError) as exc:  # no offline MNIST here
        print(f"MNIST workload skipped: {exc}")
    return out


def policies() -> list[tuple[str, dict[str, Any]]]:
    """(label, sample() keyword arguments) for every policy to time; the default passes nothing."""
    out: list[tuple[str, dict[str, Any]]] = [(f"fixed {k}", {"n_kernel": k}) for k in FIXED]
    params = inspect.signature(lk.sample).parameters
    for scheme in _choices(params.get("draws")):
        out.append((f"{scheme} 1024", {"n_kernel": 1024, "draws": scheme}))
    if "n_kernel" in params and _accepts_auto():
        out.append(("auto", {"n_kernel": "auto"}))
    out.append(("default", {}))
    return out


def _choices(param: Optional[inspect.Parameter]) -> list[str]:
    if param is None:
        return []
    import typing

    args = typing.get_args(param.annotation) if not isinstance(param.annotation, str) else ()
    return [a for a in args if isinstance(a, str)] or []


def _accepts_auto() -> bool:
    try:
        lk.sample(np.array([[0.0], [1.0]]), 2, bandwidth=0.1, n_kernel="auto", n_steps=2, seed=0)
        return True
    except (TypeError, ValueError):
        return False


def run(w: Workload, kwargs: dict[str, Any], seed: int) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    out = lk.sample(w.data, w.n_samples, bandwidth=w.bandwidth, n_steps=100, seed=seed, **kwargs)
    return np.asarray(out, dtype=np.float64), time.perf_counter() - start


def metrics(w: Workload, samples: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    rep = analysis.memorization_report(samples, w.data)
    out = {"memorized": float(rep["fraction_memorized_ratio"]), "mmd": float(analysis.mmd(samples, reference))}
    if w.manifold is not None:
        out["manifold"] = float(np.mean(w.manifold.distance_to_manifold(samples)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    parser.add_argument("--png", default="time_to_quality.png")
    parser.add_argument("--json")
    args = parser.parse_args()
    report: dict[str, Any] = {}
    for w in workloads(args.quick):
        refs = [run(w, {"n_kernel": REFERENCE_DRAWS}, seed)[0] for seed in (101, 102, 103)]
        ref = refs[0]
        # the reference's own seed-to-seed spread: the largest difference of a metric between its
        # runs (for the MMD: of the other runs to the first)
        per_run = [metrics(w, other, ref) for other in refs]
        spread = {key: max(abs(a[key] - b[key]) for a in per_run for b in per_run) for key in per_run[0]}
        spread["mmd"] = max(r["mmd"] for r in per_run[1:])
        rows = {}
        for label, kwargs in policies():
            samples, seconds = run(w, kwargs, seed=7)
            rows[label] = {"seconds": seconds, **metrics(w, samples, ref)}
        report[w.name] = {"spread": spread, "rows": rows}
        print(f"\n### {w.name} (h = {w.bandwidth}, {w.n_samples} samples, 100 steps)\n")
        keys = [k for k in ("memorized", "mmd", "manifold") if k in spread]
        print("| policy | seconds | " + " | ".join(keys) + " |")
        print("|---" * (2 + len(keys)) + "|")
        for label, row in rows.items():
            print(f"| {label} | {row['seconds']:.2f} | " + " | ".join(f"{row[k]:.4f}" for k in keys) + " |")
        print("| reference spread | | " + " | ".join(f"{spread[k]:.4f}" for k in keys) + " |")
        base = rows["fixed 1024"]
        for label, row in rows.items():
            same = all(abs(row[k] - base[k]) <= spread[k] for k in keys)
            ratio = row["seconds"] / base["seconds"]
            print(f"{label}: quality of fixed 1024 {'reached' if same else 'NOT reached'}, "
                  f"time {ratio:.3f}x of fixed 1024")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    _plot(report, args.png)


def _plot(report: dict[str, Any], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    fig, axes = plt.subplots(1, len(report), figsize=(4.2 * len(report), 3.4), squeeze=False)
    for ax, (name, rep) in zip(axes[0], report.items()):
        for label, row in rep["rows"].items():
            marker = "o" if label.startswith("fixed") else "s"
            ax.scatter(row["seconds"], row["mmd"], marker=marker, label=label)
        ax.axhline(rep["spread"]["mmd"], color="grey", ls="--", lw=1, label="reference seed spread")
        ax.set_xscale("log")
        ax.set_xlabel("wall time of sample() [s]")
        ax.set_ylabel("MMD to the 16,384-draw reference")
        ax.set_title(name)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    print(f"plot written to {path}")


if __name__ == "__main__":
    main()
