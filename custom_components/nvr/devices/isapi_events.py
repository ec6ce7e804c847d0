"""Hikvision ISAPI ``alertStream`` reader: a long-lived multipart stream of event notifications.

:class:`IsapiEventStream` keeps one connection to
``/ISAPI/Event/notification/alertStream`` open (reconnecting with backoff),
feeds it to the parsing and dedup pieces of :mod:`.isapi_alerts`
(:class:`~.isapi_alerts.MultipartReader`, :func:`~.isapi_alerts.parse_alert`,
:class:`~.isapi_alerts.EventTracker`) and reports each event's start and end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import aiohttp

from .digest import DigestAuth
from .isapi import base_url, client_error
from .isapi_alerts import EVENT_TYPES, EventTracker, MultipartReader, parse_alert
from .model import DeviceConnection, DeviceError, DeviceErrorReason, DeviceEvent

_LOGGER = logging.getLogger(__name__)

PATH_ALERT_STREAM = "/ISAPI/Event/notification/alertStream"

MAX_BACKOFF = 60.0
"""Longest wait between reconnects after other failures."""
AUTH_RETRY_FACTOR = 12.0
"""After "invalid_auth" wait ``retry_delay`` times this (doubling, up to 10 min): devices lock accounts."""
MAX_AUTH_BACKOFF = 600.0
CONNECT_TIMEOUT = 10.0
"""Longest wait for the stream's response headers."""


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


def _boundary(content_type: str) -> str | None:
    """The ``boundary`` parameter of a Content-Type header."""
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "boundary":
            return value.strip().strip('"') or None
    return None
