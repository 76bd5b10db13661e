"""Figures of the memorisation experiment (matplotlib, written as PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .memorization import Config


def _pyplot() -> Any:
    """Return matplotlib.pyplot on the non-interactive Agg backend (ImportError with install advice)."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError('figures need matplotlib: pip install "ledkde_fast[experiments]"') from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_all(out: Path, cfg: Config, report: dict[str, Any], train: np.ndarray,
              samples: dict[float, np.ndarray]) -> list[Path]:
    """Write every figure of the experiment's report to ``out``; return their paths."""
    plt = _pyplot()
    files = [sweep_figure(plt, out, report)]
    if cfg.dataset == "mnist":
        files.append(image_grid_figure(plt, out, train, samples))
    else:
        files.append(scatter_figure(plt, out, cfg.dataset, train, samples))
    if "theory" in report:
        files.append(theory_figure(plt, out, report["theory"]))
    return files


def sweep_figure(plt: Any, out: Path, report: dict[str, Any]) -> Path:
    """Plot memorisation, diversity (and distance to the manifold) against the bandwidth."""
    rows = report["sweep"]
    h = np.array([r["bandwidth"] for r in rows])
    geometry = "mean_distance_to_manifold" in rows[0]
    fig, axes = plt.subplots(1, 3 if geometry else 2, figsize=(13 if geometry else 9, 3.8))
    ax = axes[0]
    ax.plot(h, [r["fraction_memorized_ratio"] for r in rows], "o-",
            label=f"ratio rule d1/d2 < 1/3, N = {report['n_data']}")
    if rows[0]["fraction_memorized_distance"] is not None:
        ax.plot(h, [r["fraction_memorized_distance"] for r in rows], "s--", label="within distance threshold")
    for n, other in report.get("n_data_sweep", {}).items():
        ax.plot([r["bandwidth"] for r in other], [r["fraction_memorized_ratio"] for r in other], ".:",
                label=f"ratio rule, N = {n}")
    ax.set(xlabel="bandwidth h", ylabel="fraction memorised", ylim=(-0.03, 1.03), title="memorisation")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(h, [r["relative_diversity"] for r in rows], "o-", label="mean pairwise distance / data's")
    ax.plot(h, [r["coverage"] for r in rows], "s--", label="training points covered")
    ax.set(xlabel="bandwidth h", ylabel="fraction", title="diversity")
    ax.legend(fontsize=8)
    if geometry:
        ax = axes[2]
        ax.plot(h, [r["mean_distance_to_manifold"] for r in rows], "o-")
        ax.set(xlabel="bandwidth h", ylabel="mean distance to the data manifold", title="smoothing bias")
    fig.suptitle(f"{report['dataset']}: N = {report['n_data']}, {report['n_samples']} samples per bandwidth")
    fig.tight_layout()
    path = out / "memorization_sweep.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def scatter_figure(plt: Any, out: Path, dataset: str, train: np.ndarray, samples: dict[float, np.ndarray]) -> Path:
    """Plot samples and training points in 2-D or 3-D, one panel per bandwidth."""
    hs = list(samples)
    fig = plt.figure(figsize=(3.2 * len(hs), 3.4))
    for i, h in enumerate(hs):
        s = samples[h]
        if train.shape[1] == 3:
            ax = fig.add_subplot(1, len(hs), i + 1, projection="3d")
            ax.scatter(*s.T, s=3, alpha=0.5, color="tab:blue")
            ax.scatter(*train.T, s=6, color="tab:red")
            ax.set_box_aspect((1, 1, 1))
            ax.set_xticks([]), ax.set_yticks([]), ax.set_zticks([])
        else:
            ax = fig.add_subplot(1, len(hs), i + 1)
            ax.scatter(s[:, 0], s[:, 1], s=4, alpha=0.5, color="tab:blue", label="samples")
            ax.scatter(train[:, 0], train[:, 1], s=10, color="tab:red", label="training points")
            ax.set_aspect("equal")
            ax.set_xlim(-1.6, 1.6), ax.set_ylim(-1.6, 1.6)
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.legend(fontsize=7, loc="lower left")
        ax.set_title(f"h = {h:g}")
    fig.suptitle(f"{dataset}: reverse diffusion with the kernel-smoothed score")
    fig.tight_layout()
    path = out / "samples.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def image_grid_figure(plt: Any, out: Path, train: np.ndarray, samples: dict[float, np.ndarray],
                      per_row: int = 8) -> Path:
    """Plot, for each bandwidth, a row of samples and, beneath, the nearest training image of each."""
    from ..neighbors import nearest_neighbors

    hs = list(samples)
    side = int(round(np.sqrt(train.shape[1])))
    fig, axes = plt.subplots(2 * len(hs), per_row, figsize=(per_row * 0.9, 2 * len(hs) * 0.95))
    for i, h in enumerate(hs):
        s = samples[h][:per_row]
        dist, idx = nearest_neighbors(s, train, 1)
        for j in range(per_row):
            for row, img, label in ((2 * i, s[j], "sample"), (2 * i + 1, train[idx[j, 0]], "nearest")):
                ax = axes[row, j]
                ax.imshow(np.clip(img, 0, 1).reshape(side, side), cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([]), ax.set_yticks([])
                if j == 0:
                    ax.set_ylabel(f"h={h:g}\n{label}" if label == "sample" else label, fontsize=7)
            axes[2 * i, j].set_title(f"d={dist[j, 0]:.1f}", fontsize=6)
    fig.suptitle("samples (odd rows) above their nearest training images (even rows)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    path = out / "samples_vs_nearest.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def theory_figure(plt: Any, out: Path, th: dict[str, Any]) -> Path:
    """Plot the small-t variance law of the empirical denoiser and the smoothed variance against t."""
    t = np.array(th["t"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    ax = axes[0]
    ax.loglog(t, th["variance_empirical"], "o", label="empirical denoiser, across data sets")
    ax.loglog(t, th["law_constant"] * t ** th["law_slope_predicted"], "-",
              label=f"c t^(1-k/2), k = {th['intrinsic_dim']} (fitted slope {th['law_slope_fitted']:.2f})")
    ax.set(xlabel="t", ylabel="variance (trace)", title="small-t law of the empirical denoiser")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.loglog(t, th["variance_empirical"], "o", alpha=0.4, label="empirical (h = 0)")
    ax.loglog(t, th["variance_smoothed"], "s", label=f"smoothed, h = {th['bandwidth']:g}")
    ax.loglog(t, th["variance_smoothed_predicted"], "-", label="prediction var / (1 + h^2/t)^(k/2+1)")
    ax.set(xlabel="t", ylabel="variance (trace)", title="smoothing = larger effective data set")
    ax.legend(fontsize=8)
    fig.suptitle(f"N = {th['n_points']} points, {th['n_datasets']} resampled data sets")
    fig.tight_layout()
    path = out / "theory_variance.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
