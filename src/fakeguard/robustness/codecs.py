"""Pure, deterministic image and video degradations on uint8 RGB HWC arrays.

Every function takes arrays and returns new arrays; nothing touches the disk. The codecs run
entirely in memory: JPEG and WebP through Pillow, H.264 through PyAV's libx264. A missing
encoder raises `CodecUnavailableError` instead of silently falling back to another codec,
since a "robustness" figure measured against the wrong codec would be meaningless.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

import av
import av.error
import cv2
import numpy as np
from PIL import Image, features

from fakeguard.data.frames import rgb_array

H264_CODEC = "libx264"


class CodecUnavailableError(RuntimeError):
    """An encoder this degradation needs (libx264, WebP) is not built into the installed libs."""


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Grey, HxWx1, RGB or RGBA (alpha dropped), 8 or 16 bit -> a new uint8 RGB HWC array.

    The channels are already in RGB order and stay so; an array OpenCV decoded (BGR) goes
    through `fakeguard.data.images.bgr_to_rgb_uint8` instead.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"expected a numpy array, got {type(image).__name__}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise ValueError(f"expected an HxW, HxWx1, HxWx3 or HxWx4 image, got shape {image.shape}")
    if image.size == 0:
        raise ValueError(f"empty image of shape {image.shape}")
    if image.dtype == np.uint16:
        image = (image.astype(np.float32) / 257.0).round().astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(
            f"unsupported pixel type {image.dtype}: expected uint8 or uint16 "
            "(scale float images to 0..255 and cast to uint8 first)"
        )
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return image[:, :, :3].copy()  # C-contiguous, and never aliases the caller's array


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two same-shaped uint8 images; inf if identical."""
    a, b = as_rgb_uint8(a), as_rgb_uint8(b)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {value}")


def _decode_pillow(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as decoded:
        return np.asarray(decoded.convert("RGB")).copy()


def _pillow_encode(image: np.ndarray, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(as_rgb_uint8(image)).save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg_encode(image: np.ndarray, quality: int) -> bytes:
    """JPEG bytes with 4:2:0 chroma subsampling forced, as most real-world JPEGs are."""
    _check_range("JPEG quality", quality, 1, 100)
    # Pillow would pick 4:4:4 for quality >= 90; forcing 4:2:0 keeps every quality comparable.
    return _pillow_encode(image, "JPEG", quality=quality, subsampling=2, optimize=False)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip (4:2:0) at `quality`."""
    return _decode_pillow(jpeg_encode(image, quality))


def webp_encode(image: np.ndarray, quality: int) -> bytes:
    """Lossy WebP bytes (method 4, libwebp's default speed/quality trade-off)."""
    _check_range("WebP quality", quality, 0, 100)
    if not features.check("webp"):
        raise CodecUnavailableError("Pillow was built without WebP support; install libwebp")
    return _pillow_encode(image, "WEBP", quality=quality, method=4, lossless=False)


def webp(image: np.ndarray, quality: int) -> np.ndarray:
    """Lossy WebP round trip at `quality`."""
    return _decode_pillow(webp_encode(image, quality))


def resize_down_up(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Downscale to width x height (area averaging), then upscale back (bilinear)."""
    if width < 1 or height < 1:
        raise ValueError(f"target size must be positive, got {width}x{height}")
    rgb = as_rgb_uint8(image)
    small = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)


def _require_libx264() -> None:
    try:
        av.codec.Codec(H264_CODEC, "w")
    except (av.error.FFmpegError, ValueError) as error:
        raise CodecUnavailableError(
            f"the H.264 encoder {H264_CODEC} is not available in this PyAV build ({error})"
        ) from error


def _checked(frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """Frames as uint8 RGB, checked to be non-empty, of one size, and at least 2x2."""
    size = None
    for frame in frames:
        rgb = as_rgb_uint8(frame)
        if size is None:
            size = rgb.shape[:2]
            if min(size) < 2:
                raise ValueError(
                    f"H.264 frames must be at least 2x2 pixels, got {size[1]}x{size[0]}"
                )
        elif rgb.shape[:2] != size:
            raise ValueError(f"all frames must have the same size, got {size} and {rgb.shape[:2]}")
        yield rgb
    if size is None:
        raise ValueError("need at least one frame")


def h264_encode(frames: Iterable[np.ndarray], crf: int, fps: int = 25) -> tuple[bytes, int]:
    """An in-memory MP4 of the frames, libx264 yuv420p at `crf`, default preset, and the number
    of frames encoded. Frames are consumed one by one, so a long video never sits in memory.

    Frames must share an even width and height (yuv420p halves the chroma planes);
    `h264_frames` trims odd sizes before calling this.
    """
    _check_range("CRF", crf, 0, 51)
    if fps < 1:
        raise ValueError(f"fps must be >= 1, got {fps}")
    _require_libx264()
    buffer = io.BytesIO()
    count = 0
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream(H264_CODEC, rate=fps)
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf)}
        # x264's output depends on its thread count (measured: 1, 2, 3, 4, 8 threads give
        # different streams), and the default count follows the CPU count, so the same clip
        # would degrade differently on another machine. One thread makes it reproducible.
        stream.codec_context.thread_count = 1
        for count, frame in enumerate(_checked(frames), start=1):
            if count == 1:
                height, width = frame.shape[:2]
                if height % 2 or width % 2:
                    raise ValueError(
                        f"yuv420p needs an even width and height, got {width}x{height}"
                    )
                stream.width, stream.height = width, height
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts = count - 1
            container.mux(stream.encode(video_frame))
        container.mux(stream.encode(None))  # flush the frames x264 holds for lookahead
    return buffer.getvalue(), count


def h264_decode(data: bytes) -> Iterator[np.ndarray]:
    """Every frame of the first video stream of an in-memory container, in order, as RGB."""
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            yield rgb_array(frame)


def h264_stream(frames: Iterable[np.ndarray], crf: int, fps: int = 25) -> Iterator[np.ndarray]:
    """H.264 round trip of a clip, frame by frame, at the input's size.

    An odd width or height is trimmed to even for yuv420p, and the lost row/column is
    restored by replicating the decoded edge, so every output pixel went through the codec.
    """
    size: list[tuple[int, int]] = []

    def trimmed() -> Iterator[np.ndarray]:
        for frame in _checked(frames):
            if not size:
                size.append(frame.shape[:2])
            height, width = size[0]
            yield frame[: height - height % 2, : width - width % 2]

    data, count = h264_encode(trimmed(), crf, fps)
    height, width = size[0]
    decoded = 0
    for frame in h264_decode(data):
        decoded += 1
        pad_h, pad_w = height - frame.shape[0], width - frame.shape[1]
        if pad_h or pad_w:
            frame = cv2.copyMakeBorder(frame, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
        yield frame
    if decoded != count:
        raise RuntimeError(f"H.264 round trip gave {decoded} frames for {count}")


def h264_frames(frames: Iterable[np.ndarray], crf: int, fps: int = 25) -> list[np.ndarray]:
    """`h264_stream` collected: the clip's frames after an H.264 round trip."""
    return list(h264_stream(frames, crf, fps))


def h264_image(image: np.ndarray, crf: int) -> np.ndarray:
    """H.264 round trip of one image as a one-frame clip (an intra-coded frame)."""
    return h264_frames([image], crf)[0]
