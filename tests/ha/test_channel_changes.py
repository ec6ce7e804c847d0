"""Adding, renaming or deleting a channel touches only that channel; a deleted channel's footage stays."""

from __future__ import annotations

from homeassistant.components import media_source
from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from support import async_wait_for

from custom_components.nvr.const import DOMAIN, SUBENTRY_CHANNEL

from .conftest import channel_data, entry_device

ROOT = f"media-source://{DOMAIN}"


async def _channel_flow(hass: HomeAssistant, entry_id: str, context: dict, **fields):
    result = await hass.config_entries.subentries.async_init((entry_id, SUBENTRY_CHANNEL), context=context)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"rtsp_transport": "tcp", **fields}
    )
    assert result["step_id"] == "confirm", result.get("errors")
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], {})
    await hass.async_block_till_done()
    return result


async def test_one_channel_changes_and_the_others_record_on(
    hass: HomeAssistant, make_entry, recording_server, hass_client
) -> None:
    """Channel A's file spans the moments channel B is added, renamed and deleted; B's footage stays."""
    assert await async_setup_component(hass, "media_source", {})
    entry = make_entry(channel_data("Door", recording_server.url("/h264")))
    hass.config_entries.async_update_entry(entry, options={"segment_seconds": 600, "min_free_gb": 0})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    (door_id,) = entry.subentries
    door = entry.runtime_data.channels[door_id]
    archive = entry.runtime_data.archive
    await async_wait_for(hass, lambda: door.recorder.status.recording, 15)
    file_of_a = door.recorder.status.segment
    reader = door.channel.readers["main"]

    # Add B.
    result = await _channel_flow(
        hass, entry.entry_id, {"source": SOURCE_USER}, name="Yard", main_url=recording_server.url("/h265")
    )
    assert result["type"] == "create_entry"
    (yard_id,) = set(entry.subentries) - {door_id}
    yard = entry.runtime_data.channels[yard_id]
    await async_wait_for(hass, lambda: yard.channel.status().connected, 15)
    assert hass.states.get("camera.yard") is not None
    await async_wait_for(hass, lambda: len(archive.index.segments(yard_id)) >= 1, 15)

    # Rename B: no restart of its stream either.
    result = await _channel_flow(
        hass,
        entry.entry_id,
        {"source": SOURCE_RECONFIGURE, "subentry_id": yard_id},
        name="Back yard",
        main_url=recording_server.url("/h265"),
    )
    assert result["reason"] == "reconfigure_successful"
    assert entry.runtime_data.channels[yard_id] is yard, "the renamed channel was rebuilt"
    device = entry_device(hass, entry.entry_id, (DOMAIN, f"{entry.entry_id}_{yard_id}"))
    assert device.name == "Back yard"

    # Delete B.
    assert hass.config_entries.async_remove_subentry(entry, yard_id)
    await hass.async_block_till_done()
    assert yard_id not in entry.runtime_data.channels
    assert not yard.channel.readers["main"].running
    registry = er.async_get(hass)
    assert not [e for e in er.async_entries_for_config_entry(registry, entry.entry_id) if yard_id in e.unique_id]

    # A was never touched: the same reader, no reconnect, still the same file.
    assert entry.runtime_data.channels[door_id] is door
    assert door.channel.readers["main"] is reader
    assert reader.status.reconnects == 0
    assert door.recorder.status.recording
    assert door.recorder.status.segment == file_of_a
    (segment,) = archive.index.segments(door_id)
    assert not segment.complete

    # B's footage stays browsable and playable under "Removed channels".
    nvr = await media_source.async_browse_media(hass, f"{ROOT}/{entry.entry_id}")
    removed = next(c for c in nvr.children if c.title == "Removed channels")
    listing = await media_source.async_browse_media(hass, f"{ROOT}/{removed.identifier}")
    (channel,) = listing.children
    assert channel.title.startswith("Back yard (removed ")
    days = await media_source.async_browse_media(hass, f"{ROOT}/{entry.entry_id}/{yard_id}/days")
    day = await media_source.async_browse_media(hass, f"{ROOT}/{days.children[0].identifier}")
    hour = await media_source.async_browse_media(hass, f"{ROOT}/{day.children[0].identifier}")
    resolved = await media_source.async_resolve_media(hass, f"{ROOT}/{hour.children[0].identifier}", None)
    response = await (await hass_client()).get(resolved.url)
    assert response.status == 200
    assert (await response.read())[4:8] == b"ftyp"
    assert await hass.config_entries.async_unload(entry.entry_id)
