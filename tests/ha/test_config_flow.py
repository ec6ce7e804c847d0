"""Config flow: the NVR entry and its channel subentries, against real streams."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers import entity_registry as er
from rtsp_peer import free_port

from custom_components.nvr.const import DOMAIN, MAX_NAME_LENGTH, SUBENTRY_CHANNEL

from .conftest import channel_data

STRINGS = json.loads((Path(__file__).parents[2] / "custom_components/nvr/strings.json").read_text())
CHANNEL_ERRORS = STRINGS["config_subentries"]["channel"]["error"]


# --- the NVR entry ---------------------------------------------------------


async def test_nvr_flow_defaults_to_media_folder(hass: HomeAssistant, tmp_path) -> None:
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    defaults = {str(k): k.default() for k in result["data_schema"].schema}
    assert defaults["storage_path"] == str(tmp_path / "media" / "nvr")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"name": "Shop", **{"storage_path": defaults["storage_path"]}}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Shop"
    assert (tmp_path / "media" / "nvr").is_dir()


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("relative/nvr", "path_not_absolute"),
        ("", "path_not_absolute"),
        ("{file}", "path_not_directory"),
        ("{file}/nvr", "path_not_writable"),
    ],
)
async def test_nvr_flow_bad_folder(hass: HomeAssistant, tmp_path, path: str, error: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"name": "Shop", "storage_path": path.format(file=blocker)}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"storage_path": error}
    assert error in STRINGS["config"]["error"]


async def test_nvr_flow_blank_name(hass: HomeAssistant, tmp_path) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"name": "  ", "storage_path": str(tmp_path)}
    )
    assert result["errors"] == {"name": "name_required"}


async def test_nvr_flow_name_too_long(hass: HomeAssistant, tmp_path) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"name": "N" * 10_000, "storage_path": str(tmp_path)}
    )
    assert result["errors"] == {"name": "name_too_long"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"name": "录像机" * (MAX_NAME_LENGTH // 3), "storage_path": str(tmp_path)}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, "the limit counts characters, not bytes"


async def test_nvr_flow_same_folder_twice(hass: HomeAssistant, make_entry) -> None:
    entry = make_entry()
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"name": "Again", "storage_path": entry.data["storage_path"] + "/"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


# --- channels --------------------------------------------------------------


async def _start_channel_flow(hass: HomeAssistant, entry_id: str):
    return await hass.config_entries.subentries.async_init(
        (entry_id, SUBENTRY_CHANNEL), context={"source": SOURCE_USER}
    )


async def _submit(hass, flow_id, **fields):
    data = {"rtsp_transport": "tcp", **fields}
    return await hass.config_entries.subentries.async_configure(flow_id, data)


async def test_add_channel_shows_what_was_found(hass: HomeAssistant, make_entry, rtsp_basic) -> None:
    entry = make_entry()
    assert await hass.config_entries.async_setup(entry.entry_id)
    result = await _start_channel_flow(hass, entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    # Credentials pasted into the URL are moved to their own fields.
    url = rtsp_basic.url("/live", "admin", "secret")
    result = await _submit(hass, result["flow_id"], name="Till", main_url=url)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "confirm"
    assert result["description_placeholders"]["main"].startswith("H264 640×360")
    assert result["description_placeholders"]["sub"] == "—"
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()

    (subentry,) = entry.subentries.values()
    assert subentry.title == "Till"
    assert subentry.data["main_url"] == rtsp_basic.url("/live")
    assert "secret" not in subentry.data["main_url"]
    assert (subentry.data["username"], subentry.data["password"]) == ("admin", "secret")
    assert (subentry.data["pre_roll"], subentry.data["post_roll"]) == (5, 10)
    # The update listener reloaded the entry, so the channel's entities exist.
    registry = er.async_get(hass)
    assert registry.async_get_entity_id("camera", DOMAIN, f"{subentry.subentry_id}_main")
    assert hass.states.get("binary_sensor.till_video_signal") is not None


async def _error_for(hass: HomeAssistant, entry_id: str, **fields) -> dict[str, str]:
    result = await _start_channel_flow(hass, entry_id)
    result = await _submit(hass, result["flow_id"], **fields)
    assert result["type"] is FlowResultType.FORM, result
    for key in result["errors"].values():
        assert key in CHANNEL_ERRORS, f"untranslated error {key}"
    assert "secret" not in str(result.get("description_placeholders"))
    return result["errors"]


async def test_channel_errors_reached_for_real(
    hass: HomeAssistant, make_entry, rtsp_server, rtsp_basic, rtsp_digest, garbage_server, silent_server, monkeypatch
) -> None:
    entry = make_entry()
    eid = entry.entry_id
    live = rtsp_server.url("/live")
    assert await _error_for(hass, eid, name="x", main_url="http://127.0.0.1/live") == {"main_url": "invalid_url"}
    assert await _error_for(hass, eid, name="x", main_url="rtsp:///nohost") == {"main_url": "invalid_url"}
    assert await _error_for(hass, eid, name=" ", main_url=live) == {"name": "name_required"}
    too_long = "x" * (MAX_NAME_LENGTH + 1)
    assert await _error_for(hass, eid, name=too_long, main_url=live) == {"name": "name_too_long"}
    closed = f"rtsp://127.0.0.1:{free_port()}/live"
    assert await _error_for(hass, eid, name="x", main_url=closed) == {"main_url": "cannot_connect"}
    assert await _error_for(hass, eid, name="x", main_url=garbage_server.url("/live")) == {"main_url": "cannot_connect"}
    for server in (rtsp_basic, rtsp_digest):
        errors = await _error_for(
            hass, eid, name="x", main_url=server.url("/live"), username="admin", password="not-secret"
        )
        assert errors == {"main_url": "invalid_auth"}
    assert await _error_for(hass, eid, name="x", main_url=rtsp_server.url("/audio")) == {"main_url": "no_video"}
    assert await _error_for(hass, eid, name="x", main_url=rtsp_server.url("/mjpeg")) == {
        "main_url": "unsupported_codec"
    }
    assert await _error_for(hass, eid, name="x", main_url=live, sub_url=rtsp_server.url("/audio")) == {
        "sub_url": "no_video"
    }
    assert await _error_for(hass, eid, name="x", main_url=live, sub_url=live) == {"sub_url": "same_as_main"}
    monkeypatch.setattr("custom_components.nvr.channel_flow.PROBE_TIMEOUT", 1.0)
    assert await _error_for(hass, eid, name="x", main_url=silent_server.url("/live")) == {"main_url": "timeout"}


async def test_same_stream_refused(hass: HomeAssistant, make_entry, rtsp_server) -> None:
    entry = make_entry(channel_data("Door", rtsp_server.url("/live")))
    errors = await _error_for(
        hass, entry.entry_id, name="Again", main_url=rtsp_server.url("/live").upper().replace("/LIVE", "/live")
    )
    assert errors == {"main_url": "already_configured"}
    errors = await _error_for(
        hass, entry.entry_id, name="Sub", main_url=rtsp_server.url("/sub"), sub_url=rtsp_server.url("/live")
    )
    assert errors == {"sub_url": "already_configured"}
    for same in (rtsp_server.url("/live") + "/", rtsp_server.url("//live"), rtsp_server.url("/live//")):
        assert await _error_for(hass, entry.entry_id, name="Again", main_url=same) == {"main_url": "already_configured"}


async def test_reconfigure_never_sends_the_password_back(hass: HomeAssistant, make_entry, rtsp_basic) -> None:
    """The form leaves the password empty; left empty, the stored one is kept."""
    entry = make_entry(channel_data("Till", rtsp_basic.url("/live"), username="admin", password="secret"))
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    (subentry,) = entry.subentries.values()
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_CHANNEL),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry.subentry_id},
    )
    assert "secret" not in json.dumps(result, default=str)
    suggested = {str(key): key.description for key in result["data_schema"].schema}
    assert (suggested["password"] or {}).get("suggested_value") in (None, "")
    assert suggested["username"]["suggested_value"] == "admin"
    result = await _submit(hass, result["flow_id"], name="Till 2", main_url=rtsp_basic.url("/live"), username="admin")
    assert result["step_id"] == "confirm", result.get("errors")
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], {})
    assert result["reason"] == "reconfigure_successful"
    assert entry.subentries[subentry.subentry_id].data["password"] == "secret"


async def test_reconfigure_channel(hass: HomeAssistant, make_entry, rtsp_server) -> None:
    entry = make_entry(channel_data("Door", rtsp_server.url("/live")))
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    (subentry,) = entry.subentries.values()
    assert hass.states.get("camera.door_sub_stream") is None

    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_CHANNEL),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry.subentry_id},
    )
    assert result["step_id"] == "reconfigure"
    # Reconfiguring may keep its own stream: that is not a duplicate.
    result = await _submit(
        hass, result["flow_id"], name="Front door", main_url=rtsp_server.url("/live"), sub_url=rtsp_server.url("/sub")
    )
    assert result["step_id"] == "confirm"
    assert result["description_placeholders"]["sub"].startswith("H264 320×180")
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()

    assert entry.subentries[subentry.subentry_id].title == "Front door"
    channel = entry.runtime_data.channels[subentry.subentry_id].channel
    assert set(channel.readers) == {"main", "sub"}
    # The sub-stream camera is added and enabled (the wall plays it on big layouts).
    registry = er.async_get(hass)
    sub_id = registry.async_get_entity_id("camera", DOMAIN, f"{subentry.subentry_id}_sub")
    assert registry.async_get(sub_id).disabled_by is None
    assert hass.states.get(sub_id) is not None


async def test_removing_channel_removes_entities(hass: HomeAssistant, make_entry, rtsp_server) -> None:
    entry = make_entry(channel_data("Door", rtsp_server.url("/live")))
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    (subentry,) = entry.subentries.values()
    assert hass.config_entries.async_remove_subentry(entry, subentry.subentry_id)
    await hass.async_block_till_done()
    assert entry.runtime_data.channels == {}
    registry = er.async_get(hass)
    left = er.async_entries_for_config_entry(registry, entry.entry_id)
    assert not [e for e in left if e.config_subentry_id == subentry.subentry_id]
    # Only the NVR's own storage sensors stay.
    assert {e.unique_id for e in left} == {
        f"{entry.entry_id}_{key}" for key in ("storage_used", "free_space", "oldest_recording")
    }


async def test_channel_pre_and_post_roll(hass: HomeAssistant, make_entry, rtsp_server) -> None:
    door = {**channel_data("Door", rtsp_server.url("/live")), "recording_mode": "off"}
    entry = make_entry(door)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    (door_sub,) = entry.subentries.values()

    result = await _start_channel_flow(hass, entry.entry_id)
    with pytest.raises(InvalidData):
        await _submit(hass, result["flow_id"], name="Yard", main_url=rtsp_server.url("/sub"), pre_roll=61)
    result = await _submit(
        hass, result["flow_id"], name="Yard", main_url=rtsp_server.url("/sub"), pre_roll=3, post_roll=120
    )
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    yard = next(s for s in entry.subentries.values() if s.title == "Yard")
    assert (yard.data["pre_roll"], yard.data["post_roll"]) == (3, 120)
    settings = entry.runtime_data.channels[yard.subentry_id].recorder.settings
    assert (settings.pre_roll, settings.post_roll, settings.mode) == (3, 120, "continuous")

    # Changing only the rolls is applied live and keeps the recording mode set by the select.
    channel = entry.runtime_data.channels[door_sub.subentry_id]
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_CHANNEL),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": door_sub.subentry_id},
    )
    result = await _submit(hass, result["flow_id"], name="Door", main_url=rtsp_server.url("/live"), post_roll=30)
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], {})
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    data = entry.subentries[door_sub.subentry_id].data
    assert (data["recording_mode"], data["pre_roll"], data["post_roll"]) == ("off", 5, 30)
    assert entry.runtime_data.channels[door_sub.subentry_id] is channel
    settings = entry.runtime_data.channels[door_sub.subentry_id].recorder.settings
    assert (settings.mode, settings.pre_roll, settings.post_roll) == ("off", 5, 30)


def test_translations_match_strings() -> None:
    root = Path(__file__).parents[2] / "custom_components/nvr"
    assert json.loads((root / "translations/en.json").read_text()) == STRINGS
