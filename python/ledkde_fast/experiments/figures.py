"""Figures of the memorisation experiment (matplotlib; PNG, PDF or SVG), sized for a paper.

Fonts are 7-8 pt at the printed size: the samples grid is one paper column wide (3.4 in), the
sweep and theory figures the width of the text (7 in). Every plotted fraction carries a Wilson
95 % interval (:func:`wilson_interval`): for memorised fractions n is the number of samples, for
coverage the number of training points (approximate there: the covered points are not
independent).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from .memorization import Config

#: Width in inches of one column and of the full text of a two-column paper.
COLUMN_WIDTH = 3.4
TEXT_WIDTH = 7.0
#: Matplotlib settings of every figure: small fonts at the printed size, light grids.
PAPER_STYLE: dict[str, Any] = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "figure.titlesize": 8,
    "legend.frameon": False,
    "lines.markersize": 4,
    "errorbar.capsize": 2,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
}
#: Colours of the two memorisation rules and of the law's baselines.
RATIO_COLOR, DISTANCE_COLOR, TRAIN_COLOR, SAMPLE_COLOR = "tab:blue", "tab:orange", "0.55", "tab:blue"


def _pyplot() -> Any:
    """Return matplotlib.pyplot on the non-interactive Agg backend (ImportError with install advice)."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError('figures need matplotlib: pip install "ledkde_fast[experiments]"') from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@contextlib.contextmanager
def paper_style(plt: Any) -> Iterator[None]:
    """Apply :data:`PAPER_STYLE` inside the block (the caller's settings come back after it)."""
    with plt.rc_context(PAPER_STYLE):
        yield


def wilson_interval(p: ArrayLike, n: Union[int, ArrayLike], z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion (95 % for the default z).

    Unlike p +- z sqrt(p (1 - p) / n) it stays inside [0, 1] and does not shrink to a point at
    p = 0 or 1, where the memorised fractions of this experiment often are.

    Parameters
    ----------
    p : array_like
        Observed proportions in [0, 1].
    n : int or array_like
        Trials behind each proportion, >= 1.
    z : float
        Normal quantile of the confidence level.

    Returns
    -------
    lower, upper : numpy.ndarray
        The interval's bounds, shaped like ``p``.

    Examples
    --------
    >>> from ledkde_fast.experiments.figures import wilson_interval
    >>> lo, hi = wilson_interval([0.0, 0.5], 100)
    >>> [round(float(v), 3) for v in lo], [round(float(v), 3) for v in hi]
    ([0.0, 0.404], [0.037, 0.596])
    """
    p_arr = np.asarray(p, dtype=float)
    n_arr = np.asarray(n, dtype=float)
    denom = 1 + z * z / n_arr
    centre = (p_arr + z * z / (2 * n_arr)) / denom
    half = z * np.sqrt(p_arr * (1 - p_arr) / n_arr + z * z / (4 * n_arr * n_arr)) / denom
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def _yerr(p: Sequence[Optional[float]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Values and asymmetric error-bar lengths (2, m) of Wilson intervals, for ``errorbar``."""
    values = np.array([np.nan if v is None else v for v in p], dtype=float)
    lo, hi = wilson_interval(np.nan_to_num(values), n)
    return values, np.vstack([np.clip(values - lo, 0, None), np.clip(hi - values, 0, None)])


def _dodge(h: np.ndarray, k: int, count: int) -> np.ndarray:
    """Shift series k of ``count`` sideways by a small fraction of the h range: the bars stay apart."""
    span = float(np.ptp(h)) if h.size > 1 and np.ptp(h) > 0 else 1.0
    return h + (k - (count - 1) / 2) * 0.008 * span


def tidy_log_axis(ax: Any, which: str = "y") -> None:
    """Readable labels on a log axis: the decades over 2 decades or more, 1-2-5 steps over 1 to 2
    decades (where matplotlib would label every minor tick), its defaults below a decade.
    """
    from matplotlib.ticker import LogFormatterSciNotation, LogLocator, NullFormatter

    lo, hi = sorted(ax.get_ylim() if which == "y" else ax.get_xlim())
    if lo <= 0:
        return
    axis = ax.yaxis if which == "y" else ax.xaxis
    decades = math.log10(hi / lo)
    if decades >= 1:
        if decades < 2:
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            # label every one of these ticks (by default it thins out the 2s and 5s)
            every = (math.inf, math.inf)
            axis.set_major_formatter(LogFormatterSciNotation(labelOnlyBase=False, minor_thresholds=every))
        axis.set_minor_formatter(NullFormatter())


def save(plt: Any, fig: Any, out: Path, stem: str, fmt: str, dpi: int) -> Path:
    """Save ``fig`` as ``out/stem.fmt`` (tight bounding box, no time stamp in PDF or SVG) and close it.

    Parameters
    ----------
    plt : module
        matplotlib.pyplot.
    fig : matplotlib.figure.Figure
        The figure.
    out : pathlib.Path
        Output folder.
    stem : str
        File name without extension.
    fmt : {"png", "pdf", "svg"}
        Format.
    dpi : int
        Resolution (of PNG, and of the rasterised parts of PDF and SVG).

    Returns
    -------
    pathlib.Path
        The file written.
    """
    path = out / f"{stem}.{fmt}"
    # no creation date: the same run gives the same file
    metadata = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}.get(fmt)
    fig.savefig(path, format=fmt, dpi=dpi, bbox_inches="tight", pad_inches=0.03, metadata=metadata)
    plt.close(fig)
    return path


def write_all(out: Path, cfg: Config, report: dict[str, Any], train: np.ndarray,
              samples: dict[float, np.ndarray]) -> list[Path]:
    """Write every figure of the experiment's report to ``out`` in ``cfg.figure_format``; return their paths."""
    plt = _pyplot()
    fmt, dpi = cfg.figure_format, cfg.dpi
    with paper_style(plt):
        files = [sweep_figure(plt, out, report, fmt, dpi)]
        if cfg.dataset == "mnist":
            files.append(image_grid_figure(plt, out, train, samples, report=report, fmt=fmt, dpi=dpi))
        else:
            files.append(scatter_figure(plt, out, cfg.dataset, train, samples, report=report, fmt=fmt, dpi=dpi))
        if "theory" in report:
            files.append(theory_figure(plt, out, report["theory"], fmt, dpi))
    return files


def _legend_below(ax: Any, handles: Optional[list[Any]] = None, ncol: int = 1) -> None:
    """Legend under the axes' x label (a fixed distance in points): it never covers the data."""
    from matplotlib.transforms import offset_copy

    below = offset_copy(ax.transAxes, fig=ax.figure, y=-27, units="points")
    kwargs: dict[str, Any] = {"handles": handles} if handles is not None else {}
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=below, ncol=ncol, handlelength=2.2,
              borderaxespad=0, **kwargs)


def sweep_figure(plt: Any, out: Path, report: dict[str, Any], fmt: str = "png", dpi: int = 150) -> Path:
    """Memorisation (with Wilson 95 % intervals and the law's baseline), its dependence on N,
    diversity and coverage, and the distance to the manifold, against the bandwidth.
    """
    rows = report["sweep"]
    h = np.array([r["bandwidth"] for r in rows])
    n_samples, n_data = report["n_samples"], report["n_data"]
    base = report.get("baseline")
    others = report.get("n_data_sweep") or {}
    other_bases = report.get("n_data_sweep_baseline") or {}
    geometry = "mean_distance_to_manifold" in rows[0]
    panels = ["memorisation"] + (["sizes"] if others else []) + ["diversity"] + (["bias"] if geometry else [])
    ncols = 2 if len(panels) > 1 else 1
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(TEXT_WIDTH, 2.9 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    base_style = {"ls": (0, (4, 2)), "lw": 1.0, "alpha": 0.8}
    for ax, panel in zip(axes.flat, panels):
        if panel == "memorisation":
            series = [("fraction_memorized_ratio", "ratio rule d1/d2 < 1/3", RATIO_COLOR, "o")]
            if rows[0]["fraction_memorized_distance"] is not None:
                threshold = report.get("distance_threshold")
                near = "the distance threshold" if threshold is None else f"{threshold:g}"
                series.append(("fraction_memorized_distance", f"within {near} of a training point", DISTANCE_COLOR,
                               "s"))
            handles, base_handles = [], []
            for k, (key, label, color, marker) in enumerate(series):
                y, err = _yerr([r[key] for r in rows], n_samples)
                handles.append(ax.errorbar(_dodge(h, k, len(series)), y, yerr=err, marker=marker, color=color,
                                           label=f"samples, {label}"))
                if base is not None and base.get(key) is not None:
                    rule = "ratio rule" if key == "fraction_memorized_ratio" else "distance rule"
                    base_handles.append(ax.axhline(base[key], color=color, **base_style,
                                                   label=f"{base['source']}, {rule}: {100 * base[key]:.0f} %"))
            ax.set(ylabel="fraction memorised", ylim=(-0.03, 1.03), title=f"(a) memorisation, N = {n_data}")
            _legend_below(ax, handles + base_handles)
        elif panel == "sizes":
            sizes = sorted([(n_data, rows, base)] + [(int(n), r, other_bases.get(n)) for n, r in others.items()],
                           key=lambda item: item[0])
            colors = plt.get_cmap("viridis")(np.linspace(0.0, 0.85, len(sizes)))
            handles = []
            for k, (n, sweep, b) in enumerate(sizes):
                hh = np.array([r["bandwidth"] for r in sweep])
                y, err = _yerr([r["fraction_memorized_ratio"] for r in sweep], n_samples)
                handles.append(ax.errorbar(_dodge(hh, k, len(sizes)), y, yerr=err, marker="o", color=colors[k],
                                           label=f"samples, N = {n}"))
                if b is not None and b.get("fraction_memorized_ratio") is not None:
                    ax.axhline(b["fraction_memorized_ratio"], color=colors[k], **base_style)
            handles += ax.plot([], [], color="0.3", **base_style,
                               label=f"{base['source'] if base else 'the law'}, each N in its colour")
            ax.set(ylabel="fraction memorised (ratio rule)", ylim=(-0.03, 1.03),
                   title="(b) memorisation against the training-set size")
            _legend_below(ax, handles)
        elif panel == "diversity":
            handles = ax.plot(h, [r["relative_diversity"] for r in rows], "o-", color="tab:green",
                              label="samples: mean pairwise distance / the data's")
            y, err = _yerr([r["coverage"] for r in rows], n_data)
            # lighter bars: with n = N they are wide and would hide the diversity curve
            handles.append(ax.errorbar(_dodge(h, 1, 2), y, yerr=err, marker="s", color="tab:purple", elinewidth=0.7,
                                       ecolor=(0.58, 0.40, 0.74, 0.6),
                                       label="samples: fraction of training points covered"))
            if base is not None:
                if base.get("relative_diversity") is not None:
                    handles.append(ax.axhline(base["relative_diversity"], color="tab:green", **base_style,
                                              label=f"{base['source']}: {base['relative_diversity']:.2f}"))
                if base.get("coverage") is not None:
                    handles.append(ax.axhline(base["coverage"], color="tab:purple", **base_style,
                                              label=f"{base['source']}: {100 * base['coverage']:.0f} % covered"))
                ceiling = base.get("coverage_ceiling")
                if ceiling is not None and ceiling < 1:
                    handles.append(ax.axhline(ceiling, color="0.3", lw=0.8, label=f"ceiling: {n_samples} samples "
                                              f"cover at most {100 * ceiling:.0f} %"))
            letter = "c" if "sizes" in panels else "b"
            ax.set(ylabel="ratio or fraction", title=f"({letter}) diversity and coverage")
            _legend_below(ax, handles)
        else:
            ax.plot(h, [r["mean_distance_to_manifold"] for r in rows], "o-", color="tab:red")
            ax.set(ylabel="mean distance to the manifold", title=f"({chr(ord('a') + len(panels) - 1)}) smoothing bias")
            ax.set_ylim(bottom=0)
        ax.set_xlabel("bandwidth h")
    fig.suptitle(f"{report['dataset']}: N = {n_data} training points, {n_samples} samples per bandwidth; "
                 "error bars: Wilson 95 % intervals (n = samples; coverage: n = N)")
    fig.tight_layout(h_pad=1.5, w_pad=2.0)
    return save(plt, fig, out, "memorization_sweep", fmt, dpi)


def scatter_figure(plt: Any, out: Path, dataset: str, train: np.ndarray, samples: dict[float, np.ndarray], *,
                   report: Optional[dict[str, Any]] = None, fmt: str = "png", dpi: int = 150,
                   per_row: int = 3) -> Path:
    """Samples over the training points: a grid of ``per_row`` panels a row, one per bandwidth.

    The training points are grey rings drawn under the samples (so memorised samples show as dots
    inside the rings); each title gives the bandwidth and, with ``report``, the memorised share
    (ratio rule). Points in 3-D (the sphere) are shown as their upper half (z > 0) seen from
    above: a 3-D scatter of both halves at this size shows neither.
    """
    hs = list(samples)
    rows = {r["bandwidth"]: r for r in (report or {}).get("sweep", [])}
    three_d = train.shape[1] == 3

    def shown(points: np.ndarray) -> np.ndarray:
        return points[points[:, 2] > 0, :2] if three_d else points[:, :2]

    ncols = min(per_row, len(hs))
    # one more cell for the legend when the grid has none free
    nrows = math.ceil(len(hs) / ncols) + (1 if len(hs) % ncols == 0 else 0)
    panel = COLUMN_WIDTH / ncols
    # a panel is about as tall as wide, plus its two-line title; the suptitle takes two lines more
    fig = plt.figure(figsize=(COLUMN_WIDTH, nrows * (0.92 * panel + 0.3) + 0.3))
    lim = 1.25 * float(np.max(np.abs(train))) if train.size else 1.0
    ticks = [-1.0, 0.0, 1.0] if lim >= 1.1 else None
    train_xy = shown(train)
    handles: list[Any] = []
    for i, h in enumerate(hs):
        s = shown(samples[h])
        ax = fig.add_subplot(nrows, ncols, i + 1)
        tr = ax.scatter(train_xy[:, 0], train_xy[:, 1], s=9, facecolors="none", edgecolors=TRAIN_COLOR,
                        linewidths=0.6, zorder=1)
        sm = ax.scatter(s[:, 0], s[:, 1], s=3, color=SAMPLE_COLOR, alpha=0.6, linewidths=0, zorder=2)
        handles = [sm, tr]
        ax.set_aspect("equal")
        ax.set_xlim(-lim, lim), ax.set_ylim(-lim, lim)
        if ticks is not None:
            ax.set_xticks(ticks), ax.set_yticks(ticks)
        ax.tick_params(labelsize=6, length=2, pad=1)
        ax.grid(False)
        if i % ncols:
            ax.tick_params(labelleft=False)
        if i < len(hs) - ncols:
            ax.tick_params(labelbottom=False)
        mem = rows.get(h, {}).get("fraction_memorized_ratio")
        title = f"h = {h:g}" + ("" if mem is None else f"\n{100 * mem:.0f} % memorised")
        ax.set_title(title, fontsize=6.5, pad=2, linespacing=1.1)
    if handles:
        lax = fig.add_subplot(nrows, ncols, len(hs) + 1)
        lax.axis("off")
        lax.legend(handles, ["samples", "training points"], loc="center", fontsize=6, markerscale=2)
    base = (report or {}).get("baseline")
    note = "" if not base or base.get("fraction_memorized_ratio") is None else \
        f"; {base['source']}: {100 * base['fraction_memorized_ratio']:.0f} %"
    view = ", upper half (z > 0) from above" if three_d else ""
    fig.suptitle(f"{dataset}: samples by bandwidth h{view}\nmemorised: d1/d2 < 1/3{note}", fontsize=7)
    fig.tight_layout(pad=0.3, h_pad=0.6, w_pad=0.3)
    return save(plt, fig, out, "samples", fmt, dpi)


def image_grid_figure(plt: Any, out: Path, train: np.ndarray, samples: dict[float, np.ndarray], per_row: int = 8,
                      *, report: Optional[dict[str, Any]] = None, fmt: str = "png", dpi: int = 150) -> Path:
    """Plot, for each bandwidth, a row of samples and, beneath, the nearest training image of each."""
    from ..neighbors import nearest_neighbors

    hs = list(samples)
    rows = {r["bandwidth"]: r for r in (report or {}).get("sweep", [])}
    side = int(round(np.sqrt(train.shape[1])))
    fig, axes = plt.subplots(2 * len(hs), per_row, figsize=(per_row * 0.9, 2 * len(hs) * 0.95), squeeze=False)
    for i, h in enumerate(hs):
        s = samples[h][:per_row]
        dist, idx = nearest_neighbors(s, train, 1)
        mem = rows.get(h, {}).get("fraction_memorized_ratio")
        for j in range(per_row):
            for row, img, label in ((2 * i, s[j] if j < len(s) else None, "sample"),
                                    (2 * i + 1, train[idx[j, 0]] if j < len(s) else None, "nearest")):
                ax = axes[row, j]
                if img is not None:
                    ax.imshow(np.clip(img, 0, 1).reshape(side, side), cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([]), ax.set_yticks([])
                ax.grid(False)
                if j == 0:
                    head = f"h={h:g}" + ("" if mem is None else f"\n{100 * mem:.0f} % mem.")
                    ax.set_ylabel(f"{head}\n{label}" if label == "sample" else label, fontsize=7)
            if j < len(s):
                axes[2 * i, j].set_title(f"d={dist[j, 0]:.1f}", fontsize=6)
    fig.suptitle("samples (odd rows) above their nearest training images (even rows); "
                 "mem. = memorised (d1/d2 < 1/3)", fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    return save(plt, fig, out, "samples_vs_nearest", fmt, dpi)


def theory_figure(plt: Any, out: Path, th: dict[str, Any], fmt: str = "png", dpi: int = 150) -> Path:
    """Plot the small-t variance law of the empirical denoiser and the smoothed variance against t."""
    t = np.array(th["t"])
    fig, axes = plt.subplots(1, 2, figsize=(TEXT_WIDTH, 2.9))
    ax = axes[0]
    ax.loglog(t, th["variance_empirical"], "o", label="empirical denoiser, across data sets")
    ax.loglog(t, th["law_constant"] * t ** th["law_slope_predicted"], "-",
              label=rf"law $c\,t^{{1-k/2}}$, k = {th['intrinsic_dim']} (fitted slope {th['law_slope_fitted']:.2f})")
    ax.set(xlabel="diffusion time t", ylabel="variance (trace)", title="(a) small-t law of the empirical denoiser")
    _legend_below(ax)
    ax = axes[1]
    ax.loglog(t, th["variance_empirical"], "o", alpha=0.4, label="empirical (h = 0)")
    ax.loglog(t, th["variance_smoothed"], "s", label=f"smoothed, h = {th['bandwidth']:g}")
    ax.loglog(t, th["variance_smoothed_predicted"], "-", label=r"prediction $\mathrm{var}\,/\,(1 + h^2/t)^{k/2+1}$")
    ax.set(xlabel="diffusion time t", ylabel="variance (trace)", title="(b) smoothing = a larger effective data set")
    _legend_below(ax)
    for ax in axes:
        tidy_log_axis(ax)
    fig.suptitle(f"N = {th['n_points']} points, {th['n_datasets']} resampled data sets")
    fig.tight_layout(w_pad=2.0)
    return save(plt, fig, out, "theory_variance", fmt, dpi)
