"""Re-encoding a whole source video with libx264, for the suite's H.264 tracks.

Platforms compress frames, not crops, and motion-predicted frames matter: a crop from a
re-encoded video is not the same as a re-encoded crop. The source is decoded, re-encoded and
decoded again as a stream with the suite's codec settings (`codecs.h264_stream`), so a long
video never sits in memory uncompressed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import av
import numpy as np

from fakeguard.data.frames import MediaReadError, rgb_array
from fakeguard.robustness import codecs


def decoded_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Every frame of the first video stream, in presentation order, as uint8 RGB."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as error:
        raise MediaReadError(f"{path}: cannot open video ({error})") from error
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            yield rgb_array(frame)


def h264_video(path: str | Path, crf: int, indices: Sequence[int]) -> dict[int, np.ndarray]:
    """Re-encode the whole video at `crf` (suite settings: yuv420p, 25 fps, default preset)
    and return the decoded frames at `indices`."""
    wanted = set(indices)
    stream = codecs.h264_stream(decoded_frames(path), crf)
    return {i: frame for i, frame in enumerate(stream) if i in wanted}
