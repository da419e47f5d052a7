"""Video-level scores: the mean and the DFDC winner's confident strategy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fakeguard.scoring.video import confident_mean, video_scores


def test_confident_mean_uses_the_confident_fake_frames_when_enough_agree():
    probs = [0.9] * 12 + [0.1] * 8  # 12 > 11 and 12 > 20 / 2.5
    assert confident_mean(probs) == pytest.approx(0.9)


def test_confident_mean_needs_more_than_eleven_confident_frames():
    probs = [0.9] * 11 + [0.5]  # 11 of 12 agree, but not more than 11
    assert confident_mean(probs) == pytest.approx(np.mean(probs))


def test_confident_mean_uses_the_confident_real_frames_when_over_90_percent_agree():
    probs = [0.1] * 19 + [0.95]
    assert confident_mean(probs) == pytest.approx(0.1)


def test_confident_mean_falls_back_to_the_plain_mean():
    probs = [0.1] * 5 + [0.6] * 5
    assert confident_mean(probs) == pytest.approx(0.35)


def test_video_scores_group_frames_by_video_and_keep_extra_columns():
    frames = pd.DataFrame(
        {
            "video_id": ["b", "a", "b", "a"],
            "label": [1, 0, 1, 0],
            "prob": [0.8, 0.2, 0.6, 0.4],
            "method": ["Deepfakes", "real", "Deepfakes", "real"],
        }
    )
    videos = video_scores(frames, "mean", extra=["method"])
    assert videos["video_id"].tolist() == ["a", "b"]
    assert videos["prob"].tolist() == pytest.approx([0.3, 0.7])
    assert videos["frames"].tolist() == [2, 2]
    assert videos["method"].tolist() == ["real", "Deepfakes"]


def test_video_scores_refuse_a_video_with_both_labels():
    frames = pd.DataFrame({"video_id": ["a", "a"], "label": [0, 1], "prob": [0.1, 0.9]})
    with pytest.raises(ValueError, match="both labels"):
        video_scores(frames)
