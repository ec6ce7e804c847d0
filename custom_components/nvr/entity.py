"""Base entity of a channel: one device per channel, under the NVR device."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import CONF_DEVICE, DOMAIN, MANUFACTURER, motion_signal, recording_signal, status_signal
from .device_runtime import device_identifier, via_device
from .engine import MAIN, MotionUpdate, Recorder, RecorderStatus, StreamStatus
from .runtime import ChannelRuntime, MotionState, NvrConfigEntry

type ChannelEntityFactory = Callable[[NvrConfigEntry, ConfigSubentry, ChannelRuntime], list[Entity]]
"""Makes a platform's entities for one channel."""


async def async_setup_channel_entities(
    entry: NvrConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback, factory: ChannelEntityFactory
) -> None:
    """Add a platform's entities for every running channel, and remember how for channels started later.

    One channel per event-loop step: with many channels, creating all their
    entities at once would hold the loop for tens of milliseconds.
    """
    data = entry.runtime_data
    data.entity_adders.append((factory, async_add_entities))
    for runtime in list(data.channels.values()):
        await asyncio.sleep(0)
        _add_entities(entry, runtime, factory, async_add_entities)


@callback
def async_add_channel_entities(entry: NvrConfigEntry, runtime: ChannelRuntime) -> None:
    """Add the entities of a channel started after the platforms were set up."""
    for factory, async_add_entities in entry.runtime_data.entity_adders:
        _add_entities(entry, runtime, factory, async_add_entities)


def _add_entities(
    entry: NvrConfigEntry,
    runtime: ChannelRuntime,
    factory: ChannelEntityFactory,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    subentry = entry.subentries.get(runtime.subentry_id)
    if subentry is None:
        return
    entities = factory(entry, subentry, runtime)
    runtime.entities.extend(entities)
    async_add_entities(entities, config_subentry_id=runtime.subentry_id)


def channel_device_info(entry: NvrConfigEntry, subentry: ConfigSubentry) -> DeviceInfo:
    """The device of one channel, linked to its recorder or camera when it has one, else to the NVR."""
    device_id = subentry.data.get(CONF_DEVICE)
    parent = device_identifier(entry.entry_id, device_id) if device_id in entry.subentries else (DOMAIN, entry.entry_id)
    return DeviceInfo(
        identifiers={(DOMAIN, f"{entry.entry_id}_{subentry.subentry_id}")},
        name=subentry.title,
        manufacturer=MANUFACTURER,
        model="Channel",
        **via_device(entry, parent),
    )


class NvrChannelEntity(Entity):
    """An entity of one channel that follows one of its streams' status."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(
        self,
        entry: NvrConfigEntry,
        subentry: ConfigSubentry,
        runtime: ChannelRuntime,
        role: str = MAIN,
    ) -> None:
        """Bind the entity to a channel's stream."""
        self._entry_id = entry.entry_id
        self._subentry_id = subentry.subentry_id
        self._channel = runtime.channel
        self._role = role
        self._attr_device_info = channel_device_info(entry, subentry)
        self._shown: tuple[object, ...] | None = None

    @property
    def stream_status(self) -> StreamStatus:
        """The status of the stream this entity shows."""
        return self._channel.status(self._role)

    async def async_added_to_hass(self) -> None:
        """Follow status changes."""
        await super().async_added_to_hass()
        self._shown = _shown_part(self.stream_status)
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, status_signal(self._entry_id, self._subentry_id), self._async_status_changed
            )
        )

    @callback
    def _async_status_changed(self, role: str, status: StreamStatus) -> None:
        # Bitrate and frame-time updates change nothing shown: no state write.
        shown = _shown_part(status)
        if role == self._role and shown != self._shown:
            self._shown = shown
            self.async_write_ha_state()


def _shown_part(status: StreamStatus) -> tuple[object, ...]:
    return (status.connected, status.info, status.failure)


def nvr_device_info(entry: NvrConfigEntry) -> DeviceInfo:
    """The NVR's own device (created at setup)."""
    return DeviceInfo(identifiers={(DOMAIN, entry.entry_id)})


class NvrRecordingEntity(Entity):
    """An entity of one channel that follows its recorder's status.

    The status is read from the recorder itself, not from the signal, so a
    late message of a stopped recorder cannot show stale state.
    """

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, entry: NvrConfigEntry, subentry: ConfigSubentry, runtime: ChannelRuntime) -> None:
        """Bind the entity to a channel's recorder (None while the storage folder is unusable)."""
        self._entry = entry
        self._entry_id = entry.entry_id
        self._subentry_id = subentry.subentry_id
        self._recorder: Recorder | None = runtime.recorder
        self._attr_device_info = channel_device_info(entry, subentry)

    @property
    def recorder_status(self) -> RecorderStatus | None:
        """The recorder's latest status, or None when nothing can be recorded."""
        return self._recorder.status if self._recorder is not None else None

    async def async_added_to_hass(self) -> None:
        """Follow recorder status changes."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, recording_signal(self._entry_id, self._subentry_id), self._async_recording_changed
            )
        )

    @callback
    def _async_recording_changed(self, _status: RecorderStatus) -> None:
        self.async_write_ha_state()


@callback
def async_update_channel_data(
    hass: HomeAssistant, entry: NvrConfigEntry, subentry_id: str, changes: Mapping[str, Any]
) -> None:
    """Store channel settings in its subentry; the entry's update listener applies them live."""
    subentry = entry.subentries[subentry_id]
    hass.config_entries.async_update_subentry(entry, subentry, data={**subentry.data, **changes})


class NvrMotionEntity(Entity):
    """An entity of one channel that follows its motion detection."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, entry: NvrConfigEntry, subentry: ConfigSubentry, runtime: ChannelRuntime) -> None:
        """Bind the entity to a channel's motion detection."""
        self._entry = entry
        self._entry_id = entry.entry_id
        self._subentry_id = subentry.subentry_id
        self._motion_state = runtime.motion_state
        self._attr_device_info = channel_device_info(entry, subentry)

    @property
    def motion_state(self) -> MotionState:
        """What the channel's detector reported last."""
        return self._motion_state

    @property
    def channel_data(self) -> Mapping[str, Any]:
        """The channel's stored settings."""
        subentry = self._entry.subentries.get(self._subentry_id)
        return subentry.data if subentry is not None else {}

    async def async_added_to_hass(self) -> None:
        """Follow motion events and settings changes."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, motion_signal(self._entry_id, self._subentry_id), self._async_motion_update
            )
        )

    @callback
    def _async_motion_update(self, _update: MotionUpdate | None) -> None:
        self.async_write_ha_state()
