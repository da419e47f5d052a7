"""PNG plots of an evaluation: ROC curves per track, AUC per track and checkpoint, reliability
diagrams before and after calibration."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from fakeguard.scoring.metrics import (  # noqa: E402
    ECE_BINS,
    expected_calibration_error,
    reliability_bins,
    roc_curve,
)
from fakeguard.scoring.results import lookup  # noqa: E402


def safe_name(track: str) -> str:
    """A track name usable in a file name: `unet+h264-like` -> `unet_h264-like`."""
    return track.replace("+", "_").replace("/", "_")


def roc_plot(predictions: pd.DataFrame, track: str, path: Path) -> Path | None:
    """One ROC curve per checkpoint on `track`; None when no checkpoint has both classes."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    drawn = False
    for checkpoint, frames in predictions[predictions["track"] == track].groupby(
        "checkpoint", sort=False
    ):
        labels = frames["label"].to_numpy()
        if 0 < labels.sum() < len(labels):
            fpr, tpr = roc_curve(labels, frames["prob"].to_numpy())
            auc = float(np.trapezoid(tpr, fpr))
            ax.plot(fpr, tpr, label=f"{checkpoint} (AUC {auc:.3f})")
            drawn = True
    if drawn:
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC: {track}")
        ax.legend(loc="lower right", fontsize="small")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    plt.close(fig)
    return path if drawn else None


def auc_bars(
    results: pd.DataFrame, checkpoints: Sequence[str], tracks: Sequence[str], path: Path
) -> Path:
    """Grouped bars: frame-level AUC per track (groups) and checkpoint (bars)."""
    values = lookup(results)
    width = 0.8 / max(len(checkpoints), 1)
    x = np.arange(len(tracks))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(tracks) + 2), 4))
    for i, checkpoint in enumerate(checkpoints):
        aucs = [values.get((checkpoint, t, "frame", "auc"), np.nan) for t in tracks]
        ax.bar(x + (i - (len(checkpoints) - 1) / 2) * width, aucs, width, label=checkpoint)
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_xticks(x, tracks, rotation=30, ha="right")
    ax.set(ylim=(0, 1), ylabel="ROC AUC (frame level)", title="AUC per track")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def auc_vs_eps(curves: pd.DataFrame, path: Path) -> Path | None:
    """Robustness curves: frame-level AUC (y) against the L-inf eps in 255ths (x), one line
    per checkpoint x attack, clean as eps = 0 (`results.robustness_curves`' table). None when
    no curve has a finite AUC."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    drawn = False
    for (checkpoint, attack), points in curves.groupby(["checkpoint", "attack"], sort=False):
        points = points.sort_values("eps")
        if points["auc"].notna().any():
            ax.plot(points["eps"], points["auc"], marker="o", label=f"{checkpoint}: {attack}")
            drawn = True
    if drawn:
        ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        eps = sorted(curves["eps"].unique())
        ax.set_xticks(eps, [f"{e:g}" for e in eps])
        ax.set(
            xlabel="L-inf eps (/255), 0 = clean",
            ylabel="ROC AUC (frame level)",
            ylim=(0, 1),
            title="AUC against the attack budget",
        )
        ax.legend(fontsize="small")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    plt.close(fig)
    return path if drawn else None


def reliability_diagram(
    panels: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
    path: Path,
    bins: int = ECE_BINS,
) -> Path | None:
    """Reliability diagrams, one panel per (title, labels, P(fake) before, P(fake) after):
    the fraction of fakes (y) against the mean P(fake) (x) in `bins` equal-width bins, before
    and after calibration, the diagonal (perfect calibration), and each bin's share of the
    samples as bars. None when there is no panel."""
    if not panels:
        return None
    columns = min(len(panels), 3)
    rows = (len(panels) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 4.4 * rows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, (title, labels, before, after) in zip(axes.flat, panels, strict=False):
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect")
        for probs, name, style in ((before, "before", "o--"), (after, "after", "s-")):
            table = reliability_bins(labels, probs, bins)
            used = table["count"] > 0
            ece = expected_calibration_error(labels, probs, bins)
            ax.plot(
                table["mean_prob"][used],
                table["frac_fake"][used],
                style,
                markersize=4,
                label=f"{name} (ECE {ece:.3f})",
            )
        share = reliability_bins(labels, after, bins)["count"] / len(labels)
        edges = np.linspace(0.0, 1.0, bins + 1)
        ax.bar(edges[:-1], share, width=1 / bins, align="edge", color="C1", alpha=0.15)
        ax.set(
            xlim=(0, 1),
            ylim=(0, 1),
            xlabel="mean P(fake) in bin",
            ylabel="fraction fake",
            title=title,
        )
        ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
