"""The scoring engine: the attack a track runs can be a configured one, not only the pinned."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from fakeguard.data.samples import FaceSample
from fakeguard.robustness.degrade import DegradedSamples
from fakeguard.scoring.engine import Candidate, score
from fakeguard.scoring.tracks import parse_track
from tests.helpers import tiny_conv_net


def _grey_faces(folder: Path, n: int = 4) -> list[FaceSample]:
    samples = []
    for i in range(n):
        path = folder / f"{i}.png"
        cv2.imwrite(str(path), np.full((16, 16, 3), 100 + 10 * i, np.uint8))
        samples.append(FaceSample(label=i % 2, source_id=str(i), path=str(path)))
    return samples


def test_a_configured_attack_replaces_the_pinned_one_of_its_name(tmp_path: Path) -> None:
    calls = []

    def shift(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls.append(len(x))
        return (x + 0.1).clamp(0, 1)

    candidate = Candidate("c", "", tiny_conv_net(), input_size=16)
    samples = _grey_faces(tmp_path)
    tracks = [parse_track("clean"), parse_track("pgd")]
    table = score(
        [candidate], tracks, samples, DegradedSamples(), attacks={"pgd": shift}
    ).predictions
    assert calls == [len(samples)]
    clean = table[table.track == "clean"].prob.to_numpy()
    attacked = table[table.track == "pgd"].prob.to_numpy()
    assert not np.allclose(attacked, clean)
