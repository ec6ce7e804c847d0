"""What is known about a stream: what it carries and whether it is up."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FailureReason(StrEnum):
    """Why a stream could not be used; values double as translation keys."""

    INVALID_URL = "invalid_url"
    CANNOT_CONNECT = "cannot_connect"
    INVALID_AUTH = "invalid_auth"
    NO_VIDEO = "no_video"
    TIMEOUT = "timeout"
    UNSUPPORTED_CODEC = "unsupported_codec"


class StreamError(Exception):
    """A stream cannot be used: ``reason`` says why, ``detail`` (redacted) how."""

    def __init__(self, reason: FailureReason, detail: str = "") -> None:
        """Keep the reason and a redacted detail."""
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """The video a stream carries, as found when it was opened."""

    codec: str
    width: int
    height: int
    fps: float | None

    def describe(self) -> str:
        """Return e.g. 'H264 1920×1080 25 fps'."""
        text = f"{self.codec.upper()} {self.width}×{self.height}"
        if self.fps:
            text += f" {self.fps:g} fps"
        return text


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """A reader's view of its stream at one moment."""

    connected: bool = False
    info: StreamInfo | None = None
    bitrate: int | None = None
    """Bits per second over the last few seconds."""
    measured_fps: float | None = None
    last_frame_time: float | None = None
    """Wall-clock time (time.time()) of the newest packet received."""
    failure: FailureReason | None = None
    """Why the stream is down, while it is down."""
    last_error: str | None = None
    """Details of the last failure, credentials redacted."""
    reconnects: int = 0
