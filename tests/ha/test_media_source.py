"""The media browser tree and media resolution, through HA's media_source API.

Footage is recorded from the gst-rtsp-server feed (once per module, by the
engine; one test records through HA itself). Time-zone and daylight-saving
tests add index rows that point at copies of a real recorded file.
"""

from __future__ import annotations

import itertools
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from homeassistant.components import media_source
from homeassistant.components.media_player import BrowseError, async_process_play_media_url
from homeassistant.components.media_source import Unresolvable
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from support import async_wait_for

from custom_components.nvr.const import DOMAIN
from custom_components.nvr.engine import Event
from custom_components.nvr.engine.recording.layout import segment_relpath

from .conftest import channel_data
from .playback_support import (
    CHANNEL,
    MANUAL_ID,
    MOTION_ID,
    PASSWORD,
    USER,
    copy_footage,
    ffprobe_json,
    record_footage,
    setup_playback_entry,
)

ROOT = f"media-source://{DOMAIN}"


@pytest.fixture(scope="module")
def footage(recording_server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 7 s of H.264 + AAC in 2 s files, a motion event (with thumbnail) and a manual one."""
    return record_footage(recording_server.url("/av"), tmp_path_factory.mktemp("ms_footage") / "nvr")


@pytest.fixture
async def entry(hass: HomeAssistant, footage: Path, tmp_path: Path, recording_server):
    """A loaded NVR over a copy of the footage."""
    storage = copy_footage(footage, tmp_path / "nvr")
    return await setup_playback_entry(hass, storage, recording_server.url("/h264"))


async def _browse(hass: HomeAssistant, identifier: str = ""):
    return await media_source.async_browse_media(hass, f"{ROOT}/{identifier}" if identifier else ROOT)


async def _resolve(hass: HomeAssistant, identifier: str):
    return await media_source.async_resolve_media(hass, f"{ROOT}/{identifier}", None)


def _ids(node) -> list[str]:
    return [child.media_content_id for child in node.children]


async def _walk(hass: HomeAssistant, identifier: str = "", depth: int = 6) -> list:
    """Every node below ``identifier`` (expandable ones browsed), depth first."""
    node = await _browse(hass, identifier)
    nodes = [node]
    for child in node.children or []:
        nodes.append(child)
        if child.can_expand and depth:
            nodes.extend(await _walk(hass, child.identifier, depth - 1))
    return nodes


async def test_tree_browse_and_resolve(hass: HomeAssistant, entry, footage: Path) -> None:
    await hass.config.async_set_time_zone("America/New_York")
    tz = ZoneInfo("America/New_York")
    archive = entry.runtime_data.archive
    segments = [s for s in archive.index.segments(CHANNEL) if s.end > s.start]

    root = await _browse(hass)
    assert root.title == "NVR" and root.can_expand and not root.can_play
    assert _ids(root) == [f"{ROOT}/{entry.entry_id}"]
    assert root.children[0].title == "Shop NVR"

    nvr = await _browse(hass, entry.entry_id)
    assert [c.title for c in nvr.children] == ["Door"]
    base = f"{entry.entry_id}/{CHANNEL}"
    assert _ids(nvr) == [f"{ROOT}/{base}"]

    channel = await _browse(hass, base)
    assert [c.title for c in channel.children] == ["Events (2)", "Recordings"]

    # Events: newest first, kind in the title, local time, duration; the motion one has its thumbnail.
    events = await _browse(hass, f"{base}/events")
    motion, manual = events.children
    assert motion.identifier == f"{base}/event/{MOTION_ID}" and manual.identifier == f"{base}/event/{MANUAL_ID}"
    event = archive.index.event(MOTION_ID)
    local = datetime.fromtimestamp(event.start, tz)
    assert motion.title == f"Motion · {local:%a %Y-%m-%d %H:%M:%S} · 0:01"
    assert manual.title.startswith("Manual · ")
    assert motion.can_play and not motion.can_expand
    assert motion.thumbnail == f"/api/nvr/{entry.entry_id}/{CHANNEL}/event/{MOTION_ID}.jpg"
    assert manual.thumbnail is None

    # Recordings > day (local) > hour (local) > the files.
    days = await _browse(hass, f"{base}/days")
    day = datetime.fromtimestamp(segments[0].start, tz).date()
    assert _ids(days)[0] == f"{ROOT}/{base}/day/{day.isoformat()}"
    hours = await _browse(hass, f"{base}/day/{day.isoformat()}")
    hour_start = int(segments[0].start // 3600 * 3600)
    hour = next(c for c in hours.children if c.identifier == f"{base}/hour/{hour_start}")
    begin = datetime.fromtimestamp(hour_start, tz)
    assert hour.title == f"{begin:%H}:00–{(begin + timedelta(hours=1)):%H}:00"
    assert hour.can_play and hour.can_expand
    files = await _browse(hass, hour.identifier)
    in_hour = [s for s in segments if hour_start <= s.start < hour_start + 3600]
    assert _ids(files) == [f"{ROOT}/{base}/segment/{s.id}" for s in in_hour]
    assert all(c.can_play and not c.can_expand for c in files.children)

    # Resolving gives the NVR's own views; HA signs them when a player asks.
    play = await _resolve(hass, hour.identifier)
    assert (play.url, play.mime_type) == (
        f"/api/nvr/{entry.entry_id}/{CHANNEL}/hour/{hour_start}.m3u8",
        "application/x-mpegURL",
    )
    play = await _resolve(hass, motion.identifier)
    assert (play.url, play.mime_type) == (f"/api/nvr/{entry.entry_id}/{CHANNEL}/event/{MOTION_ID}.mp4", "video/mp4")
    play = await _resolve(hass, files.children[0].identifier)
    assert play.url == f"/api/nvr/{entry.entry_id}/{CHANNEL}/segment/{in_hour[0].id}.mp4"


async def test_no_credentials_in_ids_or_urls(hass: HomeAssistant, entry, hass_client) -> None:
    nodes = await _walk(hass)
    assert len(nodes) > 8
    texts = []
    for node in nodes:
        texts += [node.media_content_id, node.title, node.thumbnail or ""]
        if node.can_play:
            texts.append((await media_source.async_resolve_media(hass, node.media_content_id, None)).url)
    client = await hass_client()
    hour = next(n for n in nodes if "/hour/" in n.media_content_id and n.can_play)
    url = (await media_source.async_resolve_media(hass, hour.media_content_id, None)).url
    response = await client.get(url)
    assert response.status == 200
    texts.append(await response.text())
    blob = "\n".join(texts)
    assert PASSWORD not in blob and USER not in blob and "rtsp://" not in blob
    # Ids carry only the entry id, the channel id and numbers.
    for node in nodes:
        parts = node.media_content_id.removeprefix(f"{ROOT}").strip("/").split("/")
        assert all(p.replace("-", "").replace("_", "").isalnum() for p in parts if p), node.media_content_id


async def test_bad_ids_are_refused(hass: HomeAssistant, entry) -> None:
    base = f"{entry.entry_id}/{CHANNEL}"
    for identifier in (
        "nope",
        f"{entry.entry_id}/nope",
        f"{base}/bogus",
        f"{base}/day/2026-13-45",
        f"{base}/day/../../etc",
        f"{base}/hour/12x",
        f"{base}/hour/1795568401",  # not on the hour
        f"{base}/events/abc",
        f"{entry.entry_id}/{CHANNEL}/../x",
    ):
        with pytest.raises(BrowseError):
            await _browse(hass, identifier)
    for identifier in (
        f"{base}/event/does-not-exist",
        f"{base}/segment/999999",
        f"{base}/hour/1795568401",
        f"{base}/days",
        f"{base}/event/..%2f..%2fetc",
        f"other/{CHANNEL}/event/{MOTION_ID}",
    ):
        with pytest.raises(Unresolvable):
            await _resolve(hass, identifier)


async def test_events_and_days_are_paged(hass: HomeAssistant, entry) -> None:
    await hass.config.async_set_time_zone("UTC")
    index = entry.runtime_data.archive.index
    base_time = datetime(2026, 1, 1, 12, tzinfo=ZoneInfo("UTC")).timestamp()
    for n in range(60):
        index.add_event(Event(f"ev{n:03d}", CHANNEL, "motion", base_time + n * 60, base_time + n * 60 + 5))
    for n in range(40):  # 40 earlier days with one file each (index rows only: browsing reads no file)
        start = base_time - (n + 1) * 86400
        index.add_segment(CHANNEL, start, segment_relpath(CHANNEL, start), start + 60, 1, complete=True)
    base = f"{entry.entry_id}/{CHANNEL}"

    page = await _browse(hass, f"{base}/events")
    assert len(page.children) == 51 and page.children[-1].title == "Older events…"
    starts = [index.event(c.identifier.rsplit("/", 1)[1]).start for c in page.children[:-1]]
    assert starts == sorted(starts, reverse=True)
    older = await _browse(hass, page.children[-1].identifier)
    ids = [c.identifier.rsplit("/", 1)[1] for c in page.children[:-1] + older.children]
    assert len(ids) == len(set(ids)) == 62  # 60 + the two recorded ones, none twice
    assert not any(c.title.startswith("Older") for c in older.children)

    days = await _browse(hass, f"{base}/days")
    assert len(days.children) == 32 and days.children[-1].title == "Older days…"
    rest = await _browse(hass, days.children[-1].identifier)
    listed = [c.identifier for c in days.children[:-1] + rest.children]
    assert len(listed) == len(set(listed)) == 41  # 40 days + the recorded one


async def _add_file(storage: Path, index, template: Path, start: float, length: float) -> None:
    relpath = segment_relpath(CHANNEL, start)
    (storage / relpath).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(template, storage / relpath)
    index.add_segment(CHANNEL, start, relpath, start + length, template.stat().st_size, complete=True)


async def test_daylight_saving_days_in_local_time(hass: HomeAssistant, entry, hass_client) -> None:
    """Both of 2026's changes in Berlin: 23 and 25 hour days, the repeated hour told apart."""
    await hass.config.async_set_time_zone("Europe/Berlin")
    berlin = ZoneInfo("Europe/Berlin")
    archive = entry.runtime_data.archive
    template_segment = next(s for s in archive.index.segments(CHANNEL) if s.complete and s.duration > 1)
    template = archive.root / template_segment.path
    storage = archive.root
    # One file every UTC hour from 22:00 UTC the day before to 04:00 UTC, around each change.
    for change in (datetime(2026, 3, 29, tzinfo=berlin), datetime(2026, 10, 25, tzinfo=berlin)):
        first = change.timestamp() - 7200
        for n in range(6):
            await _add_file(storage, archive.index, template, first + n * 3600 + 60, template_segment.duration)
    base = f"{entry.entry_id}/{CHANNEL}"

    spring = await _browse(hass, f"{base}/day/2026-03-29")
    assert [c.title for c in spring.children] == ["00:00–01:00", "01:00–03:00", "03:00–04:00", "04:00–05:00"]
    assert spring.children[1].identifier == f"{base}/hour/{int(datetime(2026, 3, 29, 1, tzinfo=berlin).timestamp())}"

    autumn = await _browse(hass, f"{base}/day/2026-10-25")
    assert [c.title for c in autumn.children] == [
        "00:00–01:00",
        "01:00–02:00",
        "02:00–02:00 (+02:00)",
        "02:00–03:00 (+01:00)",
    ]
    first_two, second_two = autumn.children[2], autumn.children[3]
    assert int(second_two.identifier.rsplit("/", 1)[1]) - int(first_two.identifier.rsplit("/", 1)[1]) == 3600
    # The day before each change ends at its own midnight.
    before = await _browse(hass, f"{base}/day/2026-10-24")
    assert [c.title for c in before.children] == ["22:00–23:00", "23:00–00:00"]

    # Both repeated hours play: each playlist holds its own file.
    client = await hass_client()
    for child in (first_two, second_two):
        url = (await _resolve(hass, child.identifier)).url
        response = await client.get(url)
        assert response.status == 200
        text = await response.text()
        assert text.count("#EXT-X-MAP") == 1
        start = int(child.identifier.rsplit("/", 1)[1])
        stamp = datetime.fromtimestamp(start + 60, ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S")
        assert f"#EXT-X-PROGRAM-DATE-TIME:{stamp}" in text

    # A half-hour zone: local hours start at :30 UTC, and the same files fall on other hours.
    await hass.config.async_set_time_zone("Asia/Kolkata")
    day = await _browse(hass, f"{base}/day/2026-10-25")
    assert [c.title for c in day.children] == [f"{h:02d}:00–{h + 1:02d}:00" for h in range(1, 7)]
    assert all(int(c.identifier.rsplit("/", 1)[1]) % 3600 == 1800 for c in day.children)
    url = (await _resolve(hass, day.children[0].identifier)).url
    response = await client.get(url)
    assert response.status == 200 and (await response.text()).count("#EXT-X-MAP") == 1


AAC_FRAME = 1024 / 8000
"""The longest audio packet of the footage (G.711 at 8 kHz becomes AAC)."""
JITTER = 0.002


def _packets(info: dict, kind: int) -> list[tuple[float, float]]:
    """(dts, duration) of one stream's packets, in seconds."""
    return [
        (float(p["dts_time"]), float(p.get("duration_time") or 0)) for p in info["packets"] if p["stream_index"] == kind
    ]


async def test_hour_played_through_http_is_one_timeline(hass: HomeAssistant, entry, hass_client) -> None:
    """ffprobe reads the resolved hour (signed URL, as the media browser gets it) over HTTP.

    The playlist adds nothing inside a file: every packet played is a packet
    of a recorded file, moved by that file's shift, and no picture is lost.
    At the joins it adds no gap the index does not have; the index has none
    here, so a join may only be pushed later by the previous file's audio
    tail (at most one AAC frame). Timestamps only go forward.
    """
    archive = entry.runtime_data.archive
    segments = [s for s in archive.index.segments(CHANNEL) if s.complete and s.end > s.start]
    hour_start = int(segments[0].start // 3600 * 3600)
    in_hour = [s for s in segments if s.start < hour_start + 3600]
    assert all(b.start - a.end < 0.01 for a, b in itertools.pairwise(in_hour)), "the index has gaps"
    client = await hass_client()
    resolved = await media_source.async_resolve_media(
        hass, f"{ROOT}/{entry.entry_id}/{CHANNEL}/hour/{hour_start}", None
    )
    signed = async_process_play_media_url(hass, resolved.url, allow_relative_url=True)
    assert "authSig=" in signed
    url = str(client.make_url(signed))
    playlist = await (await client.get(signed)).text()
    shifts = dict.fromkeys((int(s), int(us) / 1e6) for s, us in re.findall(r"/segment/(\d+)/(-?\d+)\.mp4", playlist))
    assert [s for s, _ in shifts] == [s.id for s in in_hour]
    show = "format=duration:packet=dts_time,duration_time,stream_index"
    played = await ffprobe_json("-allowed_extensions", "ALL", "-show_entries", show, url)
    recorded = [await ffprobe_json("-show_entries", show, str(archive.root / s.path)) for s in in_hour]
    per_file = [
        [[round(d + shift, 3) for d, _ in _packets(info, kind)] for kind in (0, 1)]
        for info, (_id, shift) in zip(recorded, shifts, strict=True)
    ]
    for kind in (0, 1):  # video, then audio
        dts = [d for d, _ in _packets(played, kind)]
        assert all(b > a for a, b in itertools.pairwise(dts)), f"stream {kind} goes backwards"
        for n, start in enumerate(starts := [shift for _id, shift in shifts]):
            end = starts[n + 1] if n + 1 < len(starts) else float("inf")
            got = [round(d, 3) for d in dts if start - JITTER <= d < end - JITTER]
            want = per_file[n][kind]
            if kind == 1:  # a file's trailing audio-only fragment (the encoder's flush) is left out
                want = want[: len(got)]
            assert got == pytest.approx(want, abs=JITTER), f"file {n}: stream {kind} is not what was recorded"
    video = _packets(played, 0)
    for start in starts[1:]:
        before = [(d, dur) for d, dur in video if d < start - JITTER]
        first = min(d for d, _ in video if d >= start - JITTER)
        step = first - (before[-1][0] + before[-1][1])
        assert -JITTER <= step <= AAC_FRAME + JITTER, f"join at {start:.3f} s adds {step:.3f} s"
    duration = float(played["format"]["duration"])
    expected_duration = sum(s.duration for s in in_hour)
    assert expected_duration - 0.1 <= duration <= expected_duration + AAC_FRAME * len(in_hour)


async def test_recorded_through_ha_is_browsable(hass: HomeAssistant, make_entry, recording_server, hass_client) -> None:
    """Continuous recording in a live entry: the newest hour lists and plays while it is written."""
    assert await async_setup_component(hass, "media_source", {})
    entry = make_entry(channel_data("Yard", recording_server.url("/h264")))
    hass.config_entries.async_update_entry(entry, options={"segment_seconds": 2, "min_free_gb": 0})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    (subentry,) = entry.subentries.values()
    archive = entry.runtime_data.archive

    def files_in_newest_hour() -> int:
        done = [s for s in archive.index.segments() if s.complete and s.end > s.start]
        if not done:
            return 0
        hour = max(s.start for s in done) // 3600
        return sum(1 for s in done if s.start // 3600 == hour)

    # Two finished files in the hour listed last (the recording may cross an hour meanwhile).
    await async_wait_for(hass, lambda: files_in_newest_hour() >= 2, 30)
    base = f"{entry.entry_id}/{subentry.subentry_id}"
    days = await _browse(hass, f"{base}/days")
    hours = await _browse(hass, days.children[0].identifier)
    assert hours.children
    url = (await _resolve(hass, hours.children[-1].identifier)).url
    client = await hass_client()
    response = await client.get(url)
    assert response.status == 200
    assert response.content_type == "application/vnd.apple.mpegurl"
    text = await response.text()
    assert text.count("#EXT-X-MAP") >= 2
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
