"""Live view end to end: HA's stream component serves HLS from our stream_source."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from homeassistant.components.camera import async_request_stream
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component


async def _get_until(client, url: str, timeout: float, check=lambda body: True) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(url)
        body = await response.read()
        if response.status == 200 and check(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{url}: HTTP {response.status} after {timeout}s")
        await asyncio.sleep(0.25)


# HA's stream keeps a 5-minute idle timer per output after stop(): not ours.
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_hls_live_view(hass: HomeAssistant, hass_client, live_entry) -> None:
    assert await async_setup_component(hass, "stream", {})
    client = await hass_client()
    url = await async_request_stream(hass, "camera.front_door", "hls")
    assert url.endswith("master_playlist.m3u8")
    master = (await _get_until(client, url, 20)).decode()
    assert "playlist.m3u8" in master
    playlist_url = url.replace("master_playlist.m3u8", "playlist.m3u8")
    playlist = (await _get_until(client, playlist_url, 30, lambda b: b"#EXTINF" in b)).decode()
    segments = re.findall(r"^\./(segment/\d+\.m4s)$", playlist, re.MULTILINE)
    assert segments, playlist
    base = url.rsplit("/", 1)[0]
    init = await _get_until(client, f"{base}/init.mp4", 10)
    assert b"ftyp" in init[:32]
    segment = await _get_until(client, f"{base}/{segments[-1]}", 10)
    assert b"moof" in segment[:64] and len(segment) > 1000
    # Stop the stream worker before the harness looks for lingering threads.
    camera = hass.data["camera"].get_entity("camera.front_door")
    await camera.stream.stop()
