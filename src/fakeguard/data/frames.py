"""Decode a few sampled frames of a video with PyAV, exactly and without decoding the rest.

Frame indices are 0-based in presentation order, as a plain sequential decode counts them.
When the wanted frames lie far enough apart for a seek to pay, one demuxing pass (cheap: no
decoding) reads every packet's pts and keyframe flag. If those pts lie on the grid of a
constant frame rate, a frame's index follows from its pts, so `read_frames` seeks over whole
GOPs to the keyframe before the next wanted frame. The grid is trusted only while every
decoded frame lands where it says; on any disagreement the video is decoded again from the
start, counting frames, as it is when the frame rate is variable. So the result is always the
frames a sequential decode gives, at the same indices.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import av
import av.container
import av.error
import av.stream
import numpy as np

# A seek flushes the decoder, throwing away the frames it has in flight, and its threads
# restart empty: below this many skipped frames decoding through costs as much.
_MIN_SKIP = 8


def rgb_array(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame as uint8 RGB, converted on one thread: swscale by default splits a frame
    between threads, and the suite once hashed a clip differently in two processes (CI)."""
    return frame.reformat(format="rgb24", threads=1).to_ndarray()


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
        return _frame_count(path, container, _video_stream(container, path))


def read_frames(path: str | os.PathLike, indices: Sequence[int]) -> dict[int, np.ndarray]:
    """Decode the frames at `indices` as uint8 RGB HxWx3 arrays, keyed by index.

    Frames that cannot be decoded (past the end, or past the damage in a truncated file) are
    left out. Raises MediaReadError when the file cannot be opened or not one frame decodes.
    """
    wanted = sorted({int(i) for i in indices})
    if wanted and wanted[0] < 0:
        raise ValueError(f"frame indices must be >= 0, got {wanted[0]}")
    with _open(path) as container:
        return _read(path, container, _video_stream(container, path), wanted)


def sample_frames(path: str | os.PathLike, n: int) -> tuple[int, dict[int, np.ndarray]]:
    """(frame count, the `n` evenly sampled frames that decode), see `sample_indices`."""
    # One container for counting and decoding: opening one probes (decodes) a frame.
    with _open(path) as container:
        stream = _video_stream(container, path)
        count = _frame_count(path, container, stream)
        return count, _read(path, container, stream, sample_indices(count, n))


def _frame_count(
    path: str | os.PathLike, container: av.container.InputContainer, stream: av.VideoStream
) -> int:
    if stream.frames > 0:
        return stream.frames
    duration = _duration(container, stream)
    if duration and stream.average_rate:
        return round(duration * stream.average_rate)
    with _open(path) as other:  # leaves `container` at the start for decoding
        packets = _Packets(other, _video_stream(other, path))
        return sum(not packet.is_discard for packet in packets)


def _read(
    path: str | os.PathLike,
    container: av.container.InputContainer,
    stream: av.VideoStream,
    wanted: list[int],
) -> dict[int, np.ndarray]:
    """The wanted frames from a container not yet read: with seeks on the pts grid when they
    may pay and the scan finds a grid, else (or if the grid proves wrong) counting frames."""
    if not wanted:
        return {}
    if not _seeking_may_pay(stream, wanted):
        return _decode(path, container, stream, wanted, None)
    scan = _scan(container, stream)
    if scan is not None:
        try:
            _seek(container, stream, scan.grid.first)  # back to the start after the scan
            return _decode(path, container, stream, wanted, scan)
        except _Misplaced:
            pass
    with _open(path) as fresh:
        return _decode(path, fresh, _video_stream(fresh, path), wanted, None)


def _seeking_may_pay(stream: av.VideoStream, wanted: list[int]) -> bool:
    """Whether a keyframe may lie between two successive wanted frames (or the start and the
    first) so far past the earlier one that a seek to it would skip `_MIN_SKIP` frames more
    than the decoder has in flight: only then is the scan for keyframes worth a pass over the
    file. Where the container indexes every frame (MP4) this is told for free."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ahead = min((cores or 1) + 1, 16) + 1 + _MIN_SKIP  # FFmpeg's frame threads, B-frame delay
    keyframes = _indexed_keyframes(stream)
    for before, after in zip([-1, *wanted], wanted, strict=False):
        first = before + 1 + ahead
        if first <= after and (
            keyframes is None
            or bisect.bisect_left(keyframes, first) < bisect.bisect_right(keyframes, after)
        ):
            return True
    return False


def _indexed_keyframes(stream: av.VideoStream) -> list[int] | None:
    """Keyframe indices from the container's index when it lists every frame, else None. A
    keyframe's place in decoding order is its index for closed GOPs; no matter if not: this
    only decides whether to scan."""
    entries = stream.index_entries
    if stream.frames <= 0 or len(entries) != stream.frames:
        return None
    return [i for i, entry in enumerate(entries) if entry.is_keyframe]


class _Misplaced(Exception):
    """A decoded frame is not where the pts grid put it."""


@dataclass(frozen=True)
class _Grid:
    """pts of a constant frame rate: frame i at first + i * step, step = num / den, give or
    take the rounding of timestamps to the time base (Matroska's milliseconds)."""

    first: int
    num: int
    den: int

    def index(self, pts: int | None) -> int | None:
        if pts is None:
            return None
        offset = (pts - self.first) * self.den  # integers: this runs for every frame
        i = (2 * offset + self.num) // (2 * self.num)
        return i if i >= 0 and 2 * abs(offset - i * self.num) <= self.den else None


@dataclass(frozen=True)
class _Scan:
    """The pts grid and the keyframes (index -> pts) of a constant frame rate video."""

    grid: _Grid
    keyframe_pts: dict[int, int]
    keyframes: list[int] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keyframes", sorted(self.keyframe_pts))

    def keyframe_at_or_before(self, index: int) -> int | None:
        at = bisect.bisect_right(self.keyframes, index)
        return self.keyframes[at - 1] if at else None


def _scan(container: av.container.InputContainer, stream: av.VideoStream) -> _Scan | None:
    """Demux every packet once, without decoding; None without a pts grid."""
    packets = _Packets(container, stream)
    keys = [p.pts for p in packets if p.is_keyframe and not p.is_discard]
    grid = _fit_grid(stream, packets.pts)
    return _Scan(grid, {grid.index(p): p for p in keys}) if grid is not None else None


def _fit_grid(stream: av.VideoStream, pts: list[int | None]) -> _Grid | None:
    """The constant frame rate grid with one frame at each of `pts`; None when there is none
    (variable frame rate, missing pts)."""
    if not pts or None in pts or not stream.average_rate or not stream.time_base:
        return None
    step = 1 / (stream.average_rate * stream.time_base)
    grid = _Grid(min(pts), step.numerator, step.denominator)
    indices = {grid.index(p) for p in pts}
    return grid if None not in indices and len(indices) == len(pts) else None


def _decode(
    path: str | os.PathLike,
    container: av.container.InputContainer,
    stream: av.VideoStream,
    wanted: list[int],
    scan: _Scan | None,
) -> dict[int, np.ndarray]:
    """Decode from the first frame, converting only the wanted ones. With a scan each frame
    must land on the grid index after the last one (or on the keyframe sought to), and a seek
    skips the GOPs before the next wanted frame when that saves decoding; without, count."""
    stream.thread_type = "AUTO"
    grid = scan.grid if scan is not None else None
    frames: dict[int, np.ndarray] = {}
    todo = wanted[::-1]  # the next wanted index is last, popped once passed
    start, index, any_decoded = 0, -1, False
    while todo:
        source = _Frames(container, stream, placed=grid is not None)
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
                frames[index] = rgb_array(frame)
                todo.pop()
            if not todo:
                break
            if scan is not None and not drained:
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
    """The stream's packets up to its end or the first damage: a packet cut short by
    truncation, whose decoding gives garbage, or a demuxing error. Notes what a pass from
    the start needs to tell a cut stream, and the pts of the frames (not of the packets that
    are only decoded as references, flagged discard)."""

    def __init__(self, container: av.container.InputContainer, stream: av.VideoStream):
        self.container, self.stream = container, stream
        self.damaged, self.total, self.end = False, 0, None
        self.pts: list[int | None] = []

    def __iter__(self) -> Iterator[av.Packet]:
        try:
            for packet in self.container.demux(self.stream):
                if packet.is_corrupt:
                    self.damaged = True
                    return
                if packet.size:  # not PyAV's empty packet at the end
                    self.total += 1
                    if not packet.is_discard:
                        self.pts.append(packet.pts)
                    if packet.pts is not None:
                        last = packet.pts + (packet.duration or 0)
                        self.end = last if self.end is None else max(self.end, last)
                    yield packet
        except av.error.FFmpegError:
            self.damaged = True

    def cut(self) -> bool:
        """Whether the stream, read from the start, evidently stops short: damaged, fewer
        packets than the container records, frames missing from a constant frame rate, or
        (variable rate) ending over a frame before the recorded duration."""
        if self.damaged or self.total < self.stream.frames:
            return True
        grid = _fit_grid(self.stream, self.pts)
        if grid is not None:
            return grid.index(max(self.pts)) != len(self.pts) - 1
        duration, rate = _duration(self.container, self.stream), self.stream.average_rate
        if self.end is None or not duration or not rate or self.stream.frames > 0:
            return False
        start = self.stream.start_time or 0
        return (self.end - start) * self.stream.time_base < duration - 1 / rate


class _Frames:
    """(frame, drained) in presentation order from the demuxer's position: the frames of the
    packets up to their end, then (drained) those the decoder held back for reordering.
    Nothing more after a decoding error. `sent` counts the packets given to the decoder.

    In a cut stream the held-back frames can come after one that never decoded, so a count
    would misplace them: they are drained there only when frames are `placed` by pts."""

    def __init__(
        self, container: av.container.InputContainer, stream: av.VideoStream, placed: bool
    ):
        self.packets, self.stream, self.placed = _Packets(container, stream), stream, placed
        self.sent = 0

    def __iter__(self) -> Iterator[tuple[av.VideoFrame, bool]]:
        try:
            for packet in self.packets:
                self.sent += 1
                for frame in self.stream.decode(packet):
                    yield frame, False
            if self.placed or not self.packets.cut():
                for frame in self.stream.decode(None):
                    yield frame, True
        except av.error.FFmpegError:
            return  # the decoder failed: what it still holds cannot be trusted


def _duration(container: av.container.InputContainer, stream: av.VideoStream) -> Fraction:
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
