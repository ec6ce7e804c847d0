"""Stills come from memory: right size, valid JPEG, placeholder when down."""

from __future__ import annotations

import time

import pytest
from engine import Channel, ChannelConfig, MotionConfig, MotionSettings, MotionWorker, StreamSource
from engine.stills.placeholder import no_signal_jpeg
from engine.stills.snapshot import target_size
from rtsp_peer import RtspServer, free_port, live_mount, make_clip
from support import jpeg_size, shows_picture, wait_for


@pytest.fixture
def live_channel(rtsp_server):
    channel = Channel(
        ChannelConfig(
            "snap",
            "Front door",
            StreamSource(rtsp_server.url("/live")),
            StreamSource(rtsp_server.url("/sub")),
        )
    )
    channel.start()
    wait_for(lambda: shows_picture(channel.readers["main"]), 10)
    wait_for(lambda: shows_picture(channel.readers["sub"]), 10)
    yield channel
    assert channel.stop(2.0)


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [(None, None, (640, 360)), (320, 180, (320, 180)), (400, None, (400, 226)), (None, 90, (160, 90))],
)
def test_snapshot_size(live_channel, width, height, expected) -> None:
    assert jpeg_size(live_channel.image("main", width, height)) == expected


def test_sub_stream_snapshot(live_channel) -> None:
    # While the sub stream reconnects (a read stall on a busy machine) its still is the no-signal
    # picture: the sub stream's own size comes with its pictures.
    wait_for(lambda: jpeg_size(live_channel.image("sub")) == (320, 180), 15)


def test_snapshots_follow_the_feed(live_channel) -> None:
    first = live_channel.image("main", 320, 180)
    time.sleep(1.2)
    second = live_channel.image("main", 320, 180)
    assert first != second, "the picture did not move on with the feed"


def test_placeholder_when_feed_is_down() -> None:
    channel = Channel(ChannelConfig("down", "Back yard", StreamSource(f"rtsp://127.0.0.1:{free_port()}/x")))
    channel.start()
    try:
        wait_for(lambda: channel.status().failure is not None, 5)
        data = channel.image("main", 480, 270)
        assert jpeg_size(data) == (480, 270)
        assert data == no_signal_jpeg("Back yard", 480, 270)
        assert data != no_signal_jpeg("Front door", 480, 270), "the channel name is not drawn"
    finally:
        assert channel.stop(2.0)


def test_target_size_even_and_aspect() -> None:
    assert target_size(1920, 1080, None, None) == (1920, 1080)
    assert target_size(1920, 1080, 641, None) == (642, 362)
    assert target_size(1920, 1080, 100, 100) == (100, 100)


@pytest.fixture(scope="module")
def long_gop_server(tmp_path_factory: pytest.TempPathFactory):
    """A live mount with a 4 s GOP, where a keyframe's picture can be up to 4 s old."""
    clip = make_clip(tmp_path_factory.mktemp("longgop") / "gop4.ts", 320, 180, fps=15, gop=60, seconds=12)
    with RtspServer([live_mount("/gop4", clip)]) as server:
        yield server


def test_still_shows_the_newest_picture_not_the_keyframe(long_gop_server, monkeypatch) -> None:
    """Late in a 4 s GOP, a still is the newest picture received, not the GOP's first."""
    channel = Channel(ChannelConfig("fresh", "Gate", StreamSource(long_gop_server.url("/gop4"))))
    channel.start()
    reader = channel.readers["main"]
    try:
        wait_for(lambda: shows_picture(reader), 10)
        ages = []
        for _ in range(6):
            # Two seconds or more into a GOP: its keyframe is that old.
            wait_for(lambda: len(reader.gop.latest().packets) >= 30, 10)
            still = channel.still("main", 320, 180)
            jpeg_size(still.jpeg)
            assert still.arrival is not None, "not a decoded live picture"
            ages.append(reader.status.last_frame_time - still.arrival)
            wait_for(lambda: len(reader.gop.latest().packets) < 30, 10)
        # A keyframe still would be 2 s old or more; one frame is 67 ms, a busy machine adds some.
        assert max(ages) < 1.0, ages
        assert channel.pictures["main"].warm
    finally:
        assert channel.stop(2.0)


def test_still_comes_from_the_motion_detector_when_it_decodes(rtsp_server) -> None:
    """The stream motion detection decodes anyway gives its newest picture; no second decoder runs."""
    worker = MotionWorker("stillchan", MotionConfig(MotionSettings()))
    channel = Channel(ChannelConfig("still2", "Hall", StreamSource(rtsp_server.url("/live"))), motion=worker)
    worker.start()
    channel.start()
    try:
        wait_for(lambda: worker.latest_picture is not None, 10)
        still = channel.still("main", 320, 180)
        assert jpeg_size(still.jpeg) == (320, 180)
        assert still.arrival is not None
        assert not channel.pictures["main"].warm, "a decoder of its own was started"
    finally:
        assert channel.stop(2.0)
        assert worker.stop(2.0)
