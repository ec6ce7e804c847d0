"""Motion detection in Home Assistant, on a real RTSP feed whose box crosses every 4 s.

The feed (``/motion``) loops a 4 s clip: a box crosses the picture from
0.5 s to 2.0 s, then the scene is still. With a 1 s off delay, every loop is
one motion event: on about 0.5 s into it, off about 3 s into it.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import SOURCE_RECONFIGURE
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.setup import async_setup_component
from motion_feed import make_motion_clip
from pytest_homeassistant_custom_component.common import async_mock_service
from rtsp_peer import RtspServer, live_mount
from support import async_wait_for, jpeg_size

from custom_components.nvr.const import EVENT_MOTION, EVENT_OBJECT, SUBENTRY_CHANNEL
from custom_components.nvr.logbook import async_describe_events

from .conftest import channel_data

BLUEPRINT = Path(__file__).parents[2] / "blueprints/automation/nvr/motion_notify.yaml"
LOOP = 4.0
SENSOR = "binary_sensor.front_door_motion"
EVENT_ENTITY = "event.front_door_motion"
IMAGE = "image.front_door_last_motion"


@pytest.fixture(scope="module")
def motion_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtspServer]:
    """A live mount looping the 4 s clip with one crossing per loop."""
    clip = make_motion_clip(tmp_path_factory.mktemp("motion_feed") / "motion.ts", moves=[(0.5, 2.0)])
    server = RtspServer([live_mount("/motion", clip)]).start()
    yield server
    server.stop()


async def _setup(hass: HomeAssistant, make_entry, url: str, **extra: Any):
    data = {**channel_data("Front door", url, motion=True), "recording_mode": "off", "motion_off_delay": 1, **extra}
    entry = make_entry(data)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    (subentry,) = entry.subentries.values()
    return entry, subentry.subentry_id


def _track(hass: HomeAssistant, entity_ids: list[str]) -> list[tuple[str, str, dict, float]]:
    """(entity_id, state, attributes, monotonic time) of every state change from now on."""
    changes: list[tuple[str, str, dict, float]] = []

    @callback
    def _changed(event: Event) -> None:
        new = event.data["new_state"]
        if new is not None:
            changes.append((new.entity_id, new.state, dict(new.attributes), time.monotonic()))

    async_track_state_change_event(hass, entity_ids, _changed)
    return changes


async def _wait(predicate, timeout: float) -> None:
    """Let the loop run until predicate() is true.

    Not ``hass.async_block_till_done()``: that would also wait for the
    blueprint's cool-down delay to end.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


def _blueprint_automation(alias: str, action: str, cooldown: int) -> dict[str, Any]:
    return {
        "alias": alias,
        "use_blueprint": {
            "path": "nvr/motion_notify.yaml",
            "input": {"motion_sensor": SENSOR, "notify_action": action, "cooldown": cooldown},
        },
    }


async def test_motion_entities_bus_events_and_blueprint(
    hass: HomeAssistant, make_entry, motion_server: RtspServer, hass_client, tmp_path: Path
) -> None:
    hass.config.config_dir = str(tmp_path / "config")
    blueprints = Path(hass.config.path("blueprints/automation/nvr"))
    blueprints.mkdir(parents=True)
    shutil.copy(BLUEPRINT, blueprints / "motion_notify.yaml")
    cooled = async_mock_service(hass, "notify", "cooled_phone")
    every = async_mock_service(hass, "notify", "every_phone")
    bus: list[Event] = []
    hass.bus.async_listen(EVENT_MOTION, bus.append)

    entry, sid = await _setup(hass, make_entry, motion_server.url("/motion"))
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": [
                _blueprint_automation("Cooled", "notify.cooled_phone", 60),
                _blueprint_automation("Every", "notify.every_phone", 0),
            ]
        },
    )
    await asyncio.sleep(0.1)
    changes = _track(hass, [SENSOR, EVENT_ENTITY, IMAGE])
    state = hass.states.get(SENSOR)
    assert state.state == "off" and state.attributes["device_class"] == "motion"
    assert state.attributes["detection"] is True
    assert hass.states.get(EVENT_ENTITY).attributes["event_types"] == [
        "motion_start",
        "motion_end",
        "person",
        "vehicle",
        "bicycle",
        "animal",
    ]

    def sensor_states() -> list[tuple[str, float]]:
        return [(s, t) for e, s, _a, t in changes if e == SENSOR]

    # Two full loops: on, off, on, off (the first event may be cut short: the feed was joined mid-loop).
    await _wait(lambda: [s for s, _t in sensor_states()][:4] == ["on", "off", "on", "off"], 20)
    (_on1, t_on1), (_off1, t_off1), (_on2, t_on2), (_off2, t_off2) = sensor_states()[:4]
    on_for = t_off2 - t_on2
    assert 1.0 + 0.8 <= on_for <= 1.0 + 1.5 + 0.8, on_for  # the crossing (up to 1.5 s) plus the 1 s off delay
    assert t_on2 - t_off1 == pytest.approx(LOOP - on_for, abs=0.6)

    # The event entity fired start, end, start with the same ids as the bus events.
    fired = [(a["event_type"], a["event_id"]) for e, _s, a, _t in changes if e == EVENT_ENTITY]
    assert [kind for kind, _id in fired][:3] == ["motion_start", "motion_end", "motion_start"]
    assert fired[0][1] == fired[1][1] != fired[2][1]
    kinds = [(e.data["kind"], e.data["event_id"]) for e in bus][:3]
    assert kinds == [("start", fired[0][1]), ("end", fired[0][1]), ("start", fired[2][1])]
    start, end = bus[0].data, bus[1].data
    assert start["channel"] == "Front door" and start["channel_id"] == sid and start["entry_id"] == entry.entry_id
    assert start["entity_id"] == "camera.front_door"
    assert end["score"] >= 1.0 and end["end"] > end["start"]
    assert start["snapshot"] == end["snapshot"]
    snapshot = Path(end["snapshot"])
    assert snapshot.is_relative_to(Path(entry.data["storage_path"]) / sid / "events")
    assert jpeg_size(snapshot.read_bytes()) == (320, 180)

    # The event is in the index, with its end, peak score and thumbnail.
    archive = entry.runtime_data.archive
    event = archive.index.event(end["event_id"])
    assert event.kind == "motion" and event.end is not None and event.score == pytest.approx(end["score"], abs=0.01)
    assert archive.root / event.thumbnail == snapshot

    # The image entity serves the JPEG (the blueprint's snapshot URL).
    assert any(e == IMAGE for e, _s, _a, _t in changes)
    client = await hass_client()
    response = await client.get(f"/api/image_proxy/{IMAGE}")
    assert response.status == 200 and response.content_type == "image/jpeg"
    assert jpeg_size(await response.read()) == (320, 180)

    # The blueprint: one notification per motion without cool-down, one in all with a 60 s cool-down.
    await asyncio.sleep(0.2)  # the automations' calls
    ons = sum(1 for s, _t in sensor_states() if s == "on")
    assert ons >= 2
    assert len(every) == ons
    assert len(cooled) == 1
    call = every[0]
    assert call.data["message"] == "Motion on Front door" and call.data["title"] == "Motion"
    assert call.data["data"]["image"] == f"/api/image_proxy/{IMAGE}"
    assert call.data["data"]["event_id"] == fired[0][1]


async def test_numbers_apply_live_and_camera_switches_detection(
    hass: HomeAssistant, make_entry, motion_server: RtspServer
) -> None:
    entry, sid = await _setup(hass, make_entry, motion_server.url("/motion"))
    channel = entry.runtime_data.channels[sid]
    worker = entry.runtime_data.channels[sid].motion
    registry = er.async_get(hass)
    for entity_id, value, expected in (
        ("number.front_door_motion_sensitivity", 80, ("sensitivity", 80)),
        ("number.front_door_motion_minimum_area", 0.8, ("min_area", 0.8)),  # the box is 1.3 % of the picture
        ("number.front_door_motion_off_delay", 2, ("off_delay", 2)),
    ):
        assert registry.async_get(entity_id).entity_category == "config"
        await hass.services.async_call("number", "set_value", {"entity_id": entity_id, "value": value}, blocking=True)
        await hass.async_block_till_done()
        assert float(hass.states.get(entity_id).state) == value
        assert getattr(worker.config.settings, expected[0]) == expected[1]
    assert entry.runtime_data.channels[sid] is channel, "applied without a reload"
    assert entry.subentries[sid].data["motion_sensitivity"] == 80

    bus: list[Event] = []
    hass.bus.async_listen(EVENT_MOTION, bus.append)
    camera = "camera.front_door"
    assert hass.states.get(camera).attributes["motion_detection"] is True
    await async_wait_for(hass, lambda: hass.states.get(SENSOR).state == "on", 12)

    # Disabling ends the running event at once, and no event follows.
    await hass.services.async_call("camera", "disable_motion_detection", {"entity_id": camera}, blocking=True)
    await async_wait_for(hass, lambda: hass.states.get(SENSOR).state == "off", 2)
    assert "motion_detection" not in hass.states.get(camera).attributes
    assert hass.states.get(SENSOR).attributes["detection"] is False
    assert worker.config.enabled is False and entry.subentries[sid].data["motion_enabled"] is False
    await async_wait_for(hass, lambda: [e.data["kind"] for e in bus] == ["start", "end"], 2)
    decoded = worker.decoded
    started = time.monotonic()
    await async_wait_for(hass, lambda: time.monotonic() - started > LOOP + 1, LOOP + 2)
    assert [e.data["kind"] for e in bus] == ["start", "end"], "no event while disabled"
    assert worker.decoded == decoded, "nothing decoded while disabled"
    assert hass.states.get(SENSOR).state == "off"

    await hass.services.async_call("camera", "enable_motion_detection", {"entity_id": camera}, blocking=True)
    await async_wait_for(hass, lambda: hass.states.get(SENSOR).state == "on", LOOP + 4)
    assert hass.states.get(camera).attributes["motion_detection"] is True
    assert entry.runtime_data.channels[sid] is channel


async def test_zones_and_masks_in_the_channel_flow(hass: HomeAssistant, make_entry, motion_server: RtspServer) -> None:
    url = motion_server.url("/motion")
    entry, sid = await _setup(hass, make_entry, url)
    channel = entry.runtime_data.channels[sid]

    async def reconfigure(**fields: Any):
        result = await hass.config_entries.subentries.async_init(
            (entry.entry_id, SUBENTRY_CHANNEL), context={"source": SOURCE_RECONFIGURE, "subentry_id": sid}
        )
        return await hass.config_entries.subentries.async_configure(
            result["flow_id"], {"name": "Front door", "main_url": url, **fields}
        )

    for fields, errors in (
        ({"motion_zones": "0,0 2,0 1,1"}, {"motion_zones": "polygon_out_of_range"}),
        ({"motion_zones": "0,0 1,0"}, {"motion_zones": "polygon_too_few_points"}),
        ({"motion_masks": "0,0 1;1 0,1"}, {"motion_masks": "polygon_not_a_point"}),
        ({"motion_masks": "0,0 a,1 0,1"}, {"motion_masks": "polygon_not_a_number"}),
        ({"motion_masks": "[[[0, 0], [1, 0]"}, {"motion_masks": "polygon_not_a_list"}),
        ({"motion_zones": "0,0 0.5,0.5 1,1", "motion_masks": "0,0 1,0 1,1"}, {"motion_zones": "polygon_zero_area"}),
    ):
        result = await reconfigure(**fields)
        assert result["type"] is FlowResultType.FORM, fields
        assert result["errors"] == errors, fields
        label = "Zones: " if "motion_zones" in errors else "Masks: "
        assert label in result["description_placeholders"]["error_detail"], "the detail says what is wrong"

    result = await reconfigure(
        motion_zones="0,0 1,0 1,0.5 0,0.5\n0,0.6 0.2,0.6 0.2,1",
        motion_masks="[[[0.4, 0], [0.6, 0], [0.6, 0.2], [0.4, 0.2]]]",
        motion_detect_fps=2,
        motion_low_power=True,
        objects=["bicycle", "person"],
        object_min_score=60,
    )
    assert result["step_id"] == "confirm"
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], {})
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    data = entry.subentries[sid].data
    assert data["motion_zones"] == "0,0 1,0 1,0.5 0,0.5; 0,0.6 0.2,0.6 0.2,1"
    assert data["motion_masks"] == "0.4,0 0.6,0 0.6,0.2 0.4,0.2"
    config = entry.runtime_data.channels[sid].motion.config
    assert len(config.settings.zones) == 2 and len(config.settings.masks) == 1
    assert config.settings.detect_fps == 2 and config.low_power is True
    assert (data["objects"], data["object_min_score"]) == (["person", "bicycle"], 60)
    objects = entry.runtime_data.channels[sid].objects
    await async_wait_for(hass, lambda: objects.config.labels == ("person", "bicycle"), 5)
    assert objects.config.min_score == 0.6
    assert entry.runtime_data.channels[sid] is channel, "applied without a reload"


async def test_logbook_describes_motion_events(hass: HomeAssistant) -> None:
    described: dict[tuple[str, str], Any] = {}
    async_describe_events(hass, lambda domain, event, describe: described.__setitem__((domain, event), describe))
    describe = described[("nvr", EVENT_MOTION)]
    data = {"channel": "Front door", "entity_id": "camera.front_door", "kind": "start", "score": 3.2}
    assert describe(Event(EVENT_MOTION, data)) == {
        "name": "Front door",
        "message": "detected motion",
        "entity_id": "camera.front_door",
    }
    assert describe(Event(EVENT_MOTION, {**data, "kind": "end"}))["message"] == "motion ended (peak score 3.2)"
    describe = described[("nvr", EVENT_OBJECT)]
    data = {**data, "label": "person", "score": 0.71}
    assert describe(Event(EVENT_OBJECT, data))["message"] == "saw a person (score 0.71)"
    assert describe(Event(EVENT_OBJECT, {**data, "kind": "end"}))["message"] == "person gone (best score 0.71)"
