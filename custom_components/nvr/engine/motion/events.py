"""What a motion event reports, who records it, and where its picture goes."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import av

from ..recording.layout import thumbnail_relpath
from ..stills.snapshot import encode_jpeg

_LOGGER = logging.getLogger(__name__)

THUMBNAIL_WIDTH = 640


@dataclass(frozen=True, slots=True)
class MotionUpdate:
    """A motion event starting or ending."""

    kind: Literal["motion_start", "motion_end"]
    event_id: str
    start: float
    """Wall time of the first motion frame."""
    end: float | None
    """Wall time of the end (last motion frame + off delay); None at the start."""
    score: float
    """Peak score so far: changed area relative to the minimum area (1.0 = just enough)."""
    peak_time: float
    thumbnail: str | None
    """The JPEG's path relative to the storage root; None when nothing could be written."""
    jpeg: bytes | None
    """The JPEG itself (start frame at the start, peak frame at the end)."""


class EventSink(Protocol):
    """Where motion events go (the channel's :class:`.recorder.Recorder`)."""

    def start_event(self, kind: str = ..., duration: float | None = None, at: float | None = None) -> str:
        """Begin an event; returns its id."""

    def end_event(
        self, event_id: str, at: float | None = None, score: float | None = None, thumbnail: str | None = None
    ) -> None:
        """End an event."""


def new_event_id(at: float) -> str:
    """An event id like the recorder's (used when there is no recorder)."""
    return f"{int(at * 1000):x}{secrets.token_hex(4)}"


def write_thumbnail(
    root: Path | None, channel: str, event_id: str, start: float, frame: av.VideoFrame, label: str
) -> tuple[str | None, bytes | None]:
    """Encode ``frame`` as the event's JPEG and save it under ``root``.

    Returns (path relative to ``root``, JPEG): the path is None when nothing
    was written (no root, a disk error), the JPEG None when it could not be
    encoded (the event still counts).
    """
    try:
        jpeg = encode_jpeg(frame, width=min(THUMBNAIL_WIDTH, frame.width))
    except Exception as err:  # PyAV errors
        _LOGGER.debug("Motion thumbnail of %s not encoded: %s", label, err)
        return None, None
    if root is None:
        return None, jpeg
    relpath = thumbnail_relpath(channel, event_id, start)
    path = root / relpath
    tmp = path.with_suffix(".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(jpeg)
        os.replace(tmp, path)
    except OSError as err:
        _LOGGER.debug("Motion thumbnail of %s not written: %s", label, err)
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        return None, jpeg
    return relpath, jpeg
