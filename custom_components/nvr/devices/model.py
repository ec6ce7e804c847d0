"""What a device client reports: the device, its channels, its events, its errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from ..const import MAX_NAME_LENGTH


def clip_name(name: str) -> str:
    """A name a device reports, at most MAX_NAME_LENGTH characters (an ellipsis ends a shortened one)."""
    name = " ".join(name.split())
    return name if len(name) <= MAX_NAME_LENGTH else name[: MAX_NAME_LENGTH - 1].rstrip() + "…"


class Protocol(StrEnum):
    """How the integration talks to a device."""

    ISAPI = "isapi"
    ONVIF = "onvif"


class DeviceErrorReason(StrEnum):
    """Why a device could not be used (also the flow's translation key)."""

    INVALID_AUTH = "invalid_auth"
    """The device answered 401/403 (or an ONVIF NotAuthorized fault) to the credentials."""
    NOT_SUPPORTED = "not_supported"
    """Something answered, but not ISAPI (or not ONVIF)."""
    TIMEOUT = "timeout"
    """The port accepted the connection (or not) but never answered in time."""
    CANNOT_CONNECT = "cannot_connect"
    """Connection refused, host unknown, TLS or protocol error."""
    NO_CHANNELS = "no_channels"
    """The device answered but lists no video channel."""


class DeviceError(Exception):
    """A device could not be reached, understood or logged in to.

    ``str(err)`` is a short English detail without credentials.
    """

    def __init__(self, reason: DeviceErrorReason, detail: str = "") -> None:
        """Keep the reason and a detail for the log."""
        super().__init__(detail or reason.value)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class DeviceConnection:
    """Where a device is and how to log in (the device subentry's data)."""

    host: str
    port: int
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class StreamDetail:
    """One stream of a channel: its RTSP URL (no credentials in it), codec and size when known."""

    url: str
    codec: str | None = None
    """"h264", "hevc", "mjpeg"..."""
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class DeviceChannel:
    """A video channel of a recorder, or the (first) video input of a camera."""

    id: str
    """The device's id of the channel: ISAPI's channel number ("1"), ONVIF's video source token."""
    name: str
    main: StreamDetail
    sub: StreamDetail | None = None
    online: bool = True
    snapshot_url: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", clip_name(self.name))


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What a device says about itself."""

    protocol: Protocol
    name: str
    manufacturer: str
    model: str
    serial: str | None
    firmware: str | None
    mac: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", clip_name(self.name))


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """An event the device reports for one channel.

    ``kind`` is one of ``EVENT_KINDS``; ``active`` is whether the condition
    goes on (an ISAPI "active" message, an ONVIF ``IsMotion``/``State`` true)
    or ended.
    """

    channel: str
    """``DeviceChannel.id`` of the channel it concerns."""
    kind: str
    active: bool
    time: float
    """Wall time (time.time()) the event was received."""


EVENT_MOTION = "motion"
EVENT_LINE_CROSSING = "line_crossing"
EVENT_INTRUSION = "intrusion"
EVENT_VIDEO_LOSS = "video_loss"
EVENT_TAMPER = "tamper"
EVENT_KINDS = (EVENT_MOTION, EVENT_LINE_CROSSING, EVENT_INTRUSION, EVENT_VIDEO_LOSS, EVENT_TAMPER)
