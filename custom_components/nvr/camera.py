"""Camera entities: live view through HA's stream, stills from memory."""

from __future__ import annotations

from homeassistant.components.camera import Camera, CameraEntityFeature
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import CONF_RTSP_TRANSPORT
from .engine import SUB, Channel
from .entity import NvrChannelEntity
from .runtime import NvrConfigEntry, channel_subentries

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NvrConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a camera per stream of every channel."""
    for subentry in channel_subentries(entry):
        channel = entry.runtime_data.channels[subentry.subentry_id]
        cameras = [NvrCamera(entry, subentry, channel, role) for role in channel.readers]
        async_add_entities(cameras, config_subentry_id=subentry.subentry_id)


class NvrCamera(NvrChannelEntity, Camera):
    """One stream of a channel.

    The main stream is the device's main feature; the sub stream camera is
    disabled by default and meant for grids of many channels.
    """

    _attr_supported_features = CameraEntityFeature.STREAM

    def __init__(self, entry: NvrConfigEntry, subentry: ConfigSubentry, channel: Channel, role: str) -> None:
        """Create the camera of one stream."""
        NvrChannelEntity.__init__(self, entry, subentry, channel, role)
        Camera.__init__(self)
        self._snapshots = entry.runtime_data.snapshots
        self._attr_unique_id = f"{subentry.subentry_id}_{role}"
        if role == SUB:
            self._attr_translation_key = "sub_stream"
            self._attr_entity_registry_enabled_default = False
        else:
            self._attr_name = None
        self._source = channel.readers[role].source
        self.stream_options[CONF_RTSP_TRANSPORT] = self._source.transport

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

    async def stream_source(self) -> str | None:
        """The RTSP URL with credentials, for HA's stream (HLS) and go2rtc (WebRTC)."""
        return self._source.authenticated_url()

    async def async_camera_image(self, width: int | None = None, height: int | None = None) -> bytes | None:
        """A JPEG of the newest picture held in memory, or the no-signal picture.

        Decoded on the NVR's own snapshot threads, never on the event loop.
        """
        return await self.hass.loop.run_in_executor(self._snapshots, self._channel.image, self._role, width, height)
