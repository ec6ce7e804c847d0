"""The playback HTTP views: auth, signed paths, Range, traversal attempts, unknown ids, event clips.

Fetched with the harness's HTTP client from HA's real aiohttp app, over
footage recorded from the gst-rtsp-server feed.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from aiohttp import web
from homeassistant.components.http.auth import async_sign_path
from homeassistant.core import HomeAssistant

from custom_components.nvr.engine import Event
from custom_components.nvr.engine.playback.boxes import parse_file
from custom_components.nvr.engine.playback.clips import CACHE_FOLDER
from custom_components.nvr.engine.playback.playlist import ShiftedFile
from custom_components.nvr.views import CLIP_CACHE_BYTES

from .playback_support import (
    CHANNEL,
    MANUAL_ID,
    MOTION_ID,
    copy_footage,
    ffprobe_json,
    record_footage,
    setup_playback_entry,
)


@pytest.fixture(scope="module")
def footage(recording_server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 7 s of H.264 + AAC in 2 s files, a motion event (with thumbnail) and a manual one."""
    return record_footage(recording_server.url("/av"), tmp_path_factory.mktemp("views_footage") / "nvr")


@pytest.fixture
async def entry(hass: HomeAssistant, footage: Path, tmp_path: Path, recording_server):
    """A loaded NVR over a copy of the footage; pre-roll and post-roll 1 s."""
    storage = copy_footage(footage, tmp_path / "nvr")
    return await setup_playback_entry(hass, storage, recording_server.url("/h264"))


def _segments(entry):
    return [s for s in entry.runtime_data.archive.index.segments(CHANNEL) if s.complete and s.end > s.start]


def _urls(entry) -> dict[str, str]:
    segment = _segments(entry)[0]
    hour = int(segment.start // 3600 * 3600)
    base = f"/api/nvr/{entry.entry_id}/{CHANNEL}"
    return {
        "segment": f"{base}/segment/{segment.id}.mp4",
        "shifted": f"{base}/segment/{segment.id}/1500000.mp4",
        "hour": f"{base}/hour/{hour}.m3u8",
        "event": f"{base}/event/{MOTION_ID}.mp4",
        "thumbnail": f"{base}/event/{MOTION_ID}.jpg",
    }


async def test_unauthenticated_requests_get_401(hass: HomeAssistant, entry, hass_client_no_auth) -> None:
    client = await hass_client_no_auth()
    for name, url in _urls(entry).items():
        response = await client.get(url)
        assert response.status == 401, name
        response = await client.get(url, headers={"Authorization": "Bearer not-a-token"})
        assert response.status == 401, name
    assert not list((entry.runtime_data.archive.root / CACHE_FOLDER).glob("**/*.mp4"))  # nothing was made


async def test_authenticated_and_signed_requests(hass: HomeAssistant, entry, hass_client, hass_client_no_auth) -> None:
    client = await hass_client()
    anonymous = await hass_client_no_auth()
    root = entry.runtime_data.archive.root
    segment = _segments(entry)[0]
    raw = (root / segment.path).read_bytes()
    for name, url in _urls(entry).items():
        response = await client.get(url)
        assert response.status == 200, name
        body = await response.read()
        signed = async_sign_path(hass, url, timedelta(minutes=5))
        response = await anonymous.get(signed)
        assert response.status == 200, name
        unsigned = re.sub(rb"authSig=[\w.-]+", b"", body)  # a playlist's URLs are signed for its reader
        assert re.sub(rb"authSig=[\w.-]+", b"", await response.read()) == unsigned, name
        expected_type = {"hour": "application/vnd.apple.mpegurl", "thumbnail": "image/jpeg"}.get(name, "video/mp4")
        assert response.content_type == expected_type, name
        if name == "segment":
            assert body == raw
        if name == "thumbnail":
            assert body[:2] == b"\xff\xd8"

        # A forged signature, one for another path, an expired one: refused.
        head, _, sig = signed.partition("authSig=")
        forged = head + "authSig=" + sig[:-4] + ("AAAA" if not sig.endswith("AAAA") else "BBBB")
        assert (await anonymous.get(forged)).status == 401, name
        other = async_sign_path(hass, _urls(entry)["thumbnail" if name != "thumbnail" else "segment"], timedelta(1))
        assert (await anonymous.get(url + "?" + other.partition("?")[2])).status == 401, name
        expired = async_sign_path(hass, url, timedelta(seconds=-5))
        assert (await anonymous.get(expired)).status == 401, name
        guess = "a guessed key, 32 bytes or longer"  # a shorter one makes HA 2026's PyJWT warn
        unsigned_token = jwt.encode({"iss": "x", "path": url, "params": [], "iat": 0, "exp": 2**40}, guess, "HS256")
        assert (await anonymous.get(f"{url}?authSig={unsigned_token}")).status == 401, name


async def test_range_requests(hass: HomeAssistant, entry, hass_client) -> None:
    client = await hass_client()
    root = entry.runtime_data.archive.root
    segment = _segments(entry)[0]
    raw = (root / segment.path).read_bytes()
    urls = _urls(entry)

    response = await client.get(urls["segment"], headers={"Range": "bytes=100-1099"})
    assert response.status == 206
    assert response.headers["Content-Range"] == f"bytes 100-1099/{len(raw)}"
    assert await response.read() == raw[100:1100]

    shifted = ShiftedFile(root / segment.path, parse_file(root / segment.path), 1.5)
    whole = shifted.read(0, shifted.size)
    assert whole != raw and len(whole) == len(raw)
    response = await client.get(urls["shifted"])
    assert response.status == 200 and response.headers["Accept-Ranges"] == "bytes"
    assert await response.read() == whole
    for header, (start, end) in {
        "bytes=0-99": (0, 100),
        "bytes=1200-": (1200, len(raw)),
        "bytes=-500": (len(raw) - 500, len(raw)),
        f"bytes=10-{len(raw) + 100}": (10, len(raw)),
    }.items():
        response = await client.get(urls["shifted"], headers={"Range": header})
        assert response.status == 206, header
        assert response.headers["Content-Range"] == f"bytes {start}-{end - 1}/{len(raw)}"
        assert await response.read() == whole[start:end], header
    response = await client.get(urls["shifted"], headers={"Range": f"bytes={len(raw)}-"})
    assert response.status == 416
    assert response.headers["Content-Range"] == f"bytes */{len(raw)}"
    # A shift no playlist makes (timestamps would go negative) is not served.
    response = await client.get(urls["shifted"].replace("/1500000.mp4", "/-5000000.mp4"))
    assert response.status == 404

    response = await client.get(urls["event"], headers={"Range": "bytes=0-63"})
    assert response.status == 206
    data = await response.read()
    assert len(data) == 64 and data[4:8] == b"ftyp"


async def test_a_player_that_goes_away_mid_file_logs_no_error(
    hass: HomeAssistant, entry, hass_client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A player that drops a file it was reading (a seek, a closed page) ends the answer quietly, not with an error.

    The connection is closed just before the view writes its second chunk: aiohttp then refuses the write
    (the transport is closing) before it cancels the view, the moment a real player hit in the browser tests.
    """
    monkeypatch.setattr("custom_components.nvr.views.CHUNK", 1024)
    write = web.StreamResponse.write
    writes: list[int] = []
    refused = asyncio.Event()

    async def write_after_the_player_went(self: web.StreamResponse, data: bytes) -> None:
        writes.append(len(data))
        if len(writes) == 2:
            self._req.transport.close()
        try:
            await write(self, data)
        except ConnectionResetError:
            refused.set()  # the view goes on in this same step: it has ended, or failed, when the test wakes
            raise

    monkeypatch.setattr(web.StreamResponse, "write", write_after_the_player_went)
    client = await hass_client()
    response = await client.get(_urls(entry)["shifted"])
    assert response.status == 200
    await asyncio.wait_for(refused.wait(), 10)
    await asyncio.sleep(0)
    response.close()
    assert len(writes) == 2, "the view went on writing to a closed connection"
    assert "Error handling request" not in caplog.text


async def test_playlist_urls_are_signed_and_expire_with_it(
    hass: HomeAssistant, entry, hass_client, hass_client_no_auth
) -> None:
    client = await hass_client()
    anonymous = await hass_client_no_auth()
    url = _urls(entry)["hour"]
    text = await (await client.get(url)).text()
    uris = [line for line in text.splitlines() if line.startswith("/api/")]
    maps = re.findall(r'#EXT-X-MAP:URI="([^"]+)",BYTERANGE="(\d+)@0"', text)
    ranges = re.findall(r"#EXT-X-BYTERANGE:(\d+)@(\d+)", text)
    assert uris and len(uris) == len(ranges) and len(maps) == len(_segments(entry))
    # A player without HA credentials can fetch every piece, by byte range.
    for uri, (size, offset) in zip(uris, ranges, strict=True):
        assert "authSig=" in uri
        response = await anonymous.get(uri, headers={"Range": f"bytes={offset}-{int(offset) + int(size) - 1}"})
        assert response.status == 206
        body = await response.read()
        assert len(body) == int(size) and body[4:8] == b"moof"
    uri, size = maps[0]
    body = await (await anonymous.get(uri, headers={"Range": f"bytes=0-{int(size) - 1}"})).read()
    assert body[4:8] == b"ftyp" and len(body) == int(size)

    # Fetched with a signature that has a minute left, its URLs have no more than that.
    signed = async_sign_path(hass, url, timedelta(minutes=1))
    text = await (await anonymous.get(signed)).text()
    for uri in [line for line in text.splitlines() if line.startswith("/api/")]:
        claims = jwt.decode(uri.partition("authSig=")[2], options={"verify_signature": False})
        assert claims["exp"] <= time.time() + 61
    # From a bearer token, a day (as HA signs media URLs).
    text = await (await client.get(url)).text()
    claims = jwt.decode(re.search(r"authSig=([\w.-]+)", text).group(1), options={"verify_signature": False})
    assert time.time() + 86000 < claims["exp"] <= time.time() + 86401


async def test_traversal_attempts_are_refused(hass: HomeAssistant, entry, hass_client, tmp_path: Path) -> None:
    client = await hass_client()
    archive = entry.runtime_data.archive
    root = archive.root
    secret = tmp_path / "outside.mp4"
    secret.write_bytes(b"\0\0\0\x18ftypisom" + b"TOP-SECRET" * 100)
    base = f"/api/nvr/{entry.entry_id}/{CHANNEL}"
    segment = _segments(entry)[0]

    for url in (
        f"{base}/segment/../../../outside.mp4",
        f"{base}/segment/%2e%2e/%2e%2e/outside.mp4",
        f"{base}/segment/%2E%2E%2F%2E%2E%2Foutside.mp4",
        f"{base}/segment/..%2f..%2f..%2foutside.mp4",
        f"/api/nvr/{entry.entry_id}/..%2F{CHANNEL}/segment/{segment.id}.mp4",
        f"{base}/segment/{secret}",
        f"{base}/segment//{secret}",
        f"{base}/segment/%2F{str(secret).lstrip('/')}",
        f"{base}/segment/{segment.id}%00.mp4",
        f"{base}/segment/{segment.id}.mp4%00",
        f"{base}/event/..%2F..%2Findex.db.mp4",
        f"{base}/event/{MOTION_ID}%00.jpg",
        f"{base}/hour/..%2F..%2Findex.m3u8",
        f"/api/nvr/{entry.entry_id}/{CHANNEL}%2F..%2F..%2F/segment/{segment.id}.mp4",
        f"/api/nvr/..%2F..%2F/{CHANNEL}/segment/{segment.id}.mp4",
    ):
        response = await client.get(url)
        body = await response.read()
        assert response.status in (400, 404), (url, response.status)
        assert b"TOP-SECRET" not in body and b"Traceback" not in body, url

    # An index that points outside (tampered with), or at a symlink leading out: refused too.
    escaping = archive.index.add_segment(CHANNEL, 1000.0, "../../outside.mp4", 1010.0, 10, complete=True)
    absolute = archive.index.add_segment(CHANNEL, 2000.0, str(secret), 2010.0, 10, complete=True)
    link = root / CHANNEL / "link.mp4"
    link.symlink_to(secret)
    linked = archive.index.add_segment(CHANNEL, 3000.0, f"{CHANNEL}/link.mp4", 3010.0, 10, complete=True)
    (root / CHANNEL / "dirlink").symlink_to(tmp_path)
    via_dir = archive.index.add_segment(CHANNEL, 4000.0, f"{CHANNEL}/dirlink/outside.mp4", 4010.0, 10, complete=True)
    nul = archive.index.add_segment(CHANNEL, 5000.0, f"{CHANNEL}/x\x00.mp4", 5010.0, 10, complete=True)
    for segment_id in (escaping, absolute, linked, via_dir, nul):
        for url in (f"{base}/segment/{segment_id}.mp4", f"{base}/segment/{segment_id}/0.mp4"):
            response = await client.get(url)
            assert response.status == 404, url
            assert b"TOP-SECRET" not in await response.read()
    # Thumbnails too.
    for n, thumb in enumerate(("../../outside.mp4", str(secret), f"{CHANNEL}/link.mp4", "~/x.jpg")):
        archive.index.add_event(Event(f"bad{n}", CHANNEL, "motion", 10.0, 20.0, 0.5, thumb))
        response = await client.get(f"{base}/event/bad{n}.jpg")
        assert response.status == 404, thumb
        assert b"TOP-SECRET" not in await response.read()
    # A symlink inside the storage folder that stays inside is fine.
    inside = root / CHANNEL / "inside.mp4"
    inside.symlink_to(root / segment.path)
    ok = archive.index.add_segment(CHANNEL, 6000.0, f"{CHANNEL}/inside.mp4", 6010.0, 10, complete=True)
    assert (await client.get(f"{base}/segment/{ok}.mp4")).status == 200


async def test_unknown_ids_give_404(hass: HomeAssistant, entry, hass_client) -> None:
    client = await hass_client()
    base = f"/api/nvr/{entry.entry_id}/{CHANNEL}"
    segment = _segments(entry)[0]
    other = await setup_other_channel_footage(entry)
    for url in (
        f"/api/nvr/01JNOTANENTRY0000000000000/{CHANNEL}/segment/{segment.id}.mp4",
        f"/api/nvr/{entry.entry_id}/01JNOTACHANNEL000000000000/segment/{segment.id}.mp4",
        f"{base}/segment/987654321.mp4",
        f"{base}/segment/987654321/0.mp4",
        f"{base}/segment/{other}.mp4",  # a file of another channel, asked for under this one
        f"{base}/event/nosuchevent.mp4",
        f"{base}/event/nosuchevent.jpg",
        f"{base}/event/{MANUAL_ID}.jpg",  # a manual event has no thumbnail
        f"{base}/hour/3600.m3u8",  # no footage in that hour
        f"{base}/hour/1795568401.m3u8",  # not an hour
        f"{base}/nothing/here",
    ):
        response = await client.get(url)
        assert response.status == 404, url
        text = await response.text()
        assert "Traceback" not in text and "File " not in text, url


async def setup_other_channel_footage(entry) -> int:
    """A footage row of a channel that is not this one (same storage)."""
    return entry.runtime_data.archive.index.add_segment("otherchannel", 100.0, "otherchannel/x.mp4", 110.0, 1, True)


async def test_event_clip_covers_pre_roll_to_post_roll_and_is_cached(
    hass: HomeAssistant, entry, hass_client, tmp_path: Path
) -> None:
    client = await hass_client()
    archive = entry.runtime_data.archive
    event = archive.index.event(MOTION_ID)
    url = _urls(entry)["event"]
    began = time.monotonic()
    response = await client.get(url)
    first = time.monotonic() - began
    assert response.status == 200
    body = await response.read()
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(body)
    info = await ffprobe_json("-show_entries", "format=duration", str(clip))
    wanted = (event.end + 1) - (event.start - 1)  # pre-roll and post-roll are 1 s in this entry
    # It starts at the keyframe at or before the pre-roll (one a second), and ends at the post-roll.
    assert wanted - 0.1 <= float(info["format"]["duration"]) <= wanted + 1.1
    cached = list((archive.root / CACHE_FOLDER / "clips").glob("*.mp4"))
    assert len(cached) == 1 and cached[0].read_bytes() == body
    began = time.monotonic()
    again = await client.get(url)
    assert again.status == 200 and await again.read() == body
    assert time.monotonic() - began < max(first, 0.5)
    assert len(list((archive.root / CACHE_FOLDER / "clips").glob("*.mp4"))) == 1
    assert CLIP_CACHE_BYTES <= 1024**3  # bounded (the bound itself is tested in the engine)

    # A new post-roll makes a new clip (the span is part of the cache key).
    subentry = entry.subentries[CHANNEL]
    hass.config_entries.async_update_subentry(entry, subentry, data={**subentry.data, "post_roll": 3})
    await hass.async_block_till_done()
    response = await client.get(url)
    assert response.status == 200
    assert len(list((archive.root / CACHE_FOLDER / "clips").glob("*.mp4"))) == 2

    # An event with no footage left: 404, nothing cached.
    archive.index.add_event(Event("gone", CHANNEL, "motion", 1000.0, 1010.0))
    assert (await client.get(url.replace(MOTION_ID, "gone"))).status == 404
    assert len(os.listdir(archive.root / CACHE_FOLDER / "clips")) == 2
