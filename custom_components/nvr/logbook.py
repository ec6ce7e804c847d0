"""Logbook entries for motion and object events (the nvr_motion and nvr_object bus events)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.components.logbook import LOGBOOK_ENTRY_ENTITY_ID, LOGBOOK_ENTRY_MESSAGE, LOGBOOK_ENTRY_NAME
from homeassistant.core import Event, HomeAssistant, callback

from .const import DOMAIN, EVENT_MOTION, EVENT_OBJECT


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, Callable[[Event], dict[str, Any]]], None],
) -> None:
    """Describe motion starts and ends, and objects seen and gone."""

    @callback
    def async_describe_motion(event: Event) -> dict[str, Any]:
        data = event.data
        started = data.get("kind") == "start"
        message = "detected motion" if started else f"motion ended (peak score {data.get('score')})"
        entry: dict[str, Any] = {LOGBOOK_ENTRY_NAME: data.get("channel") or "NVR", LOGBOOK_ENTRY_MESSAGE: message}
        if data.get("entity_id"):
            entry[LOGBOOK_ENTRY_ENTITY_ID] = data["entity_id"]
        return entry

    @callback
    def async_describe_object(event: Event) -> dict[str, Any]:
        data = event.data
        label = data.get("label") or "object"
        if data.get("kind") == "start":
            message = f"saw a {label} (score {data.get('score')})"
        else:
            message = f"{label} gone (best score {data.get('score')})"
        entry: dict[str, Any] = {LOGBOOK_ENTRY_NAME: data.get("channel") or "NVR", LOGBOOK_ENTRY_MESSAGE: message}
        if data.get("entity_id"):
            entry[LOGBOOK_ENTRY_ENTITY_ID] = data["entity_id"]
        return entry

    async_describe_event(DOMAIN, EVENT_MOTION, async_describe_motion)
    async_describe_event(DOMAIN, EVENT_OBJECT, async_describe_object)
