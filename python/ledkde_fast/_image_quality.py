"""Quality and novelty of generated samples without a neural network (the generalisation study's metrics).

* :func:`training_spacing` and :func:`novelty`: the distance from a sample to its nearest training
  point, in units of the training set's own nearest-neighbour spacing (0 for a copy; points of the
  law score about 1);
* :class:`PCASpace` and :func:`pca_quality`: k-NN precision/recall and MMD against held-out real
  points, in a PCA space fitted on those held-out points;
* :func:`fit_classifier` and :func:`classifier_scores`: accuracy and confidence of a scikit-learn
  classifier (PCA then an RBF support-vector machine, calibrated) trained on labelled points outside
  the training set. scikit-learn is optional (``pip install "ledkde_fast[experiments]"``) and is
  imported only here, when called.

These definitions (the spacing as a median, the PCA space, the classifier) are ours, not the paper's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
from numpy.typing import ArrayLike

from ._validation import as_int, as_points

__all__ = ["training_spacing", "novelty", "PCASpace", "pca_quality", "fit_classifier", "classifier_scores",
           "require_sklearn"]

#: The extra that installs scikit-learn for the classifier metrics.
SKLEARN_EXTRA = "experiments"


def require_sklearn() -> Any:
    """Return the ``sklearn`` module, or raise an ImportError naming the extra that installs it.

    Returns
    -------
    module
        scikit-learn.

    Raises
    ------
    ImportError
        When scikit-learn is not installed.

    Examples
    --------
    >>> from ledkde_fast._image_quality import require_sklearn
    >>> require_sklearn().__name__
    'sklearn'
    """
    try:
        import sklearn
    except ImportError as exc:
        raise ImportError("the classifier metrics need scikit-learn: pip install "
                          f'"ledkde_fast[{SKLEARN_EXTRA}]" (or pip install scikit-learn)') from exc
    return sklearn


def _nn_distances(x: np.ndarray, data: np.ndarray, k: int) -> np.ndarray:
    from .neighbors import nearest_neighbors

    dist, _ = nearest_neighbors(x, data, k)
    return np.asarray(dist, dtype=np.float64)


def training_spacing(train: ArrayLike) -> float:
    """Median distance from a training point to its nearest *other* training point.

    Parameters
    ----------
    train : array_like, shape (N, d)
        Training points, N >= 2.

    Returns
    -------
    float
        The median spacing (0 when more than half the points have an exact duplicate).

    Raises
    ------
    TypeError
        If ``train`` is not an array of real numbers.
    ValueError
        If it is not 2-D and finite, or has fewer than 2 points.

    Examples
    --------
    >>> from ledkde_fast._image_quality import training_spacing
    >>> training_spacing([[0.0], [1.0], [3.0]])  # spacings 1, 1, 2
    1.0
    """
    x = as_points(train, "train")
    if x.shape[0] < 2:
        raise ValueError("train needs at least 2 points to have a nearest-neighbour spacing")
    return float(np.median(_nn_distances(x, x, 2)[:, 1]))


def novelty(samples: ArrayLike, train: ArrayLike, *, spacing: Optional[float] = None) -> np.ndarray:
    """Distance from each sample to its nearest training point, divided by the training spacing.

    ``novelty_i = min_j |s_i - x_j| / spacing``, where ``spacing`` is :func:`training_spacing` of
    the training set (the median distance between a training point and its nearest other one). A
    copy of a training point scores 0; a fresh point of the data's law scores about 1 (somewhat
    more, since the spacing is measured within the training set); a sample far from the data scores
    much more.

    Parameters
    ----------
    samples : array_like, shape (m, d)
        Generated samples.
    train : array_like, shape (N, d)
        Training points, N >= 2.
    spacing : float, optional
        The spacing to divide by (> 0); default :func:`training_spacing` of ``train``.

    Returns
    -------
    ndarray, shape (m,), float64
        The ratios.

    Raises
    ------
    TypeError
        If an argument is not an array of real numbers.
    ValueError
        For non-finite or mismatched point sets, fewer than 2 training points, or a spacing that is
        not > 0 (e.g. more than half the training points duplicated: pass ``spacing``).

    Examples
    --------
    >>> import numpy as np
    >>> from ledkde_fast._image_quality import novelty
    >>> train = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> novelty(train, train)  # the training points themselves
    array([0., 0., 0.])
    >>> novelty([[0.5, 0.0], [3.0, 0.0]], train)  # spacing 1
    array([0.5, 2. ])
    """
    x = as_points(train, "train")
    s = as_points(samples, "samples", x.shape[1])
    gap = training_spacing(x) if spacing is None else float(spacing)
    if not np.isfinite(gap) or gap <= 0:
        raise ValueError(f"the training spacing must be finite and > 0, got {gap!r} (duplicated training points? "
                         "pass spacing)")
    return _nn_distances(s, x, 1)[:, 0] / gap


@dataclass(frozen=True)
class PCASpace:
    """An affine PCA map ``z = (x - mean) @ components.T``, fitted on reference points.

    Parameters
    ----------
    mean : ndarray, shape (d,)
        The reference points' mean.
    components : ndarray, shape (p, d)
        Orthonormal rows: the top-p principal directions of the reference points.
    explained : float
        Fraction of the reference points' variance the p directions hold.

    Examples
    --------
    >>> import numpy as np
    >>> from ledkde_fast._image_quality import PCASpace
    >>> ref = np.array([[-2.0, 0.1], [2.0, 0.1], [-1.0, -0.1], [1.0, -0.1]])
    >>> space = PCASpace.fit(ref, 1)
    >>> np.round(np.abs(space.components), 6), round(space.explained, 4)
    (array([[1., 0.]]), 0.996)
    >>> space.transform(ref).shape
    (4, 1)
    """

    mean: np.ndarray
    components: np.ndarray
    explained: float

    @classmethod
    def fit(cls, reference: ArrayLike, n_components: int) -> PCASpace:
        """Fit the top-``n_components`` principal directions of ``reference`` (float64 SVD).

        Parameters
        ----------
        reference : array_like, shape (n, d)
            The points the space is fitted on (held-out real points).
        n_components : int
            p, with 1 <= p <= min(n, d).

        Returns
        -------
        PCASpace
            The map; components signed so that each row's largest-magnitude entry is positive.

        Raises
        ------
        TypeError
            If an argument is of the wrong kind.
        ValueError
            If ``n_components`` is out of range or the points are not finite.
        """
        x = np.asarray(as_points(reference, "reference"), dtype=np.float64)
        p = as_int(n_components, "n_components", 1)
        if p > min(x.shape):
            raise ValueError(f"n_components must be at most min(n, d) = {min(x.shape)}, got {p}")
        mean = x.mean(axis=0)
        _, sv, vt = np.linalg.svd(x - mean, full_matrices=False)
        comps = vt[:p]
        signs = np.sign(comps[np.arange(p), np.argmax(np.abs(comps), axis=1)])
        total = float(np.sum(sv**2))
        explained = float(np.sum(sv[:p] ** 2) / total) if total > 0 else 1.0
        return cls(mean, comps * signs[:, None], explained)

    def transform(self, x: ArrayLike) -> np.ndarray:
        """Return the coordinates ``(x - mean) @ components.T`` (float64).

        Parameters
        ----------
        x : array_like, shape (m, d)
            Points.

        Returns
        -------
        ndarray, shape (m, p)
            Their coordinates.
        """
        pts = np.asarray(as_points(x, "x", self.mean.shape[0]), dtype=np.float64)
        return np.asarray((pts - self.mean) @ self.components.T)


def pca_quality(samples: ArrayLike, reference: ArrayLike, *, n_components: int = 32, k: int = 5,
                space: Optional[PCASpace] = None, mmd_bandwidth: Optional[float] = None) -> dict[str, Any]:
    """k-NN precision/recall and MMD of samples against held-out real points, in a PCA space of those points.

    The space is fitted on ``reference`` (unless ``space`` is given); both sets are projected to it
    and compared with :func:`ledkde_fast.analysis.precision_recall` (neighbour rank ``k``) and
    :func:`ledkde_fast.analysis.mmd` (unbiased MMD^2, Gaussian kernel; median heuristic of the
    pooled projected points unless ``mmd_bandwidth``).

    Parameters
    ----------
    samples : array_like, shape (m, d)
        Generated samples, m > k.
    reference : array_like, shape (n, d)
        Held-out real points, n > k (and n >= n_components when the space is fitted here).
    n_components : int
        Dimension p of the PCA space (default 32; capped at min(n, d)).
    k : int
        Neighbour rank of precision and recall (default 5).
    space : PCASpace, optional
        A space fitted beforehand (e.g. on more reference points); ``n_components`` is then ignored.
    mmd_bandwidth : float, optional
        Kernel bandwidth sigma > 0 of the MMD in the PCA space.

    Returns
    -------
    dict (JSON-serialisable)
        ``precision``, ``recall``, ``mmd``, ``mmd_bandwidth`` (the sigma used), ``n_components``,
        ``explained_variance`` (of the reference points by the space), ``k``, ``n_samples``,
        ``n_reference``.

    Raises
    ------
    TypeError
        If an argument is of the wrong kind.
    ValueError
        For mismatched or non-finite point sets, k out of range, or a bad ``mmd_bandwidth``.

    Examples
    --------
    >>> import numpy as np
    >>> from ledkde_fast._image_quality import pca_quality
    >>> ref = np.random.default_rng(0).normal(size=(100, 6))
    >>> q = pca_quality(ref, ref, n_components=3, k=3)
    >>> q["precision"], q["recall"]  # a set against itself
    (1.0, 1.0)
    >>> far = pca_quality(ref + 10.0, ref, n_components=3, k=3)
    >>> far["precision"], far["recall"], bool(far["mmd"] > q["mmd"])
    (0.0, 0.0, True)
    """
    from .analysis import _median_heuristic, mmd, precision_recall

    ref = as_points(reference, "reference")
    smp = as_points(samples, "samples", ref.shape[1])
    if space is None:
        space = PCASpace.fit(ref, min(as_int(n_components, "n_components", 1), *ref.shape))
    zs, zr = space.transform(smp), space.transform(ref)
    sigma = _median_heuristic(zs, zr) if mmd_bandwidth is None else float(mmd_bandwidth)
    precision, recall = precision_recall(zs, zr, k=k)
    return {
        "precision": float(precision),
        "recall": float(recall),
        "mmd": float(mmd(zs, zr, bandwidth=sigma)),
        "mmd_bandwidth": float(sigma),
        "n_components": int(space.components.shape[0]),
        "explained_variance": float(space.explained),
        "k": int(k),
        "n_samples": int(smp.shape[0]),
        "n_reference": int(ref.shape[0]),
    }


def fit_classifier(points: ArrayLike, labels: ArrayLike, *, n_components: int = 50, seed: int = 0) -> Any:
    """Fit a scikit-learn classifier of the points' labels: PCA, then a calibrated RBF support-vector machine.

    The pipeline is ``PCA(n_components)`` then ``CalibratedClassifierCV(SVC(), ensemble=False)``
    (Platt-scaled probabilities from 3-fold cross-validation). No neural network is involved. Train
    it on labelled points outside the generator's training set.

    Parameters
    ----------
    points : array_like, shape (n, d)
        Labelled points (e.g. images scaled to [0, 1]).
    labels : array_like, shape (n,)
        Their classes (at least 2 distinct, each at least 3 times).
    n_components : int
        PCA dimension before the SVM (capped at min(n, d)).
    seed : int
        Seed of the PCA's randomised solver and of the calibration split.

    Returns
    -------
    sklearn.pipeline.Pipeline
        The fitted classifier (``predict``, ``predict_proba``, ``classes_``).

    Raises
    ------
    ImportError
        Without scikit-learn (see :func:`require_sklearn`).
    ValueError
        For mismatched sizes, or fewer than 2 classes.

    Examples
    --------
    >>> import numpy as np
    >>> from ledkde_fast._image_quality import fit_classifier
    >>> rng = np.random.default_rng(0)
    >>> x = np.vstack([rng.normal(0, 1, (30, 5)), rng.normal(4, 1, (30, 5))])
    >>> clf = fit_classifier(x, np.repeat([0, 1], 30), n_components=2)
    >>> clf.predict([[0.0] * 5, [4.0] * 5]).tolist()
    [0, 1]
    """
    require_sklearn()
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import SVC

    x = np.asarray(as_points(points, "points"), dtype=np.float64)
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"labels must have one entry per point ({x.shape[0]}), got shape {y.shape}")
    if np.unique(y).size < 2:
        raise ValueError("the classifier needs at least 2 classes")
    p = min(as_int(n_components, "n_components", 1), *x.shape)
    clf = make_pipeline(PCA(p, random_state=seed),
                        CalibratedClassifierCV(SVC(random_state=seed), ensemble=False, cv=3))
    return clf.fit(x, y)


def classifier_scores(classifier: Any, samples: ArrayLike, label: Optional[int] = None) -> dict[str, Any]:
    """Accuracy and confidence of a fitted classifier on samples meant to be of class ``label``.

    * ``accuracy``: fraction of samples predicted as ``label`` (None without a label);
    * ``confidence``: mean over the samples of the largest predicted class probability;
    * ``label_probability``: mean predicted probability of ``label`` (None without one);
    * ``class_fractions``: the fraction of samples predicted as each class, by class.

    Parameters
    ----------
    classifier : fitted scikit-learn classifier
        With ``predict_proba`` and ``classes_`` (e.g. from :func:`fit_classifier`).
    samples : array_like, shape (m, d)
        The points to classify.
    label : int, optional
        The class the samples should have.

    Returns
    -------
    dict (JSON-serialisable)
        The four entries above and ``n_samples``.

    Raises
    ------
    ValueError
        If ``label`` is not one of the classifier's classes, or ``samples`` is not finite and 2-D.

    Examples
    --------
    >>> import numpy as np
    >>> from ledkde_fast._image_quality import classifier_scores, fit_classifier
    >>> rng = np.random.default_rng(0)
    >>> x = np.vstack([rng.normal(0, 1, (30, 5)), rng.normal(6, 1, (30, 5))])
    >>> clf = fit_classifier(x, np.repeat([0, 1], 30), n_components=2)
    >>> out = classifier_scores(clf, x[:30], label=0)
    >>> out["accuracy"], out["class_fractions"]
    (1.0, {'0': 1.0, '1': 0.0})
    """
    x = np.asarray(as_points(samples, "samples"), dtype=np.float64)
    proba = np.asarray(classifier.predict_proba(x), dtype=np.float64)
    classes = list(np.asarray(classifier.classes_).tolist())
    pred = np.asarray(classes)[np.argmax(proba, axis=1)]
    out: dict[str, Any] = {
        "n_samples": int(x.shape[0]),
        "accuracy": None,
        "confidence": float(np.mean(np.max(proba, axis=1))),
        "label_probability": None,
        "class_fractions": {str(c): float(np.mean(pred == c)) for c in classes},
    }
    if label is not None:
        if label not in classes:
            raise ValueError(f"label {label!r} is not one of the classifier's classes {classes}")
        out["accuracy"] = float(np.mean(pred == label))
        out["label_probability"] = float(np.mean(proba[:, classes.index(label)]))
    return out
