"""Figures of the generalisation study (matplotlib; PNG, PDF or SVG), in the paper style of :mod:`.figures`.

* ``generalization_pareto``: for each training-set family and size, the memorised fraction against
  quality (the classifier's accuracy, or confidence, relative to real images, or the distance to the
  manifold over the spacing for synthetic data; the recall in the PCA space of held-out points; the
  relative diversity), one curve per kernel and schedule through its bandwidth sweep, with the target region
  shaded and real held-out points as a star;
* ``generalization_grid_<family>_<N>`` (images only): for each kernel and schedule at its preferred
  setting, a row of samples above a row of their nearest training images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ._targets import TARGET_DIVERSITY, TARGET_MANIFOLD_DISTANCE, TARGET_MEMORIZED, TARGET_QUALITY_RATIO
from .figures import TEXT_WIDTH, _pyplot, paper_style, save

#: Colours of the kernels and markers/line styles of the schedules (unknown names get the next ones).
KERNEL_COLORS = {"isotropic": "tab:blue", "pca": "tab:orange", "local": "tab:green", "local_whiten": "tab:red"}
SCHEDULE_STYLES = {"constant": ("o", "-"), "sqrt_time": ("s", "--"), "below": ("^", ":")}
_EXTRA_COLORS = ("tab:red", "tab:purple", "tab:brown", "tab:pink")


def _kernel_color(name: str) -> str:
    if name in KERNEL_COLORS:
        return KERNEL_COLORS[name]
    return _EXTRA_COLORS[sum(map(ord, name)) % len(_EXTRA_COLORS)]


def _panels(block: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """The quality measures plotted for a block: (key, axis label, relative to real points)."""
    real = block["real"]
    if real.get("accuracy") is not None:
        first = ("accuracy", "accuracy / real", True)
    elif real.get("confidence") is not None:
        first = ("confidence", "confidence / real", True)
    else:
        first = ("mean_distance_to_manifold", "dist. to manifold / spacing", False)
    return [first, ("recall", "recall / real", True), ("relative_diversity", "relative diversity", False)]


def _value(run: dict[str, Any], real: dict[str, Any], key: str, relative: bool, spacing: float) -> float:
    value = run.get(key)
    if value is None:
        return float("nan")
    if not relative:
        return float(value) / spacing if key == "mean_distance_to_manifold" else float(value)
    ref = real.get(key)
    return float(value) / float(ref) if ref else float("nan")


def pareto_figure(plt: Any, out: Path, report: dict[str, Any], fmt: str = "png", dpi: int = 150) -> Path:
    """Memorised fraction against quality, one curve per kernel and schedule, one column per block.

    Parameters
    ----------
    plt : module
        matplotlib.pyplot.
    out : pathlib.Path
        Output folder.
    report : dict
        The study's report (its ``blocks``).
    fmt : {"png", "pdf", "svg"}
        Format.
    dpi : int
        Resolution.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    blocks = report["blocks"]
    ncols = len(blocks)
    width = min(max(4.6, 2.1 * ncols), 1.6 * TEXT_WIDTH)
    fig, axes = plt.subplots(3, ncols, figsize=(width, 5.6), squeeze=False, sharex=True)
    handles: dict[str, Any] = {}
    for col, block in enumerate(blocks):
        real, spacing = block["real"], float(block["spacing"])
        for row_i, (qkey, qlabel, relative) in enumerate(_panels(block)):
            ax = axes[row_i, col]
            ax.axvspan(-0.02, TARGET_MEMORIZED, color="0.9", zorder=0, lw=0)
            limit = (TARGET_QUALITY_RATIO if relative else TARGET_DIVERSITY if qkey == "relative_diversity"
                     else TARGET_MANIFOLD_DISTANCE)
            ax.axhline(limit, color="0.5", lw=0.6, ls=(0, (3, 2)))
            combos: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for r in block["runs"]:
                combos.setdefault((r["kernel"], r["schedule"]), []).append(r)
            for (kname, sname), runs in combos.items():
                runs = sorted(runs, key=lambda r: r["factor"])
                x = [r["memorized"] for r in runs]
                y = [_value(r, real, qkey, relative, spacing) for r in runs]
                marker, ls = SCHEDULE_STYLES.get(sname, ("D", "-."))
                color = _kernel_color(kname)
                (line,) = ax.plot(x, y, marker=marker, ls=ls, color=color, lw=1.0, ms=3.5, label=f"{kname}, {sname}")
                handles.setdefault(f"{kname}, {sname}", line)
                for r in runs:
                    if r["dsm_selected"]:
                        ax.plot([r["memorized"]], [_value(r, real, qkey, relative, spacing)], marker=marker,
                                ls="none", mfc="white", mec=color, ms=6, zorder=5)
                    if r.get("meets_target"):
                        ax.plot([r["memorized"]], [_value(r, real, qkey, relative, spacing)], ls="none", marker="o",
                                mfc="none", mec="k", ms=8.5, mew=0.6, zorder=6)
            star = ax.plot([real["memorized"]], [_value(real, real, qkey, relative, spacing)], marker="*", color="k",
                           ms=8, ls="none", label="real held-out points", zorder=7)[0]
            handles.setdefault("real", star)
            ax.set_xlim(-0.02, 1.02)
            ax.set_ylim(bottom=0)
            if row_i == 2:
                ax.set_xlabel("fraction memorised")
            if row_i == 0:
                who = "all digits" if block["subset"] == "all" else (
                    f"digit {block['subset']}" if block["digit"] is not None else block["subset"])
                ax.set_title(f"{who}, N = {block['n_data']}")
            if col == 0:
                ax.set_ylabel(qlabel)
    extra = [plt.Line2D([], [], marker="o", ls="none", mfc="white", mec="0.2", ms=6, label="DSM-selected h"),
             plt.Line2D([], [], marker="o", ls="none", mfc="none", mec="k", ms=8.5, mew=0.6, label="meets the target"),
             plt.Rectangle((0, 0), 1, 1, color="0.9", label=f"memorised <= {100 * TARGET_MEMORIZED:.0f} %")]
    ncol_legend = 3 if width < 6 else 5
    fig.legend(handles=list(handles.values()) + extra, loc="lower center", ncol=ncol_legend,
               bbox_to_anchor=(0.5, 0.0))
    first = ("accuracy and confidence: the classifier's" if report["dataset"] == "mnist"
             else "distance to the noiseless manifold over the training spacing")
    sep = "\n" if width < 6 else " "
    fig.suptitle(f"{report['dataset']}: memorisation (d1/d2 < 1/3) against quality,{sep}one curve per kernel and "
                 f"schedule through its bandwidth sweep\n({report['n_samples']} samples per run; dashed lines: the "
                 f"target; {first};{sep}recall in the PCA space of held-out points; precision and MMD in "
                 "report.json)")
    n_rows_legend = int(np.ceil((len(handles) + 3) / ncol_legend))
    fig.tight_layout(rect=(0, 0.025 * n_rows_legend, 1, 1))
    return save(plt, fig, out, "generalization_pareto", fmt, dpi)


def image_grid_figure(plt: Any, out: Path, block: dict[str, Any], keep: dict[str, Any], per_row: int = 8,
                      fmt: str = "png", dpi: int = 150) -> Path:
    """For each kernel and schedule of a block, samples above their nearest training images.

    Parameters
    ----------
    plt : module
        matplotlib.pyplot.
    out : pathlib.Path
        Output folder.
    block : dict
        One block of the report.
    keep : dict
        The samples kept by :func:`ledkde_fast.experiments.generalization.run_block`.
    per_row : int
        Samples per row.
    fmt : {"png", "pdf", "svg"}
        Format.
    dpi : int
        Resolution.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    from ..neighbors import nearest_neighbors

    prefix = f"{block['subset']}/{block['n_data']}/"
    train = keep[prefix + "train"]
    combos = [(k[len(prefix):], v) for k, v in keep.items() if k.startswith(prefix) and not k.endswith("/train")]
    side = int(round(np.sqrt(train.shape[1])))
    fig, axes = plt.subplots(2 * len(combos), per_row, figsize=(per_row * 0.62 + 1.3, 2 * len(combos) * 0.66),
                             squeeze=False)
    for i, (name, (row, s)) in enumerate(combos):
        s = np.asarray(s[:per_row], dtype=np.float64)
        dist, idx = nearest_neighbors(s, train, 1)
        for j in range(per_row):
            pair = (s[j], train[idx[j, 0]]) if j < len(s) else (None, None)
            for r, img in ((2 * i, pair[0]), (2 * i + 1, pair[1])):
                ax = axes[r, j]
                if img is not None:
                    ax.imshow(np.clip(img, 0, 1).reshape(side, side), cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([]), ax.set_yticks([])
                ax.grid(False)
                for spine in ax.spines.values():
                    spine.set_linewidth(0.3)
            if j < len(s):
                axes[2 * i, j].set_title(f"d={dist[j, 0]:.1f}", fontsize=5.5, pad=1.5)
        kname, sname = name.split("/")
        axes[2 * i, 0].set_ylabel(f"{kname}\n{sname} x{row['factor']:g}\n{100 * row['memorized']:.0f}% mem.",
                                  fontsize=5.5, rotation=0, ha="right", va="center")
        axes[2 * i + 1, 0].set_ylabel("nearest\ntraining", fontsize=5.5, rotation=0, ha="right", va="center")
    who = "all digits" if block["subset"] == "all" else f"digit {block['subset']}"
    fig.suptitle(f"{who}, N = {block['n_data']}: samples above their nearest training images (d: L2 distance; "
                 f"training spacing {block['spacing']:.1f})", fontsize=7)
    fig.tight_layout(rect=(0, 0, 1, 0.985), h_pad=0.15, w_pad=0.1)
    return save(plt, fig, out, f"generalization_grid_{block['subset']}_{block['n_data']}", fmt, dpi)


def write_all(out: Path, cfg: Any, report: dict[str, Any], keep: dict[str, Any]) -> list[Path]:
    """Write every figure of the study to ``out`` in ``cfg.figure_format``; return their paths.

    Parameters
    ----------
    out : pathlib.Path
        Output folder.
    cfg : generalization.Config
        The study's options (format and resolution).
    report : dict
        The study's report.
    keep : dict
        The samples kept for the image grids.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    plt = _pyplot()
    files = []
    with paper_style(plt):
        files.append(pareto_figure(plt, out, report, cfg.figure_format, cfg.dpi))
        if report["dataset"] == "mnist":
            for block in report["blocks"]:
                files.append(image_grid_figure(plt, out, block, keep, fmt=cfg.figure_format, dpi=cfg.dpi))
    return files
