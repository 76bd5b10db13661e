"""The memorisation experiment and the ledkde command line, offline, on small sizes."""

import importlib.metadata
import json
import subprocess
import sys

import numpy as np
import pytest

import ledkde_fast as lk

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
    for name in ("memorization_sweep.png", "samples.png", "theory_variance.png"):
        img = mpimg.imread(out / name)
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
        assert img[..., :3].std() > 0.05  # not a blank canvas


def test_sample_and_info_commands(tmp_path):
    out = tmp_path / "s.npy"
    run_cli("sample", "--dataset", "circle", "--bandwidth", "0.1", "--n-samples", "30", "--n-steps", "20",
            "--n-kernel", "64", "--out", str(out), "--no-progress")
    s = np.load(out)
    assert s.shape == (30, 2) and np.isfinite(s).all()
    info = json.loads(run_cli("info", "--json").stdout)
    # the command runs in a child process: it must report what this installation offers
    assert info["backends"] == lk.available_backends()
    assert info["ledkde_fast"] == importlib.metadata.version("ledkde_fast")


def test_bad_dataset_is_refused():
    from ledkde_fast.experiments import memorization_experiment

    with pytest.raises(ValueError, match="dataset must be one of"):
        memorization_experiment("cifar", "/nonexistent")
    with pytest.raises(ValueError, match="bandwidths must be finite and >= 0"):
        memorization_experiment("circle", "/nonexistent", bandwidths=[-1.0])


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
    for name in ("bias_variance.png", "best_bandwidth_vs_n.png", "more_data.png", "bias_variance_samples.png",
                 "bias_variance_theory.png"):
        img = mpimg.imread(out / name)
        assert img.ndim == 3 and img.shape[0] > 100 and img[..., :3].std() > 0.05  # not a blank canvas


def test_bias_variance_experiment_refuses_data_without_a_law():
    from ledkde_fast.experiments import bias_variance_experiment

    with pytest.raises(ValueError, match="dataset must be one of"):
        bias_variance_experiment("mnist", "/nonexistent")
