"""The scoring engine: the attack a track runs can be a configured one, not only the pinned."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from fakeguard.attacks.through import Through
from fakeguard.data.samples import FaceSample
from fakeguard.robustness.degrade import DegradedSamples
from fakeguard.robustness.tensors import recompress
from fakeguard.scoring.engine import Candidate, score
from fakeguard.scoring.inputs import read_crop, to_tensor
from fakeguard.scoring.predict import p_fake
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


def test_an_adaptive_track_attacks_through_the_codec_and_then_compresses_for_real(
    tmp_path: Path,
) -> None:
    """`pgd:jpeg50`: the attack's model is the detector behind the JPEG stand-in, and the
    scored input is the real JPEG of the attacked crop; `pgd+jpeg50` attacks the bare model."""
    seen = []

    def record(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        seen.append(model)
        return (x + 0.1).clamp(0, 1)

    net = tiny_conv_net()
    candidate = Candidate("c", "", net, input_size=16)
    samples = _grey_faces(tmp_path)
    tracks = [parse_track(n) for n in ("pgd:jpeg50", "pgd+jpeg50")]
    table = score(
        [candidate], tracks, samples, DegradedSamples(), attacks={"pgd": record}
    ).predictions
    adaptive, plain = seen
    assert isinstance(adaptive, Through) and adaptive.detector is net and plain is net
    x = to_tensor([read_crop(s) for s in samples], 16)
    expected = p_fake(net, recompress((x + 0.1).clamp(0, 1), "jpeg50"))
    for name in ("pgd:jpeg50", "pgd+jpeg50"):
        np.testing.assert_allclose(table[table.track == name].prob, expected, atol=1e-6)


def test_a_unet_track_through_a_codec_needs_a_unet_fitted_through_it(tmp_path: Path) -> None:
    candidate = Candidate("c", "", tiny_conv_net(), input_size=16)
    samples = _grey_faces(tmp_path)
    run = score([candidate], [parse_track("unet:jpeg50")], samples, DegradedSamples())
    assert run.predictions.empty
    assert "attacker=train" in run.unavailable["c"]["unet:jpeg50"]
