"""The NVR page's backend: ``nvr/timeline``, ``nvr/timeline/days`` and the range playlists.

Over footage recorded from the gst-rtsp-server feed (2 s files), copied to
other times where a test needs hours, days or gaps; and, for a span that
reaches now, an NVR recording the live feed.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from homeassistant.components.http.auth import async_sign_path
from homeassistant.core import HomeAssistant
from support import async_wait_for

from custom_components.nvr.const import DOMAIN
from custom_components.nvr.engine.recording.layout import segment_relpath

from .conftest import channel_data
from .playback_support import (
    CHANNEL,
    MANUAL_ID,
    MOTION_ID,
    copy_footage,
    ffprobe_json,
    record_footage,
    setup_playback_entry,
)

STRINGS = json.loads((Path(__file__).parents[2] / "custom_components/nvr/strings.json").read_text())


@pytest.fixture(scope="module")
def footage(recording_server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_footage(recording_server.url("/av"), tmp_path_factory.mktemp("timeline_footage") / "nvr")


@pytest.fixture
async def entry(hass: HomeAssistant, footage: Path, tmp_path: Path, recording_server):
    storage = copy_footage(footage, tmp_path / "nvr")
    return await setup_playback_entry(hass, storage, recording_server.url("/h264"))


def _recorded(entry):
    return [s for s in entry.runtime_data.archive.index.segments(CHANNEL) if s.complete and s.end > s.start]


def _copy(entry, template, start: float) -> None:
    """A copy of a recorded file, indexed as if recorded at ``start``."""
    archive = entry.runtime_data.archive
    relpath = segment_relpath(CHANNEL, start)
    (archive.root / relpath).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(archive.root / template.path, archive.root / relpath)
    size = (archive.root / relpath).stat().st_size
    archive.index.add_segment(CHANNEL, start, relpath, start + template.duration, size, complete=True)


async def _ws(client, **msg):
    await client.send_json_auto_id(msg)
    return await client.receive_json()


async def test_spans_merge_adjacent_files_and_keep_gaps(
    hass: HomeAssistant, entry, hass_ws_client, hass_read_only_access_token, hass_client_no_auth
) -> None:
    recorded = _recorded(entry)
    template = recorded[0]
    later = recorded[-1].end + 120  # a real gap of two minutes, then two adjacent files
    await hass.async_add_executor_job(_copy, entry, template, later)
    await hass.async_add_executor_job(_copy, entry, template, later + template.duration + 0.04)
    client = await hass_ws_client(hass, hass_read_only_access_token)  # no admin rights needed
    answer = await _ws(
        client, type="nvr/timeline", entry_id=entry.entry_id, start=recorded[0].start - 60, end=later + 600
    )
    assert answer["success"], answer
    (channel,) = answer["result"]["channels"]
    assert channel["id"] == CHANNEL and channel["name"] == "Door"
    first, second = channel["spans"]
    assert first == pytest.approx([recorded[0].start, recorded[-1].end])
    assert second == pytest.approx([later, later + 2 * template.duration + 0.04])
    events = {e["id"]: e for e in channel["events"]}
    assert set(events) == {MOTION_ID, MANUAL_ID}
    assert events[MOTION_ID]["kind"] == "motion" and events[MANUAL_ID]["thumbnail"] is None
    thumbnail = events[MOTION_ID]["thumbnail"]
    assert "authSig=" in thumbnail and "hunter2" not in str(answer)
    response = await (await hass_client_no_auth()).get(thumbnail)
    assert response.status == 200 and response.content_type == "image/jpeg"

    # A span is clipped to what was asked.
    middle = (recorded[0].start + recorded[-1].end) / 2
    answer = await _ws(
        client, type="nvr/timeline", entry_id=entry.entry_id, channels=[CHANNEL], start=middle, end=middle + 1
    )
    assert answer["result"]["channels"][0]["spans"] == [pytest.approx([middle, middle + 1])]


@pytest.mark.parametrize(
    ("zone", "short", "long"),
    [("Europe/Berlin", "2026-03-29", "2026-10-25"), ("America/New_York", "2026-03-08", "2026-11-01")],
)
async def test_days_follow_the_time_zone_across_clock_changes(
    hass: HomeAssistant, entry, hass_ws_client, zone: str, short: str, long: str
) -> None:
    await hass.config.async_set_time_zone(zone)
    tz = ZoneInfo(zone)
    template = _recorded(entry)[0]
    for day in (short, long):
        local = datetime.fromisoformat(day).replace(tzinfo=tz)
        # Files at 00:30 and 23:30 local: both inside the day, whatever its length.
        for hour, minute in ((0, 30), (23, 30)):
            await hass.async_add_executor_job(
                _copy, entry, template, local.replace(hour=hour, minute=minute).timestamp()
            )
    client = await hass_ws_client(hass)
    for day, hours in ((short, 23), (long, 25)):
        answer = await _ws(client, type="nvr/timeline", entry_id=entry.entry_id, day=day)
        assert answer["success"], answer
        result = answer["result"]
        start = datetime.fromisoformat(day).replace(tzinfo=tz).timestamp()
        assert result["start"] == start and result["end"] - result["start"] == hours * 3600
        assert result["time_zone"] == zone
        spans = result["channels"][0]["spans"]
        assert len(spans) == 2 and spans[0][0] == pytest.approx(start + 1800)
        assert spans[1][0] == pytest.approx(result["end"] - 1800)
    days = await _ws(client, type="nvr/timeline/days", entry_id=entry.entry_id)
    assert {short, long} <= set(days["result"]["days"])
    assert days["result"]["days"] == sorted(days["result"]["days"], reverse=True)


async def test_bad_input_gets_a_translated_error(
    hass: HomeAssistant, entry, hass_ws_client, hass_client_no_auth
) -> None:
    client = await hass_ws_client(hass)
    cases = [
        ({"entry_id": "nope", "day": "2026-12-01"}, "not_found", "nvr_not_found"),
        ({"entry_id": entry.entry_id, "channels": ["nope"], "day": "2026-12-01"}, "not_found", "channel_not_found"),
        ({"entry_id": entry.entry_id, "day": "yesterday"}, "invalid_format", "invalid_day"),
        ({"entry_id": entry.entry_id, "start": 100, "end": 50}, "invalid_format", "invalid_span"),
        ({"entry_id": entry.entry_id, "start": 0, "end": 40 * 86400}, "invalid_format", "invalid_span"),
        ({"entry_id": entry.entry_id}, "invalid_format", "invalid_span"),
    ]
    for payload, code, key in cases:
        answer = await _ws(client, type="nvr/timeline", **payload)
        assert not answer["success"], payload
        assert answer["error"]["code"] == code, answer
        assert answer["error"]["translation_key"] == key and answer["error"]["translation_domain"] == DOMAIN
        english = STRINGS["exceptions"][key]["message"]
        assert answer["error"]["message"] == english.format(**(answer["error"].get("translation_placeholders") or {}))
    answer = await _ws(client, type="nvr/timeline", entry_id=entry.entry_id, day="2026-12-01", start=1, end=2)
    assert not answer["success"] and answer["error"]["code"] == "invalid_format"
    answer = await _ws(client, type="nvr/timeline/days", entry_id="nope")
    assert answer["error"]["translation_key"] == "nvr_not_found"
    # Without a login, nothing.
    async with (await hass_client_no_auth()).ws_connect("/api/websocket") as ws:
        await ws.receive_json()
        await ws.send_json({"id": 1, "type": "nvr/timeline", "entry_id": entry.entry_id, "day": "2026-12-01"})
        assert (await ws.receive_json())["type"] == "auth_invalid"


def _range(entry, start: float, end: float) -> str:
    return f"/api/nvr/{entry.entry_id}/{CHANNEL}/range/{int(start)}-{int(end)}.m3u8"


async def test_range_across_two_hours_is_one_timeline(
    hass: HomeAssistant, entry, hass_client, hass_client_no_auth
) -> None:
    template = _recorded(entry)[0]
    hour = (int(time.time()) // 3600 - 30) * 3600
    starts = [hour - 2 * template.duration, hour - template.duration, hour, hour + template.duration]
    for start in starts:
        await hass.async_add_executor_job(_copy, entry, template, start)
    path = _range(entry, hour - template.duration - 0.5, hour + template.duration + 1.5)
    assert (await (await hass_client_no_auth()).get(path)).status == 401
    client = await hass_client()
    text = await (await client.get(path)).text()
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and "#EXT-X-ENDLIST" in text
    # From the file showing the span's start to the one showing its end; each file's wall time.
    stamps = re.findall(r"#EXT-X-PROGRAM-DATE-TIME:(\S+)", text)
    assert [datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() for s in stamps] == pytest.approx(
        starts, abs=0.05
    )
    signed = async_sign_path(hass, path, timedelta(minutes=5))
    show = "format=duration:packet=dts_time,stream_index"
    played = await ffprobe_json("-allowed_extensions", "ALL", "-show_entries", show, str(client.make_url(signed)))
    video = [float(p["dts_time"]) for p in played["packets"] if p["stream_index"] == 0]
    assert all(b > a for a, b in itertools.pairwise(video)), "the timeline goes backwards"
    assert video[-1] - video[0] == pytest.approx(4 * template.duration, abs=0.5)
    # Spans with no footage, and too long or reversed ones.
    assert (await client.get(_range(entry, hour - 3 * 86400, hour - 3 * 86400 + 3600))).status == 404
    assert (await client.get(_range(entry, hour, hour + 7 * 3600))).status == 400
    assert (await client.get(_range(entry, hour, hour - 10))).status == 400


async def test_range_reaching_now_grows_while_recording(
    hass: HomeAssistant, make_entry, rtsp_server, hass_client
) -> None:
    entry = make_entry(channel_data("Door", rtsp_server.url("/live")))
    hass.config_entries.async_update_entry(entry, options={"segment_seconds": 2, "min_free_gb": 0})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    (subentry,) = entry.subentries.values()
    channel = subentry.subentry_id
    archive = entry.runtime_data.archive
    begin = time.time() - 5
    path = f"/api/nvr/{entry.entry_id}/{channel}/range/{int(begin)}-{int(begin) + 3600}.m3u8"
    client = await hass_client()

    async def parts() -> list[str]:
        text = await (await client.get(path)).text()
        assert "#EXT-X-PLAYLIST-TYPE:EVENT" in text and "#EXT-X-ENDLIST" not in text
        return re.findall(r"#EXT-X-BYTERANGE:(\d+@\d+)\n(\S+/segment/\d+)/", text)

    await async_wait_for(hass, lambda: len([s for s in archive.index.segments(channel) if s.complete]) >= 2, 20)
    first = await parts()
    assert first, "finished footage is listed"
    await async_wait_for(hass, lambda: len([s for s in archive.index.segments(channel) if s.complete]) >= 4, 20)
    second = await parts()
    assert len(second) > len(first) and second[: len(first)] == first, "a live range only grows"
