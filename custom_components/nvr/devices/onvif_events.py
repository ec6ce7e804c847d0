"""ONVIF events over a PullPoint subscription (onvif-zeep-async 3.x and 4.x).

The subscription is driven here rather than by the library's PullPointManager:
its renewal timer never fires sooner than 48 s (80 % of a 60 s minimum), too
late for a device that grants shorter subscriptions, and it runs in a
background task of its own. Here one loop pulls, renews at 80 % of the
granted time (pulls never wait past that point), re-subscribes after errors
and unsubscribes when cancelled.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from zeep.exceptions import Fault

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
from .onvif import OnvifClient, device_error

AUTH_RETRY_FACTOR = 12.0
"""After a rejected login, wait ``retry_delay`` times this (doubling): devices lock accounts."""
MAX_AUTH_BACKOFF = 600.0
UNSUPPORTED_RECHECK = 3600.0
"""Seconds before a device without an event service is asked again (a firmware update may add one)."""
EVENTS_NS = "http://www.onvif.org/ver10/events/wsdl"

_LOGGER = logging.getLogger(__name__)


def _not_supported(fault: Fault) -> bool:
    """Whether a fault says the operation is not supported (ter:ActionNotSupported and the like)."""
    names = [getattr(code, "localname", str(code)) for code in fault.subcodes or ()]
    return any("NotSupported" in name for name in names) or "not supported" in str(fault.message or "").lower()


PULLPOINT_NS = "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription"
"""The library's xaddrs key for the subscription address (both versions)."""

RENEW_AT = 0.8
"""Renew when this share of the granted subscription time has passed."""


@dataclass(frozen=True, slots=True)
class _Topic:
    """How one topic maps onto a DeviceEvent."""

    kind: str
    items: tuple[str, ...]
    """Data SimpleItem names holding the state, first found wins; empty: a pulse (no state)."""


TOPICS: dict[str, _Topic] = {
    "RuleEngine/CellMotionDetector/Motion": _Topic(EVENT_MOTION, ("IsMotion",)),
    "VideoSource/MotionAlarm": _Topic(EVENT_MOTION, ("State",)),
    "RuleEngine/MotionRegionDetector/Motion": _Topic(EVENT_MOTION, ("State", "IsMotion")),
    "RuleEngine/LineDetector/Crossed": _Topic(EVENT_LINE_CROSSING, ()),
    "RuleEngine/FieldDetector/ObjectsInside": _Topic(EVENT_INTRUSION, ("IsInside",)),
    "VideoSource/SignalLoss": _Topic(EVENT_VIDEO_LOSS, ("State",)),
    "RuleEngine/TamperDetector/Tamper": _Topic(EVENT_TAMPER, ("IsTamper", "State")),
    "VideoSource/GlobalSceneChange/ImagingService": _Topic(EVENT_TAMPER, ("State",)),
    "VideoSource/GlobalSceneChange/AnalyticsService": _Topic(EVENT_TAMPER, ("State",)),
    "VideoSource/GlobalSceneChange/RecordingService": _Topic(EVENT_TAMPER, ("State",)),
}
"""Topic paths (without the ``tns1:`` prefix) the integration understands."""

SOURCE_ITEMS = ("VideoSourceToken", "VideoSourceConfigurationToken", "Source", "InputToken")
"""Source SimpleItem names that name the video source (or its configuration)."""


def topic_path(topic: str) -> str:
    """``tns1:RuleEngine/CellMotionDetector/Motion`` (with a device's whitespace or ``//.``) -> the path."""
    path = topic.strip().rstrip("/.")
    first, sep, rest = path.partition("/")
    return first.rpartition(":")[2] + sep + rest


def _items(holder: Any) -> dict[str, str]:
    """The SimpleItems of a Source or Data element as a dict."""
    items = getattr(holder, "SimpleItem", None) or []
    if not isinstance(items, list):
        items = [items]
    return {str(item.Name): str(item.Value) for item in items if getattr(item, "Name", None) is not None}


def _boolean(value: str | None) -> bool | None:
    """A SimpleItem's boolean value, or None when it is not one."""
    if value is None:
        return None
    text = value.strip().lower()
    if text in ("true", "1", "on", "active"):
        return True
    if text in ("false", "0", "off", "inactive"):
        return False
    return None


class OnvifEventSubscription:
    """Reads a device's events through a PullPoint subscription until cancelled.

    ``on_event`` gets a DeviceEvent for each change of a (channel, kind) state
    (line crossings, which have no state, come as an active then an inactive
    event). ``on_state`` gets None once subscribed and a short reason when the
    subscription fails (it then re-subscribes every ``retry_delay`` seconds).
    ``channel_ids``: the channels (video source tokens) to report; None: every
    video source the device's profiles list.
    """

    def __init__(
        self,
        conn: DeviceConnection,
        on_event: Callable[[DeviceEvent], None],
        on_state: Callable[[str | None], None],
        channel_ids: Iterable[str] | None = None,
        *,
        retry_delay: float = 5.0,
        unsupported_recheck: float = UNSUPPORTED_RECHECK,
        timeout: float = 10.0,
        pull_timeout: float = 20.0,
        subscription_seconds: float = 60.0,
        message_limit: int = 100,
    ) -> None:
        """Keep the settings; nothing is sent before ``run()``."""
        self._conn = conn
        self._on_event = on_event
        self._on_state = on_state
        self._channel_ids = frozenset(channel_ids) if channel_ids is not None else None
        self._retry_delay = retry_delay
        self._unsupported_recheck = unsupported_recheck
        self.retry_in: float | None = None
        """Seconds the last failure waits before the next attempt (None before any failure)."""
        self._timeout = timeout
        self._pull_timeout = max(1.0, pull_timeout)
        self._interval = dt.timedelta(seconds=max(10.0, subscription_seconds))
        self._message_limit = message_limit
        self._tokens: dict[str, str] = {}
        self._sources: dict[tuple[str, str], dict[tuple[str, str], bool]] = {}
        self._active: dict[tuple[str, str], bool] = {}
        self._state: str | None | object = object()
        self._where = f"{conn.host}:{conn.port}"

    async def run(self) -> None:
        """Subscribe, pull, renew and re-subscribe until cancelled (then unsubscribe).

        ``on_state`` gets the reason's value (``DeviceErrorReason``). A rejected
        login is retried ``AUTH_RETRY_FACTOR`` times slower (doubling, up to
        ``MAX_AUTH_BACKOFF``): devices lock accounts after a few failures.
        Events going on when the subscription is lost are ended (a device
        that still sees them reports them again on the next subscription).
        """
        auth_failures = 0
        while True:
            try:
                await self._subscription()
                error = DeviceError(DeviceErrorReason.CANNOT_CONNECT, "the subscription ended")
            except DeviceError as err:
                error = err
            except Exception as err:  # any failure: report, wait, subscribe again
                _LOGGER.debug("%s: ONVIF event subscription failed", self._where, exc_info=True)
                error = device_error(err)
            delay = self._retry_delay
            if error.reason is DeviceErrorReason.INVALID_AUTH:
                auth_failures += 1
                delay = min(self._retry_delay * AUTH_RETRY_FACTOR * 2 ** (auth_failures - 1), MAX_AUTH_BACKOFF)
            else:
                auth_failures = 0
            if error.reason is DeviceErrorReason.NOT_SUPPORTED:
                delay = self._unsupported_recheck
            self.retry_in = delay
            _LOGGER.debug("%s: ONVIF events lost (%s); retrying in %s s", self._where, error, delay)
            self._end_all(time.time())
            self._report(error.reason.value)
            await asyncio.sleep(delay)

    def _end_all(self, now: float) -> None:
        """End every event going on (the subscription was lost)."""
        for (channel, kind), active in list(self._active.items()):
            if active:
                self._active[(channel, kind)] = False
                self._emit(DeviceEvent(channel, kind, False, now))
        self._sources.clear()

    def _report(self, state: str | None) -> None:
        """Tell ``on_state`` about a change of the subscription's state."""
        if state == self._state:
            return
        self._state = state
        try:
            self._on_state(state)
        except Exception:
            _LOGGER.exception("%s: on_state callback failed", self._where)

    async def _subscription(self) -> None:
        """One subscription: create, pull and renew until an error (raised) or cancellation."""
        client = OnvifClient(self._conn, timeout=self._timeout)
        manager: Any = None
        try:
            await client.connect()
            self._tokens = await client.source_tokens()
            camera = client.camera
            if EVENTS_NS not in camera.xaddrs:  # its capabilities list no event service
                raise DeviceError(DeviceErrorReason.NOT_SUPPORTED, "the device has no ONVIF event service")
            events = await client.call(camera.create_events_service())
            try:
                result = await client.call(
                    events.CreatePullPointSubscription(
                        {"InitialTerminationTime": camera.get_next_termination_time(self._interval)}
                    )
                )
            except DeviceError as err:
                if isinstance(err.__cause__, Fault) and _not_supported(err.__cause__):
                    raise DeviceError(DeviceErrorReason.NOT_SUPPORTED, "the device has no PullPoint events") from err
                raise
            address = str(result.SubscriptionReference.Address._value_1).strip()  # zeep's xsd:any value
            camera.xaddrs[PULLPOINT_NS] = address
            manager = await client.call(camera.create_subscription_service("PullPointSubscription"))
            pullpoint = await client.call(camera.create_pullpoint_service())
            loop = asyncio.get_running_loop()
            if camera.has_broken_relative_time(self._interval, result.CurrentTime, result.TerminationTime):
                # The device ignored the relative time asked; the library now asks absolute times.
                result = await client.call(manager.Renew(self._renew_request(camera)))
            renew_at = loop.time() + RENEW_AT * self._lease(result)
            _LOGGER.debug("%s: ONVIF PullPoint subscription created", self._where)
            self._report(None)
            pulled = False
            while True:
                left = renew_at - loop.time()
                if left < 1.0 and pulled:
                    result = await client.call(manager.Renew(self._renew_request(camera)))
                    renew_at = loop.time() + RENEW_AT * self._lease(result)
                    pulled = False
                    continue
                # Whole seconds, at least one: a device granting very short times still gets pulled between renewals.
                wait = max(1, int(min(self._pull_timeout, left)))
                pulled = True
                reply = await client.call(
                    pullpoint.PullMessages({"Timeout": f"PT{wait}S", "MessageLimit": self._message_limit}),
                    extra=wait,
                )
                self._handle(reply)
        finally:
            if manager is not None:
                await self._unsubscribe(manager)
            await client.close()

    def _renew_request(self, camera: Any) -> dict[str, str]:
        """A Renew request for another interval (relative, or absolute for devices that need it)."""
        return {"TerminationTime": camera.get_next_termination_time(self._interval)}

    def _lease(self, result: Any) -> float:
        """Seconds the device granted (TerminationTime - CurrentTime), or the interval asked for."""
        current = getattr(result, "CurrentTime", None)
        termination = getattr(result, "TerminationTime", None)
        try:
            seconds = (termination - current).total_seconds()
        except TypeError:  # missing, or one with and one without a time zone
            seconds = 0.0
        return seconds if seconds > 0 else self._interval.total_seconds()

    async def _unsubscribe(self, manager: Any) -> None:
        """Unsubscribe, briefly; a device that lost the subscription (or the network) is not waited for."""
        try:
            async with asyncio.timeout(min(self._timeout, 3.0)):
                await manager.Unsubscribe()
        except Exception as err:  # best effort
            _LOGGER.debug("%s: ONVIF Unsubscribe failed: %s", self._where, device_error(err))

    def _handle(self, reply: Any) -> None:
        """Turn a PullMessages reply into DeviceEvents."""
        messages = getattr(reply, "NotificationMessage", None) or []
        for message in messages:
            try:
                self._handle_message(message)
            except Exception:
                _LOGGER.exception("%s: could not read an ONVIF notification", self._where)

    def _handle_message(self, message: Any) -> None:
        """One NotificationMessage."""
        topic = getattr(getattr(message, "Topic", None), "_value_1", None)
        if not topic:
            return
        path = topic_path(str(topic))
        mapping = TOPICS.get(path)
        if mapping is None:
            _LOGGER.debug("%s: ONVIF topic %s ignored", self._where, path)
            return
        payload = getattr(getattr(message, "Message", None), "_value_1", None)
        source = _items(getattr(payload, "Source", None))
        data = _items(getattr(payload, "Data", None))
        channel = self._channel(source)
        if channel is None:
            _LOGGER.debug("%s: ONVIF %s for an unknown source %s", self._where, path, source)
            return
        now = time.time()
        if not mapping.items:
            self._emit(DeviceEvent(channel, mapping.kind, True, now))
            self._emit(DeviceEvent(channel, mapping.kind, False, now))
            return
        state = next((_boolean(data.get(name)) for name in mapping.items if name in data), None)
        if state is None:
            return
        key = (channel, mapping.kind)
        # Several rules or topics may report one kind for one channel: it is active while any of them is.
        # A rule is the topic and the Source items other than the video source's (analytics token, rule name).
        rule = (path, ",".join(f"{name}={value}" for name, value in sorted(source.items()) if name not in SOURCE_ITEMS))
        sources = self._sources.setdefault(key, {})
        sources[rule] = state
        active = any(sources.values())
        if self._active.get(key) is active:
            return
        self._active[key] = active
        self._emit(DeviceEvent(channel, mapping.kind, active, now))

    def _channel(self, source: dict[str, str]) -> str | None:
        """The channel id (video source token) a message's Source names, if it is one to report."""
        device_channels = set(self._tokens.values()) | set(self._channel_ids or ())
        wanted = self._channel_ids if self._channel_ids is not None else device_channels
        for name in SOURCE_ITEMS:
            token = source.get(name)
            if token is None:
                continue
            channel = self._tokens.get(token, token if token in device_channels else None)
            if channel is not None:
                return channel if channel in wanted else None
        if len(device_channels) == 1 and device_channels <= wanted:
            return next(iter(device_channels))  # a single-channel device: whatever its Source says
        return None

    def _emit(self, event: DeviceEvent) -> None:
        """Hand an event to ``on_event``."""
        try:
            self._on_event(event)
        except Exception:
            _LOGGER.exception("%s: on_event callback failed", self._where)
