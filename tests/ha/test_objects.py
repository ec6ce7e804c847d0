"""Person and vehicle detection in Home Assistant, on a real RTSP feed of a person walking across grass.

The feed loops an 8 s clip composed of real photographs
(tests/objects_scenes.py): the person enters at 1 s and leaves at 7 s, so
motion goes on for most of every loop and the person is seen in each.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components.device_automation import DeviceAutomationType, async_get_device_automations
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from objects_scenes import crossing, encode
from pytest_homeassistant_custom_component.common import async_mock_service
from rtsp_peer import RtspServer, live_mount
from support import jpeg_size

from custom_components.nvr.const import DOMAIN, EVENT_MOTION, EVENT_OBJECT
from custom_components.nvr.diagnostics import async_get_config_entry_diagnostics
from custom_components.nvr.engine import RecordingMode
from custom_components.nvr.engine.objects import detector as detector_module

from .conftest import channel_data, entry_device
from .test_motion import BLUEPRINT, _track, _wait

PERSON = "binary_sensor.front_door_person"
VEHICLE = "binary_sensor.front_door_vehicle"
EVENT_ENTITY = "event.front_door_motion"


@pytest.fixture(scope="module")
def person_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtspServer]:
    """A live mount looping a person crossing grass."""
    clip = encode(crossing("astronaut", "grass", 0.06), tmp_path_factory.mktemp("objects_feed") / "person.ts")
    server = RtspServer([live_mount("/person", clip)]).start()
    yield server
    server.stop()


async def _setup(hass: HomeAssistant, make_entry, url: str, **extra: Any):
    data = {**channel_data("Front door", url, motion=True), "motion_off_delay": 1, **extra}
    entry = make_entry(data)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    (subentry,) = entry.subentries.values()
    return entry, subentry


async def test_a_person_turns_on_its_sensor_fires_events_records_and_notifies(
    hass: HomeAssistant, make_entry, person_server: RtspServer, tmp_path: Path
) -> None:
    hass.config.config_dir = str(tmp_path / "config")
    blueprints = Path(hass.config.path("blueprints/automation/nvr"))
    blueprints.mkdir(parents=True)
    shutil.copy(BLUEPRINT, blueprints / "motion_notify.yaml")
    people = async_mock_service(hass, "notify", "people_phone")
    cars = async_mock_service(hass, "notify", "cars_phone")
    by_device = async_mock_service(hass, "test", "person_seen")
    bus: list[Event] = []
    hass.bus.async_listen(EVENT_OBJECT, bus.append)
    motion: list[Event] = []
    hass.bus.async_listen(EVENT_MOTION, motion.append)

    entry, subentry = await _setup(
        hass,
        make_entry,
        person_server.url("/person"),
        objects=["person", "vehicle"],
        object_min_score=45,
        recording_mode=RecordingMode.OBJECTS.value,
    )
    sid = subentry.subentry_id
    device = entry_device(hass, entry.entry_id, (DOMAIN, f"{entry.entry_id}_{sid}"))
    assert device is not None
    triggers = await async_get_device_automations(hass, DeviceAutomationType.TRIGGER, [device.id])
    assert sorted(t["type"] for t in triggers[device.id] if t["domain"] == DOMAIN) == [
        "animal",
        "bicycle",
        "motion",
        "person",
        "vehicle",
    ]

    def _notify(alias: str, action: str, labels: list[str]) -> dict[str, Any]:
        return {
            "alias": alias,
            "use_blueprint": {
                "path": "nvr/motion_notify.yaml",
                "input": {
                    "motion_sensor": "binary_sensor.front_door_motion",
                    "notify_action": action,
                    "labels": labels,
                    "cooldown": 600,
                },
            },
        }

    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": [
                _notify("People", "notify.people_phone", ["person"]),
                _notify("Cars", "notify.cars_phone", ["vehicle"]),
                {
                    "alias": "Device",
                    "triggers": [{"trigger": "device", "domain": DOMAIN, "device_id": device.id, "type": "person"}],
                    "actions": [{"action": "test.person_seen"}],
                },
            ]
        },
    )
    state = hass.states.get(PERSON)
    assert state.state == "off" and state.attributes["device_class"] == "occupancy"
    assert state.attributes["friendly_name"] == "Front door Person"
    assert state.attributes["detecting"] is True and state.attributes["min_score"] == 0.45
    assert hass.states.get(VEHICLE).attributes["friendly_name"] == "Front door Vehicle"
    assert "person" in hass.states.get(EVENT_ENTITY).attributes["event_types"]
    changes = _track(hass, [PERSON, EVENT_ENTITY])

    await _wait(lambda: hass.states.get(PERSON).state == "on", 45)
    person = hass.states.get(PERSON)
    assert person.attributes["score"] >= 0.45 and len(person.attributes["box"]) == 4
    await _wait(lambda: bus, 5)
    start = bus[0].data
    assert (start["kind"], start["label"], start["channel_id"], start["channel"]) == (
        "start",
        "person",
        sid,
        "Front door",
    )
    assert start["entity_id"] == "camera.front_door" and start["end"] is None
    assert start["device_id"] == device.id
    snapshot = Path(start["snapshot"])
    assert snapshot.is_relative_to(Path(entry.data["storage_path"]) / sid / "events")
    assert jpeg_size(snapshot.read_bytes()) == (640, 360)
    fired = [a for e, _s, a, _t in changes if e == EVENT_ENTITY and a["event_type"] == "person"]
    assert fired and fired[0]["event_id"] == start["event_id"]
    assert fired[0]["score"] == start["score"] and fired[0]["box"] == start["box"]
    assert hass.states.get(VEHICLE).state == "off"

    # The blueprint filtered by label, and the device trigger.
    await _wait(lambda: people and by_device, 5)
    assert people[0].data["message"] == "Person on Front door" and people[0].data["title"] == "Person"
    assert people[0].data["data"]["event_id"] == start["event_id"]
    assert not cars

    # A motion event's end tells what was seen during it.
    await _wait(lambda: any(e.data["kind"] == "end" and e.data["objects"] for e in motion), 20)
    ended = next(e.data for e in motion if e.data["kind"] == "end" and e.data["objects"])
    assert list(ended["objects"]) == ["person"] and ended["objects"]["person"] >= 0.45

    # Diagnostics say what is detected and what the shared worker did.
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["object_detection"]["failed"] is None
    assert diagnostics["object_detection"]["stats"]["per_channel"][sid] >= 1
    (channel,) = diagnostics["channels"]
    assert channel["objects"]["labels"] == ["person", "vehicle"] and "person" in channel["objects"]["present"]

    # Recording mode "objects": a person seen, so footage is written.
    archive = entry.runtime_data.archive
    await _wait(lambda: archive.index.segments(sid), 30)

    # Turning person detection off ends its event at once: the sensor goes off, the index has the end.
    hass.config_entries.async_update_subentry(entry, subentry, data={**subentry.data, "objects": ["vehicle"]})
    await _wait(lambda: hass.states.get(PERSON).state == "off", 10)
    assert hass.states.get(PERSON).attributes["detecting"] is False
    await _wait(lambda: any(e.data["kind"] == "end" for e in bus), 5)
    end = next(e.data for e in bus if e.data["kind"] == "end")
    assert end["event_id"] == start["event_id"] and end["end"] >= end["start"]

    def _ended() -> bool:
        event = archive.index.event(end["event_id"])
        return event is not None and event.end is not None

    await _wait(_ended, 10)
    event = archive.index.event(end["event_id"])
    assert event.kind == "person" and event.score == pytest.approx(end["score"], abs=0.01)


async def test_a_damaged_model_raises_a_repair_and_motion_goes_on(
    hass: HomeAssistant, make_entry, person_server: RtspServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    damaged = tmp_path / "damaged.nvrnet"
    damaged.write_bytes(detector_module.MODEL_FILE.read_bytes()[:100_000])
    monkeypatch.setattr(detector_module, "MODEL_FILE", damaged)
    await _setup(hass, make_entry, person_server.url("/person"), objects=["person"])
    issue_id = "object_detection_failed"
    await _wait(lambda: ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None, 45)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert "truncated" in issue.translation_placeholders["reason"]
    await _wait(lambda: hass.states.get(PERSON).state == "unavailable", 5)
    await _wait(lambda: hass.states.get("binary_sensor.front_door_motion").state == "on", 30)
