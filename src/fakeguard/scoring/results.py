"""Per-sample predictions -> the long results table (checkpoint, track, level, metric, value).

Levels:
- `frame`: each crop on its own, plus the paired drop in P(correct class) against the same
  checkpoint's clean pass, over the samples both tracks scored (`drop_mean`, `drop_p95`);
- `video_mean`, `video_confident`: one score per video id (mean of its frames, or the DFDC
  winner's confident strategy), when the samples carry video ids;
- `method/<name>`: frame level on the real crops plus one method's fakes, when the fakes come
  from two or more methods (FaceForensics++: Deepfakes, Face2Face, FaceSwap, NeuralTextures).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from fakeguard.scoring.metrics import binary_metrics, drop_summary
from fakeguard.scoring.video import STRATEGIES, video_scores

COLUMNS = ["checkpoint", "track", "level", "metric", "value"]
CURVE_COLUMNS = ["checkpoint", "attack", "eps", "track", "auc", "acc", "n"]


def has_videos(predictions: pd.DataFrame) -> bool:
    return bool((predictions["video_id"].astype(str) != "").any())


def fake_methods(predictions: pd.DataFrame) -> list[str]:
    """The manipulation methods among the fakes, when there are at least two."""
    fakes = predictions[predictions["label"] == 1]
    methods = sorted(m for m in fakes["method"].astype(str).unique() if m)
    return methods if len(methods) >= 2 and (predictions["label"] == 0).any() else []


def _long(checkpoint: str, track: str, level: str, metrics: dict[str, float]) -> list[dict]:
    return [
        {"checkpoint": checkpoint, "track": track, "level": level, "metric": k, "value": v}
        for k, v in metrics.items()
    ]


def _paired(frames: pd.DataFrame, clean: pd.DataFrame) -> dict[str, float]:
    both = frames.merge(clean[["index", "prob"]], on="index", suffixes=("", "_clean"))
    if both.empty:
        return {}
    return drop_summary(
        both["label"].to_numpy(), both["prob_clean"].to_numpy(), both["prob"].to_numpy()
    )


def results_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Every metric of every checkpoint, track and level, in the long format."""
    rows: list[dict] = []
    videos = has_videos(predictions)
    methods = fake_methods(predictions)
    for checkpoint, by_checkpoint in predictions.groupby("checkpoint", sort=False):
        clean = by_checkpoint[by_checkpoint["track"] == "clean"]
        for track, frames in by_checkpoint.groupby("track", sort=False):
            labels, probs = frames["label"].to_numpy(), frames["prob"].to_numpy()
            frame = binary_metrics(labels, probs) | _paired(frames, clean)
            rows += _long(checkpoint, track, "frame", frame)
            if videos:
                for strategy in STRATEGIES:
                    per_video = video_scores(frames[frames["video_id"] != ""], strategy)
                    metrics = binary_metrics(per_video["label"], per_video["prob"])
                    rows += _long(checkpoint, track, f"video_{strategy}", metrics)
            for method in methods:
                subset = frames[(frames["label"] == 0) | (frames["method"] == method)]
                metrics = binary_metrics(subset["label"], subset["prob"])
                rows += _long(checkpoint, track, f"method/{method}", metrics)
    return pd.DataFrame(rows, columns=COLUMNS)


def lookup(results: pd.DataFrame) -> dict[tuple[str, str, str, str], float]:
    """(checkpoint, track, level, metric) -> value."""
    keys = zip(
        results["checkpoint"], results["track"], results["level"], results["metric"], strict=True
    )
    return dict(zip(keys, results["value"], strict=True))


def robustness_curves(
    predictions: pd.DataFrame,
    checkpoints: Sequence[str],
    curves: Mapping[str, Mapping[float, str]],
) -> pd.DataFrame:
    """Frame-level AUC and accuracy against eps, per checkpoint and attack.

    `curves` maps an attack to {eps in 255ths: its track}. Each curve starts at eps = 0, the
    clean track on the samples the curve's attack tracks scored (attack tracks may score a
    subset: the clean point then uses the same samples). A checkpoint with no scores on a
    track (not scored) gets no row for it. Columns: `CURVE_COLUMNS`, eps in 255ths.
    """
    rows = []
    for checkpoint in checkpoints:
        mine = predictions[predictions["checkpoint"] == checkpoint]
        for attack, points in curves.items():
            tracks = {eps: track for eps, track in sorted(points.items())}
            attacked = mine[mine["track"].isin(list(tracks.values()))]
            if attacked.empty:
                continue
            clean = mine[(mine["track"] == "clean") & mine["index"].isin(attacked["index"])]
            for eps, track in [(0.0, "clean"), *tracks.items()]:
                frames = clean if track == "clean" else mine[mine["track"] == track]
                if frames.empty:
                    continue
                metrics = binary_metrics(frames["label"].to_numpy(), frames["prob"].to_numpy())
                rows.append(
                    {
                        "checkpoint": checkpoint,
                        "attack": attack,
                        "eps": float(eps),
                        "track": track,
                        "auc": metrics["auc"],
                        "acc": metrics["acc"],
                        "n": int(metrics["n"]),
                    }
                )
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)
