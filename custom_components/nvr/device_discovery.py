"""ONVIF devices found on the LAN by WS-Discovery, offered as discovered flows ("New devices found").

One scan when Home Assistant has started and then every hour, while an NVR
has the option on. Devices already connected to an NVR (by host) are not
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

from .const import CONF_MODEL, DISCOVERY_INTERVAL, DOMAIN, SUBENTRY_DEVICE
from .devices import discovery
from .runtime import NvrConfigEntry

_LOGGER = logging.getLogger(__name__)

DATA_SCANNING = f"{DOMAIN}_discovery"
CONF_EPR = "epr"


@callback
def async_start_discovery(hass: HomeAssistant, entry: NvrConfigEntry) -> None:
    """Scan once HA has started and then every hour, while this NVR is loaded (one scanner per HA run)."""
    if hass.data.get(DATA_SCANNING):
        return
    hass.data[DATA_SCANNING] = entry.entry_id

    async def _async_scan(_now: datetime | HomeAssistant | None = None) -> None:
        await async_scan(hass)

    entry.async_on_unload(async_at_started(hass, _async_scan))
    entry.async_on_unload(async_track_time_interval(hass, _async_scan, timedelta(seconds=DISCOVERY_INTERVAL)))

    @callback
    def _stop() -> None:
        if hass.data.get(DATA_SCANNING) == entry.entry_id:
            hass.data.pop(DATA_SCANNING)

    entry.async_on_unload(_stop)


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
    except OSError as err:  # no network, no multicast route
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
