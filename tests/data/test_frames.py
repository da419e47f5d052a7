"""Sampled video frames: exactly the frames a sequential decode gives, without decoding all."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from helpers import SHARED_DATA

from fakeguard.data import frames
from fakeguard.data.frames import (
    MediaReadError,
    frame_count,
    read_frames,
    sample_frames,
    sample_indices,
)

FFPP = SHARED_DATA / "ffpp_sample"


def frame_image(i: int, width: int, height: int) -> np.ndarray:
    """A frame that tells its number: two grey patches (i % 32 and i // 32) and a moving
    square, so neighbouring frames differ in content too."""
    image = np.full((height, width, 3), 96, np.uint8)
    image[:16, :16] = (i % 32) * 8
    image[:16, 16:32] = (i // 32) * 64
    x = 32 + (3 * i) % (width - 48)
    image[-16:, x : x + 16] = (255, 0, 0)
    return image


def frame_number(image: np.ndarray) -> int:
    low, high = image[4:12, 4:12].mean(), image[4:12, 20:28].mean()
    return int(round(high / 64)) * 32 + int(round(low / 8))


def make_video(
    path: Path,
    n: int = 100,
    size: tuple[int, int] = (96, 64),
    gop: int = 10,
    bframes: bool = True,
    variable_rate: bool = False,
) -> Path:
    """An H.264 video at 25 fps with a keyframe every `gop` frames (and no others), or at a
    variable rate: frames 20 to 80 ms apart."""
    options = {"movflags": "faststart"} if path.suffix == ".mp4" else {}  # header first
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        codec = {"g": str(gop), "sc_threshold": "0", "crf": "18", "preset": "veryfast"}
        stream.codec_context.options = codec if bframes else {**codec, "bf": "0"}
        ms = Fraction(1, 1000)
        if variable_rate:
            stream.time_base = stream.codec_context.time_base = ms
        for i in range(n):
            image = av.VideoFrame.from_ndarray(frame_image(i, *size), format="rgb24")
            if variable_rate:
                image.pts, image.time_base = 40 * i + (20, 0, -20, 40)[i % 4] * (i > 0), ms
            container.mux(stream.encode(image))
        container.mux(stream.encode())
    return path


def sequential(path: Path, wanted=None) -> dict[int, np.ndarray]:
    """The reference: frames decoded one after another from the start, counted; all of them
    or the wanted ones."""
    with av.open(str(path)) as container:
        return {
            i: frame.to_ndarray(format="rgb24")
            for i, frame in enumerate(container.decode(video=0))
            if wanted is None or i in wanted
        }


def assert_same_frames(got: dict[int, np.ndarray], reference: dict[int, np.ndarray], wanted):
    assert sorted(got) == sorted(wanted)
    for i in wanted:
        assert got[i].dtype == np.uint8
        assert np.array_equal(got[i], reference[i]), f"frame {i} differs"


@pytest.fixture
def count_seeks(monkeypatch) -> list[int]:
    """pts of every seek read_frames makes (the first one rewinds after the packet scan)."""
    seeks: list[int] = []
    seek = frames._seek

    def counted(container, stream, pts):
        seeks.append(pts)
        seek(container, stream, pts)

    monkeypatch.setattr(frames, "_seek", counted)
    return seeks


def test_sample_indices_spread_evenly_over_the_video():
    indices = sample_indices(751, 32)
    assert len(indices) == 32 and indices[0] == 0 and indices[-1] == 750
    assert indices == sorted(set(indices))
    assert {b - a for a, b in zip(indices, indices[1:], strict=False)} <= {24, 25}
    assert sample_indices(100, 1) == [0]


def test_sample_indices_take_every_frame_of_a_short_video():
    assert sample_indices(10, 32) == list(range(10))
    assert sample_indices(32, 32) == list(range(32))
    assert sample_indices(0, 32) == []
    with pytest.raises(ValueError):
        sample_indices(10, 0)


@pytest.mark.parametrize(
    ("name", "gop", "bframes"),
    [
        ("small_gop.mp4", 10, True),  # seeks; B-frames: decode order != presentation order
        ("small_gop_no_b.mp4", 10, False),
        ("one_keyframe.mp4", 1000, True),  # nothing to seek to: decoded through
        ("small_gop.mkv", 10, True),  # no frame count recorded, ms timestamps
        ("variable_rate.mp4", 10, True),  # no pts grid: decoded through, counting frames
    ],
)
def test_read_frames_equal_a_sequential_decode(tmp_path, count_seeks, name, gop, bframes):
    variable_rate = name.startswith("variable")
    path = make_video(tmp_path / name, n=120, gop=gop, bframes=bframes, variable_rate=variable_rate)
    reference = sequential(path)
    wanted = [0, 3, 25, 26, 57, 90, 118, 119]
    got = read_frames(path, [57, 3, 0, 119, 25, 26, 90, 118, 3])  # any order, repeats
    assert_same_frames(got, reference, wanted)
    assert [frame_number(got[i]) for i in wanted] == wanted
    if variable_rate:
        assert count_seeks == []  # no pts grid to tell indices by: decoded through, counting
    elif gop == 10:
        assert len(count_seeks) > 1  # the rewind after the scan, then over whole GOPs


def test_far_apart_frames_are_reached_by_seeking(tmp_path, count_seeks):
    path = make_video(tmp_path / "v.mp4", n=120, gop=10)
    got = read_frames(path, [5, 62, 105])
    assert_same_frames(got, sequential(path), [5, 62, 105])
    with av.open(str(path)) as container:
        frame_pts = 1 / (container.streams.video[0].time_base * 25)
    # Rewind after the scan, then straight to the keyframes before 62 and 105.
    assert [pts / frame_pts for pts in count_seeks] == [0, 60, 100]


def test_a_seek_that_lands_off_target_falls_back_to_sequential_decoding(tmp_path, monkeypatch):
    path = make_video(tmp_path / "v.mp4", n=120, gop=10)
    seek = frames._seek

    def one_gop_too_far(container, stream, pts):
        seek(container, stream, pts + pts // 6 if pts else pts)  # 60 -> 70, 100 -> 116

    monkeypatch.setattr(frames, "_seek", one_gop_too_far)
    assert_same_frames(read_frames(path, [5, 62, 105]), sequential(path), [5, 62, 105])


def test_sample_frames_counts_and_samples_evenly(tmp_path, count_seeks):
    path = make_video(tmp_path / "v.mp4", n=120, gop=10)
    count, got = sample_frames(path, 32)
    assert count == frame_count(path) == 120
    assert_same_frames(got, sequential(path), sample_indices(120, 32))
    # Samples 3-4 frames apart: no seek could pay, so no scan and no seek.
    assert count_seeks == []


def test_a_short_video_gives_all_its_frames(tmp_path):
    path = make_video(tmp_path / "short.mp4", n=12, gop=5)
    count, got = sample_frames(path, 32)
    assert count == 12
    assert_same_frames(got, sequential(path), range(12))


def test_frame_count_without_a_recorded_count(tmp_path):
    path = make_video(tmp_path / "v.mkv", n=60)  # Matroska records no frame count
    assert frame_count(path) == len(sequential(path)) == 60


def test_frames_past_the_end_are_absent(tmp_path):
    path = make_video(tmp_path / "v.mp4", n=30, gop=10)
    assert sorted(read_frames(path, [29, 30, 500])) == [29]
    assert read_frames(path, []) == {}
    with pytest.raises(ValueError):
        read_frames(path, [-1])


def test_odd_sized_frames_keep_their_shape(tmp_path):
    path = make_video(tmp_path / "odd.mp4", n=20, size=(66, 50))
    got = read_frames(path, [0, 19])
    assert got[0].shape == got[19].shape == (50, 66, 3)


@pytest.mark.parametrize(
    ("name", "variable_rate"),
    [
        ("full.mp4", False),
        ("full.mkv", False),  # cut short without an error: Matroska just ends
        ("variable_rate.mp4", True),
        ("variable_rate.mkv", True),
    ],
)
def test_a_truncated_video_gives_the_frames_before_the_cut(tmp_path, name, variable_rate):
    full = make_video(tmp_path / name, n=120, gop=10, variable_rate=variable_rate)
    cut = tmp_path / f"cut{full.suffix}"
    data = full.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    count, sampled = sample_frames(cut, 32)
    assert count == frame_count(full)  # as the header says, not what is left
    assert 32 // 3 <= len(sampled) < 32  # well into the video, but not to its end
    # Every frame that comes back is exactly the full file's frame at that index.
    got = read_frames(cut, range(120))
    assert sampled.keys() <= got.keys()
    assert_same_frames(got, sequential(full), sorted(got))


def test_damage_inside_a_video_stops_decoding_without_an_error(tmp_path):
    path = make_video(tmp_path / "v.mp4", n=120, gop=10)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 400] = np.random.default_rng(0).bytes(400)
    path.write_bytes(bytes(data))
    got = read_frames(path, range(120))
    assert 0 in got and len(got) < 120


@pytest.mark.parametrize("content", [b"", np.random.default_rng(0).bytes(5000)])
def test_a_file_that_is_no_video_raises_naming_the_file(tmp_path, content):
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    for read in (frame_count, lambda p: read_frames(p, [0]), lambda p: sample_frames(p, 8)):
        with pytest.raises(MediaReadError, match="broken.mp4"):
            read(path)


def test_a_missing_file_raises(tmp_path):
    with pytest.raises(MediaReadError, match="missing.mp4"):
        sample_frames(tmp_path / "missing.mp4", 8)


def test_a_file_without_video_raises(tmp_path):
    path = tmp_path / "sound.wav"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        silence = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), layout="mono")
        silence.sample_rate = 8000
        container.mux(stream.encode(silence))
        container.mux(stream.encode())
    with pytest.raises(MediaReadError, match="sound.wav: no video stream"):
        frame_count(path)


@pytest.mark.skipif(not FFPP.is_dir(), reason="shared FF++ sample not present")
def test_sampling_a_real_video_equals_a_sequential_decode():
    path = FFPP / "original_sequences" / "youtube" / "c23" / "videos" / "519.mp4"
    count, got = sample_frames(path, 32)
    wanted = sample_indices(751, 32)
    assert count == 751
    assert_same_frames(got, sequential(path, set(wanted)), wanted)
