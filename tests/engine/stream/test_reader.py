"""Reader threads: connect, hold the last GOP, report status, reconnect, stop."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from engine import FailureReason, StreamSource
from engine.stream.reader import BACKOFF_CAP, BACKOFF_START, OPEN_TIMEOUT, READ_TIMEOUT, StreamReader
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


class _Waits(threading.Event):
    """The reader's stop event, noting every pause it makes between attempts."""

    def __init__(self) -> None:
        super().__init__()
        self.pauses: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is not None:
            self.pauses.append(timeout)
        return super().wait(timeout)


def test_a_camera_that_is_down_is_tried_every_second(clips) -> None:
    """However long the outage, the next attempt is at most 1 s away: a returning camera waits no longer.

    (It backed off to 3 s: half the time after a camera came back was spent waiting, bench/recovery.py.)
    """
    with RtspServer([live_mount("/live", clips / "live.ts")]) as server:
        reader = StreamReader(StreamSource(server.url("/live")), "t3b")
        reader._stop = waits = _Waits()
        reader.start()
        try:
            wait_for(lambda: reader.status.connected, 8)
            server.stop()
            wait_for(lambda: len(waits.pauses) >= 6, 30)
            pauses = list(waits.pauses)
            server.start()
            wait_for(lambda: reader.status.connected, 10)
        finally:
            assert reader.stop(2.0)
    assert pauses[0] == BACKOFF_START and max(pauses) == BACKOFF_CAP <= 1.0, pauses


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


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_stop_interrupts_an_open_that_would_block(silent_server, transport: str) -> None:
    """A camera that accepts and never answers holds FFmpeg's open for OPEN_TIMEOUT; a stop ends it at once."""
    reader = StreamReader(StreamSource(silent_server.url("/live"), transport=transport), "t5")
    reader.start()
    wait_for(lambda: reader._watch is not None and reader._watch._candidates(), 5)  # inside av.open, connected
    assert reader.stop(OPEN_TIMEOUT / 2), "the open was not interrupted"
    assert not reader.running
    assert reader.status.failure is None, "a deliberate stop is not a camera failure"


def test_stop_leaves_other_connections_to_the_camera_host(silent_server, loopback_sockets) -> None:
    """Sockets opened meanwhile to the camera's host on another port (HA's own, a web UI) are not cut."""
    reader = StreamReader(StreamSource(silent_server.url("/live")), "t9")
    reader.start()
    wait_for(lambda: reader._watch is not None and reader._watch._candidates(), 5)  # inside av.open, connected
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server_side, _ = listener.accept()
    try:
        assert reader.stop(OPEN_TIMEOUT / 2), "the open was not interrupted"
        client.sendall(b"ping")
        assert server_side.recv(4) == b"ping", "a connection that is not the reader's was shut down"
        server_side.sendall(b"pong")
        assert client.recv(4) == b"pong"
    finally:
        reader.stop(2.0)
        for sock in (client, server_side, listener):
            sock.close()


def test_stop_interrupts_a_read_of_a_stalled_feed(rtsp_server_factory, clips) -> None:
    """A feed that stops sending holds FFmpeg's read for READ_TIMEOUT; a stop ends it at once."""
    server = rtsp_server_factory([live_mount("/live", clips / "live.ts")])
    reader = StreamReader(StreamSource(server.url("/live")), "t6")
    reader.start()
    try:
        wait_for(lambda: reader.status.connected, 10)
        server.freeze()
        frozen_at = reader.status.last_frame_time
        wait_for(lambda: time.time() - (reader.status.last_frame_time or frozen_at) > 0.5, 5)
        assert reader.stop(READ_TIMEOUT / 2), "the read was not interrupted"
        assert reader.status.connected, "the stop came first, not the read timeout"
    finally:
        server.thaw()
        reader.stop(2.0)
    assert not reader_threads()


def test_stop_of_one_reader_leaves_another_of_the_same_camera(rtsp_server) -> None:
    """Sockets are told apart by owner: stopping one stream never cuts another one of the same host."""
    kept = StreamReader(StreamSource(rtsp_server.url("/live")), "t7")
    stopped = StreamReader(StreamSource(rtsp_server.url("/sub")), "t8")
    kept.start()
    stopped.start()
    try:
        wait_for(lambda: kept.status.connected and stopped.status.connected, 10)
        reconnects = kept.status.reconnects
        assert stopped.stop(2.0)
        frame = kept.status.last_frame_time
        wait_for(lambda: (kept.status.last_frame_time or 0) > frame + 1.0, 5)
        assert kept.status.connected
        assert kept.status.reconnects == reconnects
    finally:
        kept.stop(2.0)


def test_a_stalled_feed_is_lost_after_one_read_timeout(rtsp_server_factory, clips) -> None:
    """A camera that stops sending while its session stays open counts as lost after READ_TIMEOUT.

    FFmpeg's read timeout alone took two: when it fires, the demuxer first
    hands over a frame it still held, and only the next read fails.
    """
    server = rtsp_server_factory([live_mount("/live", clips / "live.ts")])
    reader = StreamReader(StreamSource(server.url("/live")), "t9")
    reader.start()
    try:
        assert_lost_after_one_read_timeout(reader, server)
    finally:
        server.thaw()
        reader.stop(2.0)


def assert_lost_after_one_read_timeout(reader: StreamReader, server) -> None:
    """Freeze the connected reader's feed: it counts as lost (a timeout) within 1.5 read timeouts."""
    wait_for(lambda: reader.status.connected, 10)
    server.freeze()
    wait_for(lambda: not reader.status.connected, READ_TIMEOUT * 3)
    lost_at = time.time()
    last_frame = reader.status.last_frame_time
    assert reader.status.failure is FailureReason.TIMEOUT
    assert lost_at - last_frame < READ_TIMEOUT * 1.5, f"lost {lost_at - last_frame:.1f} s after the last frame"
