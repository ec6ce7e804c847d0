"""Hikvision ISAPI ``alertStream``: a long-lived multipart stream of event notifications.

:class:`IsapiEventStream` keeps one connection to
``/ISAPI/Event/notification/alertStream`` open (reconnecting with backoff),
splits it into parts as bytes arrive (:class:`MultipartReader`), reads each
``<EventNotificationAlert>`` (or the JSON form some firmwares send) and turns
Hikvision's "active every second while it goes on" messages into one start
and one end per event (:class:`EventTracker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from .digest import DigestAuth
from .isapi import base_url, child_text, client_error, local_name, parse_xml
from .model import (
    EVENT_INTRUSION,
    EVENT_LINE_CROSSING,
    EVENT_MOTION,
    EVENT_TAMPER,
    EVENT_VIDEO_LOSS,
    DeviceConnection,
    DeviceError,
    DeviceErrorReason,
    DeviceEvent,
)

_LOGGER = logging.getLogger(__name__)

PATH_ALERT_STREAM = "/ISAPI/Event/notification/alertStream"

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

MAX_BACKOFF = 60.0
"""Longest wait between reconnects after other failures."""
AUTH_RETRY_FACTOR = 12.0
"""After "invalid_auth" wait ``retry_delay`` times this (doubling, up to 10 min): devices lock accounts."""
MAX_AUTH_BACKOFF = 600.0
CONNECT_TIMEOUT = 10.0
"""Longest wait for the stream's response headers."""

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


class IsapiEventStream:
    """Reads a device's alertStream until cancelled, reporting events and the connection's state.

    ``on_event`` gets a :class:`DeviceEvent` on each start and end of an
    event. ``on_state`` gets None when connected and a
    :class:`DeviceErrorReason` value when the connection fails or drops
    (once per change). Both are called in the event loop: from the task
    running :meth:`run`, or (an event's end after ``hold``) from a timer
    that task schedules and cancels when it ends. Events going on when
    :meth:`run` is cancelled are not ended.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        conn: DeviceConnection,
        on_event: Callable[[DeviceEvent], None],
        on_state: Callable[[str | None], None],
        *,
        retry_delay: float = 5.0,
        idle_timeout: float = 30.0,
        hold: float = 5.0,
        auth: DigestAuth | None = None,
    ) -> None:
        """Prepare; nothing is sent before :meth:`run`. ``auth`` may be shared with an IsapiClient."""
        self._session = session
        self._conn = conn
        self._on_event = on_event
        self._on_state = on_state
        self._retry_delay = retry_delay
        self._idle_timeout = idle_timeout
        self._auth = auth or DigestAuth(conn.username, conn.password)
        self._url = base_url(conn).with_path(PATH_ALERT_STREAM)
        self._tracker = EventTracker(hold)
        self._timer: asyncio.TimerHandle | None = None
        self._state: str | None | object = _UNSET
        self.connections = 0
        """Successful connections so far."""

    @property
    def connected(self) -> bool:
        """Whether the stream is open now."""
        return self._state is None

    async def run(self) -> None:
        """Connect, read and reconnect until cancelled."""
        failures = 0
        auth_failures = 0
        try:
            while True:
                try:
                    await self._read_once()
                    reason = DeviceErrorReason.CANNOT_CONNECT  # the device closed the stream
                except DeviceError as err:
                    reason = err.reason
                    _LOGGER.debug("%s alertStream: %s", self._conn.host, err)
                if self.connected:
                    failures = auth_failures = 0
                self._report(reason.value)
                if reason is DeviceErrorReason.INVALID_AUTH:
                    auth_failures += 1
                    delay = min(self._retry_delay * AUTH_RETRY_FACTOR * 2 ** (auth_failures - 1), MAX_AUTH_BACKOFF)
                else:
                    failures += 1
                    delay = min(self._retry_delay * 2 ** (failures - 1), max(MAX_BACKOFF, self._retry_delay))
                await asyncio.sleep(delay)
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _report(self, state: str | None) -> None:
        """Tell on_state about a change of the connection's state."""
        if state == self._state:
            return
        self._state = state
        if state is None:
            _LOGGER.debug("%s alertStream connected", self._conn.host)
        else:
            _LOGGER.info("%s:%s alertStream unavailable: %s", self._conn.host, self._conn.port, state)
        self._on_state(state)

    async def _read_once(self) -> None:
        """One connection: returns when the device closes it, raises DeviceError on failures."""
        what = f"{self._conn.host}:{self._conn.port}{PATH_ALERT_STREAM}"
        try:
            async with asyncio.timeout(max(CONNECT_TIMEOUT, self._idle_timeout)):
                response = await self._auth.request(
                    self._session, "GET", self._url, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=None)
                )
        except (TimeoutError, aiohttp.ClientError) as err:
            raise client_error(err, what) from err
        async with response:
            if response.status in (401, 403):
                raise DeviceError(DeviceErrorReason.INVALID_AUTH, f"{what}: HTTP {response.status}")
            if response.status in (404, 405, 501):
                raise DeviceError(DeviceErrorReason.NOT_SUPPORTED, f"{what}: HTTP {response.status}")
            if response.status != 200:
                raise DeviceError(DeviceErrorReason.CANNOT_CONNECT, f"{what}: HTTP {response.status}")
            boundary = response.content_type.startswith("multipart/") and _boundary(
                response.headers.get("Content-Type", "")
            )
            reader = MultipartReader(boundary or None)
            self.connections += 1
            self._report(None)
            try:
                while True:
                    async with asyncio.timeout(self._idle_timeout):
                        chunk = await response.content.readany()
                    if not chunk:
                        return
                    for part in reader.feed(chunk):
                        self._handle(part)
            except TimeoutError as err:
                raise DeviceError(DeviceErrorReason.TIMEOUT, f"{what}: silent for {self._idle_timeout:g} s") from err
            except aiohttp.ClientError as err:
                raise client_error(err, what) from err

    def _handle(self, part: bytes) -> None:
        """Map, dedup and report one part."""
        alert = parse_alert(part)
        if alert is None:
            return
        kind = EVENT_TYPES.get(alert.event_type.lower())
        if kind is None:
            return
        change = self._tracker.update(alert.channel, kind, alert.active, asyncio.get_running_loop().time())
        if change is not None:
            self._emit(alert.channel, kind, change)
        self._schedule()

    def _emit(self, channel: str, kind: str, active: bool) -> None:
        """Report a start or an end (a failing callback does not stop the stream)."""
        try:
            self._on_event(DeviceEvent(channel=channel, kind=kind, active=active, time=time.time()))
        except Exception:
            _LOGGER.exception("%s alertStream: event callback failed", self._conn.host)

    def _schedule(self) -> None:
        """Wake up when the next going-on event would end."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self._tracker.next_expiry()
        if deadline is not None:
            self._timer = asyncio.get_running_loop().call_at(deadline, self._expire)

    def _expire(self) -> None:
        """End the events whose hold ran out."""
        self._timer = None
        for channel, kind in self._tracker.expire(asyncio.get_running_loop().time()):
            self._emit(channel, kind, False)
        self._schedule()


_UNSET = object()

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


def _boundary(content_type: str) -> str | None:
    """The ``boundary`` parameter of a Content-Type header."""
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "boundary":
            return value.strip().strip('"') or None
    return None
