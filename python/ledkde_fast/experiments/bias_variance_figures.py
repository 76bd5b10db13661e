"""Figures of the bias-variance experiment (matplotlib, written as PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import datasets
from .figures import _pyplot


def write_all(out: Path, report: dict[str, Any], dataset: datasets.Dataset, samples: dict[float, np.ndarray],
              reference: np.ndarray) -> list[Path]:
    """Write every figure of the report to ``out``; return their paths."""
    plt = _pyplot()
    files = [tradeoff_figure(plt, out, report), best_bandwidth_figure(plt, out, report),
             more_data_figure(plt, out, report)]
    if dataset.points.shape[1] == 2:
        files.append(samples_figure(plt, out, report, dataset, samples, reference))
    if "variance_law" in report:
        files.append(theory_figure(plt, out, report))
    return files


def _bandwidth_axis(ax: Any, report: dict[str, Any]) -> None:
    """Symmetric-log h axis (h = 0 is on the sweep) with the selected bandwidth marked."""
    ax.set_xscale("symlog", linthresh=0.25 * report["spacing"])
    ax.set_xlim(left=-0.1 * 0.25 * report["spacing"])  # h = 0 inside the frame
    ax.axvline(report["bandwidth_selected"], color="0.4", ls="--", lw=1,
               label=f"DSM-selected h = {report['bandwidth_selected']:.3g}")
    ax.set_xlabel("bandwidth h")
    ax.grid(alpha=0.3)


def tradeoff_figure(plt: Any, out: Path, report: dict[str, Any]) -> Path:
    """bias^2, variance and MSE against h (the U-shape), and the KL bound against h."""
    rows = report["sweep"]
    h = np.array([r["bandwidth"] for r in rows])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label, color in (("bias2", "bias²", "tab:red"), ("variance", "variance", "tab:blue"),
                              ("mse", "MSE = bias² + variance", "k")):
        y = np.array([r[key] for r in rows])
        se = np.array([r[f"{key}_se"] for r in rows])
        ax1.errorbar(h, y, yerr=2 * se, marker="o", ms=4, capsize=3, color=color, label=label)
    ax1.set_yscale("log")
    ax1.set_ylabel("½ ∫ E|s̃_t − s_t|² dt over the sampler's times")
    ax1.set_title(f"{report['dataset']}, N = {report['n_data']}: score error against the true score")
    _bandwidth_axis(ax1, report)
    ax1.legend(fontsize=8)
    kl = np.array([r["kl_bound"] for r in rows])
    kl_se = np.array([r["kl_bound_se"] for r in rows])
    ax2.errorbar(h, kl, yerr=2 * kl_se, marker="o", ms=4, capsize=3, color="tab:purple", label="KL bound")
    ax2.set_yscale("log")
    ax2.set_ylabel("Girsanov bound on KL(p_t_min ‖ samples)")
    ax2.set_title("error bars: ± 2 Monte-Carlo standard errors", fontsize=9)
    _bandwidth_axis(ax2, report)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    path = out / "bias_variance.png"
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def best_bandwidth_figure(plt: Any, out: Path, report: dict[str, Any]) -> Path:
    """The DSM-selected bandwidth against N, log-log, with the fitted slope."""
    part = report["best_bandwidth_versus_n"]
    n, h = np.asarray(part["n"], dtype=float), np.asarray(part["bandwidth"])
    fig, ax = plt.subplots(figsize=(5, 4))
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
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / "best_bandwidth_vs_n.png"
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def more_data_figure(plt: Any, out: Path, report: dict[str, Any]) -> Path:
    """KL bound of the exact score with N' points, against that of the selected h with N points."""
    part = report["more_data"]
    n = np.array([r["n"] for r in part["exact"]], dtype=float)
    kl = np.array([r["kl_bound"] for r in part["exact"]])
    kl_se = np.array([r["kl_bound_se"] for r in part["exact"]])
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.errorbar(n, kl, yerr=2 * kl_se, marker="o", capsize=3, color="tab:blue",
                label="exact score (h = 0) with N' points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axhline(part["kl_bound_selected"], color="tab:red", ls="--",
               label=f"h = {part['bandwidth']:.3g} with N = {part['n']} points")
    if part["n_matched"] is not None:
        ax.axvline(part["n_matched"], color="tab:red", lw=0.8, alpha=0.6, label=f"matched at N' = {part['n_matched']}")
    ax.set_xticks(n, [str(int(v)) for v in n])
    ax.minorticks_off()
    ax.set(xlabel="training points N'", ylabel="Girsanov bound on KL(p_t_min ‖ samples)",
           title=f"{report['dataset']}: smoothing as more data")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / "more_data.png"
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def samples_figure(plt: Any, out: Path, report: dict[str, Any], dataset: datasets.Dataset,
                   samples: dict[float, np.ndarray], reference: np.ndarray) -> Path:
    """Samples at h = 0, the selected h and the largest h, over the training points and the truth."""
    rows = report["sweep"]
    chosen = [rows[0], next(r for r in rows if r["selected"]), rows[-1]]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2), sharex=True, sharey=True)
    for ax, row in zip(axes, chosen):
        s = samples[row["bandwidth"]]
        ax.scatter(reference[:, 0], reference[:, 1], s=2, c="0.85", label="true law")
        ax.scatter(s[:, 0], s[:, 1], s=5, c="tab:blue", alpha=0.6, label="samples")
        ax.scatter(dataset.points[:, 0], dataset.points[:, 1], s=18, facecolors="none", edgecolors="tab:red",
                   label="training points")
        mem = row["memorized"]
        ax.set_title(f"h = {row['bandwidth']:.3g}: MMD {row['mmd']:.3g}, memorised "
                     f"{'-' if mem is None else f'{100 * mem:.0f} %'}", fontsize=9)
        ax.set_aspect("equal")
    axes[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    path = out / "bias_variance_samples.png"
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def theory_figure(plt: Any, out: Path, report: dict[str, Any]) -> Path:
    """The empirical denoiser's variance against t for k = 1, 2, 3, and its noise correlation against t."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for k, part in report["variance_law"].items():
        t, var = np.asarray(part["t"]), np.asarray(part["variance"])
        line = ax1.loglog(t, var, "o", label=f"k = {k}: slope {part['slope']:.2f} (law {part['predicted']:.1f})")
        coef = np.polyfit(np.log(t), np.log(var), 1)
        ax1.loglog(t, np.exp(np.polyval(coef, np.log(t))), "-", color=line[0].get_color(), alpha=0.6)
    ax1.set(xlabel="t", ylabel="variance of the empirical denoiser over training sets",
            title="variance law t^(1 − k/2) on spheres S^k")
    ax1.grid(alpha=0.3, which="both")
    ax1.legend(fontsize=8)
    corr = report["noise_correlation"]
    ax2.semilogx(corr["t"], corr["correlation"], "o-", color="tab:orange")
    ax2.set(xlabel="t", ylabel="correlation of the denoiser's noise",
            title=f"{report['dataset']}: points {corr['distance']:.2g} apart")
    ax2.grid(alpha=0.3, which="both")
    fig.tight_layout()
    path = out / "bias_variance_theory.png"
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
