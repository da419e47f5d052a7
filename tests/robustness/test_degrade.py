"""Degraded samples: frame or crop mode, whole-video H.264, and the on-disk cache."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import compose_config, face_image, write_face_video

from fakeguard.data.manifest import manifest_samples, read_manifest
from fakeguard.data.prepare import prepare
from fakeguard.data.samples import FaceSample
from fakeguard.robustness import suite
from fakeguard.robustness.degrade import DegradedSamples, mode_of


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> list[FaceSample]:
    """Crops prepared from an odd-sized face video and a face image."""
    root = tmp_path_factory.mktemp("media")
    (root / "real").mkdir(), (root / "fake").mkdir()
    write_face_video(root / "real" / "clip.mp4", frames=10, size=(322, 242))
    cv2.imwrite(str(root / "fake" / "face.png"), face_image(160)[..., ::-1])
    out = tmp_path_factory.mktemp("faces")
    overrides = [
        "source=folders",
        f"root={root}",
        f"out={out}",
        "extract.frames=3",
        "progress=false",
    ]
    prepare(compose_config("prepare", overrides, out / "run"))
    return manifest_samples(read_manifest(out / "manifest.parquet"), out)


def test_prepared_samples_are_degraded_in_their_frame(samples):
    modes = {s.kind: mode_of(s, "h264_c40") for s in samples}
    assert modes == {"video": "frame/video", "image": "frame/image"}
    assert {mode_of(s, "jpeg50") for s in samples} == {"frame"}
    crop_only = FaceSample(label=0, source_id="x", image=face_image(64))
    assert mode_of(crop_only, "h264_c40") == "crop/image" and mode_of(crop_only, "social") == "crop"


def test_h264_of_the_whole_video_is_not_h264_of_the_crop(samples, tmp_path):
    video = [s for s in samples if s.kind == "video"]
    degraded = DegradedSamples(tmp_path).images("h264_c40", video)
    for sample, image in zip(video, degraded, strict=True):
        crop = cv2.cvtColor(cv2.imread(sample.path), cv2.COLOR_BGR2RGB)
        assert image.shape == crop.shape
        assert not np.array_equal(image, crop)
        assert not np.array_equal(image, suite.degrade_crop("h264_c40", crop))


def test_the_second_call_reads_the_cache_and_gives_the_same_bytes(samples, tmp_path):
    first = DegradedSamples(tmp_path).images("social", samples)
    again = DegradedSamples(tmp_path)
    second = again.images("social", samples)
    assert again.hits == len(samples) and again.misses == 0
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert len(list(Path(tmp_path).rglob("*.png"))) == len(samples)


def _odd_inputs() -> list[FaceSample]:
    face = face_image(64)
    images = [
        face[:15, :15],  # tiny
        face[:1, :1],  # one pixel: no H.264 stream can hold it
        cv2.cvtColor(face, cv2.COLOR_RGB2GRAY),
        np.dstack([face, np.full(face.shape[:2], 255, np.uint8)]),  # RGBA
        face.astype(np.uint16) * 257,  # 16 bit
        face[:33, :47],  # odd sizes
    ]
    return [FaceSample(label=0, source_id=str(i), image=im) for i, im in enumerate(images)]


@pytest.mark.parametrize("name", sorted(suite.TRACKS))
def test_odd_inputs_are_converted_or_skipped_never_fatal(name):
    out = DegradedSamples().images(name, _odd_inputs())
    skipped = [i for i, image in enumerate(out) if image is None]
    assert skipped == ([1] if name.startswith("h264") else [])
    for image in out:
        assert image is None or (
            image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        )
