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
MAX_NAME_LENGTH: Final = 64
"""Characters in a name (an NVR's, a channel's, a device's): entity ids, device names, thread names and
the wall's tiles are made from it. The flows refuse a longer one ("name_too_long", which quotes the number);
a name a device reports is shortened to it."""
DEFAULT_STORAGE_FOLDER: Final = "nvr"
DEFAULT_TRANSPORT: Final = "tcp"

PROBE_TIMEOUT: Final = 10.0
"""Seconds the channel flow waits for a stream to open."""

CONF_SHARE_CONNECTION: Final = "share_connection"
"""Viewers read the channel's streams from the relay (one camera connection per stream)."""
DEFAULT_SHARE_CONNECTION: Final = True
CONF_STREAM_FORMATS: Final = "stream_formats"
"""What the channel flow found of each stream: {role: [codec, width, height]}.

The relay shows "No video signal" in that codec and size before a stream's first connection."""

CHANNEL_OFFLINE_GRACE: Final = 120.0
"""Seconds a feed may be down before a repair issue is raised."""


def status_signal(entry_id: str, subentry_id: str) -> str:
    """Dispatcher signal carrying (role, StreamStatus) for one channel."""
    return f"{DOMAIN}_status_{entry_id}_{subentry_id}"


# Recording, per channel (subentry data; read with .get and these defaults).
CONF_RECORDING_MODE: Final = "recording_mode"
CONF_PRE_ROLL: Final = "pre_roll"
CONF_POST_ROLL: Final = "post_roll"
RECORDING_KEYS: Final = frozenset({CONF_RECORDING_MODE, CONF_PRE_ROLL, CONF_POST_ROLL})
"""Channel settings applied to a running recorder, without a reload."""
DEFAULT_RECORDING_MODE: Final = "continuous"
DEFAULT_PRE_ROLL: Final = 5
DEFAULT_POST_ROLL: Final = 10

# Recording and retention, per NVR (entry options).
CONF_RETAIN_DAYS: Final = "retain_days"
CONF_EVENT_RETAIN_DAYS: Final = "event_retain_days"
CONF_MAX_STORAGE_GB: Final = "max_storage_gb"
CONF_MIN_FREE_GB: Final = "min_free_gb"
CONF_SEGMENT_SECONDS: Final = "segment_seconds"
DEFAULT_RETAIN_DAYS: Final = 7
DEFAULT_EVENT_RETAIN_DAYS: Final = 30
DEFAULT_MAX_STORAGE_GB: Final = 0
DEFAULT_MIN_FREE_GB: Final = 1
DEFAULT_SEGMENT_SECONDS: Final = 60

PRUNE_INTERVAL: Final = 600.0
"""Seconds between retention passes."""
STATS_INTERVAL: Final = 60.0
"""Seconds between storage figure refreshes (and retries of an unusable folder)."""
RECORDER_STOP_TIMEOUT: Final = 5.0
EXPORT_FOLDER: Final = "nvr_exports"
"""Default folder of exported clips, inside HA's first media folder."""


def source_signal(entry_id: str, subentry_id: str) -> str:
    """Dispatcher signal: where HA's viewers read a channel's streams changed (the relay or the camera)."""
    return f"{DOMAIN}_source_{entry_id}_{subentry_id}"


def recording_signal(entry_id: str, subentry_id: str) -> str:
    """Dispatcher signal carrying the RecorderStatus of one channel."""
    return f"{DOMAIN}_recording_{entry_id}_{subentry_id}"


# Motion detection, per channel (subentry data; read with .get and these defaults; applied live).
CONF_MOTION_ENABLED: Final = "motion_enabled"
CONF_MOTION_SENSITIVITY: Final = "motion_sensitivity"
CONF_MOTION_MIN_AREA: Final = "motion_min_area"
CONF_MOTION_OFF_DELAY: Final = "motion_off_delay"
CONF_MOTION_DETECT_FPS: Final = "motion_detect_fps"
CONF_MOTION_ZONES: Final = "motion_zones"
CONF_MOTION_MASKS: Final = "motion_masks"
CONF_MOTION_LOW_POWER: Final = "motion_low_power"
MOTION_KEYS: Final = frozenset(
    {
        CONF_MOTION_ENABLED,
        CONF_MOTION_SENSITIVITY,
        CONF_MOTION_MIN_AREA,
        CONF_MOTION_OFF_DELAY,
        CONF_MOTION_DETECT_FPS,
        CONF_MOTION_ZONES,
        CONF_MOTION_MASKS,
        CONF_MOTION_LOW_POWER,
        "motion_source",
    }
)
"""Channel settings applied to a running motion detector, without a reload."""
DEFAULT_MOTION_ENABLED: Final = True
DEFAULT_MOTION_SENSITIVITY: Final = 50
DEFAULT_MOTION_MIN_AREA: Final = 0.5
DEFAULT_MOTION_OFF_DELAY: Final = 10
DEFAULT_MOTION_DETECT_FPS: Final = 5
EVENT_MOTION: Final = "nvr_motion"
"""Bus event fired when a channel's motion event starts or ends."""


# Object detection, per channel (subentry data; read with .get and these defaults; applied live).
CONF_OBJECTS: Final = "objects"
"""The labels a channel detects (person, vehicle, bicycle, animal); none: detection is off."""
CONF_OBJECT_MIN_SCORE: Final = "object_min_score"
"""The minimum score, in percent, of a sighting that counts."""
OBJECT_KEYS: Final = frozenset({CONF_OBJECTS, CONF_OBJECT_MIN_SCORE})
DEFAULT_OBJECT_MIN_SCORE: Final = 50
EVENT_OBJECT: Final = "nvr_object"
"""Bus event fired when a person, vehicle, bicycle or animal is first seen on a channel, and when it is gone."""


def object_signal(entry_id: str, subentry_id: str) -> str:
    """Dispatcher signal carrying an ObjectUpdate (or None: settings changed) for one channel."""
    return f"{DOMAIN}_object_{entry_id}_{subentry_id}"


def motion_signal(entry_id: str, subentry_id: str) -> str:
    """Dispatcher signal carrying a MotionUpdate (or None: settings changed) for one channel."""
    return f"{DOMAIN}_motion_{entry_id}_{subentry_id}"


def channels_signal() -> str:
    """Dispatcher signal sent when an NVR's channels were added, renamed or deleted, or an NVR (un)loaded."""
    return f"{DOMAIN}_channels"


def storage_signal(entry_id: str) -> str:
    """Dispatcher signal sent when an NVR's storage figures were refreshed."""
    return f"{DOMAIN}_storage_{entry_id}"


# Devices: a recorder or camera connected once (a "device" subentry); its channels link to it.
SUBENTRY_DEVICE: Final = "device"
CONF_PROTOCOL: Final = "protocol"
CONF_DEVICE: Final = "device"
"""A channel's device: the device subentry's id (its credentials are the channel's)."""
CONF_DEVICE_CHANNEL: Final = "device_channel"
"""The device's own id of the channel (ISAPI channel number, ONVIF video source token)."""
CONF_SERIAL: Final = "serial"
CONF_MODEL: Final = "model"
CONF_MANUFACTURER: Final = "manufacturer"
CONF_FIRMWARE: Final = "firmware"
CONF_MOTION_SOURCE: Final = "motion_source"
"""Per channel: "local" (the detector here), "camera" (the device's events) or "both"."""
MOTION_SOURCES: Final = ("local", "camera", "both")
DEFAULT_MOTION_SOURCE: Final = "local"
DEFAULT_DEVICE_MOTION_SOURCE: Final = "both"
"""What "Connect a device" sets: the camera's events, and the detector for cameras without them."""
CONF_DISCOVER_DEVICES: Final = "discover_devices"
"""NVR option: look for ONVIF devices on the LAN (WS-Discovery) and offer them."""
DEFAULT_DISCOVER_DEVICES: Final = True
DISCOVERY_INTERVAL: Final = 3600.0
"""Seconds between WS-Discovery scans."""
DEVICE_TIMEOUT: Final = 10.0
"""Seconds a device may take to answer the flow."""
DEVICE_EVENTS_GRACE: Final = 60.0
"""Seconds a device's event stream may be down before a repair issue is raised."""
EVENT_DEVICE: Final = "nvr_device_event"
"""Bus event fired for a device's line crossing, intrusion, video loss and tamper reports."""


def device_state_signal(entry_id: str, subentry_id: str) -> str:
    """Dispatcher signal sent when a connected device's event connection comes up or goes down."""
    return f"{DOMAIN}_device_state_{entry_id}_{subentry_id}"


def device_event_signal(entry_id: str, subentry_id: str) -> str:
    """Dispatcher signal carrying a channel's DeviceEvent (line crossing, intrusion, video loss, tamper)."""
    return f"{DOMAIN}_device_event_{entry_id}_{subentry_id}"
