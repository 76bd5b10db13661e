"""The memorisation experiment: exact score memorises, kernel smoothing generalises along the data,
too much smoothing blurs.

For each bandwidth of a sweep, samples are drawn by reverse diffusion with the smoothed score and
compared with the training set (memorised fraction, distance to the data manifold, diversity). A
theory check measures the empirical denoiser's variance across resampled data sets against the
small-t law t^(1 - k/2), and the smoothed one against the effective-sample-size prediction
var / (1 + h^2/t)^(k/2 + 1). Results: ``report.json`` and PNG figures in the output folder.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .. import analysis, datasets
from ..empirical import empirical_denoiser
from ..sampler import _progress, default_t_max, default_t_min, sample
from ..smoothed import smoothed_denoiser


@dataclass(frozen=True)
class DatasetSpec:
    """Defaults of the sweep for one data set."""

    n_data: int
    bandwidths: tuple
    n_samples: int
    n_steps: int
    t_max: Optional[float]
    t_min: Optional[float]
    distance_threshold: Optional[float]
    intrinsic_dim: Optional[int]
    theory_bandwidth: float = 0.1
    n_data_sweep: tuple = ()


DATASETS = {
    "circle": DatasetSpec(40, (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4), 300, 200, 9.0, 1e-4, 0.03, 1,
                          n_data_sweep=(20, 80)),
    "sphere": DatasetSpec(200, (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4), 300, 200, 9.0, 1e-4, 0.03, 2,
                          n_data_sweep=(100, 400)),
    "mnist": DatasetSpec(200, (0.0, 0.5, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 2.0, 3.0), 64, 100, None, None, None, None),
}


@dataclass
class Config:
    dataset: str = "circle"
    out_dir: str = "ledkde-results"
    n_data: Optional[int] = None
    n_data_sweep: Optional[Sequence[int]] = None
    bandwidths: Optional[Sequence[float]] = None
    n_samples: Optional[int] = None
    n_steps: Optional[int] = None
    n_kernel: int = 1024
    t_max: Optional[float] = None
    t_min: Optional[float] = None
    digit: int = 3
    data_dir: Optional[str] = None
    seed: int = 0
    theory: bool = True
    backend: str = "auto"
    progress: bool = True
    figures: bool = True
    spec: DatasetSpec = field(init=False)

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {self.dataset!r}")
        self.spec = DATASETS[self.dataset]
        self.n_data = self.spec.n_data if self.n_data is None else int(self.n_data)
        sweep_n = self.spec.n_data_sweep if self.n_data_sweep is None else self.n_data_sweep
        self.n_data_sweep = tuple(int(n) for n in sweep_n)
        if any(n < 2 for n in (self.n_data,) + self.n_data_sweep):
            raise ValueError("n_data must be at least 2")
        self.bandwidths = tuple(float(b) for b in (self.spec.bandwidths if self.bandwidths is None else self.bandwidths))
        if any(b < 0 or not np.isfinite(b) for b in self.bandwidths):
            raise ValueError("bandwidths must be finite and >= 0")
        self.n_samples = self.spec.n_samples if self.n_samples is None else int(self.n_samples)
        self.n_steps = self.spec.n_steps if self.n_steps is None else int(self.n_steps)
        self.t_max = self.spec.t_max if self.t_max is None else float(self.t_max)
        self.t_min = self.spec.t_min if self.t_min is None else float(self.t_min)


# ----------------------------------------------------------------------------- data
def _generator(dataset: str):
    """A function (n, seed) -> Dataset drawing fresh points of the data set's law (None for MNIST)."""
    if dataset == "circle":
        return lambda n, seed: datasets.circle(n, seed=seed)
    if dataset == "sphere":
        return lambda n, seed: datasets.sphere(n, 2, seed=seed)
    return None


def load_data(cfg: Config):
    """Training set, held-out set of the same law, and the Dataset object for geometry queries."""
    gen = _generator(cfg.dataset)
    if gen is not None:
        # the circle's training points are equally spaced, as in the paper's toy example
        train = datasets.circle(cfg.n_data, uniform_grid=True) if cfg.dataset == "circle" else gen(cfg.n_data, cfg.seed)
        held = gen(cfg.n_data, cfg.seed + 1000)
        return train.points, held.points, train
    mnist = datasets.load_mnist(cfg.data_dir, digits=cfg.digit)
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(mnist.points.shape[0])
    if order.size < cfg.n_data + 1:
        raise ValueError(f"only {order.size} images of digit {cfg.digit} available, n_data={cfg.n_data}")
    train = mnist.points[order[: cfg.n_data]]
    held = mnist.points[order[cfg.n_data: 2 * cfg.n_data]]
    return train, held, mnist


# ----------------------------------------------------------------------------- sweep
def run_sweep(cfg: Config, train, held, geometry):
    t_max = default_t_max(train) if cfg.t_max is None else cfg.t_max
    t_min = default_t_min(train) if cfg.t_min is None else cfg.t_min
    data_diversity = analysis.diversity(train)["mean_pairwise_distance"]
    rows, all_samples = [], {}
    for i, h in enumerate(_progress(cfg.bandwidths, cfg.progress, "bandwidth sweep")):
        start = time.perf_counter()
        s = sample(train, cfg.n_samples, bandwidth=h, n_kernel=cfg.n_kernel, t_max=t_max, t_min=t_min,
                   n_steps=cfg.n_steps, seed=cfg.seed + i, backend=cfg.backend)
        seconds = time.perf_counter() - start
        mem = analysis.memorization_report(s, train, held_out=held, distance_threshold=cfg.spec.distance_threshold,
                                           backend=cfg.backend)
        div = analysis.diversity(s, train, backend=cfg.backend)
        row = {
            "bandwidth": h,
            "seconds": round(seconds, 3),
            "fraction_memorized_ratio": mem["fraction_memorized_ratio"],
            "fraction_memorized_distance": mem["fraction_memorized_distance"],
            "median_nn_distance": mem["nn_distance"]["median"],
            "held_out_ratio": mem["held_out_ratio"],
            "mean_pairwise_distance": div["mean_pairwise_distance"],
            "relative_diversity": div["mean_pairwise_distance"] / data_diversity,
            "coverage": div["coverage"],
            "nearest_entropy": div["nearest_entropy"],
        }
        if cfg.spec.intrinsic_dim is not None:
            dist = geometry.distance_to_manifold(s)
            row["mean_distance_to_manifold"] = float(np.mean(dist))
            row["mean_radius"] = float(np.linalg.norm(s, axis=1).mean())
        rows.append(row)
        all_samples[h] = s
    return {"t_max": t_max, "t_min": t_min, "data_mean_pairwise_distance": data_diversity, "sweep": rows}, all_samples


# ----------------------------------------------------------------------------- theory check
def theory_check(cfg: Config, n_points: int = 400, n_datasets: int = 30, n_queries: int = 16, n_times: int = 12):
    """Variance of the empirical and smoothed denoisers across resampled data sets, against t."""
    gen = _generator(cfg.dataset)
    k = cfg.spec.intrinsic_dim
    h = cfg.spec.theory_bandwidth
    queries = gen(n_queries, cfg.seed + 7).points
    probe = gen(n_points, cfg.seed).points
    spacing = float(np.median(analysis.nearest_training_points(probe, probe)[1]))
    # the law needs many points within sqrt(t) (t >> spacing^2) and a locally flat manifold
    # (sqrt(t) well below its curvature radius, 1 here)
    times = np.geomspace(100 * spacing**2, 0.1, n_times)
    emp = np.zeros((n_datasets, n_times, n_queries, queries.shape[1]))
    smo = np.zeros_like(emp)
    for r in range(n_datasets):
        data = gen(n_points, cfg.seed + 100 + r).points
        for j, t in enumerate(times):
            emp[r, j] = empirical_denoiser(queries, data, t, backend=cfg.backend)
            # common kernel draws across data sets: the spread measured is the data's, not Monte Carlo's
            smo[r, j] = smoothed_denoiser(queries, data, t, h, n_kernel=cfg.n_kernel, seed=cfg.seed,
                                          backend=cfg.backend)
    var_emp = emp.var(axis=0, ddof=1).sum(axis=-1).mean(axis=-1)
    var_smo = smo.var(axis=0, ddof=1).sum(axis=-1).mean(axis=-1)
    law = analysis.variance_scaling(times, k)
    c = float(np.exp(np.mean(np.log(var_emp) - np.log(law))))
    slope = float(np.polyfit(np.log(times), np.log(var_emp), 1)[0])
    predicted_smoothed = var_emp / (1.0 + h * h / times) ** (k / 2 + 1)
    return {
        "intrinsic_dim": k,
        "n_points": n_points,
        "n_datasets": n_datasets,
        "bandwidth": h,
        "t": times.tolist(),
        "variance_empirical": var_emp.tolist(),
        "law_constant": c,
        "law_slope_predicted": 1 - k / 2,
        "law_slope_fitted": slope,
        "variance_smoothed": var_smo.tolist(),
        "variance_smoothed_predicted": predicted_smoothed.tolist(),
        "n_eff": analysis.n_eff(n_points, times, h, k).tolist(),
    }


# ----------------------------------------------------------------------------- entry point
def memorization_experiment(dataset="circle", out_dir="ledkde-results", **options) -> dict:
    """Run the bandwidth sweep (and the theory check for synthetic data); write ``report.json`` and
    figures to ``out_dir``; return the report. Options: the fields of :class:`Config`."""
    cfg = Config(dataset=dataset, out_dir=str(out_dir), **options)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train, held, geometry = load_data(cfg)
    report = {
        "experiment": "memorization",
        "dataset": cfg.dataset,
        "n_data": int(train.shape[0]),
        "dimension": int(train.shape[1]),
        "n_samples": cfg.n_samples,
        "n_steps": cfg.n_steps,
        "n_kernel": cfg.n_kernel,
        "seed": cfg.seed,
        "digit": cfg.digit if cfg.dataset == "mnist" else None,
    }
    sweep, samples = run_sweep(cfg, train, held, geometry)
    report.update(sweep)
    # the same bandwidth sweep at other training-set sizes: memorisation depends on N through t* ~ N^(-2/k)
    report["n_data_sweep"] = {}
    for n in cfg.n_data_sweep:
        sub = dataclasses.replace(cfg, n_data=n, n_data_sweep=(), progress=False)
        report["n_data_sweep"][str(n)] = run_sweep(sub, *load_data(sub))[0]["sweep"]
    if cfg.theory and cfg.spec.intrinsic_dim is not None:
        report["theory"] = theory_check(cfg)
    files = []
    if cfg.figures:
        from . import figures

        files = figures.write_all(out, cfg, report, train, samples)
    report["figures"] = [str(f) for f in files]
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return report
