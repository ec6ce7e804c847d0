"""Opening RTSP inputs with PyAV, and naming why an open failed.

Works on PyAV 13 (HA 2025.4) and PyAV 19 (HA 2026.x): timeouts go through
``av.open(timeout=(open, read))`` (FFmpeg's old socket-timeout option is ignored by newer
FFmpeg), and failures are told apart by ``av.error`` classes and errno.
"""

from __future__ import annotations

import errno
from enum import StrEnum
from fractions import Fraction

import av
import av.error
from av.container import InputContainer

from .source import StreamSource

SUPPORTED_CODECS = frozenset({"h264", "hevc"})
"""Codecs that HA's stream component can serve live and that MP4 can hold."""

# Short probing: SPS/PPS arrive in the SDP or with the first keyframe.
_PROBE_OPTIONS = {"analyzeduration": "500000", "probesize": "500000"}


class FailureReason(StrEnum):
    """Why a stream could not be used; values double as translation keys."""

    INVALID_URL = "invalid_url"
    CANNOT_CONNECT = "cannot_connect"
    INVALID_AUTH = "invalid_auth"
    NO_VIDEO = "no_video"
    TIMEOUT = "timeout"
    UNSUPPORTED_CODEC = "unsupported_codec"


def open_input(
    source: StreamSource,
    open_timeout: float,
    read_timeout: float,
    *,
    video_only: bool = False,
) -> InputContainer:
    """Open an RTSP input; raises av.error.FFmpegError or OSError."""
    options = dict(_PROBE_OPTIONS)
    options["rtsp_transport"] = source.transport
    if video_only:
        options["allowed_media_types"] = "video"
    if source.transport == "udp":
        options["buffer_size"] = str(4 * 1024 * 1024)
        options["reorder_queue_size"] = "64"
    return av.open(
        source.authenticated_url(),
        mode="r",
        options=options,
        timeout=(open_timeout, read_timeout),
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


def fps_from_rate(rate: Fraction | None) -> float | None:
    """Turn a PyAV frame rate into fps, ignoring missing or absurd values."""
    if not rate or rate <= 0 or rate > 240:
        return None
    return round(float(rate), 2)
