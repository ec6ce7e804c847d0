"""The live relay with HA's own stream component: one camera session, "No video signal" inside live view."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import logging
import re
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import av
import numpy as np
import pytest
from homeassistant.components.camera import async_request_stream
from homeassistant.components.stream import redact_credentials
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.components.diagnostics import get_diagnostics_for_config_entry
from rtsp_peer import av_launch, launch_mount, live_mount
from support import async_get_until, async_wait_for

from custom_components.nvr.engine.stills.placeholder import no_signal_image

from .conftest import channel_data

pytestmark = pytest.mark.parametrize("expected_lingering_timers", [True])  # HA's stream keeps idle timers


def _segments(playlist: bytes) -> list[int]:
    return sorted({int(n) for n in re.findall(rb"\./segment/(\d+)\.m4s", playlist)})


class Hls:
    """HA's HLS output of a camera, read as a browser would."""

    def __init__(self, client, url: str) -> None:
        self.client = client
        self.base = url.rsplit("/", 1)[0]
        self.playlist = f"{self.base}/playlist.m3u8"

    async def numbers(self) -> list[int]:
        return _segments(await (await self.client.get(self.playlist)).read())

    async def wait_for_segment_after(self, number: int, timeout: float) -> list[int]:
        body = await async_get_until(
            self.client, self.playlist, timeout, lambda b: any(n > number for n in _segments(b))
        )
        return _segments(body)

    async def frames(self, numbers: list[int]) -> list[tuple[float, np.ndarray]]:
        """(pts seconds, luma) of every picture of these segments, decoded with their init section."""
        data = await async_get_until(self.client, f"{self.base}/init.mp4", 10)
        for number in numbers:
            data += await async_get_until(self.client, f"{self.base}/segment/{number}.m4s", 10)
        frames = []
        with av.open(io.BytesIO(data)) as container:
            for frame in container.decode(video=0):
                frames.append((float(frame.pts * frame.time_base), frame.to_ndarray(format="gray")))
        return frames

    async def packet_counts(self, number: int) -> dict[str, int]:
        """Packets per track ("video", "audio") of one segment."""
        data = await async_get_until(self.client, f"{self.base}/init.mp4", 10)
        data += await async_get_until(self.client, f"{self.base}/segment/{number}.m4s", 10)
        counts = {"video": 0, "audio": 0}
        with av.open(io.BytesIO(data)) as container:
            for packet in container.demux():
                if packet.size:
                    counts[packet.stream.type] += 1
        return counts


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


async def _setup(hass: HomeAssistant, make_entry, *channels) -> object:
    assert await async_setup_component(hass, "stream", {})
    entry = make_entry(*channels)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def _stop_streams(hass: HomeAssistant, *entity_ids: str) -> None:
    for entity_id in entity_ids:
        camera = hass.data["camera"].get_entity(entity_id)
        if camera.stream is not None:
            await camera.stream.stop()


async def test_outage_shows_no_video_signal_inside_live_view(
    hass: HomeAssistant, hass_client, make_entry, clips, rtsp_server_factory
) -> None:
    """HA's HLS of a relayed channel goes on through a 20 s outage with the placeholder, then live again."""
    server = rtsp_server_factory([live_mount("/live", clips / "live.ts")])
    entry = await _setup(hass, make_entry, channel_data("Gate", server.url("/live")))
    (runtime,) = entry.runtime_data.channels.values()
    await async_wait_for(hass, lambda: runtime.channel.status().connected, 15)
    source = await hass.data["camera"].get_entity("camera.gate").stream_source()
    assert source.startswith("http://127.0.0.1:") and ".ts?auth=" in source
    hls = Hls(await hass_client(), await async_request_stream(hass, "camera.gate", "hls"))
    live = await hls.wait_for_segment_after(-1, 30)

    server.stop()
    await async_wait_for(hass, lambda: hass.states.get("binary_sensor.gate_video_signal").state == "off", 10)
    down_since = time.monotonic()
    during = await hls.wait_for_segment_after(max(live) + 1, 30)  # the playlist keeps growing while down
    assert hass.states.get("camera.gate").state != "unavailable"
    await asyncio.sleep(max(0.0, 20 - (time.monotonic() - down_since)))
    outage = [n for n in await hls.numbers() if n > max(live)]
    server.start()
    await async_wait_for(hass, lambda: runtime.channel.status().connected, 15)
    after = await hls.wait_for_segment_after(max(outage) + 1, 30)

    frames = await hls.frames([n for n in after if n >= min(live)])
    times = [t for t, _ in frames]
    assert all(b > a for a, b in itertools.pairwise(times)), "timestamps went backwards"
    picture = np.asarray(no_signal_image("Gate", 640, 360).convert("L"))
    outage_frames = [luma for _, luma in (await hls.frames(outage[1:-1] or outage))]
    assert outage_frames, during
    assert min(_psnr(luma, picture) for luma in outage_frames) >= 30
    last = (await hls.frames(after[-1:]))[-1][1]
    assert _psnr(last, picture) < 20, "live pictures did not come back"
    await _stop_streams(hass, "camera.gate")


async def test_live_view_keeps_its_sound_track_through_an_outage(
    hass: HomeAssistant, hass_client, make_entry, rtsp_server_factory
) -> None:
    """A camera with G.711: HA's HLS has AAC audio in every part, live, while down (silence) and after."""
    server = rtsp_server_factory([launch_mount("/av", av_launch(law="mulaw"))])
    entry = await _setup(hass, make_entry, channel_data("Till", server.url("/av")))
    (runtime,) = entry.runtime_data.channels.values()
    await async_wait_for(hass, lambda: runtime.channel.status().connected, 15)
    hls = Hls(await hass_client(), await async_request_stream(hass, "camera.till", "hls"))
    live = await hls.wait_for_segment_after(-1, 30)
    server.stop()
    await async_wait_for(hass, lambda: not runtime.channel.status().connected, 15)
    outage = await hls.wait_for_segment_after(max(live) + 1, 30)
    server.start()
    await async_wait_for(hass, lambda: runtime.channel.status().connected, 15)
    after = await hls.wait_for_segment_after(max(outage) + 1, 30)
    for number in sorted(set(live) | set(outage) | set(after)):
        counts = await hls.packet_counts(number)
        assert counts["video"] and counts["audio"], f"segment {number}: {counts}"
    frames = await hls.frames(after)
    assert all(b > a for a, b in itertools.pairwise(t for t, _ in frames)), "timestamps went backwards"
    await _stop_streams(hass, "camera.till")


async def test_one_camera_session_for_every_viewer(
    hass: HomeAssistant, hass_client, make_entry, clips, rtsp_server_factory
) -> None:
    """HA's stream and two more viewers read the relay; the camera serves one session."""
    server = rtsp_server_factory([live_mount("/live", clips / "live.ts")])
    entry = await _setup(hass, make_entry, channel_data("Till", server.url("/live")))
    (runtime,) = entry.runtime_data.channels.values()
    await async_wait_for(hass, lambda: runtime.channel.status().connected, 15)
    hls = Hls(await hass_client(), await async_request_stream(hass, "camera.till", "hls"))
    await hls.wait_for_segment_after(-1, 30)
    url = runtime.channel.relay_url()
    viewers = [await asyncio.to_thread(urllib.request.urlopen, url, timeout=10) for _ in range(2)]
    try:
        for viewer in viewers:
            first = await asyncio.to_thread(viewer.read, 188 * 50)
            assert first[0] == 0x47  # MPEG-TS sync byte
        relay = runtime.channel.relay
        await async_wait_for(hass, lambda: len(relay.clients(runtime.channel.relay_key("main"))) == 3, 10)
        assert server.client_connections() == 1
    finally:
        for viewer in viewers:
            viewer.close()
    await _stop_streams(hass, "camera.till")


async def test_sharing_switched_off_and_on_moves_has_stream_at_once(
    hass: HomeAssistant, hass_client, make_entry, clips, rtsp_server_factory, caplog
) -> None:
    """ "Share one camera connection" off and on again: HA's stream follows, its viewer and the recording go on.

    The channel is not rebuilt (its camera connection, recorder and camera
    entity stay), HA's stream reads the camera and then the relay again
    (its HLS keeps its URL and goes on), and HA's stream logs no error.
    """
    server = rtsp_server_factory([live_mount("/live", clips / "live.ts")])
    entry = await _setup(hass, make_entry, channel_data("Till", server.url("/live")))
    (runtime,) = entry.runtime_data.channels.values()
    subentry = entry.subentries[runtime.subentry_id]
    await async_wait_for(hass, lambda: runtime.channel.status().connected, 15)
    hls = Hls(await hass_client(), await async_request_stream(hass, "camera.till", "hls"))
    await hls.wait_for_segment_after(-1, 30)
    camera = hass.data["camera"].get_entity("camera.till")
    relay_url = runtime.channel.relay_url()
    assert camera.stream.source == relay_url
    recorder, entities = runtime.recorder, list(runtime.entities)

    async def share(on: bool) -> None:
        hass.config_entries.async_update_subentry(entry, subentry, data={**subentry.data, "share_connection": on})
        await hass.async_block_till_done()
        assert entry.runtime_data.channels[runtime.subentry_id] is runtime, "the channel was rebuilt"
        assert runtime.entities == entities and hass.data["camera"].get_entity("camera.till") is camera
        await hls.wait_for_segment_after(max(await hls.numbers()), 30)

    await share(False)
    assert camera.stream.source == server.url("/live") == await camera.stream_source()
    assert runtime.channel.relay_url() is None
    await async_wait_for(hass, lambda: server.client_connections() == 2, 15)  # the NVR and HA's stream
    await share(True)
    assert camera.stream.source == relay_url == await camera.stream_source()
    await async_wait_for(hass, lambda: server.client_connections() == 1, 15)  # HA's stream reads the relay
    status = runtime.channel.status()
    assert status.connected and status.reconnects == 0, "the camera's connection was cut"
    assert runtime.recorder is recorder and recorder.status.recording
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING and "stream" in r.name]
    assert not errors, [r.getMessage() for r in errors]
    await _stop_streams(hass, "camera.till")


async def test_slow_viewer_is_dropped_and_others_go_on(
    hass: HomeAssistant, make_entry, rtsp_server, monkeypatch
) -> None:
    """A viewer that stops reading is dropped; another viewer and the recorder keep getting packets."""
    monkeypatch.setattr("custom_components.nvr.engine.relay.stream.MAX_BACKLOG_SECONDS", 2.0)
    entry = await _setup(hass, make_entry, channel_data("Yard", rtsp_server.url("/live")))
    (runtime,) = entry.runtime_data.channels.values()
    await async_wait_for(hass, lambda: runtime.channel.status().connected, 15)
    url = runtime.channel.relay_url()
    stalled = socket.create_connection(("127.0.0.1", int(url.split(":")[2].split("/")[0])))
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.sendall(f"GET /{url.split('/', 3)[3]} HTTP/1.0\r\n\r\n".encode())
    reader = await asyncio.to_thread(urllib.request.urlopen, url, timeout=10)
    key = runtime.channel.relay_key("main")
    try:
        await async_wait_for(hass, lambda: len(runtime.channel.relay.clients(key)) == 2, 10)
        received = 0
        deadline = time.monotonic() + 60
        while len(runtime.channel.relay.clients(key)) > 1:
            received += len(await asyncio.to_thread(reader.read, 65536))
            assert time.monotonic() < deadline, "the stalled viewer was never dropped"
        before = runtime.recorder.status
        more = len(await asyncio.to_thread(reader.read, 65536))
        assert received > 0 and more > 0
        assert runtime.channel.status().connected and before.recording
    finally:
        stalled.close()
        reader.close()


async def test_relay_is_loopback_only_and_private(
    hass: HomeAssistant, hass_client, make_entry, rtsp_basic, caplog
) -> None:
    """Bound to 127.0.0.1; a wrong token or a guessed path gets 404; no credentials anywhere.

    (Its name must not hold the password: asyncio's slow-step warnings quote it into the log.)
    """
    assert await async_setup_component(hass, "diagnostics", {})
    entry = await _setup(
        hass, make_entry, channel_data("Till", rtsp_basic.url("/live"), username="admin", password="secret")
    )
    (runtime,) = entry.runtime_data.channels.values()
    await async_wait_for(hass, lambda: runtime.channel.status().connected, 15)
    url = await hass.data["camera"].get_entity("camera.till").stream_source()
    assert "secret" not in url and "admin" not in url
    port = int(url.split(":")[2].split("/")[0])
    table = await asyncio.to_thread(Path("/proc/net/tcp").read_text)
    listening = [line.split() for line in table.splitlines()[1:]]
    ours = [fields for fields in listening if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A"]
    assert [fields[1].split(":")[0] for fields in ours] == ["0100007F"], "not bound to 127.0.0.1 alone"
    path, token = url.split("/", 3)[3].split(".ts?auth=")
    other = token[:-1] + ("y" if token.endswith("x") else "x")  # one character off (never the token itself)
    for target in (
        "/",
        f"/{token}",
        f"/{token}.ts",
        f"/{path}.ts",
        f"/{path}.ts?auth={other}",
        f"/{path}.ts?auth={token}&x=1",
        f"/{int(path) + 1}.ts?auth={token}",
        f"/../{path}.ts?auth={token}",
        f"/{path}.ts?x=1&auth={token}",
    ):
        with pytest.raises(urllib.error.HTTPError) as info:
            await asyncio.to_thread(urllib.request.urlopen, f"http://127.0.0.1:{port}{target}", timeout=5)
        assert info.value.code == 404, target
    # HA's stream writes its source into its log messages ("Error demuxing stream (...)"), redacted so:
    assert token not in redact_credentials(url) and "auth=****" in redact_credentials(url)
    request = urllib.request.Request(url, method="HEAD")  # noqa: S310
    with pytest.raises(urllib.error.HTTPError):
        await asyncio.to_thread(urllib.request.urlopen, request, timeout=5)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics)
    assert "secret" not in text and token not in text
    assert "secret" not in caplog.text and token not in caplog.text


@pytest.mark.parametrize("mount", ["/h264", "/h265", "/h264b", "/h265b", "/av"])
async def test_relay_serves_every_kind_of_stream(hass: HomeAssistant, make_entry, recording_server, mount) -> None:
    """H.264 and H.265, with and without B-frames, and with G.711 audio (made AAC): time going forward."""
    entry = await _setup(hass, make_entry, channel_data("Cam", recording_server.url(mount)))
    (runtime,) = entry.runtime_data.channels.values()
    await async_wait_for(hass, lambda: runtime.channel.status().connected, 15)
    expected = {"/h265": "hevc", "/h265b": "hevc"}.get(mount, "h264")

    def read() -> list[tuple[str, float]]:
        frames = []
        with av.open(runtime.channel.relay_url(), timeout=(10, 10)) as container:
            stream = container.streams.video[0]
            audio = [a.codec_context.name for a in container.streams.audio]
            assert audio == (["aac"] if mount == "/av" else [])
            for frame in container.decode(stream):
                frames.append((stream.codec_context.name, float(frame.pts * frame.time_base)))
                if len(frames) >= 20:
                    break
        return frames

    frames = await asyncio.to_thread(read)
    assert {codec for codec, _ in frames} == {expected}
    times = sorted(t for _, t in frames)
    assert len(set(times)) == len(times)


async def test_share_off_gives_the_camera_url(hass: HomeAssistant, make_entry, rtsp_basic) -> None:
    data = {**channel_data("Till", rtsp_basic.url("/live"), username="admin", password="secret")}
    data["share_connection"] = False
    await _setup(hass, make_entry, data)
    camera = hass.data["camera"].get_entity("camera.till")
    assert await camera.stream_source() == rtsp_basic.url("/live", "admin", "secret")
    assert camera.stream_options["rtsp_transport"] == "tcp"
