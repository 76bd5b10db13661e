"""The experiments (memorisation, bias-variance) and their figures, offline, on small sizes.

The command line's own behaviour (errors, file formats, options) is tested in test_cli.py.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ledkde_fast.cli", *args], capture_output=True, text=True,
                          check=True, cwd=cwd)


def test_memorization_experiment_on_the_circle(tmp_path):
    import matplotlib.image as mpimg

    out = tmp_path / "res"
    proc = run_cli("experiment", "memorization", "--dataset", "circle", "--out", str(out), "--bandwidths",
                   "0,0.15,0.4", "--n-samples", "200", "--n-kernel", "256", "--no-progress")
    assert "report and figures in" in proc.stdout
    report = json.loads((out / "report.json").read_text())
    rows = {r["bandwidth"]: r for r in report["sweep"]}
    # the story of the paper on 40 points of the circle (see test_sampler for the margins)
    assert rows[0.0]["fraction_memorized_distance"] >= 0.75
    assert rows[0.15]["fraction_memorized_distance"] <= 0.5
    assert rows[0.15]["mean_distance_to_manifold"] <= 0.03
    assert rows[0.4]["mean_radius"] < 0.95
    # the theory check: smoothing divides the variance as the effective-sample-size law predicts
    th = report["theory"]
    ratio = np.array(th["variance_smoothed"]) / np.array(th["variance_smoothed_predicted"])
    assert np.all((ratio > 0.5) & (ratio < 2.0))
    assert 0.3 < th["law_slope_fitted"] < 0.7  # predicted 1 - k/2 = 0.5 for the circle
    # the baseline: points of the law are within 0.03 of one of the 40 equally spaced points 38 % of the
    # time (2 x 0.03 / (2 pi / 40)), and pass the ratio rule half of the time (within a quarter of a gap)
    base = report["baseline"]
    assert base["source"] == "draws from the law" and base["n_points"] >= 2000
    assert base["fraction_memorized_distance"] == pytest.approx(0.382, abs=0.035)
    assert base["fraction_memorized_ratio"] == pytest.approx(0.5, abs=0.035)
    assert base["coverage"] > 0.95 and base["coverage_ceiling"] == 1.0
    assert set(report["n_data_sweep_baseline"]) == set(report["n_data_sweep"]) == {"20", "80"}
    for name in ("memorization_sweep.png", "samples.png", "theory_variance.png"):
        img = mpimg.imread(out / name)
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
        assert img[..., :3].std() > 0.05  # not a blank canvas
    # the samples are a grid that fits a paper column, not one long row of panels
    img = mpimg.imread(out / "samples.png")
    assert img.shape[1] < 1.5 * img.shape[0]


def test_bad_dataset_is_refused():
    from ledkde_fast.experiments import memorization_experiment

    with pytest.raises(ValueError, match="dataset must be one of"):
        memorization_experiment("cifar", "/nonexistent")
    with pytest.raises(ValueError, match="bandwidths must be finite and >= 0"):
        memorization_experiment("circle", "/nonexistent", bandwidths=[-1.0])


@pytest.mark.parametrize("name", ["memorization", "bias-variance"])
def test_figure_options_are_checked_before_any_work(tmp_path, name):
    from ledkde_fast.experiments import bias_variance_experiment, memorization_experiment

    run = memorization_experiment if name == "memorization" else bias_variance_experiment
    with pytest.raises(ValueError, match="figure_format must be one of"):
        run("circle", tmp_path, figure_format="jpg")
    with pytest.raises(ValueError, match="dpi must be >= 1"):
        run("circle", tmp_path, dpi=0)
    with pytest.raises(TypeError, match="dpi must be an int"):
        run("circle", tmp_path, dpi=150.0)
    (tmp_path / "a_file").write_text("")
    with pytest.raises(NotADirectoryError):
        run("circle", tmp_path / "a_file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]  # nothing was written


SMALL = dict(bandwidths=[0.0, 0.3], n_samples=20, n_steps=5, n_kernel=8)


@pytest.mark.parametrize("fmt, magic", [("pdf", b"%PDF"), ("svg", b"<?xml")])
def test_memorization_figures_in_every_format(tmp_path, fmt, magic):
    from ledkde_fast.experiments import memorization_experiment

    report = memorization_experiment("sphere", tmp_path, n_data=30, n_data_sweep=[20], theory=False, progress=False,
                                     figure_format=fmt, dpi=300, **SMALL)
    names = sorted(Path(f).name for f in report["figures"])
    assert names == [f"memorization_sweep.{fmt}", f"samples.{fmt}"]
    for name in names:
        assert (tmp_path / name).read_bytes().lstrip()[:5].startswith(magic)


def test_progress_is_reported_per_phase(tmp_path, capsys):
    from ledkde_fast.experiments import memorization_experiment

    memorization_experiment("circle", tmp_path, n_data_sweep=[20], theory=True, figures=False, progress=True,
                            **SMALL)
    err = capsys.readouterr().err
    for phase in ("bandwidth sweep", "n-data sweep 1/1: N = 20", "theory check", "done"):
        assert phase in err, err
    memorization_experiment("circle", tmp_path, n_data_sweep=[20], theory=False, figures=False, progress=False,
                            **SMALL)
    assert capsys.readouterr().err == ""


def test_wilson_interval():
    from ledkde_fast.experiments.figures import wilson_interval

    lo, hi = wilson_interval([0.0, 0.3, 1.0], [50, 300, 50])
    # Wilson 95 %: not empty at 0 and 1, near p +- 1.96 sqrt(p (1 - p) / n) in between
    assert lo[0] == 0.0 and 0.05 < hi[0] < 0.09 and hi[2] == 1.0 and 0.91 < lo[2] < 0.95
    half = 1.96 * np.sqrt(0.3 * 0.7 / 300)
    assert lo[1] == pytest.approx(0.3 - half, abs=0.004) and hi[1] == pytest.approx(0.3 + half, abs=0.004)


def test_bias_variance_experiment_and_command(tmp_path):
    """The bias-variance experiment at small sizes: a report row per bandwidth (the selected one among
    them), the other parts, and figures that are not blank; the same through the command line."""
    import matplotlib.image as mpimg

    out = tmp_path / "bv"
    proc = run_cli("experiment", "bias-variance", "--dataset", "circle", "--out", str(out), "--n-data", "20",
                   "--n-data-sweep", "20,40", "--n-datasets", "3", "--n-eval", "16", "--n-kernel", "8",
                   "--n-samples", "30", "--n-steps", "5", "--no-progress")
    assert "DSM-selected" in proc.stdout and "best h against N" in proc.stdout
    report = json.loads((out / "report.json").read_text())
    rows = report["sweep"]
    assert rows[0]["bandwidth"] == 0.0 and sum(r["selected"] for r in rows) == 1
    for row in rows:
        assert row["mse"] == pytest.approx(row["bias2"] + row["variance"], rel=1e-9)
        assert row["kl_bound"] > 0 and 0 <= row["precision"] <= 1 and 0 <= row["recall"] <= 1
    assert report["best_bandwidth_versus_n"]["n"] == [20, 40]
    assert set(report["variance_law"]) == {"1", "2", "3"}
    assert len(report["noise_correlation"]["t"]) == len(report["noise_correlation"]["correlation"])
    names = ("bias_variance", "best_bandwidth_vs_n", "more_data", "bias_variance_samples", "bias_variance_theory")
    for name in names:
        img = mpimg.imread(out / f"{name}.png")
        assert img.ndim == 3 and img.shape[0] > 100 and img[..., :3].std() > 0.05  # not a blank canvas
    # the same figures as PDF, from the report (the samples are stand-ins: only the files are checked)
    from ledkde_fast import datasets
    from ledkde_fast.experiments import bias_variance_figures

    ds = datasets.circle(20, seed=0)
    samples = {r["bandwidth"]: ds.truth.sample(30, seed=1) for r in rows}
    files = bias_variance_figures.write_all(tmp_path, report, ds, samples, ds.truth.sample(50, seed=2), fmt="pdf",
                                            dpi=200)
    assert sorted(f.name for f in files) == sorted(f"{name}.pdf" for name in names)
    assert all(f.read_bytes().startswith(b"%PDF") for f in files)


def test_bias_variance_experiment_refuses_data_without_a_law():
    from ledkde_fast.experiments import bias_variance_experiment

    with pytest.raises(ValueError, match="dataset must be one of"):
        bias_variance_experiment("mnist", "/nonexistent")
