"""The "Video signal" sensor of each channel."""

from __future__ import annotations

from typing import Any

from homeassistant.components.binary_sensor import BinarySensorDeviceClass, BinarySensorEntity
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .engine import MAIN, Channel
from .entity import NvrChannelEntity
from .runtime import NvrConfigEntry, channel_subentries

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NvrConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the video-signal sensor of every channel."""
    for subentry in channel_subentries(entry):
        channel = entry.runtime_data.channels[subentry.subentry_id]
        async_add_entities(
            [VideoSignalSensor(entry, subentry, channel)],
            config_subentry_id=subentry.subentry_id,
        )


class VideoSignalSensor(NvrChannelEntity, BinarySensorEntity):
    """On while the channel's main stream delivers video."""

    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_translation_key = "video_signal"

    def __init__(self, entry: NvrConfigEntry, subentry: ConfigSubentry, channel: Channel) -> None:
        """Create the sensor for the main stream."""
        super().__init__(entry, subentry, channel, MAIN)
        self._attr_unique_id = f"{subentry.subentry_id}_video_signal"

    @property
    def is_on(self) -> bool:
        """Whether video arrives."""
        return self.stream_status.connected

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """What the stream carries, and why it is down when it is."""
        status = self.stream_status
        attrs: dict[str, Any] = {}
        if status.info is not None:
            attrs["codec"] = status.info.codec
            attrs["resolution"] = f"{status.info.width}x{status.info.height}"
            attrs["fps"] = status.info.fps
        if status.failure is not None:
            attrs["failure"] = status.failure.value
        return attrs
