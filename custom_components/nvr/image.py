"""The "Last motion" image of each channel: the frame at the peak of the latest motion event."""

from __future__ import annotations

import logging
from datetime import datetime

from homeassistant.components.image import ImageEntity
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .engine import Archive
from .entity import NvrMotionEntity, async_setup_channel_entities
from .runtime import ChannelRuntime, NvrConfigEntry

_LOGGER = logging.getLogger(__name__)

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NvrConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the last-motion image of every channel."""
    await async_setup_channel_entities(
        entry, async_add_entities, lambda entry, subentry, runtime: [LastMotionImage(hass, entry, subentry, runtime)]
    )


def _latest_thumbnail(archive: Archive, channel: str) -> tuple[bytes, float] | None:
    """The newest motion thumbnail kept for a channel, and its event's start; blocking."""
    for event in archive.index.events(channel, kind="motion", limit=5):
        if event.thumbnail:
            try:
                return (archive.root / event.thumbnail).read_bytes(), event.start
            except OSError:
                continue
    return None


class LastMotionImage(NvrMotionEntity, ImageEntity):
    """JPEG of the latest motion event (its first frame while it runs, its peak frame once it ended)."""

    _attr_content_type = "image/jpeg"
    _attr_translation_key = "last_motion"

    def __init__(
        self, hass: HomeAssistant, entry: NvrConfigEntry, subentry: ConfigSubentry, runtime: ChannelRuntime
    ) -> None:
        """Create the image of one channel."""
        NvrMotionEntity.__init__(self, entry, subentry, runtime)
        ImageEntity.__init__(self, hass)
        self._attr_unique_id = f"{subentry.subentry_id}_last_motion"

    async def async_added_to_hass(self) -> None:
        """Show the newest thumbnail kept on disk until the next event."""
        await super().async_added_to_hass()
        state = self.motion_state
        archive = self._entry.runtime_data.archive
        if state.image is not None or archive is None:
            return
        try:
            found = await self.hass.async_add_executor_job(_latest_thumbnail, archive, self._subentry_id)
        except Exception as err:  # sqlite3 errors: start without a picture
            _LOGGER.debug("No motion thumbnail loaded: %s", err)
            return
        if found is not None and state.image is None:
            state.image, start = found
            state.image_time = dt_util.utc_from_timestamp(start)
            self.async_write_ha_state()

    @property
    def image_last_updated(self) -> datetime | None:
        """When the picture last changed (the state)."""
        return self.motion_state.image_time

    async def async_image(self) -> bytes | None:
        """The JPEG, from memory."""
        return self.motion_state.image
