"""Diagnostics: configuration, stream and recorder status, storage, with credentials removed."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant

from .const import CONF_MAIN_URL, CONF_SERIAL, CONF_SUB_URL
from .engine import redact
from .objects import DATA_OBJECTS
from .runtime import NvrConfigEntry, channel_subentries, device_subentries

TO_REDACT = {CONF_USERNAME, CONF_PASSWORD}
DEVICE_REDACT = {CONF_USERNAME, CONF_PASSWORD, CONF_SERIAL}


async def async_get_config_entry_diagnostics(hass: HomeAssistant, entry: NvrConfigEntry) -> dict[str, Any]:
    """Return the NVR's settings and the live status of every stream."""
    channels = []
    for subentry in channel_subentries(entry):
        data = async_redact_data(dict(subentry.data), TO_REDACT)
        for field in (CONF_MAIN_URL, CONF_SUB_URL):
            if data.get(field):
                data[field] = redact(data[field])
        runtime = entry.runtime_data.channels.get(subentry.subentry_id)
        streams = {}
        if runtime is not None:
            for role, reader in runtime.channel.readers.items():
                status = asdict(reader.status)
                if status.get("last_error"):
                    status["last_error"] = redact(status["last_error"])
                status["thread_alive"] = reader.running
                if (relay := runtime.channel.relay) is not None:
                    status["relay_viewers"] = relay.clients(runtime.channel.relay_key(role))
                streams[role] = status
        recorder = runtime.recorder if runtime is not None else None
        recording = None
        if recorder is not None:
            recording = {
                "settings": asdict(recorder.settings),
                "status": asdict(recorder.status),
            }
        objects = runtime.objects if runtime is not None else None
        channels.append(
            {
                "subentry_id": subentry.subentry_id,
                "title": subentry.title,
                "config": data,
                "streams": streams,
                "recording": recording,
                "objects": None
                if objects is None
                else {
                    "labels": list(objects.config.labels),
                    "min_score": objects.config.min_score,
                    "present": objects.present,
                },
            }
        )
    devices = []
    for subentry in device_subentries(entry):
        device = entry.runtime_data.devices.get(subentry.subentry_id)
        devices.append(
            {
                "subentry_id": subentry.subentry_id,
                "title": subentry.title,
                "config": async_redact_data(dict(subentry.data), DEVICE_REDACT),
                "events": None
                if device is None
                else {"connected": device.connected, "reason": device.reason, "channels": device.channels},
            }
        )
    runtime = entry.runtime_data
    storage: dict[str, Any] = {
        "folder": runtime.storage_path,
        "open": runtime.archive is not None,
        "error": runtime.storage_error,
        "stats": asdict(runtime.stats) if runtime.stats is not None else None,
        "retention": asdict(runtime.archive.pruner.policy) if runtime.archive is not None else None,
    }
    worker = hass.data.get(DATA_OBJECTS)
    return {
        "object_detection": None if worker is None else {"failed": worker.failed, "stats": asdict(worker.stats_copy())},
        "entry": {
            "title": entry.title,
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": dict(entry.options),
        },
        "storage": storage,
        "devices": devices,
        "channels": channels,
    }
