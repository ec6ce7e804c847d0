"""Stills come from memory: right size, valid JPEG, placeholder when down."""

from __future__ import annotations

import time

import pytest
from engine import Channel, ChannelConfig, StreamSource
from engine.stills.placeholder import no_signal_jpeg
from engine.stills.snapshot import target_size
from rtsp_peer import free_port
from support import jpeg_size, wait_for


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
    wait_for(lambda: channel.readers["main"].gop.latest() is not None, 10)
    wait_for(lambda: channel.readers["sub"].gop.latest() is not None, 10)
    yield channel
    assert channel.stop(2.0)


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [(None, None, (640, 360)), (320, 180, (320, 180)), (400, None, (400, 226)), (None, 90, (160, 90))],
)
def test_snapshot_size(live_channel, width, height, expected) -> None:
    assert jpeg_size(live_channel.image("main", width, height)) == expected


def test_sub_stream_snapshot(live_channel) -> None:
    assert jpeg_size(live_channel.image("sub")) == (320, 180)


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
