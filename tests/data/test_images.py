"""Whatever an image file holds (grey, 16 bit, alpha), the pipeline gets uint8 RGB."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fakeguard.data.images import ImageReadError, read_rgb, why_unusable


def test_grayscale_png_becomes_three_channels(tmp_path):
    path = tmp_path / "grey.png"
    cv2.imwrite(str(path), np.full((10, 12), 77, np.uint8))
    image = read_rgb(path)
    assert image.shape == (10, 12, 3) and image.dtype == np.uint8 and (image == 77).all()


def test_16_bit_png_is_scaled_to_8_bit(tmp_path):
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), np.full((8, 8, 3), 65535, np.uint16))
    image = read_rgb(path)
    assert image.dtype == np.uint8 and (image == 255).all()


def test_alpha_is_dropped_and_channels_are_rgb(tmp_path):
    path = tmp_path / "rgba.png"
    bgra = np.zeros((6, 6, 4), np.uint8)
    bgra[..., 2] = 255  # red in OpenCV's BGR order
    bgra[..., 3] = 10
    cv2.imwrite(str(path), bgra)
    image = read_rgb(path)
    assert image.shape == (6, 6, 3) and (image[..., 0] == 255).all() and (image[..., 2] == 0).all()


def test_corrupt_file_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8 definitely not a jpeg")
    with pytest.raises(ImageReadError, match="broken.jpg"):
        read_rgb(path)
    assert "not a readable image" in why_unusable(path)


def test_videos_are_pointed_to_face_extraction(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x00" * 16)
    assert "fakeguard.prepare" in why_unusable(path)
