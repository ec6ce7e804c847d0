"""nvr: a network video recorder inside Home Assistant."""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import CONF_NAME, EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_track_time_interval

from .const import (
    CONF_STORAGE_PATH,
    DOMAIN,
    MANUFACTURER,
    PRUNE_INTERVAL,
    STATS_INTERVAL,
    motion_signal,
    storage_signal,
)
from .engine import MotionWorker, Recorder
from .repairs import async_clear_storage_issue, async_raise_storage_issue
from .runtime import (
    NvrConfigEntry,
    NvrData,
    build_channel,
    build_motion,
    build_recorder,
    channel_subentries,
    motion_config,
    open_archive,
    prune,
    recorder_settings,
    retention_policy,
    stop_all,
    storage_stats,
    stream_part,
)
from .storage import check_storage_path
from .views import async_register_views

_LOGGER = logging.getLogger(__name__)

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.CAMERA,
    Platform.EVENT,
    Platform.IMAGE,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
]


async def async_setup_entry(hass: HomeAssistant, entry: NvrConfigEntry) -> bool:
    """Open the storage folder, start the recorders and channels, set up their entities."""
    name = entry.data.get(CONF_NAME) or entry.title
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, entry.entry_id)},
        name=name,
        manufacturer=MANUFACTURER,
        model="Network video recorder",
    )
    data = NvrData(storage_path=entry.data[CONF_STORAGE_PATH])
    try:
        data.archive, data.stats = await hass.async_add_executor_job(
            open_archive, data.storage_path, retention_policy(entry.options)
        )
    except Exception as err:  # OSError, sqlite3.Error: live view goes on without recording
        data.storage_error = (getattr(err, "strerror", None) or str(err)) if isinstance(err, OSError) else str(err)
        _LOGGER.error("Storage folder %s of %s is unusable, recording paused: %s", data.storage_path, name, err)
        async_raise_storage_issue(hass, entry.entry_id, name, data.storage_path, data.storage_error)
    else:
        async_clear_storage_issue(hass, entry.entry_id)

    for subentry in channel_subentries(entry):
        recorder = None
        if data.archive is not None:
            recorder, recording_issues = build_recorder(hass, entry, subentry, data.archive)
            data.recorders[subentry.subentry_id] = recorder
            data.recording_issues[subentry.subentry_id] = recording_issues
        worker = _build_motion(hass, entry, data, subentry, recorder)
        channel, issues = build_channel(hass, entry, subentry, recorder, worker)
        data.channels[subentry.subentry_id] = channel
        data.issues[subentry.subentry_id] = issues
        data.subentry_data[subentry.subentry_id] = stream_part(subentry.data)
    entry.runtime_data = data
    async_register_views(hass)  # playback in the media browser (once per HA run)
    # Recorders first, so the first packets of every channel have somewhere to go.
    for recorder in data.recorders.values():
        recorder.start()  # starting a thread does not block
    for worker in data.motion.values():
        worker.start()
    for channel in data.channels.values():
        channel.start()
    try:
        await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    except Exception:
        _cancel_timers(data)
        await hass.async_add_executor_job(stop_all, data)
        raise
    entry.async_on_unload(entry.add_update_listener(_async_update_listener))

    async def _async_stats_tick(_now: datetime) -> None:
        if data.archive is None:
            # Retry an unusable folder (a mount that came back): reload to record again.
            if await hass.async_add_executor_job(_storage_usable, data.storage_path):
                _LOGGER.info("Storage folder %s is usable again; reloading %s", data.storage_path, name)
                hass.config_entries.async_schedule_reload(entry.entry_id)
            return
        await _async_refresh_stats(hass, entry, data)

    async def _async_prune_tick(_now: datetime | None = None) -> None:
        await _async_prune(hass, entry, data)

    data.unsubs.append(async_track_time_interval(hass, _async_stats_tick, timedelta(seconds=STATS_INTERVAL)))
    data.unsubs.append(async_track_time_interval(hass, _async_prune_tick, timedelta(seconds=PRUNE_INTERVAL)))
    if data.archive is not None:
        entry.async_create_background_task(hass, _async_prune(hass, entry, data), f"nvr prune {entry.entry_id}")

    async def _async_stop_on_shutdown(_event: Event) -> None:
        # HA does not unload entries when it stops; end readers and recorders cleanly.
        _cancel_timers(data)
        await hass.async_add_executor_job(stop_all, data)

    entry.async_on_unload(hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _async_stop_on_shutdown))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: NvrConfigEntry) -> bool:
    """Stop the channels and recorders and unload the entities."""
    data = entry.runtime_data
    _cancel_timers(data)
    unload_ok = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    for issues in data.issues.values():
        issues.async_clear()
    for recording_issues in data.recording_issues.values():
        recording_issues.async_clear()
    async_clear_storage_issue(hass, entry.entry_id)
    if not await hass.async_add_executor_job(stop_all, data):
        _LOGGER.debug("Some streams of %s were still opening when unloaded; they end once open", entry.title)
    return bool(unload_ok)


def _build_motion(
    hass: HomeAssistant, entry: NvrConfigEntry, data: NvrData, subentry: ConfigSubentry, recorder: Recorder | None
) -> MotionWorker:
    root = data.archive.root if data.archive is not None else None
    worker, state = build_motion(hass, entry, subentry, recorder, root)
    data.motion[subentry.subentry_id] = worker
    data.motion_states[subentry.subentry_id] = state
    return worker


def _storage_usable(path: str) -> bool:
    """Whether the storage folder can be written and its archive opened now; blocking."""
    if check_storage_path(path) is not None:
        return False
    try:
        archive, _stats = open_archive(path, retention_policy({}))
    except Exception:  # any failure: still unusable
        return False
    archive.close()
    return True


@callback
def _cancel_timers(data: NvrData) -> None:
    while data.unsubs:
        data.unsubs.pop()()


async def _async_refresh_stats(hass: HomeAssistant, entry: NvrConfigEntry, data: NvrData) -> None:
    stats = await hass.async_add_executor_job(storage_stats, data)
    if stats is not None:
        data.stats = stats
        async_dispatcher_send(hass, storage_signal(entry.entry_id))


async def _async_prune(hass: HomeAssistant, entry: NvrConfigEntry, data: NvrData) -> None:
    stats = await hass.async_add_executor_job(prune, data)
    if stats is not None:
        data.stats = stats
        async_dispatcher_send(hass, storage_signal(entry.entry_id))


async def _async_update_listener(hass: HomeAssistant, entry: NvrConfigEntry) -> None:
    """Reload when channels' streams changed; apply recording and motion settings live."""
    data = entry.runtime_data
    subentries = channel_subentries(entry)
    current = {s.subentry_id: stream_part(s.data) for s in subentries}
    if current != data.subentry_data or os.path.normpath(entry.data[CONF_STORAGE_PATH]) != os.path.normpath(
        data.storage_path
    ):
        await hass.config_entries.async_reload(entry.entry_id)
        return
    policy = retention_policy(entry.options)
    if data.archive is not None and data.archive.pruner.policy != policy:
        data.archive.set_policy(policy)
        entry.async_create_background_task(hass, _async_prune(hass, entry, data), f"nvr prune {entry.entry_id}")
    for subentry in subentries:
        worker = data.motion.get(subentry.subentry_id)
        if worker is not None and (config := motion_config(subentry.data)) != worker.config:
            worker.apply(config)  # queued to the motion worker's thread
            async_dispatcher_send(hass, motion_signal(entry.entry_id, subentry.subentry_id), None)
        recorder = data.recorders.get(subentry.subentry_id)
        if recorder is None:
            continue
        settings = recorder_settings(entry.options, subentry.data)
        if settings != recorder.settings:
            recorder.update_settings(settings)  # queued to the recorder's thread
