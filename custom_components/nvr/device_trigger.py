"""Device triggers of a channel: motion, and a person, vehicle, bicycle or animal first seen.

Each is the channel's bus event (``nvr_motion`` or ``nvr_object``) starting,
filtered by the channel, so an automation made in the device page needs no
entity at all.
"""

from __future__ import annotations

import voluptuous as vol
from homeassistant.components.device_automation import DEVICE_TRIGGER_BASE_SCHEMA
from homeassistant.components.homeassistant.triggers import event as event_trigger
from homeassistant.const import CONF_DEVICE_ID, CONF_DOMAIN, CONF_PLATFORM, CONF_TYPE
from homeassistant.core import CALLBACK_TYPE, HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.trigger import TriggerActionType, TriggerInfo
from homeassistant.helpers.typing import ConfigType

from .const import DOMAIN, EVENT_MOTION, EVENT_OBJECT, SUBENTRY_CHANNEL
from .engine import OBJECT_LABELS

TRIGGER_TYPES = ("motion", *OBJECT_LABELS)
TRIGGER_SCHEMA = DEVICE_TRIGGER_BASE_SCHEMA.extend({vol.Required(CONF_TYPE): vol.In(TRIGGER_TYPES)})


def _channel_id(hass: HomeAssistant, device_id: str) -> str | None:
    """The subentry id of the channel a device stands for (None: not a channel of an NVR).

    Found through our own entries' channels (a device's ``config_entries`` is deprecated from HA 2026).
    """
    device = dr.async_get(hass).async_get(device_id)
    if device is None:
        return None
    for entry in hass.config_entries.async_entries(DOMAIN):
        for subentry in entry.subentries.values():
            if subentry.subentry_type == SUBENTRY_CHANNEL and (
                (DOMAIN, f"{entry.entry_id}_{subentry.subentry_id}") in device.identifiers
            ):
                return subentry.subentry_id
    return None


async def async_get_triggers(hass: HomeAssistant, device_id: str) -> list[dict[str, str]]:
    """The triggers of a channel's device (none for the NVR's own device or a recorder's)."""
    if _channel_id(hass, device_id) is None:
        return []
    return [
        {CONF_PLATFORM: "device", CONF_DOMAIN: DOMAIN, CONF_DEVICE_ID: device_id, CONF_TYPE: kind}
        for kind in TRIGGER_TYPES
    ]


async def async_attach_trigger(
    hass: HomeAssistant, config: ConfigType, action: TriggerActionType, trigger_info: TriggerInfo
) -> CALLBACK_TYPE:
    """Listen for the channel's event of the trigger's type."""
    channel = _channel_id(hass, config[CONF_DEVICE_ID]) or "unknown"
    kind = config[CONF_TYPE]
    data = {"channel_id": channel, "kind": "start"}
    if kind != "motion":
        data["label"] = kind
    event_config = event_trigger.TRIGGER_SCHEMA(
        {
            event_trigger.CONF_PLATFORM: "event",
            event_trigger.CONF_EVENT_TYPE: EVENT_MOTION if kind == "motion" else EVENT_OBJECT,
            event_trigger.CONF_EVENT_DATA: data,
        }
    )
    return await event_trigger.async_attach_trigger(hass, event_config, action, trigger_info, platform_type="device")
