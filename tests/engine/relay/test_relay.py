"""The live relay on its own: viewers, the placeholder through an outage, a new format, security."""

from __future__ import annotations

import itertools
import time
import urllib.error
import urllib.request

import av
import numpy as np
import pytest
from engine import Channel, ChannelConfig, RelayServer, StreamSource
from engine.relay.placeholder import VideoFormat, placeholder_video
from engine.stills.placeholder import no_signal_image
from rtsp_peer import RtspServer, av_launch, launch_mount, live_mount, make_clip
from support import wait_for


@pytest.fixture
def relay(loopback_sockets: None):
    """A started relay."""
    server = RelayServer()
    server.start()
    yield server
    server.stop()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_placeholder_video_decodes_to_the_picture(codec: str) -> None:
    video = placeholder_video(VideoFormat(codec, 640, 360), "Back door")
    assert video.format == VideoFormat(codec, 640, 360)
    assert len(video.pictures) == 2 and video.pictures[0] != video.pictures[1]
    decoder = av.CodecContext.create(codec, "r")
    frames = [f for picture in video.pictures for f in decoder.decode(av.Packet(picture))]
    frames += decoder.decode(None)
    assert len(frames) == 2
    expected = np.asarray(no_signal_image("Back door", 640, 360).convert("L"))
    assert all(_psnr(f.to_ndarray(format="gray"), expected) >= 30 for f in frames)


def test_viewers_get_live_then_the_placeholder_then_live_again(relay, clips, rtsp_server_factory) -> None:
    """One timeline through an outage: live, "No video signal", live; never backwards, never a jump."""
    server = rtsp_server_factory([live_mount("/live", clips / "live.ts")])
    channel = Channel(ChannelConfig("relay1", "Porch", StreamSource(server.url("/live"))), relay=relay)
    channel.start()
    picture = np.asarray(no_signal_image("Porch", 640, 360).convert("L"))
    kinds: list[str] = []
    times: list[float] = []
    try:
        wait_for(lambda: channel.status().connected, 15)
        with av.open(channel.relay_url(), timeout=(10, 10)) as container:
            frames = container.decode(video=0)
            for frame in itertools.islice(frames, 20):
                times.append(float(frame.pts * frame.time_base))
            server.stop()
            for frame in frames:
                times.append(float(frame.pts * frame.time_base))
                placeholder = _psnr(frame.to_ndarray(format="gray"), picture) >= 30
                kinds.append("placeholder" if placeholder else "live")
                if kinds.count("placeholder") == 6 and not server.running:
                    server.start()
                if not placeholder and kinds.count("placeholder") >= 6:
                    break
        assert "placeholder" in kinds and kinds[-1] == "live"
        assert all(b > a for a, b in itertools.pairwise(times)), "time went backwards"
        assert max(b - a for a, b in itertools.pairwise(times)) <= 0.55, "a jump in the timeline"
    finally:
        channel.stop(5.0)


def _relay_packets(url: str, seconds: float, done=None) -> tuple[dict[str, list[float]], list]:
    """Packet times (s) per track, and the decoded audio frames, over ``seconds`` of a relay's media time
    or until ``done(media seconds)`` says so."""
    times: dict[str, list[float]] = {"video": [], "audio": []}
    frames: list = []
    with av.open(url, timeout=(10, 10)) as container:
        assert container.streams.audio, "the relay has no audio track"
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac"
        start = None
        for packet in container.demux(container.streams.video[0], audio):
            if packet.pts is None:
                continue
            at = float(packet.pts * packet.time_base)
            start = at if start is None else start
            times[packet.stream.type].append(at)
            if packet.stream.type == "audio":
                frames.extend(packet.decode())
            if at - start >= seconds or (done is not None and done(at - start)):
                break
    return times, frames


def _rms(frames: list) -> float:
    samples = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


@pytest.mark.parametrize(("law", "rate"), [("alaw", 8000), ("aac", 16000)])
def test_audio_is_relayed_as_aac(relay, rtsp_server_factory, law: str, rate: int) -> None:
    """A camera's AAC is copied, its G.711 transcoded: viewers hear the tone, in step with the pictures."""
    server = rtsp_server_factory([launch_mount("/av", av_launch(law=law))])
    channel = Channel(ChannelConfig(f"relay-{law}", "Till", StreamSource(server.url("/av"))), relay=relay)
    channel.start()
    try:
        wait_for(lambda: channel.status().connected, 15)
        times, frames = _relay_packets(channel.relay_url(), 4.0)
    finally:
        channel.stop(5.0)
    assert frames and frames[0].sample_rate == rate
    assert _rms(frames[len(frames) // 2 :]) > 0.05, "the tone is missing"
    for track in ("video", "audio"):
        assert all(b > a for a, b in itertools.pairwise(times[track])), f"{track} time went backwards"
        assert max(b - a for a, b in itertools.pairwise(times[track])) <= 0.3, f"a hole in the {track}"
    assert abs(times["audio"][-1] - times["video"][-1]) <= 1.0


def test_audio_goes_on_through_an_outage(relay, rtsp_server_factory) -> None:
    """While the camera is down the audio goes on, silent, in step with the "No video signal" pictures;
    then the camera's sound comes back."""
    server = rtsp_server_factory([launch_mount("/av", av_launch())])
    channel = Channel(ChannelConfig("relay-outage", "Till", StreamSource(server.url("/av"))), relay=relay)
    channel.start()
    steps: list[str] = []

    def outage(_at: float) -> bool:
        """Camera down after a while, back once the relay saw it go; done when it is live again."""
        connected = channel.status().connected
        if not steps and time.monotonic() - opened >= 2.0:
            server.stop()
            steps.append("stopped")
        elif steps == ["stopped"] and not connected:
            steps.append("lost")
            lost_at.append(time.monotonic())
        elif steps == ["stopped", "lost"] and time.monotonic() - lost_at[0] >= 2.0:
            server.start()
            steps.append("restarted")
        elif steps == ["stopped", "lost", "restarted"] and connected:
            back_at.append(time.monotonic())
            steps.append("back")
        return bool(back_at) and time.monotonic() - back_at[0] >= 3.0

    lost_at: list[float] = []
    back_at: list[float] = []
    try:
        wait_for(lambda: channel.status().connected, 15)
        opened = time.monotonic()
        times, frames = _relay_packets(channel.relay_url(), 60.0, outage)
    finally:
        channel.stop(5.0)
    assert steps == ["stopped", "lost", "restarted", "back"]
    for track, hole in (("video", 0.55), ("audio", 0.3)):
        assert all(b > a for a, b in itertools.pairwise(times[track])), f"{track} time went backwards"
        assert max(b - a for a, b in itertools.pairwise(times[track])) <= hole, f"a hole in the {track}"
    assert abs(times["audio"][-1] - times["video"][-1]) <= 1.0
    loudness = [_rms([frame]) for frame in frames]
    assert min(loudness) < 0.001, "no silence while the camera was down"
    assert min(loudness[-5:]) > 0.05, "the camera's sound did not come back"


def test_a_new_size_disconnects_the_viewers(relay, tmp_path) -> None:
    """A camera back with another resolution: viewers are cut, so players reopen on the new stream."""
    small = make_clip(tmp_path / "small.ts", 320, 180, fps=15, gop=15, seconds=4)
    large = make_clip(tmp_path / "large.ts", 640, 360, fps=15, gop=15, seconds=4)
    server = RtspServer([live_mount("/cam", small)]).start()
    channel = Channel(ChannelConfig("relay2", "Gate", StreamSource(server.url("/cam"))), relay=relay)
    channel.start()
    try:
        wait_for(lambda: channel.status().connected, 15)
        with av.open(channel.relay_url(), timeout=(10, 10)) as container:
            assert container.streams.video[0].codec_context.width == 320
            server.stop()
            server.mounts = [live_mount("/cam", large)]
            server.start()
            with pytest.raises((av.error.EOFError, StopIteration, av.error.FFmpegError)):
                for _frame in container.decode(video=0):
                    pass
                raise StopIteration
        wait_for(lambda: channel.status().info.width == 640, 15)
        with av.open(channel.relay_url(), timeout=(10, 10)) as container:
            assert container.streams.video[0].codec_context.width == 640
    finally:
        channel.stop(5.0)
        server.stop()


def test_only_its_own_urls_are_served(relay, rtsp_server) -> None:
    channel = Channel(ChannelConfig("relay3", "Hall", StreamSource(rtsp_server.url("/live"))), relay=relay)
    channel.start()
    try:
        url = channel.relay_url()
        assert url.startswith("http://127.0.0.1:")
        base, target = url.rsplit("/", 1)
        number, token = target.split(".ts?auth=")
        for path in ("", "x.ts", f"{token}.ts", f"{number}.ts", f"{number}.ts?auth={token}x", f"{target}&a=1"):
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(f"{base}/{path}", timeout=5)  # noqa: S310
            assert info.value.code == 404, path
        assert relay.url(channel.relay_key("main")) == url, "the URL is stable"
    finally:
        channel.stop(5.0)
    with pytest.raises(urllib.error.HTTPError):  # a stopped channel's URL is gone
        urllib.request.urlopen(url, timeout=5)  # noqa: S310


def test_sharing_is_switched_off_and_on_while_the_stream_goes_on(relay, rtsp_server) -> None:
    """``set_relay``: no longer served (its viewers cut, its URL gone), then served again; one connection."""
    channel = Channel(ChannelConfig("relay4", "Shed", StreamSource(rtsp_server.url("/live"))))
    channel.start()
    try:
        wait_for(lambda: channel.status().connected, 15)
        assert channel.relay_url() is None
        channel.set_relay(relay)
        url = channel.relay_url()
        with av.open(url, timeout=(10, 10)) as container:
            assert next(container.decode(video=0)).width > 0
        viewer = urllib.request.urlopen(url, timeout=10)  # noqa: S310
        assert viewer.read(188)[0] == 0x47
        wait_for(lambda: relay.clients(channel.relay_key("main")), 5)
        channel.set_relay(None, linger=0.2)  # the viewer stays: it is cut after the linger
        assert channel.relay_url() is None and not channel.relayed["main"].served  # holding nothing
        wait_for(lambda: not relay.clients(channel.relay_key("main")), 10)
        while viewer.read(65536):  # what it was sent, then the end (the socket's 10 s timeout bounds it)
            pass
        viewer.close()
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(url, timeout=5)  # noqa: S310
        channel.set_relay(relay)
        assert channel.relay_url() == url, "the same URL again"
        with av.open(url, timeout=(10, 10)) as container:
            assert next(container.decode(video=0)).width > 0
        status = channel.status()
        assert status.connected and status.reconnects == 0, "the camera's connection went on"
        assert rtsp_server.client_connections() == 1
    finally:
        channel.stop(5.0)
