"""Read timeouts without PyAV's per-read timeout: FFmpeg's socket timeout and the read watchdog."""

from __future__ import annotations

import threading

import engine.stream.reader as reader_module
from engine import FailureReason, StreamSource
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


def test_readers_of_one_recorder_starting_together_can_each_be_woken(rtsp_server_factory, clips, monkeypatch) -> None:
    """The channels of one recorder open at once; each open takes its turn, so the watchdog can wake each read.

    (Opens that overlapped could not tell their sockets apart: nothing could
    wake a read that gets no packet while its socket stays busy.) FFmpeg's
    socket timeout is pushed far out, as in the test above.
    """
    calls = []

    def patient_open(source, open_timeout, read_timeout, **kwargs):
        calls.append(kwargs)
        return open_input(source, open_timeout, 120.0, **kwargs)

    monkeypatch.setattr(reader_module, "open_input", patient_open)
    mounts = [live_mount(f"/ch{n}", clips / "live.ts") for n in range(4)]
    server = rtsp_server_factory(mounts)
    readers = [StreamReader(StreamSource(server.url(f"/ch{n}")), f"ch{n}") for n in range(4)]
    for reader in readers:
        reader.start()
    try:
        wait_for(lambda: all(r.status.connected for r in readers), 30, explain=lambda: [r.status for r in readers])
        assert calls and all(call["socket_timeout"] is True for call in calls), calls
        server.freeze()
        wait_for(lambda: not any(r.status.connected for r in readers), READ_TIMEOUT * 3)
        assert all(r.status.failure is FailureReason.TIMEOUT for r in readers)
    finally:
        server.thaw()
        for reader in readers:
            reader.stop(2.0)
    assert not reader_threads()


def test_sixteen_readers_of_one_server_connect_side_by_side(rtsp_server, monkeypatch) -> None:
    """Opens to one address take turns only to connect: sixteen run side by side, each owning its socket.

    Were whole opens serialised, at most one open would run at any moment
    (each takes half a second or more: the probe); were they not serialised
    at all, they could not tell their sockets apart and would reopen with
    PyAV's read timeout.
    """
    lock = threading.Lock()
    calls: list[dict] = []
    running = [0, 0]  # now, most at once

    def counting_open(source, open_timeout, read_timeout, **kwargs):
        with lock:
            calls.append(kwargs)
            running[0] += 1
            running[1] = max(running)
        try:
            return open_input(source, open_timeout, read_timeout, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(reader_module, "open_input", counting_open)
    readers = [StreamReader(StreamSource(rtsp_server.url(("/live", "/sub")[n % 2])), f"sx{n}") for n in range(16)]
    for reader in readers:
        reader.start()
    try:
        wait_for(lambda: all(r.status.connected for r in readers), 60)
        assert all(call["socket_timeout"] is True for call in calls), "an open overlapped another"
        assert running[1] >= 4, f"opens ran one after another (at most {running[1]} at once)"
        owned = [r._watch.owned for r in readers if r._watch is not None]
        assert len(owned) == 16 and all(owned), "a reader owns no socket: nothing could wake it"
        assert len(frozenset().union(*owned)) == sum(len(o) for o in owned), "a socket is owned twice"
    finally:
        for reader in readers:
            reader.stop(2.0)
    assert not reader_threads()
