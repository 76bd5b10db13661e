"""The generalisation study: its metric helpers against float64 oracles and exact identities, the report's
structure on tiny synthetic and image-like data (no MNIST download), and the command line's errors."""

import doctest
import importlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from ledkde_fast import _image_quality as iq
from ledkde_fast.cli import main
from ledkde_fast.experiments import generalization as gen
from ledkde_fast.experiments import generalization_experiment

pytest.importorskip("sklearn")


@pytest.fixture(autouse=True)
def one_blas_thread():
    """One BLAS thread (as the study itself uses): OpenBLAS's threads make small SVDs slow on busy cores."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


# ----------------------------------------------------------------------------- oracles (float64, brute force)
def pairwise(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def spacing_oracle(train):
    d = pairwise(train, train)
    np.fill_diagonal(d, np.inf)
    return float(np.median(d.min(axis=1)))


def mmd_oracle(a, b, sigma):
    k = lambda x, y: np.exp(-pairwise(x, y) ** 2 / (2 * sigma**2))  # noqa: E731
    n, m = len(a), len(b)
    kaa, kbb = k(a, a), k(b, b)
    return ((kaa.sum() - np.trace(kaa)) / (n * (n - 1)) + (kbb.sum() - np.trace(kbb)) / (m * (m - 1))
            - 2 * k(a, b).mean())


def blob_images(n_per_class, seed=0):
    """Image-like 28 x 28 uint8 data: class c is a bright blob at its own place, with random jitter and noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28]
    images, labels = [], []
    for c in range(10):
        cy, cx = 6 + 4 * (c // 4), 5 + 6 * (c % 4)
        for _ in range(n_per_class):
            oy, ox = rng.normal(0, 1.0, 2)
            blob = np.exp(-((yy - cy - oy) ** 2 + (xx - cx - ox) ** 2) / (2 * 2.5**2))
            img = np.clip(255 * blob + rng.normal(0, 12, (28, 28)), 0, 255)
            images.append(np.round(img))
            labels.append(c)
    return np.array(images, dtype=np.uint8), np.array(labels)


# ----------------------------------------------------------------------------- metric helpers
def test_novelty_of_training_points_is_zero_and_matches_the_oracle():
    rng = np.random.default_rng(1)
    train = rng.random((40, 25))
    samples = rng.random((15, 25))
    assert np.array_equal(iq.novelty(train, train), np.zeros(40))
    spacing = spacing_oracle(train)
    assert iq.training_spacing(train) == pytest.approx(spacing, rel=1e-12)
    expected = pairwise(samples, train).min(axis=1) / spacing
    np.testing.assert_allclose(iq.novelty(samples, train), expected, rtol=1e-10)
    # float32 inputs: the same up to float32 rounding
    np.testing.assert_allclose(iq.novelty(samples.astype(np.float32), train.astype(np.float32)), expected, rtol=1e-5)
    # a given spacing is used as is
    np.testing.assert_allclose(iq.novelty(samples, train, spacing=2.0), expected * spacing / 2.0, rtol=1e-10)


def test_novelty_refuses_bad_input():
    with pytest.raises(ValueError, match="at least 2 points"):
        iq.novelty([[0.0, 1.0]], [[0.0, 1.0]])
    with pytest.raises(ValueError, match="spacing"):
        iq.novelty([[0.0]], [[1.0], [1.0], [1.0]])  # all duplicates: spacing 0
    with pytest.raises(ValueError, match="dimension mismatch"):
        iq.novelty(np.zeros((2, 3)), np.eye(2))


def test_pca_space_matches_the_covariance_eigenvectors():
    rng = np.random.default_rng(2)
    ref = rng.normal(size=(60, 8)) * np.array([5, 4, 3, 2, 1, 0.5, 0.2, 0.1])
    space = iq.PCASpace.fit(ref, 3)
    cov = np.cov(ref.T, bias=True)
    lam, vec = np.linalg.eigh(cov)
    top = vec[:, ::-1][:, :3]
    np.testing.assert_allclose(np.abs(space.components @ top), np.eye(3), atol=1e-8)
    assert space.explained == pytest.approx(lam[::-1][:3].sum() / lam.sum(), rel=1e-10)
    z = space.transform(ref)
    np.testing.assert_allclose(z, (ref - ref.mean(0)) @ space.components.T, atol=1e-12)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-10)
    with pytest.raises(ValueError, match="n_components"):
        iq.PCASpace.fit(ref, 9)


def test_pca_quality_identities_and_mmd_oracle():
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(50, 10))
    same = iq.pca_quality(ref, ref, n_components=4, k=3)
    assert (same["precision"], same["recall"]) == (1.0, 1.0)
    samples = rng.normal(size=(40, 10)) * 1.5 + 0.3
    q = iq.pca_quality(samples, ref, n_components=4, k=3)
    space = iq.PCASpace.fit(ref, 4)
    zs, zr = space.transform(samples), space.transform(ref)
    assert q["mmd"] == pytest.approx(mmd_oracle(zs, zr, q["mmd_bandwidth"]), rel=1e-9, abs=1e-12)
    assert q["n_components"] == 4 and q["n_samples"] == 40 and q["n_reference"] == 50
    # far-away samples: no precision, no recall
    far = iq.pca_quality(ref + 100.0, ref, n_components=4, k=3)
    assert (far["precision"], far["recall"]) == (0.0, 0.0)


class FixedClassifier:
    """A classifier with given probabilities, to check the scores' arithmetic exactly."""

    classes_ = np.array([0, 3, 7])

    def __init__(self, proba):
        self.proba = np.asarray(proba, dtype=np.float64)

    def predict_proba(self, x):
        return self.proba[: len(x)]


def test_classifier_scores_arithmetic():
    proba = [[0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.0, 0.1, 0.9]]
    out = iq.classifier_scores(FixedClassifier(proba), np.zeros((4, 2)), label=3)
    assert out["accuracy"] == 0.5
    assert out["confidence"] == pytest.approx((0.8 + 0.6 + 0.5 + 0.9) / 4)
    assert out["label_probability"] == pytest.approx((0.8 + 0.3 + 0.5 + 0.1) / 4)
    assert out["class_fractions"] == {"0": 0.25, "3": 0.5, "7": 0.25}
    assert iq.classifier_scores(FixedClassifier(proba), np.zeros((4, 2)))["accuracy"] is None
    with pytest.raises(ValueError, match="not one of the classifier's classes"):
        iq.classifier_scores(FixedClassifier(proba), np.zeros((4, 2)), label=5)


def test_fitted_classifier_separates_the_blob_images():
    images, labels = blob_images(12, seed=4)
    x = images.reshape(len(images), -1) / 255.0
    clf = iq.fit_classifier(x, labels, n_components=10)
    test_images, test_labels = blob_images(4, seed=5)
    xt = test_images.reshape(len(test_images), -1) / 255.0
    assert float(np.mean(clf.predict(xt) == test_labels)) >= 0.9
    with pytest.raises(ValueError, match="at least 2 classes"):
        iq.fit_classifier(x[:5], np.zeros(5, dtype=int))


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn now raises ImportError
    with pytest.raises(ImportError, match=r"ledkde_fast\[experiments\]"):
        iq.require_sklearn()
    with pytest.raises(ImportError, match=r"ledkde_fast\[experiments\]"):
        iq.fit_classifier(np.eye(4), [0, 1, 0, 1])


def test_eigen_scaled_pca_factor():
    rng = np.random.default_rng(6)
    train = rng.normal(size=(80, 6)) * np.array([4.0, 2.0, 1.0, 0.5, 0.1, 0.1])
    f = gen._eigen_pca_factor(train, 3)
    assert f.shape == (6, 3)
    assert float(np.sum(f * f)) == pytest.approx(3.0, rel=1e-12)
    lam, vec = np.linalg.eigh(np.cov(train.T, bias=True))
    lam, vec = lam[::-1][:3], vec[:, ::-1][:, :3]
    # F F^T = r / sum(lam_r) * V_r diag(lam_r) V_r^T
    np.testing.assert_allclose(f @ f.T, (vec * (lam * 3 / lam.sum())) @ vec.T, atol=1e-10)


def test_bandwidth_schedules():
    assert gen.bandwidth_schedule("constant", 0.3, 2.0) == 0.3
    f = gen.bandwidth_schedule("sqrt_time", 0.3, 2.0)
    g = gen.bandwidth_schedule("below", 0.3, 2.0)
    for t in (0.01, 0.5, 2.0, 8.0):
        assert float(f(t)) == pytest.approx(0.3 * math.sqrt(t / 2.0), rel=1e-14)
        assert float(g(t)) == (0.3 if t <= 2.0 else 0.0)
    with pytest.raises(ValueError, match="schedule"):
        gen.bandwidth_schedule("linear", 0.3, 2.0)


def test_meets_target():
    real = {"accuracy": 0.9, "confidence": 0.8}
    row = {"memorized": 0.1, "relative_diversity": 0.75, "accuracy": 0.82, "confidence": 0.1}
    assert gen.meets_target(row, real) is True  # the memorised and diversity bounds are inclusive
    assert gen.meets_target({**row, "accuracy": 0.80}, real) is False
    assert gen.meets_target({**row, "relative_diversity": 0.7}, real) is False
    assert gen.meets_target({**row, "memorized": None}, real) is None
    # unlabelled families: the confidence
    assert gen.meets_target({**row, "confidence": 0.73}, {"accuracy": None, "confidence": 0.8}) is True
    assert gen.meets_target({**row, "confidence": 0.71}, {"accuracy": None, "confidence": 0.8}) is False
    # synthetic data: the distance to the manifold against the spacing
    syn = {**row, "mean_distance_to_manifold": 0.05}
    assert gen.meets_target(syn, {}, spacing=0.2) is True
    assert gen.meets_target({**syn, "mean_distance_to_manifold": 0.06}, {}, spacing=0.2) is False


def test_config_checks():
    with pytest.raises(ValueError, match="dataset"):
        gen.Config(dataset="circle")
    with pytest.raises(ValueError, match="digits 0-9 or 'all'"):
        gen.Config(subsets=["12"])
    with pytest.raises(ValueError, match="kernels"):
        gen.Config(kernels=["nope"])
    with pytest.raises(ValueError, match="factors"):
        gen.Config(factors=[0.0])
    with pytest.raises(TypeError):
        gen.Config(bandwidths=[0.1])
    cfg = gen.Config(factors=[2.0, 0.5])
    assert cfg.factors == (0.5, 1.0, 2.0)  # the selected bandwidth is always run


# ----------------------------------------------------------------------------- the study
TINY = dict(n_samples=16, n_steps=5, n_kernel=8, dsm_points=8, dsm_times=2, dsm_noise=1, progress=False)


def test_report_structure_on_the_sphere(tmp_path):
    report = generalization_experiment("sphere", tmp_path, n_data=[30, 60], kernels=["isotropic", "pca"],
                                       schedules=["constant", "below"], factors=[0.5, 1.0, 2.0], full_grid_max_n=40,
                                       reduced_grid_max_n=80, figures=False, **TINY)
    assert json.loads((tmp_path / "report.json").read_text()) == report
    assert report["experiment"] == "generalization" and report["subsets"] == ["sphere"]
    small, large = report["blocks"]
    assert (small["n_data"], large["n_data"]) == (30, 60)
    assert len(small["runs"]) == 2 * 2 * 3 and len(large["runs"]) == 2 * 2 * 2
    # above full_grid_max_n: the reduced factors within the sweep's range
    assert sorted({r["factor"] for r in large["runs"]}) == [1.0, 2.0] and large["factors"] == [1.0, 2.0]
    assert set(small["dsm"]) == {"isotropic/constant", "isotropic/below", "pca/constant", "pca/below"}
    assert (small["grid"], large["grid"]) == ("full", "reduced")
    for run in small["runs"] + large["runs"]:
        assert 0.0 <= run["memorized"] <= 1.0 and 0.0 <= run["precision"] <= 1.0 and 0.0 <= run["recall"] <= 1.0
        assert run["accuracy"] is None and run["mean_distance_to_manifold"] >= 0.0
        assert isinstance(run["meets_target"], bool)
    for run in small["runs"]:
        h_sel = small["dsm"][f"{run['kernel']}/{run['schedule']}"]["bandwidth"]
        assert run["bandwidth"] == pytest.approx(run["factor"] * h_sel)
        assert run["dsm_selected"] == (run["factor"] == 1.0)
    # the real baseline: fresh draws of the law lie on the sphere
    assert small["real"]["mean_distance_to_manifold"] == pytest.approx(0.0, abs=1e-9)
    assert report["target"]["by_family"]["sphere"]["30"]["n_runs"] == 12
    assert "ours" in report["choices"].lower()


def test_mnist_study_on_image_like_data(tmp_path):
    pytest.importorskip("matplotlib")
    images, labels = blob_images(45, seed=7)
    np.savez(tmp_path / "mnist.npz", x_train=images, y_train=labels)
    out = tmp_path / "out"
    report = generalization_experiment("mnist", out, data_dir=str(tmp_path), subsets=["3", "all"], n_data=[20, 300],
                                       kernels=["isotropic", "pca"], schedules=["constant"], factors=[1.0],
                                       n_reference_per_class=15, n_classifier_per_class=15, pca_rank=4,
                                       n_components=8, **TINY)
    # digit 3 has 45 - 30 = 15 pool images: N = 20 and 300 do not fit; all digits: 150, N = 300 does not fit
    assert [(b["subset"], b["n_data"]) for b in report["blocks"]] == [("all", 20)]
    assert {(s["subset"], s["n_data"]) for s in report["skipped"]} == {("3", 20), ("3", 300), ("all", 300)}
    report = generalization_experiment("mnist", out, data_dir=str(tmp_path), subsets=["3"], n_data=[10],
                                       kernels=["isotropic"], schedules=["constant"], factors=[1.0],
                                       n_reference_per_class=15, n_classifier_per_class=15, n_components=8,
                                       **{**TINY, "dsm_points": 4})
    block = report["blocks"][0]
    assert block["digit"] == 3 and block["real"]["n_points"] == 5  # the pool's 5 unused images
    assert report["classifier"]["test_accuracy"] >= 0.9
    run = block["runs"][0]
    assert 0.0 <= run["accuracy"] <= 1.0 and 0.0 < run["confidence"] <= 1.0
    assert set(run["class_fractions"]) == {str(c) for c in range(10)}
    names = sorted(p.rsplit("/", 1)[-1] for p in report["figures"])
    assert names == ["generalization_grid_3_10.png", "generalization_pareto.png"]
    for p in report["figures"]:
        assert Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_out_dir_is_checked_before_any_work(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError):
        generalization_experiment("sphere", tmp_path / "file", **TINY)


# ----------------------------------------------------------------------------- command line
@pytest.mark.parametrize("args, fragment", [
    (("--dataset", "circle"), "--dataset circle is not available for generalization"),
    (("--digits", "12"), "must be a digit 0-9 or 'all'"),
    (("--kernels", "isotropic,nope"), "must be one of"),
    (("--schedules", "linear"), "must be one of"),
    (("--factors", "1,-2"), "must be comma-separated numbers > 0"),
    (("--bandwidths", "0.1"), "--bandwidths not used by the generalization experiment"),
    (("--digit", "3"), "--digit not used by the generalization experiment"),
    (("--dataset", "sphere", "--digits", "3"), "--digits applies to --dataset mnist"),
    (("--no-theory",), "--no-theory not used by the generalization experiment"),
])
def test_cli_errors(args, fragment, capsys, tmp_path):
    try:
        status = main(["experiment", "generalization", "--out", str(tmp_path), *args])
    except SystemExit as exc:  # argparse's errors
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ledkde: error: ") and fragment in lines[0], err


@pytest.mark.parametrize("name, extra, fragment", [
    ("memorization", ("--kernels", "pca"), "--kernels not used by the memorization experiment"),
    ("bias-variance", ("--digits", "3"), "--digits not used by the bias-variance experiment"),
    ("memorization", ("--quick",), "--quick not used by the memorization experiment"),
])
def test_other_experiments_refuse_generalization_options(name, extra, fragment, capsys, tmp_path):
    assert main(["experiment", name, "--out", str(tmp_path), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ledkde: error: ") and fragment in err and len(err.splitlines()) == 1


def test_cli_runs_the_study_and_prints_the_table(capsys, tmp_path):
    status = main(["experiment", "generalization", "--dataset", "sphere", "--out", str(tmp_path), "--n-data", "30",
                   "--kernels", "isotropic", "--schedules", "constant", "--factors", "1", "--n-samples", "12",
                   "--n-steps", "4", "--n-kernel", "8", "--no-progress", "--format", "svg"])
    out = capsys.readouterr().out
    assert status == 0
    assert "sphere, N = 30" in out and "real held-out" in out and "isotropic | constant | 1 |" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["n_data"] == [30] and report["figures"][0].endswith("generalization_pareto.svg")


# ----------------------------------------------------------------------------- docstring examples
@pytest.mark.parametrize("name", ["ledkde_fast._image_quality", "ledkde_fast.experiments.generalization"])
def test_docstring_examples(name):
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in doctest.DocTestFinder(exclude_empty=True).find(module, name) if t.examples]
    assert tests
    with np.printoptions(legacy=False):
        for test in tests:
            runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
