"""The memorisation experiment: exact score memorises, smoothing generalises, too much smoothing blurs.

Kernel smoothing of the score generalises *along* the data; too much of it blurs the samples.

For each bandwidth of a sweep, samples are drawn by reverse diffusion with the smoothed score and
compared with the training set (memorised fraction, distance to the data manifold, diversity). A
theory check measures the empirical denoiser's variance across resampled data sets against the
small-t law t^(1 - k/2), and the smoothed one against the effective-sample-size prediction
var / (1 + h^2/t)^(k/2 + 1). Each sweep also measures a baseline: the same statistics for points
drawn from the data's law (held-out images for MNIST), i.e. what a sampler that generalises
perfectly would score. Results: ``report.json`` and figures (PNG, PDF or SVG) in the output folder.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Optional, Sequence, Union

import numpy as np

from .. import analysis, datasets
from .._backends import BackendName
from .._validation import as_bandwidth, as_choice, as_int
from ..empirical import empirical_denoiser
from ..sampler import default_t_max, default_t_min, sample
from ..smoothed import smoothed_denoiser
from ._progress import Progress


@dataclass(frozen=True)
class DatasetSpec:
    """Defaults of the sweep for one data set."""

    n_data: int
    bandwidths: tuple[float, ...]
    n_samples: int
    n_steps: int
    t_max: Optional[float]
    t_min: Optional[float]
    distance_threshold: Optional[float]
    intrinsic_dim: Optional[int]
    theory_bandwidth: float = 0.1
    n_data_sweep: tuple[int, ...] = ()


#: Names of the data sets of the experiment.
DatasetName = Literal["circle", "sphere", "mnist"]

#: Formats the figures can be written in (matplotlib's savefig formats).
FIGURE_FORMATS: tuple[str, ...] = ("png", "pdf", "svg")
#: Points drawn from the law for the memorised-fraction baseline (at least; its Monte-Carlo
#: standard error is then below 1.2 percentage points).
BASELINE_DRAWS = 2000

#: The defaults of the sweep, by data set.
DATASETS: dict[str, DatasetSpec] = {
    "circle": DatasetSpec(40, (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4), 300, 200, 9.0, 1e-4, 0.03, 1,
                          n_data_sweep=(20, 80)),
    "sphere": DatasetSpec(200, (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4), 300, 200, 9.0, 1e-4, 0.03, 2,
                          n_data_sweep=(100, 400)),
    "mnist": DatasetSpec(200, (0.0, 0.5, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 2.0, 3.0), 64, 100, None, None, None, None),
}


@dataclass
class Config:
    """Options of one run of the experiment (the keyword options of :func:`memorization_experiment`).

    None means the data set's default (:data:`DATASETS`); ``__post_init__`` fills them in and checks
    ``dataset``, ``n_data``, ``n_data_sweep`` and ``bandwidths``.
    """

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
    backend: BackendName = "auto"
    progress: bool = True
    figures: bool = True
    figure_format: str = "png"
    dpi: int = 150
    spec: DatasetSpec = field(init=False)

    def __post_init__(self) -> None:
        """Fill in the data set's defaults and check the options."""
        self.spec = DATASETS[as_choice(self.dataset, "dataset", tuple(sorted(DATASETS)))]
        self.n_data = self.spec.n_data if self.n_data is None else as_int(self.n_data, "n_data", 2)
        sweep_n = self.spec.n_data_sweep if self.n_data_sweep is None else self.n_data_sweep
        self.n_data_sweep = tuple(as_int(n, "n_data_sweep", 2) for n in sweep_n)
        bandwidths = self.spec.bandwidths if self.bandwidths is None else self.bandwidths
        self.bandwidths = tuple(as_bandwidth(b, "bandwidths") for b in bandwidths)
        self.n_samples = self.spec.n_samples if self.n_samples is None else int(self.n_samples)
        self.n_steps = self.spec.n_steps if self.n_steps is None else int(self.n_steps)
        self.t_max = self.spec.t_max if self.t_max is None else float(self.t_max)
        self.t_min = self.spec.t_min if self.t_min is None else float(self.t_min)
        self.figure_format = as_choice(self.figure_format, "figure_format", FIGURE_FORMATS)
        self.dpi = as_int(self.dpi, "dpi", 1)


# ----------------------------------------------------------------------------- data
def _generator(dataset: str) -> Optional[Callable[[int, int], datasets.Dataset]]:
    """Return a function (n, seed) -> Dataset drawing fresh points of the data set's law (None for MNIST)."""
    if dataset == "circle":
        return lambda n, seed: datasets.circle(n, seed=seed)
    if dataset == "sphere":
        return lambda n, seed: datasets.sphere(n, 2, seed=seed)
    return None


def load_data(cfg: Config) -> tuple[np.ndarray, np.ndarray, datasets.Dataset]:
    """Return the training set, a held-out set of the same law, and the Dataset for geometry queries."""
    n_data = cfg.n_data
    assert n_data is not None  # filled in by Config.__post_init__
    gen = _generator(cfg.dataset)
    if gen is not None:
        # the circle's training points are equally spaced (our choice: every gap is the same, so memorisation
        # and its onset do not depend on where random points happened to cluster)
        train_set = datasets.circle(n_data, uniform_grid=True) if cfg.dataset == "circle" else gen(n_data, cfg.seed)
        held_set = gen(n_data, cfg.seed + 1000)
        return train_set.points, held_set.points, train_set
    mnist = datasets.load_mnist(cfg.data_dir, digits=cfg.digit)
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(mnist.points.shape[0])
    if order.size < n_data + 1:
        raise ValueError(f"only {order.size} images of digit {cfg.digit} available, n_data={n_data}")
    train = mnist.points[order[:n_data]]
    held = mnist.points[order[n_data: 2 * n_data]]
    return train, held, mnist


# ----------------------------------------------------------------------------- baseline
def law_baseline(cfg: Config, train: np.ndarray, held: np.ndarray, data_diversity: float) -> dict[str, Any]:
    """The sweep's statistics for points of the data's law instead of samples: what perfect generalisation scores.

    Synthetic data: fresh draws from the law (at least :data:`BASELINE_DRAWS` of them for the memorised
    fractions; the first ``n_samples`` for diversity and coverage, which depend on the count). MNIST:
    the held-out images. A memorised fraction near this baseline means samples no closer to the
    training points than new data are; coverage near it is the most the samples can cover.
    """
    n_samples = cfg.n_samples
    assert n_samples is not None  # set by Config.__post_init__
    gen = _generator(cfg.dataset)
    if gen is not None:
        draws = gen(max(n_samples, BASELINE_DRAWS), cfg.seed + 2000).points
        source = "draws from the law"
    else:
        draws, source = held, "held-out images"
    mem = analysis.memorization_report(draws, train, distance_threshold=cfg.spec.distance_threshold,
                                       backend=cfg.backend)
    div = analysis.diversity(draws[:n_samples], train, backend=cfg.backend)
    spread = div["mean_pairwise_distance"]
    return {
        "source": source,
        "n_points": int(draws.shape[0]),
        "n_points_diversity": int(min(n_samples, draws.shape[0])),
        "fraction_memorized_ratio": mem["fraction_memorized_ratio"],
        "fraction_memorized_distance": mem["fraction_memorized_distance"],
        "relative_diversity": None if spread is None else spread / data_diversity,
        "coverage": div["coverage"],
        # n samples cannot cover more than n of the N training points
        "coverage_ceiling": min(1.0, n_samples / train.shape[0]),
    }


# ----------------------------------------------------------------------------- sweep
def run_sweep(cfg: Config, train: np.ndarray, held: np.ndarray, geometry: datasets.Dataset,
              progress: Optional[Progress] = None) -> tuple[dict[str, Any], dict[float, np.ndarray]]:
    """Sample at every bandwidth of the sweep and measure memorisation, diversity and geometry.

    Returns the report's sweep part (times, one row per bandwidth and the law's ``baseline``) and
    the samples by bandwidth. ``progress`` shows the loop (None: silent).
    """
    bandwidths, n_samples, n_steps = cfg.bandwidths, cfg.n_samples, cfg.n_steps
    assert bandwidths is not None and n_samples is not None and n_steps is not None  # set by Config.__post_init__
    t_max = default_t_max(train) if cfg.t_max is None else cfg.t_max
    t_min = default_t_min(train) if cfg.t_min is None else cfg.t_min
    data_diversity = analysis.diversity(train)["mean_pairwise_distance"]
    rows: list[dict[str, Any]] = []
    all_samples: dict[float, np.ndarray] = {}
    steps = range(len(bandwidths))
    for i in (steps if progress is None else progress.steps(steps, f"bandwidth sweep, N = {train.shape[0]}")):
        h = bandwidths[i]
        start = time.perf_counter()
        s = sample(train, n_samples, bandwidth=h, n_kernel=cfg.n_kernel, t_max=t_max, t_min=t_min,
                   n_steps=n_steps, seed=cfg.seed + i, backend=cfg.backend)
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
    baseline = law_baseline(cfg, train, held, data_diversity)
    return ({"t_max": t_max, "t_min": t_min, "data_mean_pairwise_distance": data_diversity, "sweep": rows,
             "baseline": baseline}, all_samples)


# ----------------------------------------------------------------------------- theory check
def theory_check(cfg: Config, n_points: int = 400, n_datasets: int = 30, n_queries: int = 16,
                 n_times: int = 12) -> dict[str, Any]:
    """Measure the variance of the empirical and smoothed denoisers across resampled data sets, against t."""
    gen = _generator(cfg.dataset)
    k = cfg.spec.intrinsic_dim
    if gen is None or k is None:
        raise ValueError(f"the theory check needs a synthetic data set (circle or sphere), not {cfg.dataset!r}")
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
        "n_eff": np.asarray(analysis.n_eff(n_points, times, h, k)).tolist(),
    }


# ----------------------------------------------------------------------------- entry point
def memorization_experiment(dataset: DatasetName = "circle", out_dir: Union[str, os.PathLike[str]] = "ledkde-results",
                            **options: Any) -> dict[str, Any]:
    """Run the memorisation experiment: a bandwidth sweep, and the theory check for synthetic data.

    For each bandwidth, samples are drawn by reverse diffusion with the smoothed score and compared
    with the training set; the sweep is repeated at the other training-set sizes of
    ``n_data_sweep``. Each sweep also scores points of the data's law (its ``baseline``).
    ``report.json`` and the figures are written to ``out_dir``: ``memorization_sweep`` (memorised
    fractions with Wilson 95 % intervals and the law's baseline; diversity and coverage; distance
    to the manifold), ``samples`` (or ``samples_vs_nearest`` for MNIST) and ``theory_variance``.

    Parameters
    ----------
    dataset : {"circle", "sphere", "mnist"}
        The data set: 40 equally spaced points on the unit circle, 200 uniform points on the
        2-sphere, or 200 MNIST images of one digit (by default; see ``n_data``).
    out_dir : str or os.PathLike
        Output folder, created if needed.
    **options
        Any of: ``n_data`` (int >= 2, training points), ``n_data_sweep`` (ints >= 2, other
        training-set sizes), ``bandwidths`` (floats >= 0), ``n_samples``, ``n_steps``,
        ``n_kernel`` (int, default 1024), ``t_max``, ``t_min`` (floats; default the data set's, or
        :func:`ledkde_fast.sampler.default_t_max` / :func:`~ledkde_fast.sampler.default_t_min`),
        ``digit`` (int, MNIST only, default 3), ``data_dir`` (MNIST folder, see
        :func:`ledkde_fast.datasets.load_mnist`), ``seed`` (int, default 0), ``theory`` (bool,
        default True), ``backend`` (default "auto"), ``progress`` (bool, default True: a line per
        phase on stderr and a bar, or lines, for the loops), ``figures`` (bool, default True: needs
        matplotlib), ``figure_format`` (``"png"``, ``"pdf"`` or ``"svg"``, default ``"png"``) and
        ``dpi`` (int >= 1, default 150: the resolution of PNG figures and of the rasterised parts of
        the others). None (or absent) means the data set's default (:data:`DATASETS`).

    Returns
    -------
    dict
        JSON-serialisable: the run's settings (``experiment``, ``dataset``, ``n_data``,
        ``dimension``, ``n_samples``, ``n_steps``, ``n_kernel``, ``distance_threshold``, ``seed``,
        ``digit``), ``t_max``,
        ``t_min``, ``data_mean_pairwise_distance``, ``sweep`` (one dict per bandwidth: memorised
        fractions, nearest-neighbour distance, diversity, coverage, and for synthetic data the
        distance to the manifold), ``baseline`` (the same statistics for points of the law:
        ``source``, ``n_points``, memorised fractions, ``relative_diversity``, ``coverage``, and
        ``coverage_ceiling`` = min(1, n_samples / N)),
        ``n_data_sweep`` (the sweep rows by training-set size) and ``n_data_sweep_baseline`` (their
        baselines), ``theory`` (synthetic data with ``theory=True`` only) and ``figures`` (the paths
        of the figure files).

    Raises
    ------
    TypeError
        For an unknown option, or an option of the wrong kind.
    ValueError
        For a bad option value (unknown data set, n_data < 2, negative bandwidth, unknown
        ``figure_format``, ``dpi`` < 1, ...).
    FileNotFoundError
        For MNIST when the images cannot be found (see :func:`ledkde_fast.datasets.load_mnist`).
    OSError
        When ``out_dir`` cannot be created or written to (checked before any work).
    ImportError
        For figures without matplotlib.

    Examples
    --------
    >>> import tempfile
    >>> from ledkde_fast.experiments import memorization_experiment
    >>> with tempfile.TemporaryDirectory() as out:
    ...     report = memorization_experiment("circle", out, bandwidths=[0.0, 0.3], n_samples=20, n_steps=10,
    ...                                      n_kernel=8, n_data_sweep=[], theory=False, figures=False,
    ...                                      progress=False)
    >>> [row["bandwidth"] for row in report["sweep"]]
    [0.0, 0.3]
    >>> report["n_data"], report["dimension"]
    (40, 2)
    """
    cfg = Config(dataset=dataset, out_dir=str(out_dir), **options)
    out = prepare_out_dir(cfg.out_dir)
    progress = Progress(cfg.progress, "memorization")
    progress.phase(f"loading the {cfg.dataset} data")
    train, held, geometry = load_data(cfg)
    report: dict[str, Any] = {
        "experiment": "memorization",
        "dataset": cfg.dataset,
        "n_data": int(train.shape[0]),
        "dimension": int(train.shape[1]),
        "n_samples": cfg.n_samples,
        "n_steps": cfg.n_steps,
        "n_kernel": cfg.n_kernel,
        "distance_threshold": cfg.spec.distance_threshold,
        "seed": cfg.seed,
        "digit": cfg.digit if cfg.dataset == "mnist" else None,
    }
    sweep, samples = run_sweep(cfg, train, held, geometry, progress)
    report.update(sweep)
    # the same bandwidth sweep at other training-set sizes: memorisation depends on N through t* ~ N^(-2/k)
    other_sizes: dict[str, list[dict[str, Any]]] = {}
    other_baselines: dict[str, dict[str, Any]] = {}
    report["n_data_sweep"] = other_sizes
    report["n_data_sweep_baseline"] = other_baselines
    sizes = cfg.n_data_sweep or ()
    for j, n in enumerate(sizes):
        progress.phase(f"n-data sweep {j + 1}/{len(sizes)}: N = {n}, {len(cfg.bandwidths or ())} bandwidths")
        sub = dataclasses.replace(cfg, n_data=n, n_data_sweep=())
        part = run_sweep(sub, *load_data(sub), progress)[0]
        other_sizes[str(n)] = part["sweep"]
        other_baselines[str(n)] = part["baseline"]
    if cfg.theory and cfg.spec.intrinsic_dim is not None:
        progress.phase("theory check: the denoisers' variance across 30 resampled data sets")
        report["theory"] = theory_check(cfg)
    files = []
    if cfg.figures:
        from . import figures

        progress.phase(f"writing the figures ({cfg.figure_format})")
        files = figures.write_all(out, cfg, report, train, samples)
    report["figures"] = [str(f) for f in files]
    (out / "report.json").write_text(json.dumps(report, indent=2))
    progress.done()
    return report


def prepare_out_dir(out_dir: Union[str, os.PathLike[str]]) -> Path:
    """Create the output folder if needed and check that it can be written to, before any work.

    Parameters
    ----------
    out_dir : str or os.PathLike
        The folder.

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    OSError
        If it cannot be created (e.g. a file is in the way) or is not writable.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from ledkde_fast.experiments.memorization import prepare_out_dir
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     prepare_out_dir(Path(tmp) / "a" / "b").is_dir()
    True
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "output folder is a file", str(out))
    out.mkdir(parents=True, exist_ok=True)
    # fail now rather than after minutes of sampling, when report.json is written
    if not os.access(out, os.W_OK):
        raise PermissionError(errno.EACCES, "output folder is not writable", str(out))
    return out
