"""Runtime state of an NVR entry, and the settings the engine gets from its config.

Each channel (a subentry) runs as a :class:`ChannelRuntime`, built and
stopped by :mod:`.channels`. Conversions from stored settings to engine
settings, and the storage helpers (blocking: call them in an executor),
live here.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import CONF_NAME, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import CALLBACK_TYPE

from .const import (
    CONF_DEVICE,
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
    CONF_MOTION_SOURCE,
    CONF_MOTION_ZONES,
    CONF_POST_ROLL,
    CONF_PRE_ROLL,
    CONF_RECORDING_MODE,
    CONF_RETAIN_DAYS,
    CONF_RTSP_TRANSPORT,
    CONF_SEGMENT_SECONDS,
    CONF_SHARE_CONNECTION,
    CONF_STREAM_FORMATS,
    CONF_SUB_URL,
    DEFAULT_EVENT_RETAIN_DAYS,
    DEFAULT_MAX_STORAGE_GB,
    DEFAULT_MIN_FREE_GB,
    DEFAULT_MOTION_DETECT_FPS,
    DEFAULT_MOTION_ENABLED,
    DEFAULT_MOTION_MIN_AREA,
    DEFAULT_MOTION_OFF_DELAY,
    DEFAULT_MOTION_SENSITIVITY,
    DEFAULT_MOTION_SOURCE,
    DEFAULT_POST_ROLL,
    DEFAULT_PRE_ROLL,
    DEFAULT_RECORDING_MODE,
    DEFAULT_RETAIN_DAYS,
    DEFAULT_SEGMENT_SECONDS,
    DEFAULT_TRANSPORT,
    MOTION_KEYS,
    OBJECT_KEYS,
    RECORDER_STOP_TIMEOUT,
    RECORDING_KEYS,
    SUBENTRY_CHANNEL,
    SUBENTRY_DEVICE,
)
from .devices.model import DeviceErrorReason
from .engine import (
    Archive,
    Channel,
    ChannelObjects,
    MotionConfig,
    MotionSettings,
    MotionUpdate,
    MotionWorker,
    Recorder,
    RecorderSettings,
    RecordingMode,
    RemovedChannel,
    RetentionPolicy,
    StorageStats,
    StreamSource,
    stop_channels,
)

if TYPE_CHECKING:
    from homeassistant.helpers.entity import Entity

    from .device_runtime import DeviceRuntime
    from .repairs import ChannelIssues, RecordingIssues

_LOGGER = logging.getLogger(__name__)

SNAPSHOT_WORKERS = 2
"""Threads that decode stills for one NVR (and keep the streams stills are asked of decoded).

Not HA's executor: glibc keeps ~50 MB of allocator arena for every thread
that has decoded a 1080p picture, so stills stay on a few threads of their own.
"""


def _snapshot_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=SNAPSHOT_WORKERS, thread_name_prefix="nvr-snapshot")


def start_snapshot_threads(pool: ThreadPoolExecutor) -> None:
    """Start all of a pool's threads now; blocking.

    A pool starts its threads on demand, in the thread that submits work:
    for stills that would be the event loop. Work that waits until every
    thread runs makes the pool start them all here instead.
    """
    barrier = threading.Barrier(SNAPSHOT_WORKERS + 1)
    for _ in range(SNAPSHOT_WORKERS):
        pool.submit(barrier.wait)
    barrier.wait()


@dataclass
class MotionState:
    """What Home Assistant shows of a channel's motion detection (event loop only)."""

    motion: bool = False
    update: MotionUpdate | None = None
    """The latest start or end."""
    image: bytes | None = None
    """JPEG of the latest event's peak frame (its first frame while it runs)."""
    objects: dict[str, float] = field(default_factory=dict)
    """What object detection saw during the latest event: label -> best score."""
    image_time: datetime | None = None


@dataclass
class ChannelRuntime:
    """What one running channel is made of: its engine objects and what HA shows of them."""

    subentry_id: str
    name: str
    channel: Channel
    motion: MotionWorker
    motion_state: MotionState
    issues: ChannelIssues
    recorder: Recorder | None = None
    """None while the storage folder is unusable."""
    recording_issues: RecordingIssues | None = None
    stream_data: dict[str, Any] = field(default_factory=dict)
    """The stream part of the subentry data it was built from, to spot changes that need a rebuild."""
    shared: bool = False
    """Whether HA's viewers read its streams from the relay ("Share one camera connection")."""
    entities: list[Entity] = field(default_factory=list)
    """Its entities, to remove them when the channel is rebuilt or deleted."""
    objects: ChannelObjects | None = None
    """Its person and vehicle detection (fed by the motion worker)."""
    object_state: Any = None
    """What HA shows of it (``objects.ObjectState``)."""


@dataclass
class NvrData:
    """What a loaded NVR entry holds at runtime."""

    storage_path: str = ""
    channels: dict[str, ChannelRuntime] = field(default_factory=dict)
    """Running channels by subentry id."""
    snapshots: ThreadPoolExecutor = field(default_factory=_snapshot_pool)
    """Where the channels' still images are decoded."""
    archive: Archive | None = None
    """The storage folder's index and retention; None while the folder is unusable."""
    storage_error: str | None = None
    """Why the storage folder could not be opened."""
    stats: StorageStats | None = None
    """The latest storage figures."""
    removed: dict[str, RemovedChannel] = field(default_factory=dict)
    """Deleted channels whose footage is still kept (browsable until retention deletes it)."""
    entity_adders: list[tuple[Any, Any]] = field(default_factory=list)
    """(entity factory, async_add_entities) of every platform, to add a new channel's entities."""
    unsubs: list[CALLBACK_TYPE] = field(default_factory=list)
    """Timers to cancel on unload or shutdown."""
    io_lock: threading.Lock = field(default_factory=threading.Lock)
    """Serializes pruning, storage figures and closing the archive."""
    stopped: bool = False
    devices: dict[str, DeviceRuntime] = field(default_factory=dict)
    """Connected devices (their event streams) by subentry id."""
    discovery_unsubs: list[CALLBACK_TYPE] = field(default_factory=list)
    """The WS-Discovery scan's timers, while this NVR runs it."""
    device_entity_adder: Any = None
    """The binary_sensor platform's async_add_entities, for the event-connection sensor of a device added later."""
    update_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Serializes the update listener: a flow that adds several channels calls it once per channel."""
    device_ids: dict[tuple[str, str], str] = field(default_factory=dict)
    """HA device registry id of the NVR's and the connected devices' HA devices, by identifier (their children
    link to them by it, see device_runtime.via_device)."""


type NvrConfigEntry = ConfigEntry[NvrData]


LIVE_KEYS = RECORDING_KEYS | MOTION_KEYS | OBJECT_KEYS | {CONF_NAME, CONF_STREAM_FORMATS, CONF_SHARE_CONNECTION}
"""Channel data that changes without rebuilding the channel."""


def channel_subentries(entry: ConfigEntry) -> list[ConfigSubentry]:
    """The entry's channel subentries."""
    return [s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_CHANNEL]


def device_subentries(entry: ConfigEntry) -> list[ConfigSubentry]:
    """The entry's device subentries (connected recorders and cameras)."""
    return [s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_DEVICE]


def channel_data(entry: ConfigEntry, subentry: ConfigSubentry) -> dict[str, Any]:
    """A channel's data with its device's credentials (a device's channels normally store none of their own)."""
    data = dict(subentry.data)
    device = entry.subentries.get(data.get(CONF_DEVICE) or "")
    if device is not None and not data.get(CONF_USERNAME):
        data[CONF_USERNAME] = device.data.get(CONF_USERNAME, "")
        data[CONF_PASSWORD] = device.data.get(CONF_PASSWORD, "")
    return data


def stream_part(data: Mapping[str, Any]) -> dict[str, Any]:
    """Channel data whose change needs the channel rebuilt.

    All but its name, recording and motion settings, whether viewers share
    its connection, and what the flow found of its streams (the relay's
    picture before a first connection).
    """
    return {k: v for k, v in data.items() if k not in LIVE_KEYS}


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


def motion_config(data: Mapping[str, Any], devices: Mapping[str, DeviceRuntime] | None = None) -> MotionConfig:
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
    source = data.get(CONF_MOTION_SOURCE, DEFAULT_MOTION_SOURCE)
    # A device without an event service: its channels fall back to the local detector.
    device = (devices or {}).get(str(data.get(CONF_DEVICE) or ""))
    no_events = device is not None and device.reason == DeviceErrorReason.NOT_SUPPORTED
    local, camera = source != "camera" or no_events, source != "local" and bool(data.get(CONF_DEVICE))
    return MotionConfig(settings, enabled=enabled, low_power=low_power, local=local, camera=camera)


def removed_channels(data: NvrData) -> dict[str, RemovedChannel]:
    """Deleted channels that still have footage; blocking."""
    with data.io_lock:
        if data.archive is None or data.stopped:
            return {}
        try:
            return {c.id: c for c in data.archive.index.removed_channels()}
        except Exception as err:  # sqlite3.Error: the footage is still there, only unlisted
            _LOGGER.warning("Removed channels of %s unavailable: %s", data.storage_path, err)
            return {}


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


READERS_STOP_TIMEOUT = 2.0
MOTION_STOP_TIMEOUT = 1.5
STOP_TIMEOUT = 7.5
"""Seconds stopping any number of channels may take in all: readers, then motion workers, then recorders.

Home Assistant promises to stop, reload or delete within 10 s; each stage
shares one deadline across every channel (never a timeout per channel).
"""


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def stop_channel_runtimes(runtimes: list[ChannelRuntime], timeout: float = STOP_TIMEOUT) -> bool:
    """Stop channels: readers, then motion workers (they end running events), then recorders; blocking.

    Every stage asks all of them first and then waits, within one deadline
    for all (:data:`STOP_TIMEOUT` in all). Safe to call twice. True if every
    thread ended in time.
    """
    began = time.monotonic()
    deadline = began + timeout
    ended = stop_channels([r.channel for r in runtimes], min(READERS_STOP_TIMEOUT, timeout))
    for runtime in runtimes:
        runtime.motion.stop(0)  # queue the stop for all first
    motion_deadline = min(deadline, time.monotonic() + MOTION_STOP_TIMEOUT)
    for runtime in runtimes:
        if not runtime.motion.stop(_left(motion_deadline)):
            _LOGGER.warning("Motion worker of %s did not end in time", runtime.name)
            ended = False
        if runtime.motion.activity is not None:
            runtime.motion.activity.release()
    recorders = [r.recorder for r in runtimes if r.recorder is not None]
    for recorder in recorders:
        recorder.stop(0)  # queue the stop for all, so they finish together
    recorder_deadline = min(deadline, time.monotonic() + RECORDER_STOP_TIMEOUT)
    for recorder in recorders:
        if not recorder.stop(_left(recorder_deadline)):
            _LOGGER.warning("Recorder %s did not finish its file in time", recorder.label)
            ended = False
    _LOGGER.debug("%d channel(s) stopped in %.2f s", len(runtimes), time.monotonic() - began)
    return ended


def stop_all(data: NvrData, timeout: float = STOP_TIMEOUT + 1.0) -> bool:
    """Stop every channel, then close the archive and the snapshot threads; blocking, within ``timeout``.

    Safe to call twice (HA stop, then unload). True if every thread ended in time.
    """
    deadline = time.monotonic() + timeout
    ended = stop_channel_runtimes(list(data.channels.values()), min(STOP_TIMEOUT, timeout))
    if data.io_lock.acquire(timeout=_left(deadline)):
        try:
            if data.archive is not None and not data.stopped:
                data.archive.close(_left(deadline))
            data.stopped = True
        finally:
            data.io_lock.release()
    else:  # a retention pass is deleting files: it ends on its own, the index closes with the process
        _LOGGER.warning("Storage of %s still busy; stopping without closing its index", data.storage_path)
        data.stopped = True
    # Queued stills are dropped; one being made (a decode) is waited for, up to the deadline.
    data.snapshots.shutdown(wait=False, cancel_futures=True)
    for thread in list(getattr(data.snapshots, "_threads", ())):
        thread.join(_left(deadline))
        if thread.is_alive():
            _LOGGER.warning("Snapshot thread %s did not end in time", thread.name)
            ended = False
    return ended
