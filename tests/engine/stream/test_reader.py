"""Reader threads: connect, hold the last GOP, report status, reconnect, stop."""

from __future__ import annotations

import time

from engine import StreamSource
from engine.stream.reader import StreamReader
from rtsp_peer import RtspServer, live_mount
from support import reader_threads, wait_for


def test_reader_connects_and_holds_gop(rtsp_server) -> None:
    statuses = []
    reader = StreamReader(StreamSource(rtsp_server.url("/live")), "t1", statuses.append)
    reader.start()
    try:
        wait_for(lambda: reader.status.connected, 8)
        wait_for(lambda: reader.gop.latest() is not None, 5)
        gop = reader.gop.latest()
        assert gop.packets[0].keyframe
        assert gop.codec.name == "h264"
        status = reader.status
        assert status.info.codec == "h264"
        assert (status.info.width, status.info.height) == (640, 360)
        assert status.last_frame_time is not None and time.time() - status.last_frame_time < 2
        wait_for(lambda: reader.status.bitrate is not None, 5)
        assert reader.status.bitrate > 0
        assert abs(reader.status.measured_fps - 15) < 2
        assert statuses[0].connected
    finally:
        start = time.monotonic()
        assert reader.stop(2.0)
        assert time.monotonic() - start < 2.0
    assert not reader_threads()


def test_reader_reports_auth_failure_and_keeps_trying(rtsp_basic) -> None:
    reader = StreamReader(StreamSource(rtsp_basic.url("/live"), "admin", "nope"), "t2")
    reader.start()
    try:
        wait_for(lambda: reader.status.failure is not None, 8)
        assert reader.status.failure.value == "invalid_auth"
        assert not reader.status.connected
        assert "nope" not in (reader.status.last_error or "")
        wait_for(lambda: reader.status.reconnects >= 2, 8)
    finally:
        assert reader.stop(2.0)


def test_reconnects_after_server_restart(clips) -> None:
    with RtspServer([live_mount("/live", clips / "live.ts")]) as server:
        reader = StreamReader(StreamSource(server.url("/live")), "t3")
        reader.start()
        try:
            wait_for(lambda: reader.status.connected, 8)
            server.stop()
            wait_for(lambda: not reader.status.connected, 8)
            assert reader.gop.latest() is None
            time.sleep(2)  # down for a while; the reader keeps backing off
            server.start()
            back = wait_for(lambda: reader.status.connected, 10)
            assert back < 5, f"feed back {back:.1f}s after the camera returned"
            assert reader.status.reconnects >= 1
        finally:
            assert reader.stop(2.0)
    assert not reader_threads()


def test_file_mount_end_counts_as_loss(rtsp_server) -> None:
    reader = StreamReader(StreamSource(rtsp_server.url("/file")), "t4")
    reader.start()
    try:
        wait_for(lambda: reader.status.connected, 8)
        wait_for(lambda: not reader.status.connected, 15)
        assert reader.status.failure is not None
    finally:
        assert reader.stop(2.0)


def test_stop_while_opening_ends_with_the_open(rtsp_server) -> None:
    """FFmpeg's open cannot be interrupted; the thread still ends right after it."""
    reader = StreamReader(StreamSource(rtsp_server.url("/live")), "t5")
    reader.start()
    time.sleep(0.05)  # inside av.open, waiting for a keyframe
    start = time.monotonic()
    reader.stop(5.0)
    assert time.monotonic() - start < 2.0
    assert not reader.running
    assert not reader.status.connected
