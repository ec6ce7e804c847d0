"""The live picture's decoder gets every packet once and in order, when a drain races a first still's catch-up."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from engine.stills import fresh
from engine.stills.fresh import FreshPicture, _Drains
from engine.stream.gop import CodecParams, EncodedPacket, Gop

CODEC = CodecParams("h264", None, 640, 360)


class _WatchedLock:
    """A lock that says when a given thread is about to take it (it may then block)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.watch: threading.Thread | None = None
        self.wanted = threading.Event()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if threading.current_thread() is self.watch:
            self.wanted.set()
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def test_a_drain_racing_a_catch_up_decodes_in_order_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A packet arrives during the catch-up, whose budget ends after one packet: the rest go on in order."""
    monkeypatch.setattr(fresh, "CATCH_UP_BUDGET", -1.0)  # stop after the first picture
    monkeypatch.setattr(fresh, "SHED_LAG", 3600.0)  # a slow machine skips nothing
    jobs: list[Callable[[], None]] = []
    picture = FreshPicture("race", jobs.append, _Drains(jobs.append, 1))
    lock = _WatchedLock()
    picture._decode_lock = lock  # type: ignore[assignment]
    gop = Gop(1, CODEC, tuple(EncodedPacket(bytes([i]), i, i == 0) for i in range(5)))
    arriving = EncodedPacket(b"\x05", 5, False)
    decoded: list[EncodedPacket] = []
    drain: list[threading.Thread] = []

    def decode(_ctx, packet: EncodedPacket) -> object:
        if not drain:  # the catch-up's first packet: the reader hands over a new one, a drain job starts
            picture.packet(arriving, audio=False)
            assert len(jobs) == 1
            drain.append(threading.Thread(target=jobs.pop(), name="drain"))
            lock.watch = drain[0]
            drain[0].start()
            assert lock.wanted.wait(10), "the drain never went for the decoder"
        decoded.append(packet)
        return object()

    monkeypatch.setattr(fresh, "_decoder", lambda codec: object())
    monkeypatch.setattr(fresh, "_decode", decode)
    assert picture.newest(lambda: gop) is not None
    drain[0].join(10)
    assert not drain[0].is_alive()
    while jobs:  # the slices after the first one (each hands its thread back)
        jobs.pop(0)()
    assert [p.pts for p in decoded] == [0, 1, 2, 3, 4, 5]
