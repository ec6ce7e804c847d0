"""nvr: a network video recorder inside Home Assistant."""

from __future__ import annotations

import logging

from homeassistant.const import CONF_NAME, EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import device_registry as dr

from .const import DOMAIN, MANUFACTURER
from .engine import stop_channels
from .runtime import NvrConfigEntry, NvrData, build_channel, channel_subentries

_LOGGER = logging.getLogger(__name__)

PLATFORMS: list[Platform] = [Platform.BINARY_SENSOR, Platform.CAMERA]


async def async_setup_entry(hass: HomeAssistant, entry: NvrConfigEntry) -> bool:
    """Start the NVR's channels and set up their entities."""
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, entry.entry_id)},
        name=entry.data.get(CONF_NAME) or entry.title,
        manufacturer=MANUFACTURER,
        model="Network video recorder",
    )
    data = NvrData()
    for subentry in channel_subentries(entry):
        channel, issues = build_channel(hass, entry, subentry)
        data.channels[subentry.subentry_id] = channel
        data.issues[subentry.subentry_id] = issues
        data.subentry_data[subentry.subentry_id] = dict(subentry.data)
    entry.runtime_data = data
    for channel in data.channels.values():
        channel.start()  # starting a thread does not block
    try:
        await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    except Exception:
        await hass.async_add_executor_job(_stop_all, data)
        raise
    entry.async_on_unload(entry.add_update_listener(_async_update_listener))

    async def _async_stop_on_shutdown(_event: Event) -> None:
        # HA does not unload entries when it stops; end the readers cleanly.
        await hass.async_add_executor_job(_stop_all, data)

    entry.async_on_unload(hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _async_stop_on_shutdown))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: NvrConfigEntry) -> bool:
    """Stop the channels and unload the entities."""
    unload_ok = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    data = entry.runtime_data
    for issues in data.issues.values():
        issues.async_clear()
    if not await hass.async_add_executor_job(_stop_all, data):
        _LOGGER.debug("Some streams of %s were still opening when unloaded; they end once open", entry.title)
    return bool(unload_ok)


def _stop_all(data: NvrData) -> bool:
    """Stop the readers and the snapshot threads; blocking."""
    ended = stop_channels(list(data.channels.values()))
    data.snapshots.shutdown(wait=True, cancel_futures=True)
    return ended


async def _async_update_listener(hass: HomeAssistant, entry: NvrConfigEntry) -> None:
    """Reload when channels were added, removed or changed."""
    current = {s.subentry_id: dict(s.data) for s in channel_subentries(entry)}
    if current != entry.runtime_data.subentry_data:
        await hass.config_entries.async_reload(entry.entry_id)
