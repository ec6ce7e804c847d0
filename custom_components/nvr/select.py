"""The "Recording mode" select of each channel, and "Motion source" of a connected device's channels."""

from __future__ import annotations

from homeassistant.components.select import SelectEntity
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import CONF_DEVICE, CONF_MOTION_SOURCE, CONF_RECORDING_MODE, DEFAULT_MOTION_SOURCE, MOTION_SOURCES
from .engine import RecordingMode
from .entity import NvrMotionEntity, NvrRecordingEntity, async_setup_channel_entities
from .runtime import ChannelRuntime, NvrConfigEntry, recording_mode

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NvrConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the recording-mode select of every channel, and the motion source of device channels."""

    def _selects(entry: NvrConfigEntry, subentry: ConfigSubentry, runtime: ChannelRuntime) -> list[SelectEntity]:
        selects: list[SelectEntity] = [RecordingModeSelect(entry, subentry, runtime)]
        if subentry.data.get(CONF_DEVICE):
            selects.append(MotionSourceSelect(entry, subentry, runtime))
        return selects

    await async_setup_channel_entities(entry, async_add_entities, _selects)


class RecordingModeSelect(NvrRecordingEntity, SelectEntity):
    """Off, continuous or motion; kept in the channel's subentry so it survives restarts."""

    _attr_entity_category = EntityCategory.CONFIG
    _attr_translation_key = "recording_mode"

    def __init__(self, entry: NvrConfigEntry, subentry: ConfigSubentry, runtime: ChannelRuntime) -> None:
        """Create the select of one channel."""
        super().__init__(entry, subentry, runtime)
        self._attr_unique_id = f"{subentry.subentry_id}_recording_mode"
        self._attr_options = [mode.value for mode in RecordingMode]

    @property
    def current_option(self) -> str | None:
        """The stored mode (the recorder follows it)."""
        subentry = self._entry.subentries.get(self._subentry_id)
        return recording_mode(subentry.data).value if subentry is not None else None

    async def async_select_option(self, option: str) -> None:
        """Store the mode; the entry's update listener hands it to the running recorder."""
        subentry = self._entry.subentries[self._subentry_id]
        self.hass.config_entries.async_update_subentry(
            self._entry, subentry, data={**subentry.data, CONF_RECORDING_MODE: RecordingMode(option).value}
        )
        self.async_write_ha_state()


class MotionSourceSelect(NvrMotionEntity, SelectEntity):
    """Local detector, the camera's events, or both; applied live to the channel's motion worker."""

    _attr_entity_category = EntityCategory.CONFIG
    _attr_translation_key = "motion_source"

    def __init__(self, entry: NvrConfigEntry, subentry: ConfigSubentry, runtime: ChannelRuntime) -> None:
        """Create the select of one device channel."""
        super().__init__(entry, subentry, runtime)
        self._attr_unique_id = f"{subentry.subentry_id}_motion_source"
        self._attr_options = list(MOTION_SOURCES)

    @property
    def current_option(self) -> str | None:
        """The stored source."""
        return str(self.channel_data.get(CONF_MOTION_SOURCE, DEFAULT_MOTION_SOURCE))

    async def async_select_option(self, option: str) -> None:
        """Store the source; the update listener hands it to the motion worker."""
        subentry = self._entry.subentries[self._subentry_id]
        self.hass.config_entries.async_update_subentry(
            self._entry, subentry, data={**subentry.data, CONF_MOTION_SOURCE: option}
        )
        self.async_write_ha_state()
