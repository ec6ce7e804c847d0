"""Runtime state of an NVR entry: engine channels and recorders built from subentries.

Reader and recorder threads report status changes here; they are handed to
the event loop with ``call_soon_threadsafe`` and fanned out over the
dispatcher.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import CONF_NAME, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.util import dt as dt_util

from .const import (
    CONF_EVENT_RETAIN_DAYS,
    CONF_MAIN_URL,
    CONF_MAX_STORAGE_GB,
    CONF_MIN_FREE_GB,
    CONF_MOTION_DETECT_FPS,
    CONF_MOTION_ENABLED,
    CONF_MOTION_LOW_POWER,
    CONF_MOTION_MASKS,
    CONF_MOTION_MIN_AREA,
    CONF_MOTION_OFF_DELAY,
    CONF_MOTION_SENSITIVITY,
    CONF_MOTION_ZONES,
    CONF_POST_ROLL,
    CONF_PRE_ROLL,
    CONF_RECORDING_MODE,
    CONF_RETAIN_DAYS,
    CONF_RTSP_TRANSPORT,
    CONF_SEGMENT_SECONDS,
    CONF_SUB_URL,
    DEFAULT_EVENT_RETAIN_DAYS,
    DEFAULT_MAX_STORAGE_GB,
    DEFAULT_MIN_FREE_GB,
    DEFAULT_MOTION_DETECT_FPS,
    DEFAULT_MOTION_ENABLED,
    DEFAULT_MOTION_MIN_AREA,
    DEFAULT_MOTION_OFF_DELAY,
    DEFAULT_MOTION_SENSITIVITY,
    DEFAULT_POST_ROLL,
    DEFAULT_PRE_ROLL,
    DEFAULT_RECORDING_MODE,
    DEFAULT_RETAIN_DAYS,
    DEFAULT_SEGMENT_SECONDS,
    DEFAULT_TRANSPORT,
    DOMAIN,
    EVENT_MOTION,
    MOTION_KEYS,
    RECORDER_STOP_TIMEOUT,
    RECORDING_KEYS,
    SUBENTRY_CHANNEL,
    motion_signal,
    recording_signal,
    status_signal,
)
from .engine import (
    Archive,
    Channel,
    ChannelConfig,
    MotionConfig,
    MotionSettings,
    MotionUpdate,
    MotionWorker,
    Recorder,
    RecorderSettings,
    RecorderStatus,
    RecordingMode,
    RetentionPolicy,
    StorageStats,
    StreamSource,
    StreamStatus,
    stop_channels,
)
from .repairs import ChannelIssues, RecordingIssues

_LOGGER = logging.getLogger(__name__)

SNAPSHOT_WORKERS = 2
"""Threads that decode stills for one NVR.

Not HA's executor: glibc keeps ~50 MB of allocator arena for every thread
that has decoded a 1080p picture, so stills stay on a few threads of their own.
"""


def _snapshot_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=SNAPSHOT_WORKERS, thread_name_prefix="nvr-snapshot")


@dataclass
class MotionState:
    """What Home Assistant shows of a channel's motion detection (event loop only)."""

    motion: bool = False
    update: MotionUpdate | None = None
    """The latest start or end."""
    image: bytes | None = None
    """JPEG of the latest event's peak frame (its first frame while it runs)."""
    image_time: datetime | None = None


@dataclass
class NvrData:
    """What a loaded NVR entry holds at runtime."""

    channels: dict[str, Channel] = field(default_factory=dict)
    """Engine channels by subentry id."""
    snapshots: ThreadPoolExecutor = field(default_factory=_snapshot_pool)
    """Where the channels' still images are decoded."""
    issues: dict[str, ChannelIssues] = field(default_factory=dict)
    subentry_data: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    """The stream part of the subentry data the channels were built from, to spot real changes."""
    storage_path: str = ""
    archive: Archive | None = None
    """The storage folder's index and retention; None while the folder is unusable."""
    storage_error: str | None = None
    """Why the storage folder could not be opened."""
    stats: StorageStats | None = None
    """The latest storage figures."""
    recorders: dict[str, Recorder] = field(default_factory=dict)
    """Recorders by subentry id (none while the storage folder is unusable)."""
    recording_issues: dict[str, RecordingIssues] = field(default_factory=dict)
    motion: dict[str, MotionWorker] = field(default_factory=dict)
    """Motion detectors by subentry id."""
    motion_states: dict[str, MotionState] = field(default_factory=dict)
    unsubs: list[CALLBACK_TYPE] = field(default_factory=list)
    """Timers to cancel on unload or shutdown."""
    io_lock: threading.Lock = field(default_factory=threading.Lock)
    """Serializes pruning, storage figures and closing the archive."""
    stopped: bool = False


type NvrConfigEntry = ConfigEntry[NvrData]


def channel_subentries(entry: ConfigEntry) -> list[ConfigSubentry]:
    """The entry's channel subentries."""
    return [s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_CHANNEL]


def stream_part(data: Mapping[str, Any]) -> dict[str, Any]:
    """Channel data that needs a reload when it changes (all but the recording and motion settings)."""
    return {k: v for k, v in data.items() if k not in RECORDING_KEYS and k not in MOTION_KEYS}


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


def recording_mode(data: Mapping[str, Any]) -> RecordingMode:
    """A channel's recording mode (continuous when unset or unknown)."""
    try:
        return RecordingMode(data.get(CONF_RECORDING_MODE, DEFAULT_RECORDING_MODE))
    except ValueError:
        return RecordingMode(DEFAULT_RECORDING_MODE)


def retention_policy(options: Mapping[str, Any]) -> RetentionPolicy:
    """The NVR's retention from its options."""
    return RetentionPolicy(
        retain_days=float(options.get(CONF_RETAIN_DAYS, DEFAULT_RETAIN_DAYS)),
        event_retain_days=float(options.get(CONF_EVENT_RETAIN_DAYS, DEFAULT_EVENT_RETAIN_DAYS)),
        max_storage_gb=float(options.get(CONF_MAX_STORAGE_GB, DEFAULT_MAX_STORAGE_GB)),
        min_free_gb=float(options.get(CONF_MIN_FREE_GB, DEFAULT_MIN_FREE_GB)),
    )


def recorder_settings(options: Mapping[str, Any], data: Mapping[str, Any]) -> RecorderSettings:
    """A channel's recorder settings: the NVR's options plus the channel's own."""
    return RecorderSettings(
        mode=recording_mode(data),
        segment_seconds=float(options.get(CONF_SEGMENT_SECONDS, DEFAULT_SEGMENT_SECONDS)),
        pre_roll=float(data.get(CONF_PRE_ROLL, DEFAULT_PRE_ROLL)),
        post_roll=float(data.get(CONF_POST_ROLL, DEFAULT_POST_ROLL)),
    )


def motion_config(data: Mapping[str, Any]) -> MotionConfig:
    """A channel's motion detection settings (defaults for what is unset or invalid)."""
    enabled = bool(data.get(CONF_MOTION_ENABLED, DEFAULT_MOTION_ENABLED))
    low_power = bool(data.get(CONF_MOTION_LOW_POWER, False))
    try:
        settings = MotionSettings(
            sensitivity=int(data.get(CONF_MOTION_SENSITIVITY, DEFAULT_MOTION_SENSITIVITY)),
            min_area=float(data.get(CONF_MOTION_MIN_AREA, DEFAULT_MOTION_MIN_AREA)),
            detect_fps=float(data.get(CONF_MOTION_DETECT_FPS, DEFAULT_MOTION_DETECT_FPS)),
            off_delay=float(data.get(CONF_MOTION_OFF_DELAY, DEFAULT_MOTION_OFF_DELAY)),
            zones=data.get(CONF_MOTION_ZONES) or None,
            masks=data.get(CONF_MOTION_MASKS) or None,
        )
    except (TypeError, ValueError) as err:  # hand-edited storage: detect with the defaults
        _LOGGER.warning("Invalid motion settings, using the defaults: %s", err)
        settings = MotionSettings()
    return MotionConfig(settings, enabled=enabled, low_power=low_power)


def open_archive(path: str, policy: RetentionPolicy) -> tuple[Archive, StorageStats]:
    """Open the storage folder, index what a crash left behind; blocking."""
    archive = Archive(Path(path), policy)
    try:
        archive.recover()
        stats = archive.stats()
    except BaseException:
        archive.close()
        raise
    return archive, stats


def storage_stats(data: NvrData) -> StorageStats | None:
    """Fresh storage figures, or None once closed; blocking."""
    with data.io_lock:
        if data.archive is None or data.stopped:
            return None
        try:
            return data.archive.stats()
        except Exception as err:  # a vanished mount must not kill the timer
            _LOGGER.warning("Storage figures of %s unavailable: %s", data.storage_path, err)
            return None


def prune(data: NvrData) -> StorageStats | None:
    """One retention pass, then fresh figures; blocking."""
    with data.io_lock:
        if data.archive is None or data.stopped:
            return None
        try:
            data.archive.pruner.prune()
        except Exception:
            _LOGGER.exception("Retention pass on %s failed", data.storage_path)
    return storage_stats(data)


def stop_all(data: NvrData) -> bool:
    """Stop readers, then recorders (they close their files), then the archive; blocking.

    Safe to call twice (HA stop, then unload). True if every thread ended in time.
    """
    ended = stop_channels(list(data.channels.values()))
    for worker in data.motion.values():  # ends running events before the recorders close
        ended = worker.stop() and ended
    recorders = list(data.recorders.values())
    for recorder in recorders:
        recorder.stop(0)  # queue the stop for all first, so they finish together
    for recorder in recorders:
        if not recorder.stop(RECORDER_STOP_TIMEOUT):
            _LOGGER.warning("Recorder %s did not finish its file in time", recorder.label)
            ended = False
    with data.io_lock:
        if data.archive is not None and not data.stopped:
            data.archive.close()
        data.stopped = True
    data.snapshots.shutdown(wait=True, cancel_futures=True)
    return ended


def _threadsafe(hass: HomeAssistant, target, *args: Any) -> None:
    """Hand a call from an engine thread to the event loop (dropped once it is closed)."""
    if hass.loop.is_closed():
        return
    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
        hass.loop.call_soon_threadsafe(target, *args)


def build_recorder(
    hass: HomeAssistant, entry: ConfigEntry, subentry: ConfigSubentry, archive: Archive
) -> tuple[Recorder, RecordingIssues]:
    """Create the recorder of a subentry (engine channel id = subentry id), wired to the dispatcher."""
    name = subentry.data.get(CONF_NAME) or subentry.title
    signal = recording_signal(entry.entry_id, subentry.subentry_id)
    issues = RecordingIssues(hass, entry.entry_id, subentry.subentry_id, name, str(archive.root))

    @callback
    def _on_loop(status: RecorderStatus) -> None:
        issues.async_update(status)
        async_dispatcher_send(hass, signal, status)

    def _on_status(status: RecorderStatus) -> None:
        # Called from the recorder's thread.
        _threadsafe(hass, _on_loop, status)

    recorder = Recorder(
        subentry.subentry_id,
        archive.root,
        archive.index,
        recorder_settings(entry.options, subentry.data),
        on_status=_on_status,
        make_room=archive.pruner.make_room,
        label=name,
    )
    return recorder, issues


def build_motion(
    hass: HomeAssistant, entry: ConfigEntry, subentry: ConfigSubentry, recorder: Recorder | None, root: Path | None
) -> tuple[MotionWorker, MotionState]:
    """Create the motion detector of a subentry, wired to its state, the dispatcher and the bus."""
    name = subentry.data.get(CONF_NAME) or subentry.title
    subentry_id = subentry.subentry_id
    signal = motion_signal(entry.entry_id, subentry_id)
    state = MotionState()

    @callback
    def _on_loop(update: MotionUpdate) -> None:
        state.motion = update.kind == "motion_start"
        state.update = update
        if update.jpeg is not None:
            state.image = update.jpeg
            state.image_time = dt_util.utcnow()
        async_dispatcher_send(hass, signal, update)
        camera = er.async_get(hass).async_get_entity_id("camera", DOMAIN, f"{subentry_id}_main")
        hass.bus.async_fire(
            EVENT_MOTION,
            {
                "entry_id": entry.entry_id,
                "channel_id": subentry_id,
                "channel": name,
                "entity_id": camera,
                "event_id": update.event_id,
                "kind": "start" if update.kind == "motion_start" else "end",
                "start": dt_util.utc_from_timestamp(update.start).isoformat(),
                "end": dt_util.utc_from_timestamp(update.end).isoformat() if update.end is not None else None,
                "score": round(update.score, 2),
                "snapshot": str(root / update.thumbnail) if root is not None and update.thumbnail else None,
            },
        )

    def _on_event(update: MotionUpdate) -> None:
        # Called from the motion worker's thread.
        _threadsafe(hass, _on_loop, update)

    worker = MotionWorker(
        subentry_id, motion_config(subentry.data), recorder=recorder, root=root, on_event=_on_event, label=name
    )
    return worker, state


def build_channel(
    hass: HomeAssistant,
    entry: ConfigEntry,
    subentry: ConfigSubentry,
    recorder: Recorder | None = None,
    motion: MotionWorker | None = None,
) -> tuple[Channel, ChannelIssues]:
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
        _threadsafe(hass, _on_loop, role, status)

    return Channel(config, _on_status, recorder=recorder, motion=motion), issues
