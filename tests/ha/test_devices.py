"""Connect a device once, tick its channels; the camera's own events (real loopback peers).

The Hikvision recorder is ``tests/devices/isapi_server.py`` (Digest auth, a
multipart alertStream) and the ONVIF camera ``tests/devices/onvif_responder.py``
(captured replies). Their stream URLs point at gst-rtsp-server mounts, so the
channels they create really play, record and take stills.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import pytest_socket
from homeassistant.components.camera import async_get_image
from homeassistant.config_entries import SOURCE_REAUTH, SOURCE_RECONFIGURE, SOURCE_USER
from homeassistant.core import Event, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from rtsp_peer import RtspServer, free_port, live_mount, make_clip
from support import async_wait_for, jpeg_size

from custom_components.nvr import device_discovery
from custom_components.nvr.const import (
    DEVICE_EVENTS_GRACE,
    DOMAIN,
    EVENT_DEVICE,
    EVENT_MOTION,
    SUBENTRY_CHANNEL,
    SUBENTRY_DEVICE,
)
from custom_components.nvr.device_runtime import device_identifier
from custom_components.nvr.devices import connect
from custom_components.nvr.devices.discovery import DiscoveredDevice
from custom_components.nvr.devices.isapi_events import IsapiEventStream
from custom_components.nvr.diagnostics import async_get_config_entry_diagnostics
from custom_components.nvr.engine import stream_key
from tests.devices.isapi_server import Channel, IsapiServer
from tests.devices.onvif_responder import OnvifResponder

from .conftest import entry_device, nvr_entry

try:  # HA 2026's flow views (voluptuous is probatio there; voluptuous_serialize no longer knows its schemas)
    from probatio import to_field_list as _field_list
except ImportError:  # HA 2025.4
    from voluptuous_serialize import convert as _field_list

PASSWORD = "secret"


@pytest.fixture(scope="module")
def device_streams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtspServer]:
    """The recorder's channels 1 (main and sub) and 2 (main only); the ONVIF camera's profiles name channel 1's."""
    clips = tmp_path_factory.mktemp("device_clips")
    main = make_clip(clips / "main.ts", 640, 360, fps=15, gop=15, seconds=6)
    sub = make_clip(clips / "sub.ts", 320, 180, fps=15, gop=15, seconds=6)
    server = RtspServer(
        [
            live_mount("/Streaming/Channels/101", main),
            live_mount("/Streaming/Channels/102", sub),
            live_mount("/Streaming/Channels/201", main),
        ]
    ).start()
    yield server
    server.stop()


@pytest.fixture
async def recorder(device_streams: RtspServer) -> AsyncIterator[IsapiServer]:
    """A Hikvision recorder: channel 1 and 2 online, 3 offline; RTSP on the test server's port."""
    server = IsapiServer(
        kind="recorder",
        password=PASSWORD,
        rtsp_port=device_streams.port,
        heartbeat=1.0,
        channels=[
            Channel(1, "Front door", width=640, height=360, sub_width=320, sub_height=180),
            Channel(2, "Garage", width=640, height=360, sub=False),
            Channel(3, "Yard", online=False),
        ],
    )
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def nvr(hass: HomeAssistant, tmp_path: Path) -> MockConfigEntry:
    storage = tmp_path / "nvr"
    storage.mkdir()
    entry = nvr_entry(hass, storage)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def _device_flow(hass: HomeAssistant, entry: MockConfigEntry, **form: Any) -> dict[str, Any]:
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_DEVICE), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM and result["step_id"] == "user"
    return await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"host": "127.0.0.1", "username": "admin", "protocol": "auto", **form}
    )


def _options(result: dict[str, Any]) -> tuple[list[dict[str, str]], list[str]]:
    """The channels step's options and the ticked ones."""
    field = next(f for f in result["data_schema"].schema if str(f) == "channels")
    selector = result["data_schema"].schema[field]
    return selector.config["options"], field.default()


def _form(result: dict[str, Any]) -> str:
    """The form as the browser gets it (suggested values included), serialized as HA's flow views do it."""
    return json.dumps(_field_list(result["data_schema"], custom_serializer=cv.custom_serializer))


def _channels(entry: MockConfigEntry) -> dict[str, Any]:
    return {s.title: s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_CHANNEL}


async def test_connect_a_hikvision_recorder_and_tick_its_channels(
    hass: HomeAssistant, nvr: MockConfigEntry, recorder: IsapiServer
) -> None:
    result = await _device_flow(hass, nvr, host="http://127.0.0.1/", port=recorder.port, password="wrong")
    assert result["errors"] == {"base": "invalid_auth"}  # the web address pasted as host reaches the device

    result = await _device_flow(hass, nvr, port=recorder.port, password=PASSWORD)
    assert result["step_id"] == "channels"
    assert result["description_placeholders"]["protocol"] == "ISAPI"
    options, ticked = _options(result)
    assert [o["value"] for o in options] == ["1", "2", "3"]
    assert ticked == ["1", "2"]  # the online ones
    assert "640×360 H.264, sub 320×180 H.264 — online" in options[0]["label"]
    assert options[2]["label"].endswith("OFFLINE")
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"channels": ticked, "motion_source": "camera"}
    )
    assert result["type"] is FlowResultType.ABORT and result["reason"] == "device_connected"
    assert result["description_placeholders"]["count"] == "2"
    await hass.async_block_till_done()

    (device,) = [s for s in nvr.subentries.values() if s.subentry_type == SUBENTRY_DEVICE]
    assert device.data["password"] == PASSWORD and device.data["protocol"] == "isapi"
    channels = _channels(nvr)
    assert set(channels) == {"Front door", "Garage"}
    door = channels["Front door"]
    assert door.data["main_url"] == f"rtsp://127.0.0.1:{recorder.rtsp_port}/Streaming/Channels/101"
    assert door.data["sub_url"].endswith("/Streaming/Channels/102")
    assert channels["Garage"].data["sub_url"] == ""
    for channel in channels.values():  # the login is the device's, stored once
        assert "password" not in channel.data and PASSWORD not in str(dict(channel.data))
        assert channel.data["device"] == device.subentry_id and channel.data["motion_source"] == "camera"

    hik = entry_device(hass, nvr.entry_id, device_identifier(nvr.entry_id, device.subentry_id))
    assert hik is not None and hik.manufacturer == "Hikvision"
    assert hik.serial_number and hik.model and hik.sw_version
    door_device = entry_device(hass, nvr.entry_id, (DOMAIN, f"{nvr.entry_id}_{door.subentry_id}"))
    assert door_device.via_device_id == hik.id

    # The channels really play, take stills and record.
    await async_wait_for(hass, lambda: hass.states.get("binary_sensor.front_door_video_signal").state == "on", 20)
    await async_wait_for(hass, lambda: hass.states.get("binary_sensor.garage_video_signal").state == "on", 20)
    image = await async_get_image(hass, "camera.front_door")
    assert jpeg_size(image.content) == (640, 360)
    archive = nvr.runtime_data.archive
    await async_wait_for(hass, lambda: len(archive.index.segments(door.subentry_id)) >= 1, 20)
    assert hass.states.get("select.front_door_motion_source").state == "camera"

    # Again: only the channel not added yet is offered (offline, so not ticked).
    result = await _device_flow(hass, nvr, port=recorder.port, password=PASSWORD)
    options, ticked = _options(result)
    assert [o["value"] for o in options] == ["3"] and ticked == []
    assert result["description_placeholders"]["added"] == "2"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"channels": [], "motion_source": "both"}
    )
    assert result["errors"] == {"channels": "no_channel_selected"}

    # Diagnostics: the device's login and serial number are redacted.
    diagnostics = await async_get_config_entry_diagnostics(hass, nvr)
    (device_diag,) = diagnostics["devices"]
    assert device_diag["config"]["password"] == "**REDACTED**" and device_diag["config"]["serial"] == "**REDACTED**"
    assert PASSWORD not in str(diagnostics)


def _device_entry(hass: HomeAssistant, storage: Path, recorder: IsapiServer, **channel: Any) -> MockConfigEntry:
    """An NVR with the recorder connected and its channel 1 added (as the device flow stores them)."""
    entry = nvr_entry(hass, storage)
    device_id = "01DEVICE0000000000000000001"
    url = f"rtsp://127.0.0.1:{recorder.rtsp_port}/Streaming/Channels/101"
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Shop NVR",
        data=dict(entry.data),
        unique_id=f"{entry.unique_id}-dev",
        subentries_data=[
            {
                "subentry_id": device_id,
                "subentry_type": SUBENTRY_DEVICE,
                "title": "Shop recorder",
                "unique_id": "isapi:DS-TEST",
                "data": {
                    "protocol": "isapi",
                    "host": "127.0.0.1",
                    "port": recorder.port,
                    "username": "admin",
                    "password": PASSWORD,
                    "name": "Shop recorder",
                    "manufacturer": "Hikvision",
                    "model": "DS-7608NI-K2",
                    "serial": "",
                    "firmware": "V4.0",
                },
            },
            {
                "subentry_type": SUBENTRY_CHANNEL,
                "title": "Front door",
                "unique_id": stream_key(url),
                "data": {
                    "name": "Front door",
                    "main_url": url,
                    "sub_url": "",
                    "rtsp_transport": "tcp",
                    "device": device_id,
                    "device_channel": "1",
                    "motion_source": "camera",
                    "motion_off_delay": 1,
                    **channel,
                },
            },
        ],
    )
    entry.add_to_hass(hass)
    return entry


async def test_camera_motion_records_with_pre_roll_and_survives_a_dropped_stream(
    hass: HomeAssistant, recorder: IsapiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reconnect at once after the drop: well within the 5 s the reader holds an event without news.
    monkeypatch.setattr(connect, "IsapiEventStream", partial(IsapiEventStream, retry_delay=0.2))
    storage = tmp_path / "nvr"
    storage.mkdir()
    entry = _device_entry(hass, storage, recorder, recording_mode="motion", pre_roll=2, post_roll=1)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    sid = next(iter(_channels(entry).values())).subentry_id
    motion: list[Event] = []
    device_events: list[Event] = []
    hass.bus.async_listen(EVENT_MOTION, motion.append)
    hass.bus.async_listen(EVENT_DEVICE, device_events.append)
    sensor = "binary_sensor.front_door_motion"
    await async_wait_for(hass, lambda: recorder.open_streams == 1, 15)
    await async_wait_for(hass, lambda: hass.states.get("binary_sensor.front_door_video_signal").state == "on", 20)
    preroll = entry.runtime_data.channels[sid].recorder._state._preroll._gops
    await async_wait_for(hass, lambda: len(preroll) >= 3, 20)  # three 1 s GOPs: the 2 s pre-roll is held
    assert hass.states.get(sensor).state == "off"

    recorder.push_event(1, "VMD", "active")
    await async_wait_for(hass, lambda: hass.states.get(sensor).state == "on", 10)
    recorder.push_event(1, "VMD", "active")  # Hikvision repeats it every second while it lasts
    # The stream drops mid-event and comes back: the event goes on, with no second start.
    recorder.drop_streams()
    await async_wait_for(hass, lambda: recorder.alert_connections >= 2 and recorder.open_streams == 1, 20)
    recorder.push_event(1, "VMD", "active")
    recorder.push_event(1, "VMD", "inactive")
    await async_wait_for(hass, lambda: hass.states.get(sensor).state == "off", 15)
    assert [e.data["kind"] for e in motion] == ["start", "end"]
    event_id = motion[0].data["event_id"]
    # Nothing is decoded for the camera's events, yet the event has a picture (decoded once from the held GOP).
    assert entry.runtime_data.channels[sid].motion.decoded == 0
    assert jpeg_size(Path(motion[1].data["snapshot"]).read_bytes()) == (640, 360)

    archive = entry.runtime_data.archive
    await async_wait_for(hass, lambda: archive.index.event(event_id).end is not None, 10)  # the recorder's thread
    event = archive.index.event(event_id)
    assert event.kind == "motion"
    await async_wait_for(hass, lambda: any(s.complete for s in archive.index.segments(sid)), 20)
    first = archive.index.segments(sid)[0]
    assert first.start <= event.start - 1.0  # the pre-roll: footage from before the camera's report
    assert first.start >= event.start - 2.0 - 1.2  # at most one GOP more than the pre-roll

    # Line crossing: its own type on the event entity and a bus event (and motion, which it is too).
    fired: list[str] = []
    async_track_state_change_event(
        hass,
        ["event.front_door_motion"],
        lambda e: fired.append(e.data["new_state"].attributes.get("event_type")) if e.data["new_state"] else None,
    )
    recorder.push_event(1, "linedetection", "active")
    await async_wait_for(hass, lambda: device_events and "motion_start" in fired, 10)
    assert device_events[0].data["type"] == "line_crossing" and device_events[0].data["channel"] == "Front door"
    assert "line_crossing" in fired
    assert "intrusion" in hass.states.get("event.front_door_motion").attributes["event_types"]


async def test_device_events_lost_then_back(
    hass: HomeAssistant, recorder: IsapiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connect, "IsapiEventStream", partial(IsapiEventStream, retry_delay=0.2))
    storage = tmp_path / "nvr"
    storage.mkdir()
    entry = _device_entry(hass, storage, recorder)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    sensor = "binary_sensor.shop_recorder_camera_events"
    await async_wait_for(hass, lambda: hass.states.get(sensor).state == "on", 15)
    assert hass.states.get(sensor).attributes["protocol"] == "isapi"
    issues = ir.async_get(hass)
    device = next(s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_DEVICE)
    issue_id = f"device_events_{entry.entry_id}_{device.subentry_id}"

    await recorder.stop()  # the recorder goes away
    await async_wait_for(hass, lambda: hass.states.get(sensor).state == "off", 15)
    assert hass.states.get(sensor).attributes["failure"] == "cannot_connect"
    assert issues.async_get_issue(DOMAIN, issue_id) is None  # not before the grace period
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=DEVICE_EVENTS_GRACE + 1))
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, issue_id).translation_key == "device_events_lost"

    await recorder.start()  # back on the same port: the reader reconnects by itself
    await async_wait_for(hass, lambda: hass.states.get(sensor).state == "on", 30)
    assert issues.async_get_issue(DOMAIN, issue_id) is None


async def test_reauth_when_the_device_rejects_its_password_and_reconfigure(
    hass: HomeAssistant, recorder: IsapiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connect, "IsapiEventStream", partial(IsapiEventStream, retry_delay=0.2))  # quick reconnects
    storage = tmp_path / "nvr"
    storage.mkdir()
    entry = _device_entry(hass, storage, recorder)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await async_wait_for(hass, lambda: recorder.open_streams == 1, 15)
    device = next(s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_DEVICE)

    recorder.password = "changed"
    recorder.drop_streams()

    def reauth_flows() -> list[dict[str, Any]]:
        return [
            f
            for f in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
            if f["context"]["source"] == SOURCE_REAUTH
        ]

    await async_wait_for(hass, reauth_flows, 20)
    flow = reauth_flows()[0]
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {"username": "admin", "password": "nope"})
    assert result["errors"] == {"base": "invalid_auth"}
    assert "nope" not in str(result) and PASSWORD not in _form(result)
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"username": "admin", "password": "changed"}
    )
    assert result["type"] is FlowResultType.ABORT and result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.subentries[device.subentry_id].data["password"] == "changed"
    await async_wait_for(hass, lambda: recorder.open_streams == 1, 20)  # the events come back with the new login

    # Reconfigure: the device moved to another address; its channels' URLs follow, the password is kept.
    pytest_socket.socket_allow_hosts(["127.0.0.1", "127.0.0.2"])  # both loopback
    moved = IsapiServer(kind="recorder", password="changed", rtsp_port=recorder.rtsp_port, host="127.0.0.2")
    await moved.start()
    try:
        result = await hass.config_entries.subentries.async_init(
            (entry.entry_id, SUBENTRY_DEVICE),
            context={"source": SOURCE_RECONFIGURE, "subentry_id": device.subentry_id},
        )
        assert result["step_id"] == "reconfigure"
        assert "changed" not in _form(result)  # the stored password is never sent to the browser
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], {"host": "127.0.0.2", "port": moved.port, "username": "admin"}
        )
        assert result["type"] is FlowResultType.ABORT and result["reason"] == "reconfigure_successful"
        await hass.async_block_till_done()
        device = entry.subentries[device.subentry_id]
        assert (device.data["host"], device.data["port"], device.data["password"]) == (
            "127.0.0.2",
            moved.port,
            "changed",
        )
        (door,) = _channels(entry).values()
        assert door.data["main_url"] == f"rtsp://127.0.0.2:{recorder.rtsp_port}/Streaming/Channels/101"
        await async_wait_for(hass, lambda: moved.open_streams == 1, 20)  # its events come from the new address
    finally:
        await moved.stop()

    # The channel's own Reconfigure: the stream is checked with the device's login, which stays on the device.
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_CHANNEL), context={"source": SOURCE_RECONFIGURE, "subentry_id": door.subentry_id}
    )
    url = f"rtsp://127.0.0.1:{recorder.rtsp_port}/Streaming/Channels/101"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"name": "Front door", "main_url": url, "rtsp_transport": "tcp"}
    )
    assert result["step_id"] == "confirm"
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], {})
    await hass.async_block_till_done()  # the channel restarts on its new stream
    door = entry.subentries[door.subentry_id]
    assert door.data["main_url"] == url and door.data["device"] == device.subentry_id
    assert (door.data["username"], door.data["password"]) == ("", "")

    # Deleting the device: its channel goes on recording on its own, with the login it ran with.
    hass.config_entries.async_remove_subentry(entry, device.subentry_id)
    await hass.async_block_till_done()
    door = entry.subentries[door.subentry_id]
    assert "device" not in door.data and door.data["motion_source"] == "local"
    assert (door.data["username"], door.data["password"]) == ("admin", "changed")
    await async_wait_for(hass, lambda: hass.states.get("binary_sensor.front_door_video_signal").state == "on", 20)


async def test_device_flow_errors(
    hass: HomeAssistant, nvr: MockConfigEntry, silent_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiohttp import web

    async def router_page(_request: web.Request) -> web.Response:
        return web.Response(text="<html>router</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", router_page)  # a coroutine: aiohttp warns about plain functions as handlers
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    plain_port = site._server.sockets[0].getsockname()[1]
    empty = IsapiServer(kind="empty", password=PASSWORD)
    await empty.start()
    try:
        result = await _device_flow(hass, nvr, port=plain_port, password=PASSWORD)
        assert result["errors"] == {"base": "not_supported"}
        result = await _device_flow(hass, nvr, port=free_port(), password=PASSWORD)
        assert result["errors"] == {"base": "cannot_connect"}
        result = await _device_flow(hass, nvr, port=empty.port, password=PASSWORD)
        assert result["errors"] == {"base": "no_channels"}
        monkeypatch.setattr("custom_components.nvr.device_flow.DEVICE_TIMEOUT", 1.0)
        result = await _device_flow(hass, nvr, port=silent_server.port, password=PASSWORD)
        assert result["errors"] == {"base": "timeout"}
        result = await _device_flow(hass, nvr, host=" ", port=80, password=PASSWORD)
        assert result["errors"] == {"host": "host_required"}
    finally:
        await empty.stop()
        await runner.cleanup()


@pytest.fixture
async def onvif_camera(device_streams: RtspServer) -> AsyncIterator[OnvifResponder]:
    device = OnvifResponder(password=PASSWORD, rtsp_port=device_streams.port, pull_wait=0.5)
    await device.start()
    device.set_stream_uri("main", device_streams.url("/Streaming/Channels/101"))
    device.set_stream_uri("sub", device_streams.url("/Streaming/Channels/102"))
    yield device
    await device.stop()


async def test_onvif_camera_found_on_the_lan_plays_and_sends_motion(
    hass: HomeAssistant, nvr: MockConfigEntry, onvif_camera: OnvifResponder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # WS-Discovery itself is tested in tests/devices (a real probe in a network namespace);
    # here the scan reports the loopback camera, as it would report one on the LAN.
    found = DiscoveredDevice("127.0.0.1", onvif_camera.port, "Porch", "Mockup", "urn:uuid:porch")
    monkeypatch.setattr("custom_components.nvr.devices.discovery.discover_onvif", lambda timeout=3.0: [found])
    assert await device_discovery.async_scan(hass) == 1
    await hass.async_block_till_done()
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == "integration_discovery" and flow["step_id"] == "discovery_confirm"
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {"username": "admin", "password": "x"})
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"username": "admin", "password": PASSWORD}
    )
    assert result["step_id"] == "channels" and result["description_placeholders"]["protocol"] == "ONVIF"
    options, ticked = _options(result)
    assert ticked == ["vidsrc0"] and "1920×1080 H.264" in options[0]["label"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"channels": ticked, "motion_source": "camera"}
    )
    assert result["type"] is FlowResultType.ABORT and result["reason"] == "device_connected"
    await hass.async_block_till_done()
    (channel,) = _channels(nvr).values()
    assert channel.data["main_url"] == onvif_camera_url(onvif_camera, hass, "main")
    slug = channel.title.lower().replace(" ", "_")
    entity = f"binary_sensor.{slug}"
    await async_wait_for(hass, lambda: hass.states.get(f"{entity}_video_signal").state == "on", 20)
    image = await async_get_image(hass, f"camera.{slug}")
    assert jpeg_size(image.content) == (640, 360)  # the still comes from the stream GetStreamUri named

    # The PullPoint subscription: the camera's motion turns the Motion sensor on and off (1 s off delay).
    await hass.services.async_call(
        "number", "set_value", {"entity_id": f"number.{slug}_motion_off_delay", "value": 1}, blocking=True
    )
    await async_wait_for(hass, lambda: onvif_camera.subscriptions_created >= 1, 15)
    onvif_camera.push_motion("vscfg0", True)
    await async_wait_for(hass, lambda: hass.states.get(f"{entity}_motion").state == "on", 15)
    onvif_camera.push_motion("vscfg0", False)
    await async_wait_for(hass, lambda: hass.states.get(f"{entity}_motion").state == "off", 15)

    # Found again: already connected, so not offered.
    assert await device_discovery.async_scan(hass) == 0


def onvif_camera_url(camera: OnvifResponder, hass: HomeAssistant, profile: str) -> str:
    return camera._stream_uris[profile]
