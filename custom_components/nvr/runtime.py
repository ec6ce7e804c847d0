"""Runtime state of an NVR entry: engine channels built from subentries.

Reader threads report status changes here; they are handed to the event loop
with ``call_soon_threadsafe`` and fanned out over the dispatcher.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import CONF_NAME, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send

from .const import CONF_MAIN_URL, CONF_RTSP_TRANSPORT, CONF_SUB_URL, DEFAULT_TRANSPORT, SUBENTRY_CHANNEL, status_signal
from .engine import Channel, ChannelConfig, StreamSource, StreamStatus
from .repairs import ChannelIssues

SNAPSHOT_WORKERS = 2
"""Threads that decode stills for one NVR.

Not HA's executor: glibc keeps ~50 MB of allocator arena for every thread
that has decoded a 1080p picture, so stills stay on a few threads of their own.
"""


def _snapshot_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=SNAPSHOT_WORKERS, thread_name_prefix="nvr-snapshot")


@dataclass
class NvrData:
    """What a loaded NVR entry holds at runtime."""

    channels: dict[str, Channel] = field(default_factory=dict)
    """Engine channels by subentry id."""
    snapshots: ThreadPoolExecutor = field(default_factory=_snapshot_pool)
    """Where the channels' still images are decoded."""
    issues: dict[str, ChannelIssues] = field(default_factory=dict)
    subentry_data: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    """The subentry data the channels were built from, to spot real changes."""


type NvrConfigEntry = ConfigEntry[NvrData]


def channel_subentries(entry: ConfigEntry) -> list[ConfigSubentry]:
    """The entry's channel subentries."""
    return [s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_CHANNEL]


def sources_from_data(data: Mapping[str, Any]) -> tuple[StreamSource, StreamSource | None]:
    """Build the main and sub stream sources from channel data."""
    transport = data.get(CONF_RTSP_TRANSPORT, DEFAULT_TRANSPORT)
    username = data.get(CONF_USERNAME) or ""
    password = data.get(CONF_PASSWORD) or ""
    main = StreamSource(data[CONF_MAIN_URL], username, password, transport)
    sub = None
    if data.get(CONF_SUB_URL):
        sub = StreamSource(data[CONF_SUB_URL], username, password, transport)
    return main, sub


def build_channel(hass: HomeAssistant, entry: ConfigEntry, subentry: ConfigSubentry) -> tuple[Channel, ChannelIssues]:
    """Create the engine channel of a subentry, wired to the dispatcher."""
    main, sub = sources_from_data(subentry.data)
    name = subentry.data.get(CONF_NAME) or subentry.title
    config = ChannelConfig(key=subentry.subentry_id[-8:], name=name, main=main, sub=sub)
    signal = status_signal(entry.entry_id, subentry.subentry_id)
    issues = ChannelIssues(hass, entry.entry_id, subentry.subentry_id, name)

    @callback
    def _on_loop(role: str, status: StreamStatus) -> None:
        issues.async_update(role, status)
        async_dispatcher_send(hass, signal, role, status)

    def _on_status(role: str, status: StreamStatus) -> None:
        # Called from a reader thread.
        if hass.loop.is_closed():
            return
        hass.loop.call_soon_threadsafe(_on_loop, role, status)

    return Channel(config, _on_status), issues
