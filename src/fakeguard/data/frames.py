"""Decode a few sampled frames of a video with PyAV, exactly and without decoding the rest.

Frame indices are 0-based in presentation order, as a plain sequential decode counts them.
One demuxing pass (cheap: no decoding) reads every packet's pts and keyframe flag. When those
pts lie on the grid of a constant frame rate, a frame's index follows from its pts, so
`read_frames` may seek over whole GOPs to the keyframe before the next wanted frame. The grid
is trusted only while every decoded frame lands where it says; on any disagreement the video
is decoded again from the start, counting frames, as it is when the frame rate is variable.
So the result is always the frames a sequential decode gives, at the same indices.
"""

from __future__ import annotations

import bisect
import functools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

import av
import av.container
import av.error
import av.stream
import numpy as np

# A seek flushes the decoder, throwing away the frames it has in flight, and its threads
# restart empty: below this many skipped frames decoding through costs as much.
_MIN_SKIP = 8


class MediaReadError(ValueError):
    """A video (or frame) that cannot be decoded; message names the file and why."""


def sample_indices(frame_count: int, n: int) -> list[int]:
    """`n` frame indices spread evenly over the video, first and last frame included."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if frame_count <= n:
        return list(range(max(frame_count, 0)))
    return np.unique(np.round(np.linspace(0, frame_count - 1, n))).astype(int).tolist()


def frame_count(path: str | os.PathLike) -> int:
    """Frames of the first video stream: as the container records them, else estimated from
    the duration, else counted by demuxing packets (no decoding)."""
    with _open(path) as container:
        return _frame_count(container, _video_stream(container, path))


def read_frames(path: str | os.PathLike, indices: Sequence[int]) -> dict[int, np.ndarray]:
    """Decode the frames at `indices` as uint8 RGB HxWx3 arrays, keyed by index.

    Frames that cannot be decoded (past the end, or past the damage in a truncated file) are
    left out. Raises MediaReadError when the file cannot be opened or not one frame decodes.
    """
    wanted = sorted({int(i) for i in indices})
    if wanted and wanted[0] < 0:
        raise ValueError(f"frame indices must be >= 0, got {wanted[0]}")
    with _open(path) as container:
        stream = _video_stream(container, path)
        return _read(path, container, stream, wanted, _scan(container, stream))


def sample_frames(path: str | os.PathLike, n: int) -> tuple[int, dict[int, np.ndarray]]:
    """(frame count, the `n` evenly sampled frames that decode), see `sample_indices`."""
    # One container for counting, scanning and decoding: opening one probes (decodes) a frame.
    with _open(path) as container:
        stream = _video_stream(container, path)
        scan = _scan(container, stream)
        count = _frame_count(container, stream, scan.packets)
        return count, _read(path, container, stream, sample_indices(count, n), scan)


def _frame_count(
    container: av.container.InputContainer, stream: av.VideoStream, packets: int | None = None
) -> int:
    if stream.frames > 0:
        return stream.frames
    duration = _duration(container, stream)
    if duration and stream.average_rate:
        return round(duration * stream.average_rate)
    return packets if packets is not None else _scan(container, stream).packets


class _Misplaced(Exception):
    """A decoded frame is not where the pts grid put it."""


@dataclass(frozen=True)
class _Grid:
    """pts of a constant frame rate: frame i at first + i * step, give or take the rounding of
    timestamps to the time base (Matroska's milliseconds)."""

    first: int
    step: Fraction

    @classmethod
    def fit(cls, stream: av.VideoStream, pts: list[int]) -> _Grid | None:
        """The grid all of `pts` lie on, one frame per point; None for variable frame rate."""
        if not pts or not stream.average_rate or not stream.time_base:
            return None
        grid = cls(min(pts), 1 / (stream.average_rate * stream.time_base))
        indices = {grid.index(p) for p in pts}
        return grid if None not in indices and len(indices) == len(pts) else None

    def index(self, pts: int | None) -> int | None:
        if pts is None:
            return None
        i = round((pts - self.first) / self.step)
        return i if i >= 0 and abs(pts - self.first - i * self.step) <= Fraction(1, 2) else None


@dataclass(frozen=True)
class _Scan:
    """What one pass of demuxing, without decoding, tells about the frames."""

    packets: int  # frames a decoder outputs
    grid: _Grid | None  # None: variable frame rate or missing pts, so no seeking
    keyframe_pts: dict[int, int]  # index -> pts, on the grid
    cut: bool  # evidently damaged or truncated

    def keyframe_at_or_before(self, index: int) -> int | None:
        keys = self.keyframes
        at = bisect.bisect_right(keys, index)
        return keys[at - 1] if at else None

    @functools.cached_property
    def keyframes(self) -> list[int]:
        return sorted(self.keyframe_pts)


def _scan(container: av.container.InputContainer, stream: av.VideoStream) -> _Scan:
    packets = _Packets(container, stream)
    count, total, pts, keys, end = 0, 0, [], [], None
    for packet in packets:
        total += 1
        if packet.is_discard:  # decoded only as a reference, never output
            continue
        count += 1
        if packet.pts is not None:
            pts.append(packet.pts)
            if packet.is_keyframe:
                keys.append(packet.pts)
            last = packet.pts + (packet.duration or 0)
            end = last if end is None else max(end, last)
    grid = _Grid.fit(stream, pts) if len(pts) == count else None
    keyframes = {grid.index(p): p for p in keys} if grid else {}
    cut = packets.damaged or total < stream.frames or _ends_early(container, stream, end)
    return _Scan(count, grid, keyframes, cut)


def _ends_early(
    container: av.container.InputContainer, stream: av.VideoStream, end: int | None
) -> bool:
    """Whether the packets stop short of the recorded duration, by more than a frame."""
    duration = _duration(container, stream)
    if end is None or not duration or not stream.average_rate or stream.frames > 0:
        return False
    start = stream.start_time or 0
    return (end - start) * stream.time_base < duration - 1 / stream.average_rate


def _read(
    path: str | os.PathLike,
    container: av.container.InputContainer,
    stream: av.VideoStream,
    wanted: list[int],
    scan: _Scan,
) -> dict[int, np.ndarray]:
    """The wanted frames: decoded in `container` after `_scan`, seeking on the pts grid; with
    no grid, or one that proves wrong, decoded in a fresh container, counting frames."""
    if not wanted:
        return {}
    if scan.grid is not None:
        try:
            _seek(container, stream, scan.grid.first)  # back to the start after the scan
            return _decode(path, container, stream, wanted, scan, scan.grid)
        except _Misplaced:
            pass
    with _open(path) as fresh:
        return _decode(path, fresh, _video_stream(fresh, path), wanted, scan, None)


def _decode(
    path: str | os.PathLike,
    container: av.container.InputContainer,
    stream: av.VideoStream,
    wanted: list[int],
    scan: _Scan,
    grid: _Grid | None,
) -> dict[int, np.ndarray]:
    """Decode from the first frame, converting only the wanted ones. With a grid each frame
    must land on the index after the last one (or on the keyframe sought to), and a seek skips
    the GOPs before the next wanted frame when that saves decoding."""
    stream.thread_type = "AUTO"
    # At the end of the packets the decoder gives up the frames it holds for reordering. In a
    # truncated file they can come after a frame that never decoded, so only the grid, not a
    # count, can place them.
    drain = grid is not None or not scan.cut
    frames: dict[int, np.ndarray] = {}
    todo = wanted[::-1]  # the next wanted index is last, popped once passed
    start, index, any_decoded = 0, -1, False
    while todo:
        source = _Frames(container, stream, drain)
        seek_to = None
        for frame, drained in source:
            any_decoded = True
            if grid is None:
                index += 1
            else:
                at = grid.index(frame.pts)
                if start and index < start and at is not None and at < start:
                    continue  # shown before the keyframe sought to (open GOP): not wanted
                if at is None or at <= index or (at > index + 1 and not drained):
                    raise _Misplaced
                index = at
            if frame.is_corrupt:  # concealed damage, which later frames may copy
                break
            while todo and todo[-1] < index:  # a gap in the drained frames: absent
                todo.pop()
            if todo and todo[-1] == index:
                frames[index] = frame.to_ndarray(format="rgb24")
                todo.pop()
            if not todo:
                break
            if grid is not None and not drained:
                key = scan.keyframe_at_or_before(todo[-1])
                # Frames up to start + source.sent are in the decoder already.
                if key is not None and key >= max(start + source.sent, index + 1) + _MIN_SKIP:
                    seek_to = key
                    break
        if seek_to is None:
            break  # done, or the end of what decodes
        _seek(container, stream, scan.keyframe_pts[seek_to])
        start, index = seek_to, seek_to - 1
    if not any_decoded:
        raise MediaReadError(f"{path}: no frame could be decoded")
    return frames


def _seek(container: av.container.InputContainer, stream: av.VideoStream, pts: int) -> None:
    """Seek to the keyframe at or before `pts`; this flushes the decoder."""
    try:
        container.seek(pts, backward=True, any_frame=False, stream=stream)
    except av.error.FFmpegError as error:
        raise _Misplaced from error


class _Packets:
    """The stream's packets up to its end or the first damage (then `damaged` is set): a
    packet cut short by truncation, whose decoding gives garbage, or a demuxing error."""

    def __init__(self, container: av.container.InputContainer, stream: av.stream.Stream):
        self.container, self.stream, self.damaged = container, stream, False

    def __iter__(self) -> Iterator[av.Packet]:
        try:
            for packet in self.container.demux(self.stream):
                if packet.is_corrupt:
                    self.damaged = True
                    return
                if packet.size:  # not PyAV's empty packet at the end
                    yield packet
        except av.error.FFmpegError:
            self.damaged = True


class _Frames:
    """(frame, drained) in presentation order from the demuxer's position, up to the end of
    the packets, then (if `drain`) what the decoder still holds; nothing after a decoding
    error. `sent` counts the packets given to the decoder."""

    def __init__(self, container: av.container.InputContainer, stream: av.VideoStream, drain: bool):
        self.packets, self.stream, self.drain, self.sent = (
            _Packets(container, stream),
            stream,
            drain,
            0,
        )

    def __iter__(self) -> Iterator[tuple[av.VideoFrame, bool]]:
        try:
            for packet in self.packets:
                self.sent += 1
                for frame in self.stream.decode(packet):
                    yield frame, False
            if self.drain:
                for frame in self.stream.decode(None):
                    yield frame, True
        except av.error.FFmpegError:
            return  # the decoder failed: what it still holds cannot be trusted


def _duration(container: av.container.InputContainer, stream: av.stream.Stream) -> Fraction:
    """Seconds, as the container records them; 0 when it does not."""
    if stream.duration and stream.time_base:
        return stream.duration * stream.time_base
    if container.duration:
        return Fraction(container.duration, av.time_base)
    return Fraction(0)


def _open(path: str | os.PathLike) -> av.container.InputContainer:
    try:
        return av.open(os.fspath(path))
    except (av.error.FFmpegError, OSError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise MediaReadError(f"{path}: cannot open video ({reason})") from error


def _video_stream(
    container: av.container.InputContainer, path: str | os.PathLike
) -> av.VideoStream:
    if not container.streams.video:
        container.close()
        raise MediaReadError(f"{path}: no video stream")
    return container.streams.video[0]
