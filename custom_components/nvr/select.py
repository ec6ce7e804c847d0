"""The "Recording mode" select of each channel."""

from __future__ import annotations

from homeassistant.components.select import SelectEntity
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import CONF_RECORDING_MODE
from .engine import RecordingMode
from .entity import NvrRecordingEntity, async_setup_channel_entities
from .runtime import ChannelRuntime, NvrConfigEntry, recording_mode

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NvrConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the recording-mode select of every channel."""
    await async_setup_channel_entities(
        entry, async_add_entities, lambda entry, subentry, runtime: [RecordingModeSelect(entry, subentry, runtime)]
    )


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
