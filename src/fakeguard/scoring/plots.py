"""PNG plots of an evaluation: ROC curves per track, AUC per track and checkpoint."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from fakeguard.scoring.metrics import roc_curve  # noqa: E402
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
