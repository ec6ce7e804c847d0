"""Check a stream once, before it becomes a channel: is it there, what is it."""

from __future__ import annotations

import time

import av.error

from .avopen import SUPPORTED_CODECS, FailureReason, classify_error, fps_from_rate, open_input
from .source import InvalidUrlError, StreamSource, redact, validate_url
from .status import StreamInfo

DEFAULT_PROBE_TIMEOUT = 10.0
_FPS_SAMPLE_PACKETS = 12


class ProbeError(Exception):
    """The stream cannot be used; ``reason`` says why."""

    def __init__(self, reason: FailureReason, detail: str = "") -> None:
        """Keep the reason and a redacted detail."""
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


def probe(source: StreamSource, timeout: float = DEFAULT_PROBE_TIMEOUT) -> StreamInfo:
    """Open the stream and describe its video; blocking, run it in a worker.

    Raises ProbeError with the reason when the stream is not usable.
    """
    try:
        validate_url(source.url)
    except InvalidUrlError as err:
        raise ProbeError(FailureReason.INVALID_URL, str(err)) from err
    start = time.monotonic()
    try:
        container = open_input(source, timeout, timeout)
    except (av.error.FFmpegError, OSError) as err:
        reason = classify_error(err, time.monotonic() - start, timeout)
        raise ProbeError(reason, redact(str(err))) from err
    try:
        return _describe(container, start + timeout)
    except (av.error.FFmpegError, OSError) as err:
        raise ProbeError(classify_error(err), redact(str(err))) from err
    finally:
        container.close()


def _describe(container, deadline: float) -> StreamInfo:
    if not container.streams.video:
        raise ProbeError(FailureReason.NO_VIDEO, "the stream carries no video")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    codec = ctx.name if ctx is not None else "none"
    if codec not in SUPPORTED_CODECS:
        raise ProbeError(FailureReason.UNSUPPORTED_CODEC, f"video codec {codec} is not H.264 or H.265")
    width, height = ctx.width, ctx.height
    fps = fps_from_rate(stream.average_rate) or fps_from_rate(stream.guessed_rate)
    if not (width and height and fps):
        width, height, measured = _sample(container, stream, deadline, width, height)
        fps = fps or measured
    if not (width and height):
        raise ProbeError(FailureReason.NO_VIDEO, "no decodable picture arrived")
    return StreamInfo(codec=codec, width=width, height=height, fps=fps)


def _sample(container, stream, deadline, width, height):
    """Read a few packets to learn the size and frame rate."""
    stamps: list[float] = []
    for packet in container.demux(stream):
        if packet.pts is not None and packet.time_base:
            stamps.append(float(packet.pts * packet.time_base))
        if not (width and height) and packet.size:
            for frame in stream.codec_context.decode(packet):
                width, height = frame.width, frame.height
        if len(stamps) >= _FPS_SAMPLE_PACKETS or time.monotonic() > deadline:
            break
    return width, height, _fps_from_stamps(stamps)


def _fps_from_stamps(stamps: list[float]) -> float | None:
    stamps = sorted(set(stamps))
    if len(stamps) < 3 or stamps[-1] <= stamps[0]:
        return None
    return round((len(stamps) - 1) / (stamps[-1] - stamps[0]), 2)
