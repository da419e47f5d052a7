"""Per-video scores from per-frame P(fake): the plain mean and the DFDC winner's confident mean.

A video is fake if any stretch of it is, and a face swap often fails only in some frames, so
a plain mean dilutes a few confident fake frames with many unsure ones. The DFDC winner's
"confident strategy" averages only the frames that agree strongly, when enough of them do.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

STRATEGIES = ("mean", "confident")


def confident_mean(probs: Sequence[float] | np.ndarray, threshold: float = 0.8) -> float:
    """The DFDC winner's per-video score from frame probabilities.

    1. If more than len/2.5 frames, and more than 11, have p > threshold: their mean.
    2. Else, if more than 90% of the frames have p < 0.2: the mean of those.
    3. Else: the mean of all frames.
    """
    p = np.asarray(probs, dtype=np.float64).ravel()
    if not len(p):
        raise ValueError("a video needs at least one frame score")
    fakes = p[p > threshold]
    if len(fakes) > len(p) / 2.5 and len(fakes) > 11:
        return float(fakes.mean())
    reals = p[p < 0.2]
    if len(reals) > 0.9 * len(p):
        return float(reals.mean())
    return float(p.mean())


def video_scores(
    frames: pd.DataFrame, strategy: str = "mean", extra: Sequence[str] = ()
) -> pd.DataFrame:
    """One row per `video_id`: its label, P(fake) by `strategy`, its frame count, and the
    first value of each `extra` column (e.g. "method").

    `frames` needs columns video_id, label and prob. A video whose frames disagree on the
    label is an error: the manifest or the grouping is wrong, and a score would be meaningless.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown video strategy {strategy!r}; expected one of {STRATEGIES}")
    missing = {"video_id", "label", "prob", *extra} - set(frames.columns)
    if missing:
        raise ValueError(f"frame scores lack columns {sorted(missing)}")
    grouped = frames.groupby("video_id", sort=True)
    mixed = grouped["label"].nunique()
    if (mixed > 1).any():
        raise ValueError(f"videos with frames of both labels: {list(mixed.index[mixed > 1][:5])}")
    score = grouped["prob"].agg(confident_mean if strategy == "confident" else "mean")
    out = pd.DataFrame(
        {
            "video_id": score.index,
            "label": grouped["label"].first().to_numpy(),
            "prob": score.to_numpy(dtype=np.float64),
            "frames": grouped.size().to_numpy(),
        }
    )
    for column in extra:
        out[column] = grouped[column].first().to_numpy()
    return out.reset_index(drop=True)
