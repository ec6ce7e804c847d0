"""Storage sensors of the NVR and the recording bitrate of each channel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import EntityCategory, UnitOfDataRate, UnitOfInformation
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .const import storage_signal
from .engine import StorageStats
from .entity import NvrRecordingEntity, async_setup_channel_entities, nvr_device_info
from .runtime import ChannelRuntime, NvrConfigEntry

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class StorageSensorDescription(SensorEntityDescription):
    """A storage figure of the NVR."""

    value: Callable[[StorageStats], int | datetime | None]


STORAGE_SENSORS: tuple[StorageSensorDescription, ...] = (
    StorageSensorDescription(
        key="storage_used",
        translation_key="storage_used",
        device_class=SensorDeviceClass.DATA_SIZE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfInformation.BYTES,
        suggested_unit_of_measurement=UnitOfInformation.GIGABYTES,
        suggested_display_precision=2,
        value=lambda stats: stats.used_bytes,
    ),
    StorageSensorDescription(
        key="free_space",
        translation_key="free_space",
        device_class=SensorDeviceClass.DATA_SIZE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfInformation.BYTES,
        suggested_unit_of_measurement=UnitOfInformation.GIGABYTES,
        suggested_display_precision=1,
        value=lambda stats: stats.free_bytes,
    ),
    StorageSensorDescription(
        key="oldest_recording",
        translation_key="oldest_recording",
        device_class=SensorDeviceClass.TIMESTAMP,
        value=lambda stats: dt_util.utc_from_timestamp(stats.oldest) if stats.oldest is not None else None,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NvrConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the NVR's storage sensors and each channel's bitrate sensor."""
    async_add_entities([StorageSensor(entry, description) for description in STORAGE_SENSORS])
    await async_setup_channel_entities(
        entry, async_add_entities, lambda entry, subentry, runtime: [RecordingBitrateSensor(entry, subentry, runtime)]
    )


class StorageSensor(SensorEntity):
    """A figure of the storage folder, refreshed every minute and after each retention pass."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    entity_description: StorageSensorDescription

    def __init__(self, entry: NvrConfigEntry, description: StorageSensorDescription) -> None:
        """Create one storage sensor on the NVR's device."""
        self._entry = entry
        self.entity_description = description
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = nvr_device_info(entry)

    @property
    def available(self) -> bool:
        """Unavailable while the storage folder cannot be used."""
        data = self._entry.runtime_data
        return data.archive is not None and data.stats is not None

    @property
    def native_value(self) -> int | datetime | None:
        """The figure from the latest refresh."""
        stats = self._entry.runtime_data.stats
        return self.entity_description.value(stats) if stats is not None else None

    async def async_added_to_hass(self) -> None:
        """Follow refreshes."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(self.hass, storage_signal(self._entry.entry_id), self._async_refreshed)
        )

    @callback
    def _async_refreshed(self) -> None:
        self.async_write_ha_state()


class RecordingBitrateSensor(NvrRecordingEntity, SensorEntity):
    """Bitrate of the footage written, over the channel's last closed file. Diagnostic."""

    _attr_translation_key = "recording_bitrate"
    _attr_device_class = SensorDeviceClass.DATA_RATE
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_native_unit_of_measurement = UnitOfDataRate.KILOBITS_PER_SECOND
    _attr_suggested_display_precision = 0
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_entity_registry_enabled_default = False

    def __init__(self, entry: NvrConfigEntry, subentry: ConfigSubentry, runtime: ChannelRuntime) -> None:
        """Create the bitrate sensor of one channel."""
        super().__init__(entry, subentry, runtime)
        self._attr_unique_id = f"{subentry.subentry_id}_recording_bitrate"

    @property
    def available(self) -> bool:
        """Unavailable while nothing can be recorded."""
        return self._recorder is not None

    @property
    def native_value(self) -> float | None:
        """kbit/s, or None before the first file was closed."""
        status = self.recorder_status
        if status is None or status.bitrate is None:
            return None
        return round(status.bitrate / 1000, 1)
