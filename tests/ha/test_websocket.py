"""The WebSocket API of the wall card: nvr/list and nvr/subscribe, for any logged-in user, never polled."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from motion_feed import make_motion_clip
from rtsp_peer import RtspServer, live_mount

from custom_components.nvr.const import DOMAIN

from .conftest import channel_data

EVENT_TIMEOUT = 60


@pytest.fixture(scope="module")
def motion_clip(tmp_path_factory: pytest.TempPathFactory):
    """A 4 s loop with a box crossing from 0.5 s to 2.0 s: motion on and off every loop."""
    return make_motion_clip(tmp_path_factory.mktemp("ws_feed") / "motion.ts", moves=[(0.5, 2.0)])


@pytest.fixture
def camera(motion_clip) -> Iterator[RtspServer]:
    server = RtspServer([live_mount("/cam", motion_clip)]).start()
    yield server
    server.stop()


async def _setup(hass: HomeAssistant, make_entry, camera: RtspServer):
    data = {**channel_data("Till", camera.url("/cam"), motion=True), "motion_off_delay": 1}
    entry = make_entry(data, channel_data("Back door", "rtsp://127.0.0.1:9/none"))
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def _next_event(client, predicate, what: str) -> dict[str, Any]:
    """The next subscription event that ``predicate`` accepts (others are skipped)."""

    async def wait() -> dict[str, Any]:
        while True:
            msg = await client.receive_json()
            if msg.get("type") == "event" and predicate(msg["event"]):
                return msg["event"]

    try:
        return await asyncio.wait_for(wait(), EVENT_TIMEOUT)
    except TimeoutError:
        pytest.fail(f"no event within {EVENT_TIMEOUT} s: {what}")


def _is_status(channel_id: str, **expected: Any):
    def check(event: dict[str, Any]) -> bool:
        return (
            event["type"] == "status"
            and event["channel"] == channel_id
            and all(event["status"][key] == value for key, value in expected.items())
        )

    return check


async def test_list_and_subscribe_without_admin_rights(
    hass: HomeAssistant, make_entry, camera, hass_ws_client, hass_read_only_access_token
) -> None:
    entry = await _setup(hass, make_entry, camera)
    till = next(s.subentry_id for s in entry.subentries.values() if s.title == "Till")
    back = next(s.subentry_id for s in entry.subentries.values() if s.title == "Back door")
    client = await hass_ws_client(hass, hass_read_only_access_token)

    await client.send_json_auto_id({"type": "nvr/list"})
    answer = await client.receive_json()
    assert answer["success"], answer
    (nvr,) = answer["result"]["nvrs"]
    assert nvr["entry_id"] == entry.entry_id
    assert nvr["name"] == "Shop NVR"
    assert [c["name"] for c in nvr["channels"]] == ["Back door", "Till"]
    entities = nvr["channels"][1]["entities"]
    for key in ("camera", "video_signal", "recording", "motion", "recording_mode"):
        assert hass.states.get(entities[key]) is not None, f"{key}: {entities[key]} has no state"
    assert entities["camera_sub"] is None
    assert nvr["status"]["total"] == 2
    assert nvr["channels"][0]["status"]["online"] is False
    assert "password" not in str(answer)

    await client.send_json_auto_id({"type": "nvr/subscribe", "entry_id": entry.entry_id})
    assert (await client.receive_json())["success"]
    snapshot = await _next_event(client, lambda e: e["type"] == "snapshot", "the first snapshot")
    assert [c["id"] for c in snapshot["nvrs"][0]["channels"]] == [back, till]

    # Pushed, not polled: the feed's connection, then its motion coming and going.
    if not snapshot["nvrs"][0]["channels"][1]["status"]["online"]:
        await _next_event(client, _is_status(till, online=True), "Till's video signal")
    await _next_event(client, _is_status(till, motion=True), "Till's motion starting")
    await _next_event(client, _is_status(till, motion=False), "Till's motion ending")
    if hass.states.get(entities["recording"]).state != "on":
        await _next_event(client, _is_status(till, recording=True), "Till recording")

    # The camera goes away: the tile's overlay and the header follow; then it comes back.
    camera.stop()
    lost = await _next_event(client, _is_status(till, online=False), "Till's signal lost")
    assert lost["status"]["recording"] is False
    header = await _next_event(client, lambda e: e["type"] == "nvr", "the header's online count")
    assert header["status"]["online"] == 0
    camera.start()
    await _next_event(client, _is_status(till, online=True), "Till's signal back")


async def test_channel_changes_send_a_new_snapshot(
    hass: HomeAssistant, make_entry, camera, hass_ws_client, hass_read_only_access_token
) -> None:
    entry = await _setup(hass, make_entry, camera)
    client = await hass_ws_client(hass, hass_read_only_access_token)
    await client.send_json_auto_id({"type": "nvr/subscribe"})
    assert (await client.receive_json())["success"]
    await _next_event(client, lambda e: e["type"] == "snapshot", "the first snapshot")

    back = next(s for s in entry.subentries.values() if s.title == "Back door")
    hass.config_entries.async_update_subentry(entry, back, title="Yard", data={**back.data, "name": "Yard"})
    renamed = await _next_event(client, lambda e: e["type"] == "snapshot", "a snapshot after the rename")
    assert sorted(c["name"] for c in renamed["nvrs"][0]["channels"]) == ["Till", "Yard"]

    assert await hass.config_entries.async_unload(entry.entry_id)
    gone = await _next_event(client, lambda e: e["type"] == "snapshot", "a snapshot after the unload")
    assert gone["nvrs"] == []


async def test_unknown_nvr_is_a_translated_error(hass: HomeAssistant, make_entry, camera, hass_ws_client) -> None:
    await _setup(hass, make_entry, camera)
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "nvr/subscribe", "entry_id": "nope"})
    answer = await client.receive_json()
    assert not answer["success"]
    assert answer["error"]["code"] == "not_found"
    assert answer["error"]["translation_key"] == "nvr_not_found"
    assert answer["error"]["translation_domain"] == DOMAIN
    await client.send_json_auto_id({"type": "nvr/subscribe", "entry_id": 5})
    answer = await client.receive_json()
    assert not answer["success"]
    assert answer["error"]["code"] == "invalid_format"


async def test_commands_need_a_logged_in_user(hass: HomeAssistant, make_entry, camera, hass_client_no_auth) -> None:
    await _setup(hass, make_entry, camera)
    client = await hass_client_no_auth()
    async with client.ws_connect("/api/websocket") as ws:
        assert (await ws.receive_json())["type"] == "auth_required"
        await ws.send_json({"id": 1, "type": "nvr/list"})
        answer = await ws.receive_json()
        assert answer["type"] == "auth_invalid"
        await ws.receive()
        assert ws.closed
    async with client.ws_connect("/api/websocket") as ws:
        await ws.receive_json()
        await ws.send_json({"type": "auth", "access_token": "not-a-token"})
        assert (await ws.receive_json())["type"] == "auth_invalid"
