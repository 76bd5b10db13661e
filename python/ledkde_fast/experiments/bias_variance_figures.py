"""Figures of the bias-variance experiment (matplotlib; PNG, PDF or SVG), sized for a paper.

Single-panel figures and the samples figure are one paper column wide (3.4 in), two-panel ones
the width of the text (7 in), in the style of :mod:`.figures`. Error bars are +- 2 Monte-Carlo
standard errors; the memorised fractions carry Wilson 95 % intervals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import datasets
from .figures import (
    COLUMN_WIDTH,
    TEXT_WIDTH,
    _legend_below,
    _pyplot,
    paper_style,
    save,
    tidy_log_axis,
    wilson_interval,
)


def write_all(out: Path, report: dict[str, Any], dataset: datasets.Dataset, samples: dict[float, np.ndarray],
              reference: np.ndarray, *, fmt: str = "png", dpi: int = 150) -> list[Path]:
    """Write every figure of the report to ``out`` in format ``fmt``; return their paths."""
    plt = _pyplot()
    with paper_style(plt):
        files = [tradeoff_figure(plt, out, report, fmt, dpi), best_bandwidth_figure(plt, out, report, fmt, dpi),
                 more_data_figure(plt, out, report, fmt, dpi)]
        if dataset.points.shape[1] == 2:
            files.append(samples_figure(plt, out, report, dataset, samples, reference, fmt, dpi))
        if "variance_law" in report:
            files.append(theory_figure(plt, out, report, fmt, dpi))
    return files


def _bandwidth_axis(ax: Any, report: dict[str, Any]) -> Any:
    """Symmetric-log h axis (h = 0 is on the sweep) with the selected bandwidth marked; return the mark."""
    ax.set_xscale("symlog", linthresh=0.25 * report["spacing"])
    ax.set_xlim(left=-0.1 * 0.25 * report["spacing"])  # h = 0 inside the frame
    ax.set_xlabel("bandwidth h")
    return ax.axvline(report["bandwidth_selected"], color="0.4", ls="--", lw=1,
                      label=f"DSM-selected h = {report['bandwidth_selected']:.3g}")


def tradeoff_figure(plt: Any, out: Path, report: dict[str, Any], fmt: str = "png", dpi: int = 150) -> Path:
    """bias^2, variance and MSE against h (the U-shape), and the KL bound against h (+- 2 standard errors)."""
    rows = report["sweep"]
    h = np.array([r["bandwidth"] for r in rows])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(TEXT_WIDTH, 2.9))
    handles = []
    for key, label, color in (("bias2", "bias²", "tab:red"), ("variance", "variance", "tab:blue"),
                              ("mse", "MSE = bias² + variance", "k")):
        y = np.array([r[key] for r in rows])
        se = np.array([r[f"{key}_se"] for r in rows])
        handles.append(ax1.errorbar(h, y, yerr=2 * se, marker="o", ms=3, color=color, label=label))
    ax1.set_yscale("log")
    ax1.set_ylabel(r"$\frac{1}{2}\int \mathrm{E}\,|\tilde s_t - s_t|^2\,dt$ over the sampler's times")
    ax1.set_title(f"(a) {report['dataset']}, N = {report['n_data']}: score error against the true score")
    handles.append(_bandwidth_axis(ax1, report))
    _legend_below(ax1, handles, ncol=2)
    kl = np.array([r["kl_bound"] for r in rows])
    kl_se = np.array([r["kl_bound_se"] for r in rows])
    handles = [ax2.errorbar(h, kl, yerr=2 * kl_se, marker="o", ms=3, color="tab:purple", label="KL bound")]
    ax2.set_yscale("log")
    ax2.set_ylabel(r"Girsanov bound on KL($p_{t_\min}$ ‖ samples)")
    ax2.set_title("(b) the KL bound of the samples' law")
    handles.append(_bandwidth_axis(ax2, report))
    _legend_below(ax2, handles, ncol=2)
    for ax in (ax1, ax2):
        tidy_log_axis(ax)
    fig.suptitle("error bars: ± 2 Monte-Carlo standard errors")
    fig.tight_layout(w_pad=2.0)
    return save(plt, fig, out, "bias_variance", fmt, dpi)


def best_bandwidth_figure(plt: Any, out: Path, report: dict[str, Any], fmt: str = "png", dpi: int = 150) -> Path:
    """The DSM-selected bandwidth against N, log-log, with the fitted slope."""
    part = report["best_bandwidth_versus_n"]
    n, h = np.asarray(part["n"], dtype=float), np.asarray(part["bandwidth"])
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.6))
    keep = h > 0
    ax.loglog(n[keep], h[keep], "o", color="tab:green", label="DSM-selected h")
    if part["slope"] is not None:
        coef = np.polyfit(np.log(n[keep]), np.log(h[keep]), 1)
        ax.loglog(n, np.exp(np.polyval(coef, np.log(n))), "-", color="tab:green", alpha=0.6,
                  label=f"fit: slope {part['slope']:.2f}")
    ax.set(xlabel="training points N", ylabel="bandwidth h", title=f"{report['dataset']}: best h against N")
    ax.set_xticks(n, [str(int(v)) for v in n])
    if keep.any():  # round values: the data's own would overlap where two are close
        lo, hi = h[keep].min() / 1.5, h[keep].max() * 1.5
        ticks = [v for v in (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10) if lo <= v <= hi]
        ax.set_yticks(ticks, [f"{v:g}" for v in ticks])
    ax.minorticks_off()
    ax.legend(loc="best")
    fig.tight_layout()
    return save(plt, fig, out, "best_bandwidth_vs_n", fmt, dpi)


def more_data_figure(plt: Any, out: Path, report: dict[str, Any], fmt: str = "png", dpi: int = 150) -> Path:
    """KL bound of the exact score with N' points, against that of the selected h with N points."""
    part = report["more_data"]
    n = np.array([r["n"] for r in part["exact"]], dtype=float)
    kl = np.array([r["kl_bound"] for r in part["exact"]])
    kl_se = np.array([r["kl_bound_se"] for r in part["exact"]])
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.6))
    handles = [ax.errorbar(n, kl, yerr=2 * kl_se, marker="o", ms=3, color="tab:blue",
                           label="exact score (h = 0) with N' points")]
    ax.set_xscale("log")
    ax.set_yscale("log")
    handles.append(ax.axhline(part["kl_bound_selected"], color="tab:red", ls="--",
                              label=f"h = {part['bandwidth']:.3g} with N = {part['n']} points"))
    if part["n_matched"] is not None:
        handles.append(ax.axvline(part["n_matched"], color="tab:red", lw=0.8, alpha=0.6,
                                  label=f"matched at N' = {part['n_matched']}"))
    ax.set_xticks(n, [str(int(v)) for v in n])
    ax.minorticks_off()
    ax.set(xlabel="training points N'", ylabel=r"KL bound ($p_{t_\min}$ ‖ samples)",
           title=f"{report['dataset']}: smoothing as more data (± 2 s.e.)")
    tidy_log_axis(ax)
    _legend_below(ax, handles)
    fig.tight_layout()
    return save(plt, fig, out, "more_data", fmt, dpi)


def samples_figure(plt: Any, out: Path, report: dict[str, Any], dataset: datasets.Dataset,
                   samples: dict[float, np.ndarray], reference: np.ndarray, fmt: str = "png", dpi: int = 150) -> Path:
    """Samples at h = 0, the selected h and the largest h, over the training points and the truth.

    Layers from the bottom: draws of the true law (light grey), training points (red rings), samples
    (blue dots), so memorised samples show inside the rings. Titles: MMD to the truth and the
    memorised fraction with its Wilson 95 % interval.
    """
    rows = report["sweep"]
    chosen = [rows[0], next(r for r in rows if r["selected"]), rows[-1]]
    fig, axes = plt.subplots(1, 3, figsize=(COLUMN_WIDTH, 1.75), sharex=True, sharey=True)
    handles: list[Any] = []
    for i, (ax, row) in enumerate(zip(axes, chosen)):
        s = samples[row["bandwidth"]]
        ref = ax.scatter(reference[:, 0], reference[:, 1], s=1, c="0.85", linewidths=0, zorder=0)
        tr = ax.scatter(dataset.points[:, 0], dataset.points[:, 1], s=8, facecolors="none", edgecolors="tab:red",
                        linewidths=0.5, zorder=1)
        sm = ax.scatter(s[:, 0], s[:, 1], s=1.5, c="tab:blue", alpha=0.6, linewidths=0, zorder=2)
        handles = [sm, tr, ref]
        mem = row["memorized"]
        if mem is None:
            mem_text = "memorised -"
        else:
            lo, hi = wilson_interval(mem, report["n_samples"])
            mem_text = f"{100 * mem:.0f} % mem. ({100 * float(lo):.0f}–{100 * float(hi):.0f})"
        which = " (DSM)" if row["selected"] and i == 1 else ""
        ax.set_title(f"h = {row['bandwidth']:.3g}{which}\nMMD {row['mmd']:.2g}\n{mem_text}", fontsize=6,
                     linespacing=1.1, pad=2)
        ax.set_aspect("equal")
        ax.grid(False)
        ax.tick_params(labelsize=6, length=2, pad=1)
    fig.legend(handles, ["samples", "training points", "true law"], loc="lower center", ncol=3, fontsize=6,
               markerscale=2.5, bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(pad=0.3, w_pad=0.4, rect=(0, 0.08, 1, 1))
    return save(plt, fig, out, "bias_variance_samples", fmt, dpi)


def theory_figure(plt: Any, out: Path, report: dict[str, Any], fmt: str = "png", dpi: int = 150) -> Path:
    """The empirical denoiser's variance against t for k = 1, 2, 3, and its noise correlation against t."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(TEXT_WIDTH, 2.9))
    for k, part in report["variance_law"].items():
        t, var = np.asarray(part["t"]), np.asarray(part["variance"])
        line = ax1.loglog(t, var, "o", label=f"k = {k}: slope {part['slope']:.2f} (law {part['predicted']:.1f})")
        coef = np.polyfit(np.log(t), np.log(var), 1)
        ax1.loglog(t, np.exp(np.polyval(coef, np.log(t))), "-", color=line[0].get_color(), alpha=0.6)
    ax1.set(xlabel="diffusion time t", ylabel="variance of the empirical denoiser",
            title=r"(a) variance law $t^{1-k/2}$ on spheres $S^k$")
    tidy_log_axis(ax1)
    _legend_below(ax1)
    corr = report["noise_correlation"]
    ax2.semilogx(corr["t"], corr["correlation"], "o-", color="tab:orange")
    ax2.set(xlabel="diffusion time t", ylabel="correlation of the denoiser's noise",
            title=f"(b) {report['dataset']}: at points {corr['distance']:.2g} apart")
    fig.tight_layout(w_pad=2.0)
    return save(plt, fig, out, "bias_variance_theory", fmt, dpi)
