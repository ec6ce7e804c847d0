"""A recorded picture at a moment: the thumbnail of a search match.

The file is demuxed from its last keyframe at or before the moment, and
decoded by a decoder with no FFmpeg thread of its own (``libav.open_decoder``):
its teardown never waits for a thread that may want the GIL. The container is
closed here, in this thread.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import av
import av.error

from ..libav import open_decoder
from ..stills.snapshot import encode_jpeg

THUMBNAIL_WIDTH = 320
MAX_DECODED = 300
"""Most pictures decoded to reach the moment (10 s at 30 fps: a long GOP)."""


def recorded_jpeg(path: Path, offset: float, width: int = THUMBNAIL_WIDTH) -> bytes | None:
    """The picture ``offset`` seconds into a recorded file, as a JPEG at most ``width`` wide; None if none."""
    try:
        container = av.open(str(path), "r")
    except (av.error.FFmpegError, OSError):
        return None
    try:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        time_base = stream.time_base
        target = int(max(0.0, offset) / time_base)
        with contextlib.suppress(av.error.FFmpegError):
            container.seek(target, stream=stream, backward=True, any_frame=False)
        decoder = open_decoder(stream.codec_context.name, stream.codec_context.extradata)
        picture = None
        decoded = 0
        with contextlib.suppress(av.error.FFmpegError, OSError):
            for packet in container.demux(stream):
                frames = decoder.decode(packet if packet.size else None)
                for frame in frames:
                    decoded += 1
                    picture = frame
                if picture is not None and (picture.pts is None or picture.pts >= target):
                    break
                if decoded >= MAX_DECODED or not packet.size:
                    break
        if picture is None:
            return None
        return encode_jpeg(picture, width=min(width, picture.width))
    finally:
        container.close()
