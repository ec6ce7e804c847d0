"""Connected devices at run time: their HA device entry, and their events handed to the channels.

Each device subentry runs one event reader (ISAPI's alertStream or an ONVIF
PullPoint subscription) as a background task of the NVR entry. The reader
reconnects by itself; its state goes to a repair issue after a grace period,
and a rejected login starts the reauth flow at once.

A motion report (and a line crossing or intrusion, which are motion too)
goes to the channel's motion worker, which merges it with the local
detector as the channel's motion source says. Line crossing, intrusion,
video loss and tamper also fire as their own types on the channel's event
entity and as ``nvr_device_event`` on the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import CONF_HOST, CONF_NAME, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from .const import (
    CONF_DEVICE,
    CONF_DEVICE_CHANNEL,
    CONF_FIRMWARE,
    CONF_MANUFACTURER,
    CONF_MODEL,
    CONF_PROTOCOL,
    CONF_SERIAL,
    DEVICE_EVENTS_GRACE,
    DOMAIN,
    EVENT_DEVICE,
    device_event_signal,
    device_state_signal,
    motion_signal,
)
from .devices.connect import event_reader
from .devices.model import (
    EVENT_INTRUSION,
    EVENT_LINE_CROSSING,
    EVENT_MOTION,
    DeviceConnection,
    DeviceErrorReason,
    DeviceEvent,
    Protocol,
)
from .runtime import NvrConfigEntry, motion_config

_LOGGER = logging.getLogger(__name__)

MOTION_KINDS = frozenset({EVENT_MOTION, EVENT_LINE_CROSSING, EVENT_INTRUSION})
"""Device events that count as the camera's motion."""
DEVICE_KEYS = (CONF_PROTOCOL, CONF_HOST, CONF_PORT, CONF_USERNAME, CONF_PASSWORD)
"""Device data whose change restarts its event reader."""


def device_identifier(entry_id: str, subentry_id: str) -> tuple[str, str]:
    """The HA device registry identifier of a connected device."""
    return (DOMAIN, f"{entry_id}_device_{subentry_id}")


VIA_DEVICE_ID = "via_device_id" in (
    getattr(dr.DeviceInfo, "__dataclass_fields__", None) or getattr(dr.DeviceInfo, "__annotations__", {})
)
"""Whether HA links a device to its parent by the parent's registry id (HA 2026.8 on, where the parent's identifier,
``via_device``, is deprecated); HA 2025.4 knows only ``via_device``."""


def via_device(entry: NvrConfigEntry, parent: tuple[str, str]) -> dict[str, Any]:
    """The device registry arguments that link a device to its parent device ``parent`` (an identifier)."""
    if VIA_DEVICE_ID and (parent_id := entry.runtime_data.device_ids.get(parent)):
        return {"via_device_id": parent_id}
    return {"via_device": parent}


def device_connection(data: dict[str, Any] | Any) -> DeviceConnection:
    """Where a device subentry's device is, and its login."""
    return DeviceConnection(
        host=data[CONF_HOST],
        port=int(data[CONF_PORT]),
        username=data.get(CONF_USERNAME, ""),
        password=data.get(CONF_PASSWORD, ""),
    )


@dataclass
class DeviceRuntime:
    """A running device: its event reader task and what HA shows of its state."""

    subentry_id: str
    name: str
    settings: tuple[Any, ...]
    task: asyncio.Task | None = None
    issue_timer: CALLBACK_TYPE | None = None
    connected: bool = False
    reason: str | None = None
    protocol: str = ""
    channels: dict[str, str] = field(default_factory=dict)
    """The device's channel id -> our channel subentry id."""
    entities: list[Any] = field(default_factory=list)
    """Its own entities (the event connection's sensor), removed when it stops."""


@callback
def async_register_device(hass: HomeAssistant, entry: NvrConfigEntry, subentry: ConfigSubentry) -> None:
    """Create or update the device's entry in HA's device registry (before its channels' devices)."""
    data = subentry.data
    identifier = device_identifier(entry.entry_id, subentry.subentry_id)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        config_subentry_id=subentry.subentry_id,
        identifiers={identifier},
        name=subentry.title,
        manufacturer=data.get(CONF_MANUFACTURER) or None,
        model=data.get(CONF_MODEL) or None,
        serial_number=data.get(CONF_SERIAL) or None,
        sw_version=data.get(CONF_FIRMWARE) or None,
        configuration_url=f"http://{data[CONF_HOST]}:{data[CONF_PORT]}/",
        **via_device(entry, (DOMAIN, entry.entry_id)),
    )
    entry.runtime_data.device_ids[identifier] = device.id


def device_settings(subentry: ConfigSubentry) -> tuple[Any, ...]:
    """What the event reader is built from."""
    return tuple(subentry.data.get(key) for key in DEVICE_KEYS)


@callback
def async_start_device(hass: HomeAssistant, entry: NvrConfigEntry, subentry: ConfigSubentry) -> DeviceRuntime:
    """Register the device and start reading its events."""
    async_register_device(hass, entry, subentry)
    sid = subentry.subentry_id
    runtime = DeviceRuntime(
        sid, subentry.title, device_settings(subentry), protocol=str(subentry.data.get(CONF_PROTOCOL))
    )
    runtime.channels = linked_channels(entry, sid)
    try:
        protocol = Protocol(subentry.data[CONF_PROTOCOL])
    except ValueError:
        _LOGGER.error("Device %s has an unknown protocol %r", subentry.title, subentry.data.get(CONF_PROTOCOL))
        return runtime
    reader = event_reader(
        protocol,
        async_get_clientsession(hass),
        device_connection(subentry.data),
        lambda event: _async_on_event(hass, entry, runtime, event),
        lambda reason: _async_on_state(hass, entry, runtime, reason),
    )
    runtime.task = entry.async_create_background_task(hass, reader(), f"nvr device events {subentry.title}")
    entry.runtime_data.devices[sid] = runtime
    if (add := entry.runtime_data.device_entity_adder) is not None:
        add(entry, runtime)
    return runtime


async def async_stop_device(hass: HomeAssistant, entry: NvrConfigEntry, subentry_id: str) -> None:
    """Stop reading a device's events and drop its repair issue."""
    runtime = entry.runtime_data.devices.pop(subentry_id, None)
    if runtime is None:
        return
    _end_camera_motion(entry, runtime)  # nothing will report its end any more
    if runtime.issue_timer is not None:
        runtime.issue_timer()
        runtime.issue_timer = None
    for entity in runtime.entities:
        if entity.hass is not None and entity.platform is not None:
            await entity.async_remove()
    runtime.entities.clear()
    ir.async_delete_issue(hass, DOMAIN, _issue_id(entry.entry_id, subentry_id))
    if runtime.task is not None:
        runtime.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runtime.task


def _end_camera_motion(entry: NvrConfigEntry, device: DeviceRuntime) -> None:
    for subentry_id in device.channels.values():
        if (channel := entry.runtime_data.channels.get(subentry_id)) is not None:
            channel.motion.camera_event(False)


@callback
def async_ask_reauth(hass: HomeAssistant, entry: NvrConfigEntry, device: DeviceRuntime) -> None:
    """Start the reauth flow of a device that rejects its login (HA runs one reauth flow per entry at a time)."""
    entry.async_start_reauth(hass, data={CONF_DEVICE: device.subentry_id, CONF_NAME: device.name})


def linked_channels(entry: NvrConfigEntry, device_id: str) -> dict[str, str]:
    """The device's channel id -> channel subentry id, for the channels linked to a device."""
    return {
        str(s.data.get(CONF_DEVICE_CHANNEL)): s.subentry_id
        for s in entry.subentries.values()
        if s.data.get(CONF_DEVICE) == device_id
    }


@callback
def _async_on_event(hass: HomeAssistant, entry: NvrConfigEntry, device: DeviceRuntime, event: DeviceEvent) -> None:
    subentry_id = device.channels.get(event.channel)
    channel = entry.runtime_data.channels.get(subentry_id or "")
    if channel is None:
        _LOGGER.debug("%s: %s on channel %s, which is not added", device.name, event.kind, event.channel)
        return
    if event.kind in MOTION_KINDS:
        channel.motion.camera_event(event.active, event.time)  # the worker applies the motion source
    if event.kind == EVENT_MOTION or not event.active:
        return
    async_dispatcher_send(hass, device_event_signal(entry.entry_id, channel.subentry_id), event)
    hass.bus.async_fire(
        EVENT_DEVICE,
        {
            "entry_id": entry.entry_id,
            "channel_id": channel.subentry_id,
            "channel": channel.name,
            "device": device.name,
            "type": event.kind,
            "time": dt_util.utc_from_timestamp(event.time).isoformat(),
        },
    )


@callback
def _async_on_state(hass: HomeAssistant, entry: NvrConfigEntry, device: DeviceRuntime, reason: str | None) -> None:
    issue_id = _issue_id(entry.entry_id, device.subentry_id)
    unsupported = DeviceErrorReason.NOT_SUPPORTED
    fallback_changed = (reason == unsupported) != (device.reason == unsupported)
    device.connected, device.reason = reason is None, reason
    async_dispatcher_send(hass, device_state_signal(entry.entry_id, device.subentry_id))
    if fallback_changed:
        _async_apply_motion_source(hass, entry, device)
    if reason is None or reason == unsupported:  # a device without events is not a fault to repair
        if device.issue_timer is not None:
            device.issue_timer()
            device.issue_timer = None
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    if reason == DeviceErrorReason.INVALID_AUTH:
        async_ask_reauth(hass, entry, device)
    if device.issue_timer is None:

        @callback
        def _raise(_now: Any) -> None:
            device.issue_timer = None
            if device.connected:
                return
            ir.async_create_issue(
                hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="device_events_lost",
                translation_placeholders={"device": device.name, "reason": device.reason or ""},
            )

        device.issue_timer = async_call_later(hass, DEVICE_EVENTS_GRACE, _raise)


@callback
def _async_apply_motion_source(hass: HomeAssistant, entry: NvrConfigEntry, device: DeviceRuntime) -> None:
    """The device's channels whose motion source is the camera detect locally while it has no events."""
    for subentry_id in device.channels.values():
        channel = entry.runtime_data.channels.get(subentry_id)
        subentry = entry.subentries.get(subentry_id)
        if channel is None or subentry is None:
            continue
        if (config := motion_config(subentry.data, entry.runtime_data.devices)) != channel.motion.config:
            _LOGGER.info(
                "%s: %s",
                channel.name,
                "the camera has no event service: motion is detected here"
                if device.reason == DeviceErrorReason.NOT_SUPPORTED
                else "the camera's events are back: motion source as configured",
            )
            channel.motion.apply(config)
            async_dispatcher_send(hass, motion_signal(entry.entry_id, subentry_id), None)


def _issue_id(entry_id: str, subentry_id: str) -> str:
    return f"device_events_{entry_id}_{subentry_id}"
