"""The bias-variance experiment: the smoothed score against the *true* score of a known law.

On a synthetic data set whose population law is known (:attr:`ledkde_fast.datasets.Dataset.truth`),
for a sweep of bandwidths h:

* bias^2, variance and mean squared error of the smoothed score against the true score, over
  training sets redrawn from the law (:func:`ledkde_fast.analysis.bias_variance`), integrated over
  the sampler's times (1/2 int ... dt, the weighting of the KL bound);
* the Girsanov bound on KL(p_t_min || law of the samples) for one training set
  (:func:`ledkde_fast.analysis.kl_bound`);
* the samples of the reverse SDE scored against fresh draws of the law
  (:func:`ledkde_fast.analysis.fidelity`: MMD, precision and recall, memorised fraction);
* the bandwidth chosen on held-out folds by denoising score matching
  (:func:`ledkde_fast.analysis.select_bandwidth`), and how it moves with N;
* "smoothing = more data": the N' at which the exact score (h = 0) with N' points matches the
  KL bound of the selected h with N points, next to the ``n_eff`` prediction;
* the variance of the empirical denoiser against t for spheres of dimension k = 1, 2, 3 (the
  small-t law t^(1 - k/2)), and the spatial correlation of its noise against t.

The paper's abstract states that smoothing trades bias for variance, that regularising the score
acts like more training data, that the empirical score's noise covariance is a re-weighted data
PCA, and that in large dimension the small-time limit makes its variance blow up while its
spatial correlation falls (the experiment measures this at k = 1, 2, 3 only). The sizes,
grids, bandwidth ranges and summaries here, and the laws ``t^(1 - k/2)`` and ``n_eff``, are this
library's choices and derivations. Results: ``report.json`` and figures (PNG, PDF or SVG) in the
output folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Optional, Sequence, Union

import numpy as np

from .. import analysis, datasets
from .._backends import BackendName
from .._population import trapezoid_weights
from .._score_matching import median_spacing
from .._validation import as_choice, as_int
from ..empirical import empirical_denoiser
from ..sampler import default_t_max, default_t_min, sample, time_grid
from ._progress import Progress
from .memorization import FIGURE_FORMATS, prepare_out_dir

#: Names of the data sets of the experiment.
BiasVarianceDataset = Literal["circle", "sphere", "subspace", "gmm"]


@dataclass(frozen=True)
class Family:
    """A synthetic data set of the experiment: its generator, default N, the N sweep and its dimension k."""

    make: Callable[[int, int], datasets.Dataset]
    n_data: int
    n_sweep: tuple[int, ...]
    k: int


#: The data sets and their defaults (our choices: small enough that h = 0 memorises visibly).
FAMILIES: dict[str, Family] = {
    "circle": Family(lambda n, seed: datasets.circle(n, seed=seed), 40, (20, 40, 80, 160), 1),
    "sphere": Family(lambda n, seed: datasets.sphere(n, 2, seed=seed), 100, (50, 100, 200), 2),
    "subspace": Family(lambda n, seed: datasets.subspace(n, 2, ambient_dim=3, seed=seed), 100, (50, 100, 200), 2),
    "gmm": Family(lambda n, seed: datasets.gaussian_mixture(n, means=[[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]], stds=0.3,
                                                            seed=seed), 100, (50, 100, 200), 2),
}

#: What the report's results rest on: the paper's abstract, standard results, or this library.
SOURCES = {
    "paper's abstract": "kernel smoothing of the empirical score trades bias for variance; regularising the score "
                        "has the same effect as a larger training set; the empirical score's noise covariance is "
                        "asymptotically a re-weighted data PCA; in large dimension the small-time limit makes its "
                        "variance blow up while reducing its spatial correlation; asymptotic KL bounds between "
                        "the true and generated laws",
    "standard results": "the Girsanov bound on the KL divergence of a reverse SDE; denoising score matching "
                        "(Vincent 2011); k-NN precision and recall (Kynkaanniemi et al. 2019); MMD",
    "this library": "the data sets and sizes, bandwidth grids, time grids, the leave-one-out selection, the "
                    "summaries (1/2 int ... dt), the laws t^(1 - k/2) and n_eff = N (1 + h^2/t)^(k/2 + 1)",
}

#: Bandwidths of the sweep as multiples of the training set's median nearest-neighbour distance.
RELATIVE_BANDWIDTHS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
#: Training-set size factors of the "more data" comparison (h = 0 with N x factor points).
MORE_DATA_FACTORS = (1, 2, 4, 8, 16, 32)


@dataclass(frozen=True)
class Settings:
    """Sizes of one run (the defaults make a run of a few minutes on two cores)."""

    n_data: int
    n_sweep: tuple[int, ...]
    n_datasets: int = 16
    n_eval: int = 256
    n_kernel: int = 256
    n_times: int = 8
    n_samples: int = 500
    n_reference: int = 2000
    n_steps: int = 100
    seed: int = 0
    backend: BackendName = "auto"
    progress: bool = True
    figure_format: str = "png"
    dpi: int = 150


def _half_integral(values: np.ndarray, times: np.ndarray) -> float:
    """1/2 int values dt by the trapezoid rule on increasing times (the weighting of the KL bound)."""
    return 0.5 * float(trapezoid_weights(times) @ values)


def _fidelity_row(data: np.ndarray, h: float, truth: Any, reference: np.ndarray, dataset: datasets.Dataset,
                  st: Settings, t_max: float, t_min: float, seed: int, mmd_bandwidth: float) -> dict[str, Any]:
    """Sample with bandwidth h from ``data`` and score the samples against draws of the truth.

    The MMD's Gaussian kernel has the scale of the training points' spacing (our choice): the median
    heuristic's scale, the size of the whole data set, cannot tell memorised samples from new ones.
    """
    samples = sample(data, st.n_samples, bandwidth=h, n_kernel=st.n_kernel, t_max=t_max, t_min=t_min,
                     n_steps=st.n_steps, seed=seed, backend=st.backend)
    fid = analysis.fidelity(samples, reference, data=data, truth_or_dataset=dataset, mmd_bandwidth=mmd_bandwidth,
                            backend=st.backend)
    mem = fid["memorization"] or {}
    return {"mmd": fid["mmd"], "energy_distance": fid["energy_distance"], "precision": fid["precision"],
            "recall": fid["recall"], "distance_to_manifold": fid["distance_to_manifold"],
            "memorized": mem.get("fraction_memorized_ratio"), "samples": samples}


# ----------------------------------------------------------------------------- the parts
def bandwidth_sweep(dataset: datasets.Dataset, fam: Family, st: Settings,
                    progress: Optional[Progress] = None) -> dict[str, Any]:
    """bias^2 / variance / MSE, the KL bound and sample fidelity at each bandwidth; the DSM-selected h.

    ``progress`` reports the phases (None: silent).
    """
    progress = progress or Progress(False, "")
    truth, data = dataset.truth, dataset.points
    spacing = median_spacing(data)
    t_max, t_min = default_t_max(data), default_t_min(data)
    progress.phase("selecting the bandwidth by denoising score matching")
    selection = analysis.select_bandwidth(data, n_kernel=st.n_kernel, seed=st.seed, backend=st.backend)
    h_dsm = float(selection["bandwidth"])
    hs = sorted(set([round(r * spacing, 6) for r in RELATIVE_BANDWIDTHS] + [h_dsm]))
    times = np.geomspace(t_min, t_max, st.n_times)
    progress.phase(f"bias and variance over {st.n_datasets} training sets, {len(hs)} bandwidths")
    bv = analysis.bias_variance(truth, data.shape[0], times, hs, n_datasets=st.n_datasets, n_eval=st.n_eval,
                                n_kernel=st.n_kernel, seed=st.seed, backend=st.backend)
    reference = truth.sample(st.n_reference, seed=st.seed + 1)
    rows, samples = [], {}
    for i in progress.steps(range(len(hs)), "KL bound and samples by bandwidth"):
        h = hs[i]
        kl = analysis.kl_bound(truth, data, h, t_max=t_max, t_min=t_min, n_steps=st.n_steps, n_eval=st.n_eval,
                               n_kernel=st.n_kernel, seed=st.seed, backend=st.backend)
        row: dict[str, Any] = {"bandwidth": h, "selected": h == h_dsm,
                               "kl_bound": kl["total"], "kl_bound_se": kl["total_se"]}
        for key in ("bias2", "variance", "mse"):
            per_t = np.asarray(bv[key][i])
            se_t = np.asarray(bv[f"{key}_se"][i])
            row[key] = _half_integral(per_t, times)
            row[f"{key}_se"] = _half_integral(se_t, times)  # a bound: the per-time errors are correlated
        fid = _fidelity_row(data, h, truth, reference, dataset, st, t_max, t_min, st.seed + i, spacing)
        samples[h] = fid.pop("samples")
        row.update(fid)
        rows.append(row)
    return {"spacing": spacing, "t_max": t_max, "t_min": t_min, "t": times.tolist(), "bandwidth_selected": h_dsm,
            "selection": {k: v for k, v in selection.items() if k != "table"},
            "selection_table": [{k: r[k] for k in ("bandwidth", "loss", "se")} for r in selection["table"]],
            "rows": rows, "per_time": {k: bv[k] for k in ("bias2", "variance", "mse")}, "samples": samples,
            "reference": reference}


def best_bandwidth_versus_n(fam: Family, st: Settings, progress: Optional[Progress] = None) -> dict[str, Any]:
    """The DSM-selected bandwidth for training sets of each size of the N sweep, and the log-log slope."""
    progress = progress or Progress(False, "")
    best = []
    for j, n in enumerate(st.n_sweep):
        progress.phase(f"n-data sweep {j + 1}/{len(st.n_sweep)}: selecting h for N = {n}")
        data = fam.make(n, st.seed + 17 * n).points
        best.append(float(analysis.select_bandwidth(data, n_kernel=st.n_kernel, seed=st.seed,
                                                    backend=st.backend)["bandwidth"]))
    ns, hs = np.asarray(st.n_sweep, dtype=float), np.asarray(best)
    keep = hs > 0
    slope = float(np.polyfit(np.log(ns[keep]), np.log(hs[keep]), 1)[0]) if keep.sum() >= 2 else None
    return {"n": list(st.n_sweep), "bandwidth": best, "slope": slope}


def more_data(fam: Family, sweep: dict[str, Any], st: Settings, progress: Optional[Progress] = None) -> dict[str, Any]:
    """The N' at which the exact score with N' points matches the KL bound of the selected h with N points.

    The comparison is on the Girsanov bound (a KL bound, the kind of quantity the abstract bounds; the
    bound itself is a standard result, not the paper's); the
    samples' MMD to the truth is reported beside it.
    """
    progress = progress or Progress(False, "")
    selected = next(r for r in sweep["rows"] if r["selected"])
    n = st.n_data
    rows = []
    for factor in MORE_DATA_FACTORS:
        if factor > 1:
            progress.phase(f"more data: the exact score with N' = {n * factor}")
        if factor == 1:  # the training set of the sweep itself, at h = 0
            row = sweep["rows"][0]
            rows.append({"n": n, "kl_bound": row["kl_bound"], "kl_bound_se": row["kl_bound_se"], "mmd": row["mmd"]})
            continue
        ds = fam.make(n * factor, st.seed + 1000 + factor)
        kl = analysis.kl_bound(ds.truth, ds.points, 0.0, t_max=sweep["t_max"], t_min=sweep["t_min"],
                               n_steps=st.n_steps, n_eval=st.n_eval, n_kernel=st.n_kernel, seed=st.seed,
                               backend=st.backend)
        fid = _fidelity_row(ds.points, 0.0, ds.truth, sweep["reference"], ds, st, sweep["t_max"], sweep["t_min"],
                            st.seed, sweep["spacing"])
        rows.append({"n": n * factor, "kl_bound": kl["total"], "kl_bound_se": kl["total_se"], "mmd": fid["mmd"]})
    matched = next((r["n"] for r in rows if r["kl_bound"] <= selected["kl_bound"]), None)
    h = sweep["bandwidth_selected"]
    # n_eff depends on t; at t = h^2 the two kernels have the same scale, at t_min smoothing dominates
    predicted = {"t=h^2": float(analysis.n_eff(n, h * h, h, fam.k)) if h > 0 else float(n),
                 "t=t_min": float(analysis.n_eff(n, sweep["t_min"], h, fam.k))}
    return {"n": n, "bandwidth": h, "kl_bound_selected": selected["kl_bound"], "mmd_selected": selected["mmd"],
            "exact": rows, "n_matched": matched, "n_eff_predicted": predicted}


#: Points on S^k for the variance law: the law needs many points within sqrt(t) while the sphere
#: is still flat at that scale (sqrt(t) <= 0.3), which takes more points as k grows.
VARIANCE_LAW_POINTS = {1: 400, 2: 4000, 3: 40000}


def variance_law(st: Settings, n_queries: int = 16, n_datasets: int = 24, n_times: int = 8,
                 progress: Optional[Progress] = None) -> dict[str, Any]:
    """Variance of the empirical denoiser across training sets against t, for spheres S^k, k = 1, 2, 3.

    The law t^(1 - k/2) (ours) holds while many points lie within sqrt(t) and the sphere is flat at
    that scale: t up to 0.1 (radius 1), from the time at which a ball of radius sqrt(t) holds about
    30 points (30^(2/k) squared spacings), or from 0.01 where that is later (k = 3: about 15 points).
    """
    progress = progress or Progress(False, "")
    out: dict[str, Any] = {}
    for k, n_points in VARIANCE_LAW_POINTS.items():
        progress.phase(f"variance law on the sphere S^{k}: {n_datasets} sets of {n_points} points")

        def make(n: int, seed: int, k: int = k) -> datasets.Dataset:
            return datasets.sphere(n, k, seed=seed)

        queries = make(n_queries, st.seed + 7).points
        spacing = median_spacing(make(n_points, st.seed).points)
        times = np.geomspace(min(30 ** (2 / k) * spacing**2, 0.01), 0.1, n_times)
        den = np.stack([np.stack([empirical_denoiser(queries, make(n_points, st.seed + 100 + r).points, t,
                                                     backend=st.backend) for t in times])
                        for r in range(n_datasets)])  # (datasets, times, queries, D)
        var = den.var(axis=0, ddof=1).sum(axis=-1).mean(axis=-1)
        slope = float(np.polyfit(np.log(times), np.log(var), 1)[0])
        out[str(k)] = {"n_points": n_points, "t": times.tolist(), "variance": var.tolist(), "slope": slope,
                       "predicted": 1 - k / 2}
    return out


def noise_correlation(fam: Family, st: Settings, n_pairs: int = 64, n_datasets: int = 24,
                      n_times: int = 8) -> dict[str, Any]:
    """Correlation of the empirical denoiser's noise xi_D(x) = m_t(x; D) - E_D m_t(x) at two points a
    fixed distance apart (a tenth of the data's spread), against t.
    """
    probe = fam.make(st.n_data, st.seed)
    spread = float(np.sqrt(np.mean(np.sum((probe.points - probe.points.mean(axis=0)) ** 2, axis=1))))
    rng = np.random.default_rng(st.seed + 3)
    x = probe.truth.sample(n_pairs, seed=st.seed + 5)
    direction = rng.standard_normal(x.shape)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    delta = 0.1 * spread
    y = x + delta * direction
    times = time_grid(default_t_max(probe.points), default_t_min(probe.points), n_times - 1, "geometric")[::-1]
    training_sets = [fam.make(st.n_data, st.seed + 200 + r).points for r in range(n_datasets)]
    corr = []
    for t in times:
        mx = np.stack([empirical_denoiser(x, data, t, backend=st.backend) for data in training_sets])
        my = np.stack([empirical_denoiser(y, data, t, backend=st.backend) for data in training_sets])
        ex, ey = mx - mx.mean(axis=0), my - my.mean(axis=0)
        num = np.sum(ex * ey, axis=(0, 2))
        den = np.sqrt(np.sum(ex * ex, axis=(0, 2)) * np.sum(ey * ey, axis=(0, 2)))
        corr.append(float(np.mean(num / np.where(den > 0, den, np.inf))))
    return {"t": times.tolist(), "correlation": corr, "distance": delta}


# ----------------------------------------------------------------------------- entry point
def bias_variance_experiment(dataset: BiasVarianceDataset = "circle",
                             out_dir: Union[str, os.PathLike[str]] = "ledkde-results", *,
                             n_data: Optional[int] = None, n_sweep: Optional[Sequence[int]] = None,
                             n_datasets: int = 16, n_eval: int = 256, n_kernel: int = 256, n_samples: int = 500,
                             n_steps: int = 100, seed: int = 0, theory: bool = True, backend: BackendName = "auto",
                             progress: bool = True, figures: bool = True, figure_format: str = "png",
                             dpi: int = 150) -> dict[str, Any]:
    """Run the bias-variance experiment on a synthetic data set with a known law.

    Parameters
    ----------
    dataset : {"circle", "sphere", "subspace", "gmm"}
        40 uniform points on the unit circle; 100 on the 2-sphere; 100 uniform in a square in a plane
        of R^3; or 100 from a mixture of three Gaussians in R^2 (:data:`FAMILIES`). The bandwidth
        selection costs O(N^2) per candidate, which sets these sizes (a few minutes a run).
    out_dir : str or os.PathLike
        Output folder, created if needed.
    n_data : int, optional
        Training points (default: the data set's).
    n_sweep : sequence of int, optional
        Training-set sizes of the best-bandwidth-versus-N part (default: the data set's).
    n_datasets, n_eval, n_kernel : int
        Training sets redrawn for bias and variance, evaluation points per time, kernel draws.
    n_samples, n_steps : int
        Samples per bandwidth and sampler steps.
    seed : int
        Seed of everything.
    theory : bool
        Also measure the variance law for k = 1, 2, 3 and the noise correlation against t.
    backend : {"auto", "cpp", "numba", "reference"}
        Compute backend.
    progress : bool
        Report each phase on stderr (one line each) and the bandwidth loop (a tqdm bar where tqdm
        is installed, else a line per bandwidth).
    figures : bool
        Write the figures (needs matplotlib): ``bias_variance``, ``best_bandwidth_vs_n``,
        ``more_data``, ``bias_variance_samples`` (2-D data) and ``bias_variance_theory``.
    figure_format : {"png", "pdf", "svg"}
        Format of every figure.
    dpi : int
        Resolution of PNG figures (and of the rasterised parts of the others), >= 1.

    Returns
    -------
    dict
        JSON-serialisable: the settings, ``sweep`` (one row per bandwidth: bias2, variance, mse and
        their standard errors, kl_bound and its standard error, mmd, energy distance, precision,
        recall, distance to the manifold, memorised fraction), ``bandwidth_selected``,
        ``selection_table``, ``best_bandwidth_versus_n``, ``more_data``, ``variance_law`` and
        ``noise_correlation`` (with ``theory``), ``figures``.

    Raises
    ------
    TypeError
        For an option of the wrong kind.
    ValueError
        For a bad option value (unknown data set, sizes < 2, unknown ``figure_format``, ``dpi`` < 1).
    OSError
        When ``out_dir`` cannot be created or written to (checked before any work).

    Examples
    --------
    >>> import tempfile
    >>> from ledkde_fast.experiments import bias_variance_experiment
    >>> with tempfile.TemporaryDirectory() as out:
    ...     report = bias_variance_experiment("circle", out, n_data=20, n_sweep=[20, 40], n_datasets=3,
    ...                                       n_eval=16, n_kernel=8, n_samples=30, n_steps=5, theory=False,
    ...                                       figures=False, progress=False)
    >>> report["sweep"][0]["bandwidth"], report["n_data"]
    (0.0, 20)
    """
    fam = FAMILIES[as_choice(dataset, "dataset", tuple(FAMILIES))]
    st = Settings(n_data=as_int(fam.n_data if n_data is None else n_data, "n_data", 2),
                  n_sweep=tuple(as_int(n, "n_sweep", 2) for n in (fam.n_sweep if n_sweep is None else n_sweep)),
                  n_datasets=as_int(n_datasets, "n_datasets", 2), n_eval=as_int(n_eval, "n_eval", 2),
                  n_kernel=as_int(n_kernel, "n_kernel", 2), n_samples=as_int(n_samples, "n_samples", 2),
                  n_steps=as_int(n_steps, "n_steps", 1), seed=as_int(seed, "seed", 0), backend=backend,
                  progress=bool(progress), figure_format=as_choice(figure_format, "figure_format", FIGURE_FORMATS),
                  dpi=as_int(dpi, "dpi", 1))
    out = prepare_out_dir(out_dir)
    steps = Progress(st.progress, "bias-variance")
    ds = fam.make(st.n_data, st.seed)
    sweep = bandwidth_sweep(ds, fam, st, steps)
    samples, reference = sweep.pop("samples"), sweep.pop("reference")
    report: dict[str, Any] = {"experiment": "bias-variance", "dataset": dataset, "n_data": st.n_data,
                              "dimension": int(ds.points.shape[1]), "intrinsic_dim": fam.k,
                              "n_datasets": st.n_datasets, "n_eval": st.n_eval, "n_kernel": st.n_kernel,
                              "n_samples": st.n_samples, "n_steps": st.n_steps, "seed": st.seed,
                              "sources": SOURCES,
                              "sweep": sweep.pop("rows"), **sweep}
    report["best_bandwidth_versus_n"] = best_bandwidth_versus_n(fam, st, steps)
    sweep["reference"] = reference
    report["more_data"] = more_data(fam, {**sweep, "rows": report["sweep"]}, st, steps)
    if theory:
        report["variance_law"] = variance_law(st, progress=steps)
        steps.phase("noise correlation against t")
        report["noise_correlation"] = noise_correlation(fam, st)
    files: list[Path] = []
    if figures:
        from . import bias_variance_figures

        steps.phase(f"writing the figures ({st.figure_format})")
        files = bias_variance_figures.write_all(out, report, ds, samples, reference, fmt=st.figure_format,
                                                dpi=st.dpi)
    report["figures"] = [str(f) for f in files]
    (out / "report.json").write_text(json.dumps(report, indent=2))
    steps.done()
    return report
