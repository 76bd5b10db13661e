"""The ledkde command line, run in child processes: errors, --version, --debug, file formats, options."""

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ledkde_fast as lk
from ledkde_fast import datasets
from ledkde_fast._io import load_points
from ledkde_fast.cli import build_parser

# the child imports the same ledkde_fast as this process (the source tree or the installed package)
PACKAGE_ROOT = str(Path(lk.__file__).resolve().parents[1])
TINY = ("--n-samples", "5", "--n-steps", "5", "--n-kernel", "16", "--no-progress")


def run_cli(*args, cwd=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([PACKAGE_ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
    return subprocess.run([sys.executable, "-m", "ledkde_fast.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


def assert_one_line_error(proc, fragment):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("ledkde: error: ")
    assert fragment in lines[0], lines[0]
    assert proc.stdout == ""


def test_version():
    proc = run_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout == f"ledkde {lk.__version__}\n"


def test_info_reports_this_installation():
    info = json.loads(run_cli("info", "--json").stdout)
    # the command runs in a child process: it must report what this installation offers
    assert info["backends"] == lk.available_backends()
    assert info["ledkde_fast"] == importlib.metadata.version("ledkde_fast")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Input files of every kind, good and bad, in one folder."""
    d = tmp_path_factory.mktemp("cli")
    points = datasets.circle(12, seed=3).points
    np.save(d / "data.npy", points)
    np.savez(d / "data.npz", points=points)
    np.savez(d / "several.npz", a=points, b=points[:3])
    np.savetxt(d / "data.csv", points, delimiter=",", header="x,y")  # the header is a # comment
    np.savetxt(d / "data.txt", points)  # whitespace-separated
    np.save(d / "objects.npy", np.array([{"x": 1}, None], dtype=object), allow_pickle=True)
    np.save(d / "flat.npy", np.arange(4.0))
    (d / "fake.npy").write_text("1,2\n3,4\n")
    (d / "fake.npz").write_text("not a zip")
    (d / "header.csv").write_text("x,y\n1,2\n")
    (d / "empty.csv").write_text("")
    (d / "data.json").write_text("[[1, 2]]")
    (d / "folder.npy").mkdir()
    (d / "a_file").write_text("")
    return d


@pytest.mark.parametrize("args, fragment", [
    (("sample", "--data", "missing.npy"), "input file not found: missing.npy"),
    (("sample", "--data", "folder.npy"), "input is a folder, not a file: folder.npy"),
    (("sample", "--data", "data.json"), "unknown format .json"),
    (("sample", "--data", "objects.npy"), "holds Python objects, which are never unpickled"),
    (("sample", "--data", "fake.npy"), "not a NumPy .npy file"),
    (("sample", "--data", "fake.npz"), "not a NumPy .npz file"),
    (("sample", "--data", "header.csv"), "not a table of numbers"),
    (("sample", "--data", "empty.csv"), "must hold a 2-D array of points (N, d), got shape"),
    (("sample", "--data", "flat.npy"), "got shape (4,)"),
    (("sample", "--data", "several.npz"), "several arrays (a, b): choose one with --data-key"),
    (("sample", "--data", "several.npz", "--data-key", "c"), "no array 'c'; it holds a, b"),
    (("sample", "--data", "data.npy", "--data-key", "a"), "--data-key applies to .npz files only"),
    (("sample", "--data", "data.npy", "--dataset", "circle"), "argument --dataset: not allowed with argument --data"),
    (("sample", "--data", "data.npy", "--n-data", "10"), "--n-data applies to --dataset"),
    (("sample", "--out", "no-folder/s.npy"), "output folder not found: no-folder"),
    (("sample", "--out", "a_file/s.npy"), "output folder is not a folder: a_file"),
    (("sample", "--out", "folder.npy"), "output is a folder, not a file: folder.npy"),
    (("sample", "--out", "s.png"), "cannot write s.png: unknown format .png"),
    (("sample", "--n-samples", "-5"), "argument --n-samples: must be an integer >= 1, got -5"),
    (("sample", "--n-steps", "ten"), "argument --n-steps: must be an integer >= 1, got 'ten'"),
    (("sample", "--bandwidth", "-0.1"), "argument --bandwidth: must be a finite number >= 0"),
    (("sample", "--t-min", "0"), "argument --t-min: must be a finite number > 0"),
    (("sample", "--n-kernel", "15", "--n-steps", "2"), "n_kernel must be even"),  # refused by the library
    (("sample", "--t-max", "1", "--t-min", "2"), "t_min (2.0) must be smaller than t_max (1.0)"),
    (("sample", "--kernel", "pca"), "--kernel pca needs --rank"),
    (("sample", "--kernel", "local"), "--kernel local needs --rank"),
    (("sample", "--rank", "1"), "--rank is only used with --kernel pca or local"),
    (("sample", "--local-scale", "whiten"), "--local-scale is only used with --kernel local"),
    (("sample", "--bandwidth-schedule", "below"), "--schedule-time is needed by --bandwidth-schedule"),
    (("sample", "--schedule-time", "0.1"), "--schedule-time is needed by --bandwidth-schedule"),
    (("sample", "--kernel", "pca", "--rank", "3", "--n-steps", "2"), "rank=3 exceeds min(N, d) = 2"),
    (("sample", "--langevin-step", "0.1"), "--langevin-step is only used with --method langevin"),
    (("sample", "--method", "heun"), "argument --method: invalid choice: 'heun'"),
    (("sample", "--weights", "data.npy"), "must hold one row or one column of weights"),
    (("experiment", "bias-variance", "--t-max", "3"), "--t-max not used by the bias-variance experiment"),
    (("experiment", "memorization", "--n-eval", "3"), "--n-eval not used by the memorization experiment"),
    (("experiment", "memorization", "--dataset", "gmm"), "--dataset gmm is not available for memorization"),
    (("experiment", "bias-variance", "--dataset", "mnist"), "--dataset mnist is not available for bias-variance"),
    (("experiment", "memorization", "--out", "a_file/results"), "a_file/results"),
    (("experiment", "memorization", "--dpi", "0"), "argument --dpi: must be an integer >= 1, got 0"),
    (("experiment", "memorization", "--format", "jpg"), "argument --format: invalid choice: 'jpg'"),
    (("experiment", "memorization", "--bandwidths", "0,-1"), "argument --bandwidths: must be comma-separated"),
    (("experiment", "memorization", "--n-data-sweep", "1"), "argument --n-data-sweep: must be comma-separated"),
    (("frobnicate",), "invalid choice: 'frobnicate'"),
    ((), "the following arguments are required"),
])
def test_every_error_is_one_line_with_status_2(files, args, fragment):
    assert_one_line_error(run_cli(*args, cwd=files), fragment)


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_adds_the_traceback(files, where):
    bad = ("sample", "--n-kernel", "15", "--n-steps", "2")
    args = ("--debug", *bad) if where == "before" else (*bad, "--debug")
    proc = run_cli(*args, cwd=files)
    assert proc.returncode == 2
    assert proc.stderr.startswith("Traceback (most recent call last):")
    assert "ValueError: n_kernel must be even" in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("ledkde: error: n_kernel must be even")


def read_any(path):
    """Read a file as a user would, with plain NumPy (not the code under test)."""
    if path.suffix == ".npy":
        return np.load(path)
    if path.suffix == ".npz":
        with np.load(path) as z:
            assert z.files == ["samples"]
            return z["samples"]
    return np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None, ndmin=2)


@pytest.mark.parametrize("source, out", [("data.npy", "s.npz"), ("data.npz", "s.csv"), ("data.csv", "s.txt"),
                                         ("data.txt", "s.npy")])
def test_every_input_and_output_format_round_trips(files, tmp_path, source, out):
    """Samples drawn from the same points in any input format are the same, in any output format."""
    reference = tmp_path / "reference.npy"
    assert run_cli("sample", "--data", files / "data.npy", "--out", reference, *TINY).returncode == 0
    target = tmp_path / out
    proc = run_cli("sample", "--data", files / source, "--out", target, *TINY)
    assert proc.returncode == 0, proc.stderr
    # the message names the file really written, and nothing else was written
    assert proc.stdout == f"5 samples of dimension 2 written to {target}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["reference.npy", out])
    # text keeps 17 significant digits: exact in float64
    np.testing.assert_array_equal(read_any(target), np.load(reference))


def test_npz_key_picks_the_array(files, tmp_path):
    out = tmp_path / "s.npy"
    proc = run_cli("sample", "--data", files / "several.npz", "--data-key", "b", "--bandwidth", "0", "--final-denoise",
                   "--out", out, *TINY)
    assert proc.returncode == 0, proc.stderr
    s = np.load(out)
    b = load_points(files / "several.npz", "b")
    # h = 0 and a final denoising step: every sample sits on one of the 3 points of array b, not on the 12 of a
    d = np.linalg.norm(s[:, None, :] - b[None, :, :], axis=-1).min(axis=1)
    assert d.max() < 1e-6


def test_sampler_options_are_passed_through(tmp_path):
    """The same options give the same samples as the library called directly."""
    out = tmp_path / "s.npy"
    proc = run_cli("sample", "--dataset", "sphere", "--n-data", "30", "--kernel", "pca", "--rank", "2",
                   "--bandwidth", "0.2", "--schedule", "linear", "--method", "probability_flow", "--final-denoise",
                   "--t-max", "5", "--t-min", "0.01", "--seed", "7", "--backend", "reference", "--n-threads", "1",
                   "--out", out, *TINY)
    assert proc.returncode == 0, proc.stderr
    data = datasets.sphere(30, 2, seed=7).points
    expected = lk.sample(data, 5, bandwidth=0.2, kernel="pca", rank=2, n_kernel=16, t_max=5.0, t_min=0.01, n_steps=5,
                         schedule="linear", method="probability_flow", final_denoise=True, seed=7, backend="reference")
    np.testing.assert_allclose(np.load(out), expected, rtol=0, atol=1e-12)


def test_local_kernel_and_bandwidth_schedule(tmp_path):
    """--kernel local and --bandwidth-schedule give the library's samples for the same seed."""
    from ledkde_fast import bandwidths
    from ledkde_fast.kernels import Local

    out = tmp_path / "s.npy"
    proc = run_cli("sample", "--dataset", "sphere", "--n-data", "30", "--kernel", "local", "--rank", "2",
                   "--local-scale", "whiten", "--bandwidth", "0.2", "--bandwidth-schedule", "sqrt_time",
                   "--schedule-time", "0.5", "--t-max", "5", "--t-min", "0.01", "--seed", "7", "--out", out, *TINY)
    assert proc.returncode == 0, proc.stderr
    data = datasets.sphere(30, 2, seed=7).points
    expected = lk.sample(data, 5, bandwidth=bandwidths.sqrt_time(0.2, 0.5), kernel=Local(2, scale="whiten"),
                         n_kernel=16, t_max=5.0, t_min=0.01, n_steps=5, seed=7)
    np.testing.assert_allclose(np.load(out), expected, rtol=0, atol=1e-12)


def test_weights_file(files, tmp_path):
    weights = np.zeros(12)
    weights[4] = 1.0  # all the weight on one point: h = 0 samples, denoised at the end, are that point
    np.savetxt(tmp_path / "w.csv", weights[None, :], delimiter=",")
    out = tmp_path / "s.npy"
    proc = run_cli("sample", "--data", files / "data.npy", "--weights", tmp_path / "w.csv", "--final-denoise",
                   "--out", out, *TINY)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(np.load(out), np.repeat(np.load(files / "data.npy")[4:5], 5, axis=0), atol=1e-9)


def _all_actions(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_actions(sub)
        else:
            yield f"{parser.prog} {'/'.join(action.option_strings) or action.dest}", action, parser


def test_every_option_has_help_showing_its_default():
    missing = []
    for name, action, parser in _all_actions(build_parser()):
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
            continue
        if not action.help:
            missing.append(f"{name}: no help")
            continue
        text = parser._get_formatter()._expand_help(action)
        if action.option_strings and "default" not in text:
            missing.append(f"{name}: no default in {text!r}")
    assert not missing, missing


def test_help_shows_defaults_in_the_child_process():
    proc = run_cli("sample", "--help")
    assert proc.returncode == 0
    help_text = " ".join(proc.stdout.split())  # independent of the terminal's width
    assert "--n-samples M number of samples (default: 300)" in help_text
    assert "--kernel {gaussian,pca,local}" in proc.stdout and "--final-denoise, --no-final-denoise" in proc.stdout


def test_experiment_writes_figures_in_the_chosen_format(tmp_path):
    out = tmp_path / "res"
    proc = run_cli("experiment", "memorization", "--out", out, "--bandwidths", "0,0.3", "--n-samples", "20",
                   "--n-steps", "5", "--n-kernel", "8", "--n-data-sweep", "", "--no-theory", "--format", "svg",
                   "--dpi", "300")
    assert proc.returncode == 0, proc.stderr
    # progress: one line per phase on stderr (without --no-progress)
    assert "bandwidth sweep" in proc.stderr and "writing the figures (svg)" in proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert sorted(Path(f).name for f in report["figures"]) == ["memorization_sweep.svg", "samples.svg"]
    assert sorted(p.name for p in out.iterdir()) == ["memorization_sweep.svg", "report.json", "samples.svg"]
    assert (out / "samples.svg").read_text().lstrip().startswith("<?xml")
    assert "baseline, draws from the law: memorised" in proc.stdout
