"""An ONVIF camera with no event service: reported as not_supported, no repair, motion detected here instead.

The camera (a loopback ONVIF responder whose capabilities and services list
no event service) streams a feed whose box crosses the picture every 4 s.
Its channel is added with the motion source *camera*: with no camera events
to wait for, the channel's own detector must take over, and the Motion
sensor must follow the box.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from motion_feed import make_motion_clip
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from rtsp_peer import RtspServer, live_mount
from support import async_wait_for

from custom_components.nvr.const import DEVICE_EVENTS_GRACE, DOMAIN, SUBENTRY_CHANNEL, SUBENTRY_DEVICE
from tests.devices.onvif_responder import OnvifResponder

from .conftest import nvr_entry

PASSWORD = "camera-login"


@pytest.fixture(scope="module")
def feed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtspServer]:
    clip = make_motion_clip(tmp_path_factory.mktemp("no_events_feed") / "motion.ts", moves=[(0.5, 2.0)])
    server = RtspServer([live_mount("/onvif/main", clip)]).start()
    yield server
    server.stop()


@pytest.fixture
async def camera(feed: RtspServer) -> AsyncIterator[OnvifResponder]:
    device = OnvifResponder(password=PASSWORD, rtsp_port=feed.port, events=False)
    await device.start()
    device.set_stream_uri("main", feed.url("/onvif/main"))
    device.set_stream_uri("sub", feed.url("/onvif/main"))
    yield device
    await device.stop()


@pytest.fixture
async def nvr(hass: HomeAssistant, tmp_path: Path) -> MockConfigEntry:
    storage = tmp_path / "nvr"
    storage.mkdir()
    entry = nvr_entry(hass, storage)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def test_camera_without_events_is_not_a_fault_and_its_channel_detects_motion_here(
    hass: HomeAssistant, nvr: MockConfigEntry, camera: OnvifResponder
) -> None:
    result = await hass.config_entries.subentries.async_init(
        (nvr.entry_id, SUBENTRY_DEVICE), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {"host": "127.0.0.1", "port": camera.port, "username": "admin", "password": PASSWORD, "protocol": "onvif"},
    )
    assert result["step_id"] == "channels", result
    field = next(f for f in result["data_schema"].schema if str(f) == "channels")
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"channels": field.default(), "motion_source": "camera"}
    )
    assert result["type"] is FlowResultType.ABORT and result["reason"] == "device_connected"
    await hass.async_block_till_done()
    device = next(s for s in nvr.subentries.values() if s.subentry_type == SUBENTRY_DEVICE)
    (channel,) = (s for s in nvr.subentries.values() if s.subentry_type == SUBENTRY_CHANNEL)
    assert channel.data["motion_source"] == "camera"

    sensor = next(
        state.entity_id for state in hass.states.async_all("binary_sensor") if state.entity_id.endswith("camera_events")
    )
    await async_wait_for(hass, lambda: hass.states.get(sensor).attributes.get("failure") == "not_supported", 20)
    assert hass.states.get(sensor).state == "off"
    assert "CreatePullPointSubscription" not in camera.operations, "no event service: nothing to subscribe to"

    # No repair: the camera answers, it just has no events to give.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=DEVICE_EVENTS_GRACE + 1))
    await hass.async_block_till_done()
    issue_id = f"device_events_{nvr.entry_id}_{device.subentry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None

    # The channel detects motion itself: the box crossing turns its Motion sensor on.
    runtime = nvr.runtime_data.channels[channel.subentry_id]
    assert runtime.motion.config.local and runtime.motion.config.camera
    slug = channel.title.lower().replace(" ", "_")
    await async_wait_for(hass, lambda: hass.states.get(f"binary_sensor.{slug}_motion").state == "on", 30)
