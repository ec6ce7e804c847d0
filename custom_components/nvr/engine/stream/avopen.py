"""Opening RTSP inputs with PyAV, and naming why an open failed.

Works on PyAV 13 (HA 2025.4) and PyAV 19 (HA 2026.x): timeouts go through
``av.open(timeout=(open, read))`` (FFmpeg's old socket-timeout option is ignored by newer
FFmpeg), and failures are told apart by ``av.error`` classes and errno.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable

import av
import av.error
from av.container import InputContainer
from av.video.stream import VideoStream

from ..libav import open_decoder
from .source import StreamSource
from .status import FailureReason, StreamError, StreamInfo

SUPPORTED_CODECS = frozenset({"h264", "hevc"})
"""Codecs that HA's stream component can serve live and that MP4 can hold."""

_PROBE_OPTIONS = {"analyzeduration": "500000", "probesize": "500000"}
"""Short probing: the SDP gives the streams and their parameter sets.

Even so the probe may end before it learnt the picture size (under load,
or when the first keyframe comes late): the reader then reads the size from
the SPS (see ``sps``), and the frame rate always comes from the timestamps.
"""


def socket_timed(source: StreamSource) -> bool:
    """Whether :func:`open_input` can leave ``source``'s read timeout to FFmpeg's socket (TCP)."""
    return source.transport != "udp"


def open_input(
    source: StreamSource,
    open_timeout: float,
    read_timeout: float,
    *,
    video_only: bool = False,
    socket_timeout: bool = False,
) -> InputContainer:
    """Open an RTSP input; raises av.error.FFmpegError or OSError.

    PyAV times reads with FFmpeg's interrupt callback, which FFmpeg calls
    before every socket read and in every 100 ms poll slice, and which takes
    the GIL each time to read Python's clock: over TCP that is several times
    per RTP packet, thousands of times a second for a 1080p stream, and many
    readers in one process then queue for the GIL (see ``stream.watchdog``).
    With ``socket_timeout`` (and a TCP source, :func:`socket_timed`) PyAV
    only times the open; reads are timed by FFmpeg's own socket timeout
    (``timeout``, the same ``read_timeout``: no byte at all for that long
    fails the read with ETIMEDOUT), which needs no GIL. A connection that
    stays busy without delivering packets is then the caller's to catch.
    """
    options = dict(_PROBE_OPTIONS)
    options["rtsp_transport"] = source.transport
    if video_only:
        options["allowed_media_types"] = "video"
    if source.transport == "udp":
        options["buffer_size"] = str(4 * 1024 * 1024)
        options["reorder_queue_size"] = "64"
    timeouts: tuple[float, float | None] = (open_timeout, read_timeout)
    if socket_timeout and socket_timed(source):
        options["timeout"] = str(int(read_timeout * 1_000_000))  # microseconds
        timeouts = (open_timeout, None)
    return av.open(
        source.authenticated_url(),
        mode="r",
        options=options,
        timeout=timeouts,
    )


def classify_error(err: BaseException, waited: float | None = None, limit: float | None = None) -> FailureReason:
    """Map an exception from opening or reading a stream to a reason.

    When FFmpeg's blocking call is interrupted by PyAV's timeout, the RTSP
    demuxer often reports "Invalid data" rather than a timeout; so an error
    that arrives after ``waited`` >= ``limit`` seconds counts as a timeout.
    """
    if isinstance(err, (av.error.HTTPUnauthorizedError, av.error.HTTPForbiddenError)):
        return FailureReason.INVALID_AUTH
    if isinstance(err, (av.error.ExitError, TimeoutError)):
        return FailureReason.TIMEOUT
    if isinstance(err, OSError) and err.errno == errno.ETIMEDOUT:
        return FailureReason.TIMEOUT
    if waited is not None and limit is not None and waited >= limit * 0.95:
        return FailureReason.TIMEOUT
    return FailureReason.CANNOT_CONNECT


def video_stream(container: InputContainer) -> tuple[VideoStream, StreamInfo]:
    """The container's video stream and what the open learnt of it.

    Raises StreamError when there is no video or its codec is not supported.
    Width and height may still be 0 if the open did not see them; the frame
    rate is left out (None): only the video's timestamps tell it right.
    """
    if not container.streams.video:
        raise StreamError(FailureReason.NO_VIDEO, "the stream carries no video")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    codec = ctx.name if ctx is not None else "none"
    if codec not in SUPPORTED_CODECS:
        raise StreamError(FailureReason.UNSUPPORTED_CODEC, f"video codec {codec} is not H.264 or H.265")
    return stream, StreamInfo(codec, ctx.width, ctx.height, None)


def fps_from_stamps(stamps: Iterable[float]) -> float | None:
    """Frames per second from presentation times in seconds (None if too few)."""
    unique = sorted(set(stamps))
    if len(unique) < 3 or unique[-1] <= unique[0]:
        return None
    return round((len(unique) - 1) / (unique[-1] - unique[0]), 2)


def decoded_size(codec: str, extradata: bytes | None, keyframe: bytes) -> tuple[int, int] | None:
    """The picture size found by decoding a keyframe (when no SPS could be read); blocking."""
    try:
        ctx = open_decoder(codec, extradata)
        frames = ctx.decode(av.Packet(keyframe)) or ctx.decode(None)
    except (av.error.FFmpegError, ValueError):
        return None
    return (frames[0].width, frames[0].height) if frames else None
