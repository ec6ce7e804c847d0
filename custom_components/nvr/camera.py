"""Camera entities: live view through HA's stream, stills from memory, recording actions."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import voluptuous as vol
from aiohttp import web
from homeassistant.components.camera import Camera, CameraEntityFeature, async_get_still_stream
from homeassistant.components.stream import Stream
from homeassistant.components.stream.const import ATTR_STREAMS
from homeassistant.components.stream.const import DOMAIN as STREAM_DOMAIN
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HassJob, HomeAssistant, ServiceResponse, SupportsResponse, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import entity_platform
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util
from homeassistant.util import slugify

from .const import (
    CONF_MOTION_ENABLED,
    CONF_RTSP_TRANSPORT,
    DOMAIN,
    EXPORT_FOLDER,
    motion_signal,
    recording_signal,
    source_signal,
)
from .engine import MAIN, SUB, ExportError, Recorder, RecorderStatus, Served, export_clip
from .entity import NvrChannelEntity, async_setup_channel_entities, async_update_channel_data
from .runtime import ChannelRuntime, NvrConfigEntry, motion_config
from .stills import async_still

_LOGGER = logging.getLogger(__name__)

PARALLEL_UPDATES = 0

SERVICE_START_RECORDING = "start_recording"
SERVICE_STOP_RECORDING = "stop_recording"
SERVICE_EXPORT_CLIP = "export_clip"
ATTR_DURATION = "duration"
ATTR_START = "start"
ATTR_END = "end"
ATTR_PATH = "path"
MAX_MANUAL_SECONDS = 86400
STREAM_STOP_SECONDS = 1.0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NvrConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a camera per stream of every channel, and the recording actions."""

    def _entities(entry: NvrConfigEntry, subentry: ConfigSubentry, runtime: ChannelRuntime) -> list:
        return [NvrCamera(entry, subentry, runtime, role) for role in runtime.channel.readers]

    await async_setup_channel_entities(entry, async_add_entities, _entities)

    platform = entity_platform.async_get_current_platform()
    platform.async_register_entity_service(
        SERVICE_START_RECORDING,
        {vol.Optional(ATTR_DURATION): vol.All(vol.Coerce(float), vol.Range(min=1, max=MAX_MANUAL_SECONDS))},
        "async_start_recording",
    )
    platform.async_register_entity_service(SERVICE_STOP_RECORDING, {}, "async_stop_recording")
    platform.async_register_entity_service(
        SERVICE_EXPORT_CLIP,
        {
            vol.Required(ATTR_START): cv.datetime,
            vol.Required(ATTR_END): cv.datetime,
            vol.Optional(ATTR_PATH): cv.string,
        },
        "async_export_clip",
        supports_response=SupportsResponse.OPTIONAL,
    )


def _forget_stream(hass: HomeAssistant, stream: Stream) -> None:
    """Take a stopped stream out of HA's list of streams (its HLS URLs then answer 404, as after stop())."""
    streams = hass.data.get(STREAM_DOMAIN, {}).get(ATTR_STREAMS)
    if isinstance(streams, list) and stream in streams:
        streams.remove(stream)


def _no_update() -> None:
    """What HA's stream of a removed camera reports its state changes to: nobody."""


class NvrCamera(NvrChannelEntity, Camera):
    """One stream of a channel.

    The main stream is the device's main feature; the sub stream camera is
    what the wall card plays on its 9- and 16-way layouts. Recording
    actions on either camera act on the channel (its main stream is recorded).
    """

    _attr_supported_features = CameraEntityFeature.STREAM

    def __init__(self, entry: NvrConfigEntry, subentry: ConfigSubentry, runtime: ChannelRuntime, role: str) -> None:
        """Create the camera of one stream."""
        NvrChannelEntity.__init__(self, entry, subentry, runtime, role)
        Camera.__init__(self)
        self._entry = entry
        self._channel_name = subentry.title
        self._snapshots = entry.runtime_data.snapshots
        self._recorder: Recorder | None = runtime.recorder
        self._attr_unique_id = f"{subentry.subentry_id}_{role}"
        if role == SUB:
            self._attr_translation_key = "sub_stream"
        else:
            self._attr_name = None
        self._runtime = runtime
        self._source = runtime.channel.readers[role].source
        # Also for the relay's URL (FFmpeg's HTTP input ignores it): HA's stream keeps the options it
        # was made with when its source moves to the camera (see _async_source_changed).
        self.stream_options[CONF_RTSP_TRANSPORT] = self._source.transport
        self._recording_shown = False
        self._removed = False
        self.last_still: Served | None = None
        """The latest still answered (its age and source: tests and diagnostics)."""

    async def async_added_to_hass(self) -> None:
        """Follow stream and recorder status changes."""
        await super().async_added_to_hass()
        self._recording_shown = self.is_recording
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, recording_signal(self._entry_id, self._subentry_id), self._async_recording_changed
            )
        )
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, motion_signal(self._entry_id, self._subentry_id), self._async_motion_changed
            )
        )
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, source_signal(self._entry_id, self._subentry_id), self._async_source_changed
            )
        )
        # Before HA stops the streams (its shutdown jobs run first).
        self.async_on_remove(self.hass.async_add_shutdown_job(HassJob(self._async_wake_stream_viewers)))

    @callback
    def _async_wake_stream_viewers(self) -> None:
        """HA's HLS requests waiting for this camera's next segment answer now (HA's "not found").

        HA stops a stream without waking the playlist requests that wait for
        its segments (a viewer who just opened the camera waits for the first
        two): those requests then hold HA's web server, and so HA's exit, for
        twice its 10 s shutdown timeout. Woken, they answer at once, and so do
        those that come until HA's stop removes the stream's outputs.
        """
        if (stream := self.stream) is not None:
            for output in stream.outputs().values():
                output.cleanup()

    async def handle_async_mjpeg_stream(self, request: web.Request) -> web.StreamResponse | None:
        """HA's MJPEG stream of stills, ended when HA stops or the camera goes.

        HA's own loop ends only when the viewer leaves, so an open MJPEG
        viewer held HA's stop for its web server's 10 s shutdown timeout.
        """

        async def image() -> bytes | None:
            if self.hass.is_stopping or self._removed:
                return None  # ends the stream
            return await self.async_camera_image()

        return await async_get_still_stream(request, image, self.content_type, self.frame_interval)

    async def async_will_remove_from_hass(self) -> None:
        """Stop HA's stream of this camera: HA keeps it (and its worker thread) otherwise.

        Without this, a deleted or reloaded channel's old HLS stream goes on
        reading a relay URL that no longer exists, retrying and logging, for
        as long as HA runs. The stop joins HA's worker in an executor job; it
        is waited for at most STREAM_STOP_SECONDS and goes on by itself after.
        """
        await super().async_will_remove_from_hass()
        self._removed = True
        if (stream := self.stream) is None:
            return
        self._async_wake_stream_viewers()  # the camera's viewers that wait for a segment answer now
        self.stream = None
        # HA keeps every stream it made for as long as it runs (for its own stop), and the stream
        # keeps the camera's state writer: without this, each removed camera that was ever watched
        # (every camera, at each reload) stayed in memory with its whole channel and recorder.
        stream.set_update_callback(_no_update)
        # With "Preload stream" on, HA's stop() leaves the worker running (as its own shutdown
        # knows): off for this stop only, since HA shares the setting with the camera's next stream.
        settings = stream.dynamic_stream_settings
        preload, settings.preload_stream = settings.preload_stream, False
        try:
            stopping = self.hass.async_create_background_task(stream.stop(), f"nvr stop stream {self.entity_id}")
            await asyncio.sleep(0)  # stop() has read the setting
        finally:
            settings.preload_stream = preload
        # HA's list of streams (for its own stop, and its HLS views) would keep the stopped stream, and its
        # last keyframe and diagnostics, for as long as HA runs: one per watched camera of every reload.
        stopping.add_done_callback(lambda _task: _forget_stream(self.hass, stream))
        try:
            await asyncio.wait_for(asyncio.shield(stopping), STREAM_STOP_SECONDS)
        except TimeoutError:
            _LOGGER.debug("HA's stream of %s is still stopping", self.entity_id)

    async def _async_source_changed(self) -> None:
        """The channel shares its connection now, or no longer: HA's stream moves to the new source at once.

        HA's stream restarts its worker on the new URL and keeps its HLS
        output, so open viewers go on (HA keeps a stream's source otherwise,
        and went on reading an old relay URL).
        """
        if (stream := self.stream) is not None and (source := await self.stream_source()) != stream.source:
            where = "the relay" if self._runtime.shared else "the camera"
            _LOGGER.debug("HA's stream of %s moves to %s", self.entity_id, where)
            stream.update_source(source)

    @callback
    def _async_motion_changed(self, update) -> None:
        if update is None:  # settings changed: motion detection may have been switched
            self.async_write_ha_state()

    @callback
    def _async_recording_changed(self, _status: RecorderStatus) -> None:
        if self.is_recording != self._recording_shown:
            self._recording_shown = self.is_recording
            self.async_write_ha_state()

    @callback
    def _async_status_changed(self, role: str, status) -> None:
        self._recording_shown = self.is_recording
        super()._async_status_changed(role, status)

    @property
    def available(self) -> bool:
        """Follow the channel, not HA's HLS worker.

        HA's camera turns unavailable while its stream worker fails; a dead
        feed should read as ``idle`` with the "No video signal" image instead.
        """
        return self._attr_available

    @property
    def is_streaming(self) -> bool:
        """Whether the feed is up (state 'streaming', else 'idle')."""
        return self.stream_status.connected

    @property
    def is_recording(self) -> bool:
        """Whether the main stream is being written to a file right now (state 'recording')."""
        if self._role != MAIN or self._recorder is None:
            return False
        return self._recorder.status.recording and self.stream_status.connected

    @property
    def motion_detection_enabled(self) -> bool:
        """Whether the channel's motion detection is on (the same for both of its cameras)."""
        subentry = self._entry.subentries.get(self._subentry_id)
        return subentry is not None and motion_config(subentry.data).enabled

    async def async_enable_motion_detection(self) -> None:
        """Turn the channel's motion detection on (kept across restarts)."""
        async_update_channel_data(self.hass, self._entry, self._subentry_id, {CONF_MOTION_ENABLED: True})
        self.async_write_ha_state()

    async def async_disable_motion_detection(self) -> None:
        """Turn the channel's motion detection off; a running event ends."""
        async_update_channel_data(self.hass, self._entry, self._subentry_id, {CONF_MOTION_ENABLED: False})
        self.async_write_ha_state()

    async def stream_source(self) -> str | None:
        """Where HA's stream (HLS) and go2rtc (WebRTC) read the live picture.

        The relay's loopback URL (one camera connection for every viewer, and
        "No video signal" while the camera is down) when the channel shares its
        connection; else the camera's RTSP URL with its credentials.
        """
        if self._runtime.shared and (url := self._channel.relay_url(self._role)) is not None:
            return url
        return self._source.authenticated_url()

    async def async_camera_image(self, width: int | None = None, height: int | None = None) -> bytes | None:
        """A JPEG of the newest picture held in memory, or the no-signal picture; within the still budget.

        Decoded on the NVR's own snapshot threads, never on the event loop. On
        an overloaded host an older picture answers (see :func:`async_still`).
        """
        self.last_still = await async_still(self.hass, self._snapshots, self._channel, self._role, width, height)
        return self.last_still.jpeg

    # -- actions --------------------------------------------------------------

    def _require_recorder(self) -> Recorder:
        if self._recorder is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="recording_unavailable",
                translation_placeholders={
                    "channel": self._channel_name,
                    "folder": self._entry.runtime_data.storage_path,
                },
            )
        return self._recorder

    async def async_start_recording(self, duration: float | None = None) -> None:
        """Record the channel now (an event of kind manual), for ``duration`` s or until stopped."""
        self._require_recorder().start_manual(duration)

    async def async_stop_recording(self) -> None:
        """End the channel's manual recordings."""
        self._require_recorder().stop_manual()

    async def async_export_clip(self, start: datetime, end: datetime, path: str | None = None) -> ServiceResponse:
        """Write the channel's footage from ``start`` to ``end`` to one MP4."""
        self._require_recorder()
        archive = self._entry.runtime_data.archive
        assert archive is not None  # a recorder implies an open archive
        start_local, end_local = dt_util.as_local(start), dt_util.as_local(end)
        if end_local <= start_local:
            raise _invalid("end_before_start", start=start_local.isoformat(), end=end_local.isoformat())
        dest = self._destination(path, start_local)
        if not await self.hass.async_add_executor_job(self.hass.config.is_allowed_path, str(dest)):
            raise _invalid("path_not_allowed", path=str(dest))
        try:
            clip = await self.hass.async_add_executor_job(
                export_clip,
                archive.index,
                archive.root,
                self._subentry_id,
                start_local.timestamp(),
                end_local.timestamp(),
                dest,
            )
        except ExportError as err:
            if err.reason in ("end_before_start", "no_footage"):
                raise _invalid(
                    err.reason, start=start_local.isoformat(), end=end_local.isoformat(), channel=self._channel_name
                ) from err
            raise _failed(str(err)) from err
        except (OSError, sqlite3.Error) as err:
            _LOGGER.warning("Export of %s to %s failed: %s", self._channel_name, dest, err)
            raise _failed(getattr(err, "strerror", None) or str(err)) from err
        except Exception as err:  # PyAV errors: no traceback for the user
            _LOGGER.warning("Export of %s to %s failed: %s", self._channel_name, dest, err)
            raise _failed(str(err)) from err
        response: dict[str, Any] = {
            "path": str(clip.path),
            "start": dt_util.as_local(dt_util.utc_from_timestamp(clip.start)).isoformat(),
            "duration": round(clip.duration, 3),
        }
        media_id = self._media_content_id(clip.path)
        if media_id is not None:
            response["media_content_id"] = media_id  # the NVR page downloads it through HA's media source
        return response

    def _media_content_id(self, path: Path) -> str | None:
        """The media source id of a file inside one of HA's media folders (None elsewhere)."""
        for key, folder in self.hass.config.media_dirs.items():
            try:  # lexical, with any ".." folded away first
                relative = Path(os.path.normpath(path)).relative_to(os.path.normpath(folder))
            except ValueError:
                continue
            return f"media-source://media_source/{key}/{relative.as_posix()}"
        return None

    def _destination(self, path: str | None, start: datetime) -> Path:
        """The file to write: ``path`` if it names an .mp4, else a file in that folder (default: media)."""
        name = f"{slugify(self._channel_name) or 'channel'}_{start:%Y%m%d-%H%M%S}.mp4"
        if path is None or not path.strip():
            media = next(iter(self.hass.config.media_dirs.values()), None) or self.hass.config.path("media")
            return Path(media) / EXPORT_FOLDER / name
        chosen = Path(path.strip())
        if not chosen.is_absolute():
            raise _invalid("path_not_allowed", path=path)
        return chosen if chosen.suffix.lower() == ".mp4" else chosen / name


def _invalid(key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders or None
    )


def _failed(detail: str) -> HomeAssistantError:
    return HomeAssistantError(
        translation_domain=DOMAIN, translation_key="export_failed", translation_placeholders={"error": detail}
    )
