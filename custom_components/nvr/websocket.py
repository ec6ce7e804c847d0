"""WebSocket commands the NVR wall card and the NVR page use (any logged-in user; no admin rights needed).

* ``nvr/list``: the loaded NVRs, each with its name, storage figures, whether
  it has a repair issue, and its channels in name order: id, name, entity ids
  and status.
* ``nvr/subscribe`` (optionally one ``entry_id``): a ``snapshot`` event with
  what ``nvr/list`` gives, then a ``status`` event whenever a channel's status
  changes (video signal, recording, motion, faults, repair issues), an
  ``nvr`` event when an NVR's storage figures or issues change, and a new
  ``snapshot`` when channels are added, renamed or deleted. The card never polls.
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from homeassistant.components import websocket_api
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_connect

from .const import (
    DOMAIN,
    channels_signal,
    motion_signal,
    object_signal,
    recording_signal,
    status_signal,
    storage_signal,
)
from .engine import MAIN
from .repairs import storage_issue_id
from .runtime import ChannelRuntime, NvrConfigEntry

GB = 1024**3
ENTITIES = {
    "camera": ("camera", "main"),
    "camera_sub": ("camera", "sub"),
    "video_signal": ("binary_sensor", "video_signal"),
    "recording": ("binary_sensor", "recording"),
    "motion": ("binary_sensor", "motion"),
    "person": ("binary_sensor", "person"),
    "vehicle": ("binary_sensor", "vehicle"),
    "recording_mode": ("select", "recording_mode"),
}
"""Key in the payload -> (platform, unique id suffix) of a channel's entities."""


@callback
def async_register_websocket(hass: HomeAssistant) -> None:
    """Register the commands (once per run)."""
    websocket_api.async_register_command(hass, ws_list)
    websocket_api.async_register_command(hass, ws_subscribe)


def _loaded(hass: HomeAssistant, entry_id: str | None = None) -> list[NvrConfigEntry]:
    entries = [
        e
        for e in hass.config_entries.async_entries(DOMAIN)
        if e.state is ConfigEntryState.LOADED
        and not e.runtime_data.stopped  # being unloaded
        and (entry_id is None or e.entry_id == entry_id)
    ]
    return sorted(entries, key=lambda e: (e.data.get(CONF_NAME) or e.title).lower())


def channel_status(hass: HomeAssistant, entry: NvrConfigEntry, runtime: ChannelRuntime) -> dict[str, Any]:
    """What a tile shows of a channel."""
    registry = ir.async_get(hass)
    recorder = runtime.recorder
    recording = recorder.status if recorder is not None else None
    online = runtime.channel.status(MAIN).connected
    issues = (
        f"channel_offline_{entry.entry_id}_{runtime.subentry_id}",
        f"recording_paused_{entry.entry_id}_{runtime.subentry_id}",
    )
    return {
        "online": online,
        "recording": bool(recording and recording.recording and online),
        "motion": runtime.motion_state.motion,
        "objects": sorted(runtime.object_state.present) if runtime.object_state is not None else [],
        "fault": recording.fault.value if recording and recording.fault else None,
        "issue": any(registry.async_get_issue(DOMAIN, issue) is not None for issue in issues),
    }


def nvr_status(hass: HomeAssistant, entry: NvrConfigEntry) -> dict[str, Any]:
    """What the wall's header shows of an NVR."""
    data = entry.runtime_data
    stats = data.stats
    channels = list(data.channels.values())
    return {
        "online": sum(1 for r in channels if r.channel.status(MAIN).connected),
        "total": len(channels),
        "storage_used_gb": round(stats.used_bytes / GB, 2) if stats is not None else None,
        "storage_free_gb": round(stats.free_bytes / GB, 2) if stats is not None else None,
        "storage_issue": ir.async_get(hass).async_get_issue(DOMAIN, storage_issue_id(entry.entry_id)) is not None,
    }


def _entities(hass: HomeAssistant, subentry_id: str) -> dict[str, str | None]:
    registry = er.async_get(hass)
    return {
        key: registry.async_get_entity_id(platform, DOMAIN, f"{subentry_id}_{suffix}")
        for key, (platform, suffix) in ENTITIES.items()
    }


def nvr_payload(hass: HomeAssistant, entry: NvrConfigEntry) -> dict[str, Any]:
    """One NVR as ``nvr/list`` gives it."""
    runtimes = sorted(entry.runtime_data.channels.values(), key=lambda r: r.name.lower())
    return {
        "entry_id": entry.entry_id,
        "name": entry.data.get(CONF_NAME) or entry.title,
        "status": nvr_status(hass, entry),
        "channels": [
            {
                "id": r.subentry_id,
                "name": r.name,
                "has_sub": "sub" in r.channel.readers,
                "entities": _entities(hass, r.subentry_id),
                "status": channel_status(hass, entry, r),
            }
            for r in runtimes
        ],
    }


@websocket_api.websocket_command({vol.Required("type"): "nvr/list"})
@callback
def ws_list(hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]) -> None:
    """The NVRs and their channels."""
    connection.send_result(msg["id"], {"nvrs": [nvr_payload(hass, e) for e in _loaded(hass)]})


@websocket_api.websocket_command({vol.Required("type"): "nvr/subscribe", vol.Optional("entry_id"): str})
@callback
def ws_subscribe(hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]) -> None:
    """Push status changes of one NVR's channels (or every NVR's)."""
    entry_id = msg.get("entry_id")
    if entry_id is not None and not _loaded(hass, entry_id):
        connection.send_error(
            msg["id"],
            websocket_api.ERR_NOT_FOUND,
            "No such NVR",
            translation_key="nvr_not_found",
            translation_domain=DOMAIN,
        )
        return
    sent: dict[str, dict[str, Any]] = {}
    channel_unsubs: list = []

    def send(event: dict[str, Any]) -> None:
        connection.send_message(websocket_api.event_message(msg["id"], event))

    @callback
    def send_channel(entry: NvrConfigEntry, subentry_id: str) -> None:
        runtime = entry.runtime_data.channels.get(subentry_id)
        if runtime is None:
            return
        status = channel_status(hass, entry, runtime)
        if sent.get(subentry_id) != status:
            sent[subentry_id] = status
            send({"type": "status", "entry_id": entry.entry_id, "channel": subentry_id, "status": status})
        nvr = nvr_status(hass, entry)
        if sent.get(entry.entry_id) != nvr:
            sent[entry.entry_id] = nvr
            send({"type": "nvr", "entry_id": entry.entry_id, "status": nvr})

    @callback
    def send_all(*_args: Any) -> None:
        for entry in _loaded(hass, entry_id):
            for subentry_id in list(entry.runtime_data.channels):
                send_channel(entry, subentry_id)

    @callback
    def snapshot(*_args: Any) -> None:
        """(Re)connect to every channel's signals and send everything."""
        while channel_unsubs:
            channel_unsubs.pop()()
        entries = _loaded(hass, entry_id)
        for entry in entries:
            for subentry_id in entry.runtime_data.channels:
                for signal in (status_signal, recording_signal, motion_signal, object_signal):
                    channel_unsubs.append(
                        async_dispatcher_connect(
                            hass,
                            signal(entry.entry_id, subentry_id),
                            callback(lambda *_a, e=entry, s=subentry_id: send_channel(e, s)),
                        )
                    )
            channel_unsubs.append(async_dispatcher_connect(hass, storage_signal(entry.entry_id), send_all))
        payload = [nvr_payload(hass, e) for e in entries]
        sent.clear()
        for nvr in payload:
            sent[nvr["entry_id"]] = nvr["status"]
            for channel in nvr["channels"]:
                sent[channel["id"]] = channel["status"]
        send({"type": "snapshot", "nvrs": payload})

    unsubs = [
        async_dispatcher_connect(hass, channels_signal(), snapshot),
        hass.bus.async_listen(ir.EVENT_REPAIRS_ISSUE_REGISTRY_UPDATED, send_all),
    ]

    @callback
    def unsubscribe() -> None:
        for unsub in (*unsubs, *channel_unsubs):
            unsub()

    connection.subscriptions[msg["id"]] = unsubscribe
    connection.send_result(msg["id"])
    snapshot()
