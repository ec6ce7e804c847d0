"""nvr: a network video recorder inside Home Assistant."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from datetime import datetime, timedelta
from functools import partial

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import CONF_NAME, CONF_PASSWORD, CONF_USERNAME, EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.typing import ConfigType

from .caption import async_follow_language, async_update_caption
from .channels import async_apply_sharing, async_start_channel, async_stop_channel, channel_name, remember_channel
from .const import (
    CONF_DEVICE,
    CONF_DEVICE_CHANNEL,
    CONF_MOTION_SOURCE,
    CONF_STORAGE_PATH,
    DOMAIN,
    MANUFACTURER,
    PRUNE_INTERVAL,
    STATS_INTERVAL,
    channels_signal,
    motion_signal,
    object_signal,
    storage_signal,
)
from .device_discovery import async_follow_discovery_option, async_stop_discovery
from .device_runtime import (
    async_ask_reauth,
    async_start_device,
    async_stop_device,
    device_settings,
    linked_channels,
)
from .entity import async_add_channel_entities
from .ffmpeg_log import async_keep_ffmpeg_log_hook_off
from .frontend import async_setup_frontend
from .objects import object_config
from .repairs import async_clear_storage_issue, async_raise_storage_issue
from .runtime import (
    ChannelRuntime,
    NvrConfigEntry,
    NvrData,
    channel_data,
    channel_subentries,
    device_subentries,
    motion_config,
    open_archive,
    prune,
    recorder_settings,
    removed_channels,
    retention_policy,
    start_snapshot_threads,
    stop_all,
    storage_stats,
    stream_part,
)
from .storage import check_storage_path
from .views import async_register_views
from .websocket import async_register_websocket
from .websocket_search import async_register_search_websocket
from .websocket_timeline import async_register_timeline_websocket

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


CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)
SHUTDOWN_LOCK_WAIT = 2.0
"""Seconds Home Assistant's stop waits for a channel change under way before it stops the channels anyway."""


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Serve the wall card and register the WebSocket commands (once per run)."""
    async_keep_ffmpeg_log_hook_off(hass)
    async_register_websocket(hass)
    async_register_timeline_websocket(hass)
    async_register_search_websocket(hass)
    await async_setup_frontend(hass)
    await async_update_caption(hass)
    async_follow_language(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: NvrConfigEntry) -> bool:
    """Open the storage folder, start the recorders and channels, set up their entities."""
    name = entry.data.get(CONF_NAME) or entry.title
    nvr_device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, entry.entry_id)},
        name=name,
        manufacturer=MANUFACTURER,
        model="Network video recorder",
    )
    data = NvrData(storage_path=entry.data[CONF_STORAGE_PATH])
    data.device_ids[(DOMAIN, entry.entry_id)] = nvr_device.id  # what its channels and devices link to
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

    entry.runtime_data = data
    async_register_views(hass)  # playback in the media browser (once per HA run)
    try:
        # Threads are started in executor jobs: the event loop never waits on one.
        await hass.async_add_executor_job(start_snapshot_threads, data.snapshots)
        data.removed = await hass.async_add_executor_job(removed_channels, data)
        await asyncio.gather(*(async_start_channel(hass, entry, s) for s in channel_subentries(entry)))
        for subentry in device_subentries(entry):  # their HA devices exist before the channels' entities
            async_start_device(hass, entry, subentry)
    except Exception:
        await hass.async_add_executor_job(stop_all, data)
        raise
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
    async_follow_discovery_option(hass, entry)
    entry.async_on_unload(lambda: async_stop_discovery(hass, entry))

    entry.async_on_unload(
        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, partial(_async_stop_on_shutdown, hass, data, name))
    )
    async_dispatcher_send(hass, channels_signal())
    return True


async def async_unload_entry(hass: HomeAssistant, entry: NvrConfigEntry) -> bool:
    """Stop the channels and recorders and unload the entities."""
    data = entry.runtime_data
    _cancel_timers(data)
    async with data.update_lock:  # a channel change under way could start a channel after this
        return await _async_unload(hass, entry, data)


async def _async_unload(hass: HomeAssistant, entry: NvrConfigEntry, data: NvrData) -> bool:
    for device_id in list(data.devices):
        await async_stop_device(hass, entry, device_id)
    unload_ok = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    for runtime in data.channels.values():
        runtime.issues.async_clear()
        if runtime.recording_issues is not None:
            runtime.recording_issues.async_clear()
    async_clear_storage_issue(hass, entry.entry_id)
    if not await hass.async_add_executor_job(stop_all, data):
        _LOGGER.debug("Some threads of %s did not end in time", entry.title)
    async_dispatcher_send(hass, channels_signal())
    return bool(unload_ok)


async def _async_stop_on_shutdown(hass: HomeAssistant, data: NvrData, name: str, _event: Event) -> None:
    """End readers and recorders cleanly when Home Assistant stops (it does not unload entries then).

    After a channel change under way (it could start a channel after this),
    but waiting for it at most SHUTDOWN_LOCK_WAIT.
    """
    _cancel_timers(data)
    try:
        async with asyncio.timeout(SHUTDOWN_LOCK_WAIT):
            await data.update_lock.acquire()
    except TimeoutError:
        _LOGGER.warning("A channel change of %s is still under way; stopping anyway", name)
        await hass.async_add_executor_job(stop_all, data)
        return
    try:
        await hass.async_add_executor_job(stop_all, data)
    finally:
        data.update_lock.release()


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
        if data.removed:  # a deleted channel whose last footage went is no longer listed
            data.removed = await hass.async_add_executor_job(removed_channels, data)


async def _async_update_listener(hass: HomeAssistant, entry: NvrConfigEntry) -> None:
    """Follow changes of the entry: only the channels that changed are touched.

    A new channel is started and gets its entities; a deleted one is stopped
    (HA removes its entities and device); a channel whose streams changed is
    rebuilt; a rename and recording or motion settings apply live. A new
    storage folder reloads the whole NVR. Connected devices are started,
    stopped or restarted the same way.
    """
    async with entry.runtime_data.update_lock:  # one flow may add a device and many channels at once
        await _async_follow_changes(hass, entry)


async def _async_follow_changes(hass: HomeAssistant, entry: NvrConfigEntry) -> None:
    data = entry.runtime_data
    if data.stopped:  # Home Assistant is stopping
        return
    if os.path.normpath(entry.data[CONF_STORAGE_PATH]) != os.path.normpath(data.storage_path):
        # Scheduled, not awaited: the unload waits for the update lock this listener holds.
        hass.config_entries.async_schedule_reload(entry.entry_id)
        return
    policy = retention_policy(entry.options)
    if data.archive is not None and data.archive.pruner.policy != policy:
        data.archive.set_policy(policy)
        entry.async_create_background_task(hass, _async_prune(hass, entry, data), f"nvr prune {entry.entry_id}")
    async_follow_discovery_option(hass, entry)
    devices = {s.subentry_id: s for s in device_subentries(entry)}
    for device_id, runtime in list(data.devices.items()):
        if device_id not in devices or runtime.settings != device_settings(devices[device_id]):
            await async_stop_device(hass, entry, device_id)
    if _detach_orphans(hass, entry, devices):
        return  # the listener runs again for the detached channels
    for device_id, subentry in devices.items():
        if device_id not in data.devices:
            async_start_device(hass, entry, subentry)  # registers its HA device before new channels' entities
    wanted = {s.subentry_id: s for s in channel_subentries(entry)}
    before = {sid: runtime.name for sid, runtime in data.channels.items()}
    for subentry_id in [s for s in data.channels if s not in wanted]:
        _LOGGER.debug("Channel %s of %s deleted", data.channels[subentry_id].name, entry.title)
        await async_stop_channel(hass, entry, subentry_id, deleted=True)
        if data.archive is not None:  # its footage stays browsable until retention deletes it
            await hass.async_add_executor_job(data.archive.index.remove_channel, subentry_id, time.time())
            data.removed = await hass.async_add_executor_job(removed_channels, data)
    for subentry_id, subentry in wanted.items():
        runtime = data.channels.get(subentry_id)
        if runtime is not None and runtime.stream_data != stream_part(channel_data(entry, subentry)):
            _LOGGER.debug("Streams of channel %s changed; restarting it", runtime.name)
            await async_stop_channel(hass, entry, subentry_id)
            runtime = None
        if runtime is None:
            async_add_channel_entities(entry, await async_start_channel(hass, entry, subentry))
            continue
        await async_apply_sharing(hass, entry, subentry, runtime)
        _async_apply_live_settings(hass, entry, subentry, runtime)
    for device_id, device in data.devices.items():
        device.channels = linked_channels(entry, device_id)
        if device.reason == "invalid_auth":  # another device's reauth flow may have been open when it failed
            async_ask_reauth(hass, entry, device)
    if before != {sid: runtime.name for sid, runtime in data.channels.items()}:
        async_dispatcher_send(hass, channels_signal())


def _detach_orphans(hass: HomeAssistant, entry: NvrConfigEntry, devices: dict[str, ConfigSubentry]) -> bool:
    """Channels of a deleted device become plain channels with the login they ran with; True if any."""
    detached = False
    for subentry in channel_subentries(entry):
        if not (device_id := subentry.data.get(CONF_DEVICE)) or device_id in devices:
            continue
        runtime = entry.runtime_data.channels.get(subentry.subentry_id)
        login = runtime.stream_data if runtime is not None else {}
        data = {k: v for k, v in subentry.data.items() if k not in (CONF_DEVICE, CONF_DEVICE_CHANNEL)}
        data[CONF_USERNAME] = login.get(CONF_USERNAME, "")
        data[CONF_PASSWORD] = login.get(CONF_PASSWORD, "")
        data[CONF_MOTION_SOURCE] = "local"
        _LOGGER.info("Channel %s keeps recording on its own: its device was deleted", subentry.title)
        hass.config_entries.async_update_subentry(entry, subentry, data=data)
        detached = True
    return detached


@callback
def _async_apply_live_settings(
    hass: HomeAssistant, entry: NvrConfigEntry, subentry: ConfigSubentry, runtime: ChannelRuntime
) -> None:
    """Hand a running channel its new name, motion and recording settings."""
    name = channel_name(subentry)
    renamed = name != runtime.name
    if renamed:
        runtime.name = name
        runtime.channel.rename(name)
        device_registry = dr.async_get(hass)
        identifier = (DOMAIN, f"{entry.entry_id}_{subentry.subentry_id}")
        # The entry's own devices: async_get_device by identifier is refused from HA 2026 on.
        for device in dr.async_entries_for_config_entry(device_registry, entry.entry_id):
            if identifier in device.identifiers:
                device_registry.async_update_device(device.id, name=name)
    if runtime.objects is not None and (found := object_config(subentry.data)) != runtime.objects.config:
        # Applied at once; events of labels no longer wanted end now, their snapshots written off the loop.
        if ended := runtime.objects.apply(found):
            hass.async_add_executor_job(runtime.objects.report, ended)
        async_dispatcher_send(hass, object_signal(entry.entry_id, subentry.subentry_id), None)
    if (config := motion_config(subentry.data, entry.runtime_data.devices)) != runtime.motion.config:
        runtime.motion.apply(config)  # queued to the motion worker's thread
        async_dispatcher_send(hass, motion_signal(entry.entry_id, subentry.subentry_id), None)
    recorder = runtime.recorder
    if recorder is None:
        return
    settings = recorder_settings(entry.options, subentry.data)
    if settings != recorder.settings:
        recorder.update_settings(settings)  # queued to the recorder's thread
    elif not renamed:
        return
    # The index keeps the name and event padding for the footage (also once the channel is deleted).
    hass.async_add_executor_job(remember_channel, recorder.index, subentry.subentry_id, name, settings)
