"""Parsing and state for Hikvision ISAPI ``alertStream`` notifications (no I/O).

:class:`MultipartReader` splits the stream's ``multipart/mixed`` bytes into
parts as they arrive, :func:`parse_alert` reads each
``<EventNotificationAlert>`` (or the JSON form some firmwares send) into an
:class:`Alert`, :data:`EVENT_TYPES` maps ISAPI event types to our event kinds
and :class:`EventTracker` turns Hikvision's "active every second while it goes
on" messages into one start and one end per event. The connection itself is
:class:`~.isapi_events.IsapiEventStream`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from .isapi import child_text, local_name, parse_xml
from .model import (
    EVENT_INTRUSION,
    EVENT_LINE_CROSSING,
    EVENT_MOTION,
    EVENT_TAMPER,
    EVENT_VIDEO_LOSS,
)

EVENT_TYPES = {
    "vmd": EVENT_MOTION,
    "motiondetection": EVENT_MOTION,
    "linedetection": EVENT_LINE_CROSSING,
    "fielddetection": EVENT_INTRUSION,
    "videoloss": EVENT_VIDEO_LOSS,
    "tamperdetection": EVENT_TAMPER,
    "shelteralarm": EVENT_TAMPER,
}
"""ISAPI ``eventType`` (lower case) -> our event kind; other types are ignored."""

_CHANNEL_FIELDS = ("channelID", "dynChannelID", "videoInputChannelID", "dynVideoInputChannelID", "inputIOPortID")

_MAX_PART = 1 << 20
"""Bytes kept while looking for the end of a part without Content-Length (larger parts are dropped)."""
_MAX_KEPT_PART = 256 * 1024
"""Parts longer than this (pictures of smart events) are skipped, not kept."""


@dataclass(frozen=True, slots=True)
class Alert:
    """One notification from the stream, before mapping and dedup."""

    channel: str
    event_type: str
    active: bool


def parse_alert(body: bytes) -> Alert | None:
    """Read an ``EventNotificationAlert`` part (XML, or JSON on newer firmwares); None if it is not one."""
    text = body.strip()
    if text.startswith(b"{"):
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        fields = {key: str(value) for key, value in data.items() if isinstance(value, str | int)}
        get: Callable[[str], str | None] = fields.get
    else:
        start = text.find(b"<EventNotificationAlert")
        if start < 0:
            return None
        root = parse_xml(text[start:])
        if root is None or local_name(root.tag) != "EventNotificationAlert":
            return None

        def get(name: str) -> str | None:
            return child_text(root, name)

    event_type = get("eventType")
    if not event_type:
        return None
    state = (get("eventState") or "active").strip().lower()
    channel = next((value.strip() for name in _CHANNEL_FIELDS if (value := get(name))), "1")
    return Alert(channel=channel, event_type=event_type.strip(), active=state != "inactive")


class MultipartReader:
    """Splits a ``multipart/mixed`` byte stream into part bodies as the bytes arrive.

    Tolerant of what firmwares send: parts with or without ``Content-Length``
    (without, a part ends at the next boundary), CRLF or LF line ends, a
    missing blank line before an XML body, junk between parts, and a boundary
    given with or without its leading ``--``. With no boundary at all
    (``boundary=None``) every ``<EventNotificationAlert>...</EventNotificationAlert>``
    in the stream is a part.
    """

    def __init__(self, boundary: str | None) -> None:
        """Read parts delimited by ``--boundary``."""
        self._buffer = bytearray()
        self._delimiter: bytes | None = None
        if boundary:
            raw = boundary.encode("latin-1", "replace")
            self._delimiter = raw if raw.startswith(b"--") else b"--" + raw
        self._state = "boundary"
        self._length: int | None = None
        self._skip = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes; return the bodies of the parts they complete."""
        self._buffer += data
        if self._delimiter is None:
            return self._feed_tags()
        parts: list[bytes] = []
        while self._step(parts):
            pass
        return parts

    def _feed_tags(self) -> list[bytes]:
        """No boundary: cut whole EventNotificationAlert elements out of the stream."""
        parts: list[bytes] = []
        end_tag = b"</EventNotificationAlert>"
        while True:
            start = self._buffer.find(b"<EventNotificationAlert")
            if start < 0:
                del self._buffer[: max(0, len(self._buffer) - 32)]
                return parts
            end = self._buffer.find(end_tag, start)
            if end < 0:
                del self._buffer[:start]
                if len(self._buffer) > _MAX_PART:
                    self._buffer.clear()
                return parts
            parts.append(bytes(self._buffer[start : end + len(end_tag)]))
            del self._buffer[: end + len(end_tag)]

    def _step(self, parts: list[bytes]) -> bool:
        """Advance the state machine once; False when it needs more bytes."""
        assert self._delimiter is not None
        buffer = self._buffer
        if self._state == "boundary":
            index = buffer.find(self._delimiter)
            if index < 0:
                del buffer[: max(0, len(buffer) - len(self._delimiter))]
                return False
            line_end = buffer.find(b"\n", index)
            if line_end < 0:
                return False
            del buffer[: line_end + 1]
            self._state = "headers"
            return True
        if self._state == "headers":
            return self._read_headers()
        if self._state == "skip":
            dropped = min(self._skip, len(buffer))
            del buffer[:dropped]
            self._skip -= dropped
            if self._skip:
                return False
            self._state = "boundary"
            return True
        # body
        if self._length is not None:
            if len(buffer) < self._length:
                return False
            parts.append(bytes(buffer[: self._length]))
            del buffer[: self._length]
        else:
            index = buffer.find(self._delimiter)
            if index < 0:
                # No length and no next boundary yet: a complete document need not wait for the
                # next part (which may be a heartbeat away).
                index = _complete_document(buffer)
            if index < 0:
                if len(buffer) > _MAX_PART:
                    buffer.clear()
                    self._state = "boundary"
                return False
            body = bytes(buffer[:index]).strip()
            del buffer[:index]
            if body:
                parts.append(body)
        self._state = "boundary"
        return True

    def _read_headers(self) -> bool:
        """Read a part's headers (possibly none) up to the blank line."""
        buffer = self._buffer
        stripped = buffer.lstrip(b"\r\n\t ")
        if stripped[:1] in (b"<", b"{"):
            # No headers and no blank line: the body follows the boundary.
            del buffer[: len(buffer) - len(stripped)]
            self._length = None
            self._state = "body"
            return True
        if buffer.startswith((b"\r\n", b"\n")):
            headers_end, skip = 0, 2 if buffer.startswith(b"\r\n") else 1
        else:
            crlf = buffer.find(b"\r\n\r\n")
            lf = buffer.find(b"\n\n")
            candidates = [(i, n) for i, n in ((crlf, 4), (lf, 2)) if i >= 0]
            if not candidates:
                if len(buffer) > 8192:  # no end to the headers: resynchronise on the next boundary
                    buffer.clear()
                    self._state = "boundary"
                return False
            headers_end, skip = min(candidates)
        length: int | None = None
        content_type = ""
        for line in bytes(buffer[:headers_end]).decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                with contextlib.suppress(ValueError):
                    length = max(0, int(value.strip()))
            elif name.strip().lower() == "content-type":
                content_type = value.strip().lower()
        del buffer[: headers_end + skip]
        self._length = length
        if length is not None and (length > _MAX_KEPT_PART or content_type.startswith("image/")):
            self._skip = length
            self._state = "skip"
        else:
            self._state = "body"
        return True


class EventTracker:
    """Turns repeated "active" notifications into one start and one end per (channel, kind).

    Hikvision repeats "active" about every second while an event goes on and
    does not always send "inactive": an event starts on the first "active"
    and ends on an "inactive" or when no "active" came for ``hold`` seconds.
    Times are monotonic seconds given by the caller (no clock of its own),
    so it is unit tested without waiting.
    """

    def __init__(self, hold: float) -> None:
        """End events ``hold`` seconds after their last "active"."""
        self.hold = hold
        self._last_active: dict[tuple[str, str], float] = {}

    @property
    def active(self) -> set[tuple[str, str]]:
        """The (channel, kind) pairs going on now."""
        return set(self._last_active)

    def update(self, channel: str, kind: str, active: bool, now: float) -> bool | None:
        """Record a notification at ``now``; return the change to report (True start, False end) or None."""
        key = (channel, kind)
        if active:
            started = key not in self._last_active
            self._last_active[key] = now
            return True if started else None
        if self._last_active.pop(key, None) is not None:
            return False
        return None

    def expire(self, now: float) -> list[tuple[str, str]]:
        """End the events with no "active" for ``hold`` seconds at ``now``; return their keys."""
        ended = [key for key, last in self._last_active.items() if now - last >= self.hold]
        for key in ended:
            del self._last_active[key]
        return ended

    def next_expiry(self) -> float | None:
        """When the next event ends unless renewed (None when none goes on)."""
        if not self._last_active:
            return None
        return min(self._last_active.values()) + self.hold


_END_TAG = b"</EventNotificationAlert>"


def _complete_document(buffer: bytearray) -> int:
    """Where a complete alert document at the start of ``buffer`` ends, or -1."""
    end = buffer.find(_END_TAG)
    if end >= 0:
        return end + len(_END_TAG)
    stripped = bytes(buffer).strip()
    if stripped.startswith(b"{") and stripped.endswith(b"}"):
        try:
            json.loads(stripped)
        except ValueError:
            return -1
        return len(buffer)
    return -1
