"""The "Motion" event entity of each channel: motion_start and motion_end.

It also fires person, vehicle, bicycle and animal when object detection
first sees one (with its score, box and snapshot).

A connected device's channel also fires what the camera itself reports:
line_crossing, intrusion, video_loss and tamper.
"""

from __future__ import annotations

from homeassistant.components.event import EventEntity
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .const import CONF_DEVICE, device_event_signal, object_signal
from .devices.model import EVENT_KINDS, EVENT_MOTION, DeviceEvent
from .engine import OBJECT_LABELS, MotionUpdate, ObjectUpdate
from .entity import NvrMotionEntity, async_setup_channel_entities
from .objects import update_data
from .runtime import ChannelRuntime, NvrConfigEntry

PARALLEL_UPDATES = 0

EVENT_TYPES = ["motion_start", "motion_end", *OBJECT_LABELS]
DEVICE_EVENT_TYPES = [kind for kind in EVENT_KINDS if kind != EVENT_MOTION]
"""What a device reports besides motion (its motion comes as motion_start and motion_end)."""


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NvrConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the motion event entity of every channel."""
    await async_setup_channel_entities(
        entry, async_add_entities, lambda entry, subentry, runtime: [MotionEventEntity(entry, subentry, runtime)]
    )


class MotionEventEntity(NvrMotionEntity, EventEntity):
    """Fires motion_start and motion_end with the event's id, times, score and snapshot."""

    _attr_translation_key = "motion"

    def __init__(self, entry: NvrConfigEntry, subentry: ConfigSubentry, runtime: ChannelRuntime) -> None:
        """Create the event entity of one channel."""
        super().__init__(entry, subentry, runtime)
        self._attr_unique_id = f"{subentry.subentry_id}_motion_event"
        self._from_device = bool(subentry.data.get(CONF_DEVICE))
        self._attr_event_types = EVENT_TYPES + DEVICE_EVENT_TYPES if self._from_device else EVENT_TYPES

    async def async_added_to_hass(self) -> None:
        """Also follow object detection, and what the channel's device reports."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, object_signal(self._entry_id, self._subentry_id), self._async_object_update
            )
        )
        if self._from_device:
            self.async_on_remove(
                async_dispatcher_connect(
                    self.hass, device_event_signal(self._entry_id, self._subentry_id), self._async_device_event
                )
            )

    @callback
    def _async_object_update(self, update: ObjectUpdate | None) -> None:
        if update is None or update.kind != "object_start":
            return
        archive = self._entry.runtime_data.archive
        data = update_data(update, archive.root if archive is not None else None)
        self._trigger_event(update.label, {k: v for k, v in data.items() if k not in ("kind", "label", "end")})
        self.async_write_ha_state()

    @callback
    def _async_device_event(self, event: DeviceEvent) -> None:
        self._trigger_event(event.kind, {"start": dt_util.utc_from_timestamp(event.time).isoformat()})
        self.async_write_ha_state()

    @callback
    def _async_motion_update(self, update: MotionUpdate | None) -> None:
        if update is None:
            return  # a settings change: nothing happened
        archive = self._entry.runtime_data.archive
        snapshot = str(archive.root / update.thumbnail) if archive is not None and update.thumbnail else None
        self._trigger_event(
            update.kind,
            {
                "event_id": update.event_id,
                "start": dt_util.utc_from_timestamp(update.start).isoformat(),
                "end": dt_util.utc_from_timestamp(update.end).isoformat() if update.end is not None else None,
                "score": round(update.score, 2),
                "snapshot": snapshot,
                "objects": dict(self.motion_state.objects),
            },
        )
        self.async_write_ha_state()
