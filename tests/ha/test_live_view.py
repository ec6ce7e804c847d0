"""Live view end to end: HA's stream component serves HLS from our stream_source."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import pytest
from homeassistant.components.camera import async_request_stream
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from support import async_get_until, async_wait_for

from .conftest import channel_data


# HA's stream keeps a 5-minute idle timer per output after stop(): not ours.
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_hls_live_view(hass: HomeAssistant, hass_client, live_entry) -> None:
    assert await async_setup_component(hass, "stream", {})
    client = await hass_client()
    url = await async_request_stream(hass, "camera.front_door", "hls")
    assert url.endswith("master_playlist.m3u8")
    master = (await async_get_until(client, url, 20)).decode()
    assert "playlist.m3u8" in master
    playlist_url = url.replace("master_playlist.m3u8", "playlist.m3u8")
    playlist = (await async_get_until(client, playlist_url, 30, lambda b: b"#EXTINF" in b)).decode()
    segments = re.findall(r"^\./(segment/\d+\.m4s)$", playlist, re.MULTILINE)
    assert segments, playlist
    base = url.rsplit("/", 1)[0]
    init = await async_get_until(client, f"{base}/init.mp4", 10)
    assert b"ftyp" in init[:32]
    segment = await async_get_until(client, f"{base}/{segments[-1]}", 10)
    assert b"moof" in segment[:64] and len(segment) > 1000
    # Stop the stream worker before the harness looks for lingering threads.
    camera = hass.data["camera"].get_entity("camera.front_door")
    await camera.stream.stop()


def _segment_numbers(playlist: bytes) -> list[int]:
    """Numbers of the segments that full segments or LL-HLS parts belong to."""
    return [int(n) for n in re.findall(rb"\./segment/(\d+)(?:\.\d+)?\.m4s", playlist)]


@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_live_view_recovers_when_camera_returns(
    hass: HomeAssistant, hass_client, make_entry, clips, rtsp_server_factory
) -> None:
    """Without the relay (the camera's own URL): while down the camera reads idle
    (not unavailable, as HA's camera would say while its stream worker fails)
    and live view resumes once the feed is back, after HA's stream worker's own
    retry delay (10 s at first). (Through the relay: see test_relay.py.)"""
    from rtsp_peer import live_mount

    assert await async_setup_component(hass, "stream", {})
    server = rtsp_server_factory([live_mount("/live", clips / "live.ts")])
    entry = make_entry({**channel_data("Gate", server.url("/live")), "share_connection": False})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    client = await hass_client()
    url = await async_request_stream(hass, "camera.gate", "hls")
    playlist_url = url.replace("master_playlist.m3u8", "playlist.m3u8")
    await async_get_until(client, url, 20)
    await async_get_until(client, playlist_url, 30, _segment_numbers)

    server.stop()
    await async_wait_for(hass, lambda: hass.states.get("binary_sensor.gate_video_signal").state == "off", 10)
    await asyncio.sleep(2)  # HA's stream worker notices and starts its retry delay
    await hass.async_block_till_done()
    assert hass.states.get("camera.gate").state == "idle"
    before = _segment_numbers(await (await client.get(playlist_url)).read())

    server.start()
    started = time.monotonic()
    await async_get_until(client, playlist_url, 30, lambda body: any(n > max(before) for n in _segment_numbers(body)))
    # Our reader is back within ~3 s; HA's worker retries after its own 10 s delay.
    assert time.monotonic() - started < 25
    camera = hass.data["camera"].get_entity("camera.gate")
    await camera.stream.stop()


@pytest.mark.parametrize("expected_lingering_timers", [True])
@pytest.mark.parametrize("preload", [False, True])
async def test_unloading_stops_has_stream_of_the_camera(
    hass: HomeAssistant, hass_client, live_entry, preload: bool
) -> None:
    """HA keeps a camera's stream for as long as it runs: a reloaded or deleted channel's must not read on.

    With the camera's "Preload stream" on too (HA's own stop() then leaves the worker running).
    """
    assert await async_setup_component(hass, "stream", {})
    client = await hass_client()
    url = await async_request_stream(hass, "camera.front_door", "hls")
    await async_get_until(client, url.replace("master_playlist.m3u8", "playlist.m3u8"), 30, lambda b: b"#EXTINF" in b)
    camera = hass.data["camera"].get_entity("camera.front_door")
    stream = camera.stream
    assert stream is not None and stream._thread is not None and stream._thread.is_alive()
    stream.dynamic_stream_settings.preload_stream = preload

    assert await hass.config_entries.async_unload(live_entry.entry_id)
    await hass.async_block_till_done()
    await async_wait_for(hass, lambda: stream._thread is None, 10)  # its worker thread joined
    assert not [t for t in threading.enumerate() if t.name == "stream_worker" and t.is_alive()]
    assert stream.dynamic_stream_settings.preload_stream is preload  # the camera's setting is kept


async def test_mjpeg_stream_ends_when_the_camera_goes(hass: HomeAssistant, hass_client, live_entry) -> None:
    """HA's MJPEG loop ends only when its viewer leaves: ours ends with the camera (and when HA stops)."""
    client = await hass_client()
    response = await client.get("/api/camera_proxy_stream/camera.front_door")
    assert response.status == 200
    first = await response.content.readuntil(b"--frameboundary")
    assert first
    assert await hass.config_entries.async_unload(live_entry.entry_id)
    rest = await asyncio.wait_for(response.content.read(), 15)  # the response ends: EOF
    assert response.content.at_eof()
    assert len(rest) < 10_000_000


@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_waiting_hls_viewer_answered_when_the_camera_goes(
    hass: HomeAssistant, hass_client, make_entry, rtsp_server
) -> None:
    """A playlist request waiting for a stream's first segments is answered when the camera goes.

    HA's stream stop does not wake it: it would wait for as long as the viewer
    stays, and at HA's stop it held the web server (and HA's exit) for 2 x 10 s.
    Here the camera's own URL (no relay) has no such mount, so no segment ever comes.
    """
    assert await async_setup_component(hass, "stream", {})
    entry = make_entry({**channel_data("Gate", rtsp_server.url("/no-such-mount")), "share_connection": False})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    client = await hass_client()
    url = await async_request_stream(hass, "camera.gate", "hls")
    waiting = asyncio.ensure_future(client.get(url))
    camera = hass.data["camera"].get_entity("camera.gate")
    await async_wait_for(hass, lambda: camera.stream is not None and "hls" in camera.stream.outputs(), 10)
    await asyncio.sleep(0.5)  # the request waits for the first segment
    assert not waiting.done()
    assert await hass.config_entries.async_unload(entry.entry_id)
    response = await asyncio.wait_for(waiting, 5)
    assert response.status == 404  # HA's answer for a stream without segments
