"""Check a stream once, before it becomes a channel: is it there, what is it."""

from __future__ import annotations

import time

import av.error

from ..libav import single_threaded
from .avopen import classify_error, fps_from_stamps, open_input, video_stream
from .source import InvalidUrlError, StreamSource, redact, validate_url
from .status import FailureReason, StreamError, StreamInfo

DEFAULT_PROBE_TIMEOUT = 10.0
_FPS_SAMPLE_PACKETS = 12


def probe(source: StreamSource, timeout: float = DEFAULT_PROBE_TIMEOUT) -> StreamInfo:
    """Open the stream and describe its video; blocking, run it in a worker.

    Raises StreamError with the reason when the stream is not usable.
    """
    try:
        validate_url(source.url)
    except InvalidUrlError as err:
        raise StreamError(FailureReason.INVALID_URL, str(err)) from err
    start = time.monotonic()
    try:
        container = open_input(source, timeout, timeout)
    except (av.error.FFmpegError, OSError) as err:
        reason = classify_error(err, time.monotonic() - start, timeout)
        raise StreamError(reason, redact(str(err))) from err
    try:
        return _describe(container, start + timeout)
    except (av.error.FFmpegError, OSError) as err:
        raise StreamError(classify_error(err), redact(str(err))) from err
    finally:
        container.close()


def _describe(container, deadline: float) -> StreamInfo:
    stream, info = video_stream(container)
    # The frame rate always comes from the timestamps: the demuxer's guess can be twice the real one.
    width, height, fps = _sample(container, stream, deadline, info.width, info.height)
    if not (width and height):
        raise StreamError(FailureReason.NO_VIDEO, "no decodable picture arrived")
    return StreamInfo(codec=info.codec, width=width, height=height, fps=fps)


def _sample(container, stream, deadline, width, height):
    """Read a few packets to learn the size and frame rate."""
    stamps: list[float] = []
    single_threaded(stream.codec_context)  # decoded on this thread alone (see engine/libav.py)
    for packet in container.demux(stream):
        if packet.pts is not None and packet.time_base:
            stamps.append(float(packet.pts * packet.time_base))
        if not (width and height) and packet.size:
            for frame in stream.codec_context.decode(packet):
                width, height = frame.width, frame.height
        if len(stamps) >= _FPS_SAMPLE_PACKETS or time.monotonic() > deadline:
            break
    return width, height, fps_from_stamps(stamps)
