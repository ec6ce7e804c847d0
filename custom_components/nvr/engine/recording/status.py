"""What a recorder is set to, and what it reports."""

from __future__ import annotations

import errno
from dataclasses import dataclass
from enum import StrEnum

import av.error


class RecordingMode(StrEnum):
    """When a channel records."""

    OFF = "off"
    CONTINUOUS = "continuous"
    MOTION = "motion"
    OBJECTS = "objects"
    """Only while a person, vehicle, bicycle or animal is seen (the channel's object detection), with pre-roll."""


class RecordingFault(StrEnum):
    """Why recording is paused."""

    DISK_FULL = "disk_full"
    UNWRITABLE = "unwritable"
    WRITE_ERROR = "write_error"
    STREAM_REJECTED = "stream_rejected"
    """The muxer refused the stream's parameters or packets: not a fault of the disk."""

    @property
    def disk(self) -> bool:
        """Whether the storage is at fault."""
        return self is not RecordingFault.STREAM_REJECTED


class EventKind(StrEnum):
    """What started an event."""

    MOTION = "motion"
    MANUAL = "manual"
    PERSON = "person"
    VEHICLE = "vehicle"
    BICYCLE = "bicycle"
    ANIMAL = "animal"


OBJECT_KINDS: frozenset[EventKind] = frozenset(
    {EventKind.PERSON, EventKind.VEHICLE, EventKind.BICYCLE, EventKind.ANIMAL}
)
"""The events of object detection (the recording mode ``objects`` records them)."""


@dataclass(frozen=True, slots=True)
class RecorderSettings:
    """Per-channel recording settings."""

    mode: RecordingMode = RecordingMode.CONTINUOUS
    segment_seconds: float = 60.0
    pre_roll: float = 5.0
    post_roll: float = 10.0


@dataclass(frozen=True, slots=True)
class RecorderStatus:
    """What the recorder is doing, for entities and repairs."""

    mode: RecordingMode = RecordingMode.CONTINUOUS
    recording: bool = False
    fault: RecordingFault | None = None
    fault_detail: str | None = None
    bitrate: int | None = None
    """Bits per second of footage written, over the last closed segment."""
    segment: str | None = None
    """Relative path of the file being written."""
    events: tuple[str, ...] = ()
    """Ids of the events going on."""
    manual: bool = False
    """A manual recording is going on."""


_REJECTED = (av.error.InvalidDataError, av.error.PatchWelcomeError, av.error.BugError)
"""FFmpeg's answers, besides EINVAL, for parameters or packets a muxer cannot take."""


def classify_fault(err: BaseException) -> RecordingFault:
    """The fault an error from writing a file stands for."""
    code = getattr(err, "errno", None)
    if isinstance(err, av.error.FFmpegError) and (code == errno.EINVAL or isinstance(err, _REJECTED)):
        return RecordingFault.STREAM_REJECTED
    if code in (errno.ENOSPC, errno.EDQUOT):
        return RecordingFault.DISK_FULL
    if code in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR):
        return RecordingFault.UNWRITABLE
    return RecordingFault.WRITE_ERROR
