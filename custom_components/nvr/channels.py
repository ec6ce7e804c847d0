"""Start and stop one channel: its readers, recorder and motion worker, wired to Home Assistant.

Engine threads report status changes and motion events through callbacks
called in their own threads; these hand the news to the event loop with
``call_soon_threadsafe``, where it goes to repair issues, the dispatcher and
the bus. Building the engine objects and starting or stopping their threads
is blocking work: it runs in an executor job, never on the event loop.

Each channel is started and stopped on its own, so adding, changing or
deleting one channel never interrupts the others.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import CONF_NAME, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.util import dt as dt_util

from .const import (
    CONF_SHARE_CONNECTION,
    CONF_STREAM_FORMATS,
    DEFAULT_SHARE_CONNECTION,
    DOMAIN,
    EVENT_MOTION,
    motion_signal,
    recording_signal,
    source_signal,
    status_signal,
)
from .engine import (
    Archive,
    Channel,
    ChannelConfig,
    ChannelObjects,
    MotionConfig,
    MotionUpdate,
    MotionWorker,
    Recorder,
    RecorderSettings,
    RecorderStatus,
    RecordingIndex,
    RelayServer,
    StreamStatus,
    VideoFormat,
)
from .objects import ObjectState, get_object_worker, object_config, object_handler
from .repairs import ChannelIssues, RecordingIssues
from .runtime import (
    ChannelRuntime,
    MotionState,
    NvrConfigEntry,
    channel_data,
    motion_config,
    recorder_settings,
    sources_from_data,
    stop_channel_runtimes,
    stream_part,
)

_LOGGER = logging.getLogger(__name__)

DATA_RELAY = f"{DOMAIN}_relay"
RELAY_LEAVE_SECONDS = 3.0
"""How long a channel that stops sharing its connection waits for HA's streams to leave the relay."""


def channel_name(subentry: ConfigSubentry) -> str:
    """The name a channel is shown with."""
    return subentry.data.get(CONF_NAME) or subentry.title


def _threadsafe(hass: HomeAssistant, target: Callable[..., None], *args: Any) -> None:
    """Hand a call from an engine thread to the event loop (dropped once it is closed)."""
    if hass.loop.is_closed():
        return
    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
        hass.loop.call_soon_threadsafe(target, *args)


def _recorder_callback(hass: HomeAssistant, entry_id: str, subentry_id: str, issues: RecordingIssues):
    signal = recording_signal(entry_id, subentry_id)

    @callback
    def _on_loop(status: RecorderStatus) -> None:
        issues.async_update(status)
        async_dispatcher_send(hass, signal, status)

    return lambda status: _threadsafe(hass, _on_loop, status)


def _status_callback(hass: HomeAssistant, entry_id: str, subentry_id: str, issues: ChannelIssues):
    signal = status_signal(entry_id, subentry_id)

    @callback
    def _on_loop(role: str, status: StreamStatus) -> None:
        issues.async_update(role, status)
        async_dispatcher_send(hass, signal, role, status)

    return lambda role, status: _threadsafe(hass, _on_loop, role, status)


def _motion_callback(
    hass: HomeAssistant,
    entry: NvrConfigEntry,
    subentry_id: str,
    name: str,
    state: MotionState,
    objects: ObjectState,
    root: Path | None,
):
    signal = motion_signal(entry.entry_id, subentry_id)

    @callback
    def _on_loop(update: MotionUpdate) -> None:
        state.motion = update.kind == "motion_start"
        state.update = update
        if state.motion:  # what object detection sees from now on is this event's
            objects.seen = {label: round(u.score, 2) for label, u in objects.present.items()}
        state.objects = dict(objects.seen)
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
                "objects": state.objects,
            },
        )

    return lambda update: _threadsafe(hass, _on_loop, update)


def relay_formats(data: Mapping[str, Any]) -> dict[str, VideoFormat]:
    """What the channel flow found of each stream (the relay's picture before a first connection)."""
    formats = {}
    for role, found in (data.get(CONF_STREAM_FORMATS) or {}).items():
        with contextlib.suppress(TypeError, ValueError):
            codec, width, height = found
            formats[role] = VideoFormat(str(codec), int(width), int(height))
    return formats


async def async_get_relay(hass: HomeAssistant) -> RelayServer:
    """The live relay of this run of Home Assistant, started on first use (in an executor job)."""
    relay: RelayServer | None = hass.data.get(DATA_RELAY)
    if relay is None:
        relay = hass.data[DATA_RELAY] = RelayServer()
        await hass.async_add_executor_job(relay.start)

        async def _async_stop(_event: Event) -> None:
            hass.data.pop(DATA_RELAY, None)
            await hass.async_add_executor_job(relay.stop)

        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _async_stop)
    return relay


def remember_channel(index: RecordingIndex, channel: str, name: str, settings: RecorderSettings) -> None:
    """Store a channel's name and event padding with its footage; blocking (errors are logged)."""
    try:
        index.name_channel(channel, name, settings.pre_roll, settings.post_roll)
    except Exception as err:  # sqlite3.Error: the footage itself is not affected
        _LOGGER.warning("Index could not remember channel %s: %s", name, err)


def _build_and_start(
    subentry: ConfigSubentry,
    data: Mapping[str, Any],
    name: str,
    archive: Archive | None,
    settings: RecorderSettings,
    motion: MotionConfig,
    on_recorder: Callable[[RecorderStatus], None],
    on_motion: Callable[[MotionUpdate], None],
    on_status: Callable[[str, StreamStatus], None],
    stills: Executor,
    relay: RelayServer | None,
) -> tuple[Channel, MotionWorker, Recorder | None]:
    """Create a channel's engine objects and start their threads; blocking."""
    sid = subentry.subentry_id
    recorder = None
    if archive is not None:
        remember_channel(archive.index, sid, name, settings)
        recorder = Recorder(
            sid,
            archive.root,
            archive.index,
            settings,
            on_status=on_recorder,
            make_room=archive.pruner.make_room,
            label=name,
        )
    root = archive.root if archive is not None else None
    worker = MotionWorker(sid, motion, recorder=recorder, root=root, on_event=on_motion, label=name)
    if archive is not None:
        worker.activity = archive.activity.channel(sid)
    main, sub = sources_from_data(data)
    config = ChannelConfig(key=sid[-8:], name=name, main=main, sub=sub)
    channel = Channel(config, on_status, recorder, worker, stills, relay, relay_formats(subentry.data))
    # Recorder first, so the first packets of the stream have somewhere to go.
    if recorder is not None:
        recorder.start()
    worker.start()
    channel.start()
    return channel, worker, recorder


async def async_start_channel(hass: HomeAssistant, entry: NvrConfigEntry, subentry: ConfigSubentry) -> ChannelRuntime:
    """Build a channel's engine objects and start them (in an executor job); register it."""
    data = entry.runtime_data
    sid = subentry.subentry_id
    name = channel_name(subentry)
    archive = data.archive
    issues = ChannelIssues(hass, entry.entry_id, sid, name)
    recording_issues = (
        RecordingIssues(hass, entry.entry_id, sid, name, str(archive.root)) if archive is not None else None
    )
    state = MotionState()
    object_state = ObjectState()
    root = archive.root if archive is not None else None
    on_recorder = (
        _recorder_callback(hass, entry.entry_id, sid, recording_issues) if recording_issues is not None else None
    )
    stream_data = channel_data(entry, subentry)
    channel, worker, recorder = await hass.async_add_executor_job(
        _build_and_start,
        subentry,
        stream_data,
        name,
        archive,
        recorder_settings(entry.options, subentry.data),
        motion_config(subentry.data, data.devices),
        on_recorder,
        _motion_callback(hass, entry, sid, name, state, object_state, root),
        _status_callback(hass, entry.entry_id, sid, issues),
        data.snapshots,
        await async_get_relay(hass) if _shares(subentry) else None,
    )
    handler = object_handler(hass, entry.entry_id, sid, name, object_state, root)
    objects = ChannelObjects(
        sid,
        get_object_worker(hass),
        object_config(subentry.data),
        label=name,
        recorder=recorder,
        root=root,
        on_event=lambda update: _threadsafe(hass, handler, update),
    )
    worker.objects = objects
    runtime = ChannelRuntime(
        subentry_id=sid,
        name=name,
        channel=channel,
        motion=worker,
        motion_state=state,
        issues=issues,
        recorder=recorder,
        recording_issues=recording_issues,
        stream_data=stream_part(stream_data),
        shared=channel.relay is not None,
        objects=objects,
        object_state=object_state,
    )
    data.channels[sid] = runtime
    # A device's news that came while the channel was being built (its events not supported, say)
    # was not applied to it: its motion settings are read again now that it is registered.
    if (now := motion_config(subentry.data, data.devices)) != worker.config:
        worker.apply(now)
    return runtime


def _shares(subentry: ConfigSubentry) -> bool:
    return bool(subentry.data.get(CONF_SHARE_CONNECTION, DEFAULT_SHARE_CONNECTION))


async def async_apply_sharing(
    hass: HomeAssistant, entry: NvrConfigEntry, subentry: ConfigSubentry, runtime: ChannelRuntime
) -> None:
    """Serve a running channel's streams on the relay, or no longer, as its "Share one camera connection" says.

    The readers, and so the recording, go on. HA's streams of the channel's
    cameras move to the new source at once (see ``camera.py``): onto the
    relay once it serves the streams; off it before it stops serving them,
    so that no stream worker of HA fails (and logs) on the way.
    """
    share, channel = _shares(subentry), runtime.channel
    if share == runtime.shared:
        return
    signal = source_signal(entry.entry_id, subentry.subentry_id)
    if share:
        await hass.async_add_executor_job(channel.set_relay, await async_get_relay(hass))
        runtime.shared = True
        async_dispatcher_send(hass, signal)
        return
    runtime.shared = False
    async_dispatcher_send(hass, signal)
    # HA's stream workers close their relay connections as they restart; other viewers are disconnected.
    await hass.async_add_executor_job(channel.set_relay, None, RELAY_LEAVE_SECONDS)
    _LOGGER.debug("Channel %s: viewers read the camera itself now", runtime.name)


async def async_stop_channel(
    hass: HomeAssistant, entry: NvrConfigEntry, subentry_id: str, deleted: bool = False
) -> None:
    """Remove a channel's entities, clear its issues and stop its threads (in an executor job).

    A ``deleted`` channel's entities leave no state behind: HA removes their
    registry entries meanwhile, and an entity whose removal outlasts that
    (a camera stopping HA's stream) would otherwise write an "unavailable"
    state that nothing ever removes, and its name would be taken.
    """
    runtime = entry.runtime_data.channels.pop(subentry_id, None)
    if runtime is None:
        return
    for entity in runtime.entities:
        if entity.hass is not None and entity.platform is not None:
            await entity.async_remove(force_remove=deleted)
    runtime.entities.clear()
    runtime.issues.async_clear()
    if runtime.recording_issues is not None:
        runtime.recording_issues.async_clear()
    if not await hass.async_add_executor_job(stop_channel_runtimes, [runtime]):
        _LOGGER.debug("Some threads of channel %s did not end in time", runtime.name)
