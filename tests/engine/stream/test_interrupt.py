"""Telling the sockets of opens to one address apart: opens take turns to connect."""

from __future__ import annotations

import os
import socket
import threading

import engine.stream.reader as reader_module
import pytest
from engine import StreamSource
from engine.stream.interrupt import SocketWatch, opens_waiting
from engine.stream.reader import StreamReader
from support import reader_threads, wait_for

pytestmark = pytest.mark.usefixtures("loopback_sockets")


def _connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port))


def _inode(sock: socket.socket) -> int:
    return os.fstat(sock.fileno()).st_ino


def test_a_waiting_open_identifies_the_connecting_ones_socket(silent_server) -> None:
    """The second open waits until the first one's socket exists, and registers it as the first one's."""
    url = silent_server.url("/live")
    first = SocketWatch(url, turn=5.0)
    sockets = [_connect(silent_server)]  # the first open's connection
    second = SocketWatch(url, turn=5.0)  # returns once the first one's socket is known
    try:
        assert not first.overlapped and not second.overlapped
        assert first.owned == {_inode(sockets[0])}, "identified before its open ended"
        sockets.append(_connect(silent_server))  # the second open's
        first.claim()
        second.claim()
        assert first.owned == {_inode(sockets[0])}
        assert second.owned == {_inode(sockets[1])}
        assert first.interrupt() == 1
        assert sockets[0].recv(1) == b"", "the first open's connection is shut down"
        sockets[1].settimeout(0.2)
        with pytest.raises(TimeoutError):
            sockets[1].recv(1)  # the second one's is left alone
    finally:
        first.release()
        second.release()
        for sock in sockets:
            sock.close()


def test_an_open_still_connecting_is_interrupted_through_its_identified_socket(silent_server) -> None:
    """A stop between the early identification and the end of the open still reaches the socket."""
    url = silent_server.url("/live")
    first = SocketWatch(url, turn=5.0)
    sock = _connect(silent_server)
    second = SocketWatch(url, turn=5.0)
    try:
        assert first.owned == {_inode(sock)}
        assert first.interrupt() == 1
        assert sock.recv(1) == b""
    finally:
        first.release()
        second.release()
        sock.close()


def test_an_open_whose_turn_runs_out_overlaps(silent_server) -> None:
    """An earlier open that creates no socket holds the next one only ``turn`` seconds; both then overlap."""
    url = silent_server.url("/live")
    first = SocketWatch(url, turn=5.0)
    second = SocketWatch(url, turn=0.05)
    sockets = [_connect(silent_server), _connect(silent_server)]
    try:
        assert first.overlapped and second.overlapped
        first.claim()
        second.claim()
        assert not first.owned and not second.owned, "sockets that cannot be told apart belong to nobody"
    finally:
        first.release()
        second.release()
        for sock in sockets:
            sock.close()
    third = SocketWatch(url, turn=5.0)  # the released opens hold nothing up
    third.release()


def test_stop_of_a_reader_waiting_for_its_turn_is_prompt(silent_server, monkeypatch) -> None:
    """A reader waiting for an earlier open to connect ends at once when stopped."""
    monkeypatch.setattr(reader_module, "OPEN_TURN", 60.0)
    url = silent_server.url("/live")
    stuck = SocketWatch(url)  # an open that never connects
    reader = StreamReader(StreamSource(url), "turn1")
    try:
        reader.start()
        wait_for(lambda: opens_waiting(url) == 1, 10)
        assert reader.stop(2.0), "stopped while its turn had 60 s left"
        assert reader.status.failure is None, "a deliberate stop is not a camera failure"
        assert opens_waiting(url) == 0
    finally:
        reader.stop(2.0)
        stuck.release()
    assert not reader_threads()


def test_an_open_released_while_others_wait_lets_them_go(silent_server) -> None:
    """An open that fails before it connects (it leaves) lets the waiting ones start."""
    url = silent_server.url("/live")
    first = SocketWatch(url, turn=5.0)
    done = threading.Event()
    watches: list[SocketWatch] = []

    def later() -> None:
        watches.append(SocketWatch(url, turn=30.0))
        done.set()

    thread = threading.Thread(target=later)
    thread.start()
    try:
        wait_for(lambda: opens_waiting(url) == 1, 10)
        first.release()
        assert done.wait(5)
        assert not watches[0].overlapped
    finally:
        first.release()
        thread.join(5)
        for watch in watches:
            watch.release()
