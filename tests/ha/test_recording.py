"""Recording wired into HA: modes, actions, export, retention options, sensors,
storage faults. Real live streams, real files, a real index."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.diagnostics import get_diagnostics_for_config_entry
from support import async_wait_for

from custom_components.nvr.const import CONF_STORAGE_PATH, DOMAIN, recording_signal

from .conftest import channel_data, nvr_entry

STRINGS = json.loads((Path(__file__).parents[2] / "custom_components/nvr/strings.json").read_text())
FAST = {"segment_seconds": 2, "min_free_gb": 0}
"""Short files so tests see closed segments within seconds; no free-space pruning."""


async def _setup(hass: HomeAssistant, entry: MockConfigEntry, options: dict | None = None) -> MockConfigEntry:
    if options is not None:
        hass.config_entries.async_update_entry(entry, options=options)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def _only(entry: MockConfigEntry):
    (subentry,) = entry.subentries.values()
    data = entry.runtime_data
    return subentry, data.channels[subentry.subentry_id].recorder, data.archive


async def _complete_segments(hass: HomeAssistant, archive, channel: str, count: int, timeout: float = 10):
    def ready():
        return len([s for s in archive.index.segments(channel) if s.complete and s.end > s.start]) >= count

    await async_wait_for(hass, ready, timeout)
    return [s for s in archive.index.segments(channel) if s.complete and s.end > s.start]


async def _call(hass: HomeAssistant, service: str, entity_id: str, response: bool = False, **data):
    return await hass.services.async_call(
        DOMAIN, service, {"entity_id": entity_id, **data}, blocking=True, return_response=response
    )


def _check_translated(err: ServiceValidationError, key: str) -> None:
    assert err.translation_domain == DOMAIN
    assert err.translation_key == key
    # Every placeholder the message uses is given.
    STRINGS["exceptions"][key]["message"].format(**(err.translation_placeholders or {}))


# --- modes ---------------------------------------------------------------------


async def test_continuous_records_and_off_stops(hass: HomeAssistant, make_entry, rtsp_server) -> None:
    entry = await _setup(hass, make_entry(channel_data("Door", rtsp_server.url("/live"))), FAST)
    subentry, recorder, archive = _only(entry)
    assert recorder.settings.mode == "continuous"
    await async_wait_for(hass, lambda: hass.states.get("camera.door").state == "recording", 10)
    assert hass.states.get("binary_sensor.door_recording").state == STATE_ON
    assert hass.states.get("select.door_recording_mode").state == "continuous"

    segments = await _complete_segments(hass, archive, subentry.subentry_id, 2)
    for segment in segments:
        path = archive.root / segment.path
        assert path.is_file() and path.stat().st_size > 1000
        assert segment.path.startswith(f"{subentry.subentry_id}/")
        assert 1.0 < segment.duration < 4.0

    channel = entry.runtime_data.channels[subentry.subentry_id]
    await hass.services.async_call(
        "select", "select_option", {"entity_id": "select.door_recording_mode", "option": "off"}, blocking=True
    )
    await async_wait_for(hass, lambda: hass.states.get("camera.door").state == "streaming", 5)
    assert hass.states.get("binary_sensor.door_recording").state == STATE_OFF
    assert not recorder.status.recording
    # Applied live: same channel and recorder, no reload.
    assert entry.runtime_data.channels[subentry.subentry_id] is channel
    count = len(archive.index.segments(subentry.subentry_id))
    await hass.async_add_executor_job(time.sleep, 2.5)
    await hass.async_block_till_done()
    assert len(archive.index.segments(subentry.subentry_id)) == count
    assert hass.states.get("camera.door").state == "streaming"


async def test_mode_survives_reload(hass: HomeAssistant, make_entry, rtsp_server) -> None:
    entry = await _setup(hass, make_entry(channel_data("Door", rtsp_server.url("/live"))))
    subentry, recorder, _archive = _only(entry)
    await hass.services.async_call(
        "select", "select_option", {"entity_id": "select.door_recording_mode", "option": "motion"}, blocking=True
    )
    await hass.async_block_till_done()
    assert hass.states.get("select.door_recording_mode").state == "motion"
    assert entry.subentries[subentry.subentry_id].data["recording_mode"] == "motion"
    assert recorder.settings.mode == "motion"
    assert entry.runtime_data.channels[subentry.subentry_id].recorder is recorder  # no reload

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    _subentry, recorder, _archive = _only(entry)
    assert recorder.settings.mode == "motion"
    assert hass.states.get("select.door_recording_mode").state == "motion"
    registry = er.async_get(hass)
    assert registry.async_get("select.door_recording_mode").entity_category == "config"


# --- actions ---------------------------------------------------------------------


async def test_start_and_stop_recording_make_a_manual_event(hass: HomeAssistant, make_entry, rtsp_server) -> None:
    data = {**channel_data("Till", rtsp_server.url("/live")), "recording_mode": "off"}
    entry = await _setup(hass, make_entry(data), FAST)
    subentry, recorder, archive = _only(entry)
    channel = entry.runtime_data.channels[subentry.subentry_id].channel
    await async_wait_for(hass, lambda: channel.status().connected, 10)
    assert hass.states.get("camera.till").state == "streaming"
    assert archive.index.events(subentry.subentry_id) == []

    await _call(hass, "start_recording", "camera.till")
    await async_wait_for(hass, lambda: hass.states.get("camera.till").state == "recording", 5)
    (event,) = archive.index.events(subentry.subentry_id)
    assert event.kind == "manual" and event.end is None
    assert recorder.status.manual
    await _complete_segments(hass, archive, subentry.subentry_id, 1)

    await _call(hass, "stop_recording", "camera.till")
    await async_wait_for(hass, lambda: hass.states.get("camera.till").state == "streaming", 5)
    (event,) = archive.index.events(subentry.subentry_id)
    assert event.end is not None and event.end > event.start

    # With a duration it ends by itself.
    await _call(hass, "start_recording", "camera.till", duration=1)
    await async_wait_for(hass, lambda: len(archive.index.events(subentry.subentry_id)) == 2, 5)
    await async_wait_for(hass, lambda: all(e.end for e in archive.index.events(subentry.subentry_id)), 5)

    with pytest.raises(Exception, match="duration"):
        await _call(hass, "start_recording", "camera.till", duration=0)


def _ffprobe(path: Path) -> dict:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "format=duration,format_name:stream=codec_name",
            "-of",
            "json",
            path,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=20,
    )
    return json.loads(out.stdout)


async def test_export_clip(hass: HomeAssistant, make_entry, rtsp_server, tmp_path) -> None:
    media = tmp_path / "media"
    hass.config.media_dirs = {"local": str(media)}
    hass.config.allowlist_external_dirs = {str(media)}
    entry = await _setup(hass, make_entry(channel_data("Front door", rtsp_server.url("/live"))), FAST)
    subentry, _recorder, archive = _only(entry)
    segments = await _complete_segments(hass, archive, subentry.subentry_id, 2)
    start = dt_util.utc_from_timestamp(segments[0].start + 0.5)
    end = dt_util.utc_from_timestamp(segments[1].end)

    # Default destination: nvr_exports in the media folder. Naive times are local time.
    naive_start = dt_util.as_local(start).replace(tzinfo=None).isoformat()
    response = await _call(
        hass, "export_clip", "camera.front_door", response=True, start=naive_start, end=end.isoformat()
    )
    result = response["camera.front_door"]
    path = Path(result["path"])
    assert path.parent == media / "nvr_exports"
    assert path.name.startswith("front_door_") and path.suffix == ".mp4"
    # In a media folder: its media source id (how the NVR page downloads it).
    assert result["media_content_id"] == f"media-source://media_source/local/nvr_exports/{path.name}"
    probe = await hass.async_add_executor_job(_ffprobe, path)
    assert "mp4" in probe["format"]["format_name"]
    assert probe["streams"][0]["codec_name"] == "h264"
    expected = (end - start).total_seconds()
    assert abs(float(probe["format"]["duration"]) - expected) < 1.5
    assert abs(result["duration"] - float(probe["format"]["duration"])) < 0.5
    clip_start = dt_util.parse_datetime(result["start"])
    assert clip_start is not None and abs((clip_start - start).total_seconds()) <= 1.1

    # A named .mp4 file, and a folder.
    named = media / "clips" / "door.mp4"
    response = await _call(hass, "export_clip", "camera.front_door", True, start=start, end=end, path=str(named))
    assert response["camera.front_door"]["path"] == str(named) and named.stat().st_size > 1000
    response = await _call(hass, "export_clip", "camera.front_door", True, start=start, end=end, path=str(media))
    assert Path(response["camera.front_door"]["path"]).parent == media
    outside = tmp_path / "exports"
    hass.config.allowlist_external_dirs = {str(media), str(outside)}
    response = await _call(hass, "export_clip", "camera.front_door", True, start=start, end=end, path=str(outside))
    assert "media_content_id" not in response["camera.front_door"], "outside the media folders: no media id"

    bad = {
        "end_before_start": {"start": end, "end": start},
        "no_footage": {"start": start - timedelta(days=1), "end": start - timedelta(days=1, seconds=-30)},
        "path_not_allowed": {"start": start, "end": end, "path": str(tmp_path / "elsewhere")},
    }
    for key, fields in bad.items():
        with pytest.raises(ServiceValidationError) as caught:
            await _call(hass, "export_clip", "camera.front_door", True, **fields)
        _check_translated(caught.value, key)
    for path in ("relative/clip.mp4", "/etc/clip.mp4", f"{media}/../outside.mp4"):
        with pytest.raises(ServiceValidationError) as caught:
            await _call(hass, "export_clip", "camera.front_door", True, start=start, end=end, path=path)
        _check_translated(caught.value, "path_not_allowed")
    assert not (tmp_path / "outside.mp4").exists()


# --- settings --------------------------------------------------------------------


async def test_options_flow_saves_and_applies_live(hass: HomeAssistant, make_entry, rtsp_server) -> None:
    entry = await _setup(hass, make_entry(channel_data("Door", rtsp_server.url("/live"))))
    _subentry, recorder, archive = _only(entry)
    assert archive.pruner.policy.retain_days == 7
    assert archive.pruner.policy.min_free_gb == 1
    assert recorder.settings.segment_seconds == 60

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    defaults = {str(k): k.default() for k in result["data_schema"].schema}
    assert defaults == {
        "retain_days": 7,
        "event_retain_days": 30,
        "max_storage_gb": 0,
        "min_free_gb": 1,
        "segment_seconds": 60,
        "discover_devices": True,
    }
    with pytest.raises(Exception, match="segment_seconds"):
        await hass.config_entries.options.async_configure(result["flow_id"], {**defaults, "segment_seconds": 5})
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "retain_days": 3,
            "event_retain_days": 14,
            "max_storage_gb": 500,
            "min_free_gb": 2.5,
            "segment_seconds": 120,
            "discover_devices": False,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options == {
        "retain_days": 3,
        "event_retain_days": 14,
        "max_storage_gb": 500,
        "min_free_gb": 2.5,
        "segment_seconds": 120,
        "discover_devices": False,
    }
    # Applied without a reload.
    assert entry.runtime_data.archive is archive
    assert archive.pruner.policy.retain_days == 3
    assert archive.pruner.policy.event_retain_days == 14
    assert archive.pruner.policy.max_storage_gb == 500
    assert archive.pruner.policy.min_free_gb == 2.5
    assert recorder.settings.segment_seconds == 120


# --- sensors and diagnostics ------------------------------------------------------


async def test_storage_and_bitrate_sensors(hass: HomeAssistant, hass_client, make_entry, rtsp_server) -> None:
    assert await async_setup_component(hass, "diagnostics", {})
    entry = await _setup(
        hass, make_entry(channel_data("Door", rtsp_server.url("/live"), username="admin", password="s3cret")), FAST
    )
    subentry, _recorder, archive = _only(entry)
    registry = er.async_get(hass)
    bitrate_id = "sensor.door_recording_bitrate"
    assert registry.async_get(bitrate_id).disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert registry.async_get(bitrate_id).entity_category == "diagnostic"
    free = hass.states.get("sensor.shop_nvr_free_space")
    assert free.attributes["device_class"] == "data_size"
    assert float(free.state) > 0
    assert hass.states.get("sensor.shop_nvr_oldest_recording").state == "unknown"

    await _complete_segments(hass, archive, subentry.subentry_id, 1)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=61))
    # The refresh runs as a background task: wait for its figures.
    await async_wait_for(hass, lambda: hass.states.get("sensor.shop_nvr_oldest_recording").state != "unknown", 5)
    total = archive.index.total_bytes()
    used = hass.states.get("sensor.shop_nvr_storage_used")
    assert used.attributes["device_class"] == "data_size"
    assert used.attributes["unit_of_measurement"] == "GB"
    # Shown in GB (rounded); the entity holds the exact byte count.
    assert float(used.state) == pytest.approx(total / 1e9, abs=0.01)
    entity = hass.data["sensor"].get_entity("sensor.shop_nvr_storage_used")
    assert 0 < entity.native_value <= total
    oldest = dt_util.parse_datetime(hass.states.get("sensor.shop_nvr_oldest_recording").state)
    assert oldest is not None and abs(oldest.timestamp() - archive.index.oldest_start()) < 1

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics)
    assert "s3cret" not in text and "admin" not in text
    assert diagnostics["storage"]["open"] is True
    assert diagnostics["storage"]["stats"]["used_bytes"] > 0
    (channel,) = diagnostics["channels"]
    assert channel["recording"]["status"]["mode"] == "continuous"
    assert channel["recording"]["settings"]["segment_seconds"] == 2

    # The bitrate sensor, once enabled, shows the last closed file's rate.
    registry.async_update_entity(bitrate_id, disabled_by=None)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    subentry, _recorder, archive = _only(entry)
    await _complete_segments(hass, archive, subentry.subentry_id, 3)

    def bitrate() -> float:
        state = hass.states.get(bitrate_id).state
        return float(state) if state not in ("unknown", STATE_UNAVAILABLE) else 0.0

    await async_wait_for(hass, lambda: bitrate() > 10, 5)
    assert hass.states.get(bitrate_id).attributes["unit_of_measurement"] == "kbit/s"


# --- storage faults ------------------------------------------------------------------


async def test_unusable_folder_keeps_live_view_and_retries(hass: HomeAssistant, rtsp_server, tmp_path) -> None:
    blocker = tmp_path / "not-a-mount"
    blocker.write_text("x")
    storage = blocker / "nvr"  # cannot be created: its parent is a file
    entry = nvr_entry(hass, storage, channel_data("Gate", rtsp_server.url("/live")))
    await _setup(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    issues = ir.async_get(hass)
    issue = issues.async_get_issue(DOMAIN, f"storage_unavailable_{entry.entry_id}")
    assert issue is not None and issue.translation_key == "storage_unavailable"
    assert issue.translation_placeholders["folder"] == str(storage)
    assert [r.recorder for r in entry.runtime_data.channels.values()] == [None]
    # Live view still works; recording entities say they cannot record.
    await async_wait_for(hass, lambda: hass.states.get("camera.gate").state == "streaming", 10)
    assert hass.states.get("binary_sensor.gate_recording").state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.shop_nvr_storage_used").state == STATE_UNAVAILABLE
    for service, fields in (
        ("start_recording", {}),
        ("stop_recording", {}),
        ("export_clip", {"start": "2024-01-01 10:00:00", "end": "2024-01-01 10:01:00"}),
    ):
        with pytest.raises(ServiceValidationError) as caught:
            await _call(hass, service, "camera.gate", **fields)
        _check_translated(caught.value, "recording_unavailable")
    # The select still stores the mode for when recording can start.
    await hass.services.async_call(
        "select", "select_option", {"entity_id": "select.gate_recording_mode", "option": "motion"}, blocking=True
    )
    assert hass.states.get("select.gate_recording_mode").state == "motion"

    # The disk comes back: the next periodic check opens it and recording starts.
    blocker.unlink()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=61))
    await async_wait_for(hass, lambda: all(r.recorder for r in entry.runtime_data.channels.values()), 10)
    assert issues.async_get_issue(DOMAIN, f"storage_unavailable_{entry.entry_id}") is None
    (recorder,) = [r.recorder for r in entry.runtime_data.channels.values()]
    assert recorder.settings.mode == "motion"
    assert (storage / "index.db").is_file()


def _fill(folder: Path) -> None:
    """Write a filler file until the file system is full.

    Unbuffered: Python 3.14's buffered writer keeps what a failed write could
    not write and raises ENOSPC again when it is closed.
    """
    chunk = b"\0" * 65536
    with (folder / "filler").open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(chunk)  # a short write fills the last block, the next one fails
        except OSError:
            pass


@pytest.fixture
def tiny_disk(tmp_path) -> Path:
    """A 3 MB tmpfs (root only), unmounted at teardown."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs to fill a disk for real needs root")
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    folder = tmp_path / "tiny"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(folder)], check=True, timeout=10)
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False, timeout=10)


async def test_full_disk_raises_and_clears_repair_issue(
    hass: HomeAssistant, make_entry, rtsp_server, tiny_disk, monkeypatch
) -> None:
    monkeypatch.setattr("custom_components.nvr.engine.recording.files.RETRY_INTERVAL", 1.0)
    entry = make_entry(channel_data("Yard", rtsp_server.url("/live")))
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_STORAGE_PATH: str(tiny_disk)}, options=FAST)
    await _setup(hass, entry)
    subentry, recorder, archive = _only(entry)
    issue_id = f"recording_paused_{entry.entry_id}_{subentry.subentry_id}"
    issues = ir.async_get(hass)
    await async_wait_for(hass, lambda: recorder.status.recording, 10)
    assert issues.async_get_issue(DOMAIN, issue_id) is None

    seen: list = []
    unsub = async_dispatcher_connect(
        hass, recording_signal(entry.entry_id, subentry.subentry_id), lambda status: seen.append(status.fault)
    )
    await hass.async_add_executor_job(_fill, tiny_disk)
    await async_wait_for(hass, lambda: issues.async_get_issue(DOMAIN, issue_id) is not None, 10)
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue.translation_key == "recording_paused_disk_full"
    assert issue.translation_placeholders["folder"] == str(tiny_disk)
    assert issue.translation_placeholders["channel"] == "Yard"
    assert "recording_paused_disk_full" in STRINGS["issues"]
    assert recorder.status.fault == "disk_full"
    state = hass.states.get("binary_sensor.yard_recording")
    assert state.attributes["fault"] == "disk_full"
    # Still full a few retries later: the issue stays.
    await hass.async_add_executor_job(time.sleep, 2.5)
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, issue_id) is not None
    # Retrying on a full disk never reported "resumed" in between (no flapping issue).
    first = seen.index("disk_full")
    assert None not in seen[first:], seen
    unsub()

    (tiny_disk / "filler").unlink()
    await async_wait_for(hass, lambda: issues.async_get_issue(DOMAIN, issue_id) is None, 10)
    assert recorder.status.fault is None
    await async_wait_for(hass, lambda: hass.states.get("camera.yard").state == "recording", 5)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
