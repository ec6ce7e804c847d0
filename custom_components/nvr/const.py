"""Constants of the nvr integration."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "nvr"
MANUFACTURER: Final = "nvr for Home Assistant"

CONF_STORAGE_PATH: Final = "storage_path"
CONF_MAIN_URL: Final = "main_url"
CONF_SUB_URL: Final = "sub_url"
CONF_RTSP_TRANSPORT: Final = "rtsp_transport"

SUBENTRY_CHANNEL: Final = "channel"

DEFAULT_NVR_NAME: Final = "NVR"
DEFAULT_STORAGE_FOLDER: Final = "nvr"
DEFAULT_TRANSPORT: Final = "tcp"

PROBE_TIMEOUT: Final = 10.0
"""Seconds the channel flow waits for a stream to open."""

CHANNEL_OFFLINE_GRACE: Final = 120.0
"""Seconds a feed may be down before a repair issue is raised."""


def status_signal(entry_id: str, subentry_id: str) -> str:
    """Dispatcher signal carrying (role, StreamStatus) for one channel."""
    return f"{DOMAIN}_status_{entry_id}_{subentry_id}"
