"""ONVIF devices found on the LAN by WS-Discovery, offered as discovered flows ("New devices found").

One scan when Home Assistant has started and then every hour, while an NVR
has the option on (followed live). Devices already connected to an NVR (by host) are not
offered again; HA itself keeps a device the user ignored from coming back.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from homeassistant.config_entries import SOURCE_INTEGRATION_DISCOVERY
from homeassistant.const import CONF_HOST, CONF_NAME, CONF_PORT
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import discovery_flow
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.start import async_at_started

from .const import (
    CONF_DISCOVER_DEVICES,
    CONF_MODEL,
    DEFAULT_DISCOVER_DEVICES,
    DISCOVERY_INTERVAL,
    DOMAIN,
    SUBENTRY_DEVICE,
)
from .devices import discovery
from .runtime import NvrConfigEntry

_LOGGER = logging.getLogger(__name__)

DATA_SCANNING = f"{DOMAIN}_discovery"
CONF_EPR = "epr"


@callback
def async_follow_discovery_option(hass: HomeAssistant, entry: NvrConfigEntry) -> None:
    """Scan (when HA has started, then every hour) while the NVR's option is on; one scanner per HA run."""
    wanted = bool(entry.options.get(CONF_DISCOVER_DEVICES, DEFAULT_DISCOVER_DEVICES))
    scanning = hass.data.get(DATA_SCANNING) == entry.entry_id
    if wanted and not scanning and DATA_SCANNING not in hass.data:
        hass.data[DATA_SCANNING] = entry.entry_id

        async def _async_scan(_now: datetime | HomeAssistant | None = None) -> None:
            await async_scan(hass)

        unsubs = entry.runtime_data.discovery_unsubs
        unsubs.append(async_at_started(hass, _async_scan))
        unsubs.append(async_track_time_interval(hass, _async_scan, timedelta(seconds=DISCOVERY_INTERVAL)))
    elif not wanted and scanning:
        async_stop_discovery(hass, entry)


@callback
def async_stop_discovery(hass: HomeAssistant, entry: NvrConfigEntry) -> None:
    """Stop this NVR's scans (option off, unload)."""
    unsubs = entry.runtime_data.discovery_unsubs
    while unsubs:
        unsubs.pop()()
    if hass.data.get(DATA_SCANNING) == entry.entry_id:
        hass.data.pop(DATA_SCANNING)


def connected_hosts(hass: HomeAssistant) -> set[str]:
    """Hosts of the devices connected to any NVR."""
    return {
        str(subentry.data.get(CONF_HOST))
        for entry in hass.config_entries.async_entries(DOMAIN)
        for subentry in entry.subentries.values()
        if subentry.subentry_type == SUBENTRY_DEVICE
    }


async def async_scan(hass: HomeAssistant) -> int:
    """Look for ONVIF devices (in an executor job) and start a discovered flow for each new one; how many."""
    try:
        found = await hass.async_add_executor_job(discovery.discover_onvif)
    except Exception as err:
        _LOGGER.debug("WS-Discovery scan failed: %s", err)
        return 0
    known = connected_hosts(hass)
    offered = 0
    for device in found:
        if device.host in known:
            continue
        discovery_flow.async_create_flow(
            hass,
            DOMAIN,
            context={"source": SOURCE_INTEGRATION_DISCOVERY},
            data={
                CONF_HOST: device.host,
                CONF_PORT: device.port,
                CONF_NAME: device.name or device.host,
                CONF_MODEL: device.hardware or "",
                CONF_EPR: device.epr,
            },
        )
        offered += 1
    return offered
