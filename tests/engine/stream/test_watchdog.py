"""Read timeouts without PyAV's per-read timeout: FFmpeg's socket timeout and the read watchdog."""

from __future__ import annotations

import threading

import engine.stream.reader as reader_module
from engine import StreamSource
from engine.stream.avopen import open_input
from engine.stream.reader import READ_TIMEOUT, StreamReader
from engine.stream.watchdog import WATCHDOG, ReadWatchdog
from rtsp_peer import live_mount
from support import reader_threads, wait_for

from .test_reader import assert_lost_after_one_read_timeout


class _Probe:
    """A watched reader that counts the watchdog's checks."""

    def __init__(self) -> None:
        self.checked = threading.Event()
        self.calls = 0

    def check_stall(self, now: float) -> None:
        self.calls += 1
        self.checked.set()


def test_watchdog_checks_its_readers_and_ends_with_the_last() -> None:
    watchdog = ReadWatchdog(interval=0.01)
    first, second = _Probe(), _Probe()
    watchdog.add(first)
    watchdog.add(second)
    assert watchdog.running
    assert first.checked.wait(5) and second.checked.wait(5)
    watchdog.remove(first)
    assert watchdog.running, "a reader is still watched"
    watchdog.remove(second)
    assert not watchdog.running, "the last reader to leave ends the thread"
    assert not [t for t in threading.enumerate() if t.name == "nvr-read-watchdog"]
    third = _Probe()
    watchdog.add(third)  # a later reader starts it again
    assert third.checked.wait(5)
    watchdog.remove(third)
    assert not watchdog.running


def test_tcp_reads_are_not_timed_by_pyav(rtsp_server) -> None:
    """Over TCP the read timeout is FFmpeg's socket timeout; PyAV only times the open."""
    container = open_input(StreamSource(rtsp_server.url("/live")), 8.0, READ_TIMEOUT, socket_timeout=True)
    try:
        assert container.read_timeout is None
        assert container.open_timeout == 8.0
    finally:
        container.close()
    udp = open_input(StreamSource(rtsp_server.url("/live"), transport="udp"), 8.0, READ_TIMEOUT, socket_timeout=True)
    try:
        assert udp.read_timeout == READ_TIMEOUT, "UDP keeps PyAV's read timeout"
    finally:
        udp.close()


def test_watchdog_ends_a_read_the_socket_timeout_would_not(rtsp_server_factory, clips, monkeypatch) -> None:
    """A connection that delivers no packet is lost after READ_TIMEOUT even when its socket never times out.

    FFmpeg's socket timeout is pushed far out here, as a camera that keeps
    sending RTCP reports keeps it from firing; the watchdog ends the read.
    """
    calls = []

    def patient_open(source, open_timeout, read_timeout, **kwargs):
        calls.append(kwargs)
        return open_input(source, open_timeout, 120.0, **kwargs)

    monkeypatch.setattr(reader_module, "open_input", patient_open)
    server = rtsp_server_factory([live_mount("/live", clips / "live.ts")])
    reader = StreamReader(StreamSource(server.url("/live")), "wd1")
    reader.start()
    try:
        wait_for(lambda: reader.status.connected, 10)
        assert WATCHDOG.running
        assert_lost_after_one_read_timeout(reader, server)
    finally:
        server.thaw()
        reader.stop(2.0)
    assert calls and calls[0]["socket_timeout"] is True
    assert not reader_threads()
    assert not WATCHDOG.running, "the watchdog ends with the last reader"
