"""The GOP buffer keeps exactly the newest keyframe and what followed it."""

from __future__ import annotations

from engine.stream.gop import CodecParams, EncodedPacket, GopBuffer

CODEC = CodecParams("h264", None, 640, 360)


def _pkt(n: int, key: bool = False, size: int = 10) -> EncodedPacket:
    return EncodedPacket(bytes([n % 256]) * size, n, key)


def test_nothing_before_first_keyframe() -> None:
    buf = GopBuffer()
    buf.reset(CODEC)
    buf.add(_pkt(1))
    assert buf.latest() is None


def test_keyframe_starts_new_gop() -> None:
    buf = GopBuffer()
    buf.reset(CODEC)
    for n, key in enumerate([True, False, False, True, False]):
        buf.add(_pkt(n, key))
    gop = buf.latest()
    assert gop is not None
    assert [p.pts for p in gop.packets] == [3, 4]
    assert gop.packets[0].keyframe


def test_serial_changes_per_gop_and_reset_clears() -> None:
    buf = GopBuffer()
    buf.reset(CODEC)
    buf.add(_pkt(0, True))
    first = buf.latest()
    buf.add(_pkt(1, True))
    assert buf.latest().serial == first.serial + 1
    buf.reset(None)
    assert buf.latest() is None


def test_huge_gop_stops_growing(monkeypatch) -> None:
    monkeypatch.setattr("engine.stream.gop.MAX_GOP_BYTES", 100)
    buf = GopBuffer()
    buf.reset(CODEC)
    buf.add(_pkt(0, True, 40))
    for n in range(1, 10):
        buf.add(_pkt(n, False, 40))
    assert len(buf.latest().packets) == 2
