"""The most recent group of pictures of a stream, held in memory.

A snapshot decodes from here, so it needs no new connection; later the
recorder's pre-roll reads it too. Packets are copied out of PyAV so the
buffer can be read from any thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import av

MAX_GOP_BYTES = 24 * 1024 * 1024
"""Past this a GOP keeps its keyframe but stops growing (huge-GOP cameras)."""


@dataclass(frozen=True, slots=True)
class CodecParams:
    """What a decoder needs to start on this stream's packets."""

    name: str
    extradata: bytes | None
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class EncodedPacket:
    """One compressed packet, with timestamps in its stream's time base."""

    data: bytes
    pts: int | None
    keyframe: bool
    dts: int | None = None
    duration: int = 0
    """0 when the demuxer did not say."""

    @classmethod
    def of(cls, packet: av.Packet, keyframe: bool | None = None) -> EncodedPacket:
        """A demuxed packet's bytes and timestamps; ``keyframe`` overrides the packet's flag."""
        keyframe = packet.is_keyframe if keyframe is None else keyframe
        return cls(bytes(packet), packet.pts, keyframe, packet.dts, packet.duration or 0)


@dataclass(frozen=True, slots=True)
class Gop:
    """A keyframe and the packets after it, up to the newest one received."""

    serial: int
    """Increases with every new keyframe, so a reader of the buffer can tell GOPs apart."""
    codec: CodecParams
    packets: tuple[EncodedPacket, ...]


@dataclass(slots=True)
class GopBuffer:
    """Thread-safe holder of the latest GOP."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _codec: CodecParams | None = None
    _packets: list[EncodedPacket] = field(default_factory=list)
    _bytes: int = 0
    _serial: int = 0

    def reset(self, codec: CodecParams | None) -> None:
        """Forget the held GOP; called on every (re)connect and disconnect."""
        with self._lock:
            self._codec = codec
            self._packets = []
            self._bytes = 0

    def add(self, packet: EncodedPacket) -> None:
        """Append a packet; a keyframe starts a new GOP."""
        with self._lock:
            if packet.keyframe:
                self._packets = [packet]
                self._bytes = len(packet.data)
                self._serial += 1
                return
            if not self._packets or self._bytes + len(packet.data) > MAX_GOP_BYTES:
                return
            self._packets.append(packet)
            self._bytes += len(packet.data)

    def latest(self) -> Gop | None:
        """Return the current GOP, or None before the first keyframe."""
        with self._lock:
            if self._codec is None or not self._packets:
                return None
            return Gop(self._serial, self._codec, tuple(self._packets))
