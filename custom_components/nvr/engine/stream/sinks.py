"""Where a reader's packets go: the sink protocol, and fanning out to several sinks."""

from __future__ import annotations

import logging
from typing import Protocol

from .gop import EncodedPacket
from .mediaformat import MediaFormat

_LOGGER = logging.getLogger(__name__)


class PacketSink(Protocol):
    """Receives every packet of a connection, in the reader's thread.

    Calls must return quickly (hand the packet to another thread): a slow sink
    stalls the stream.
    """

    def stream_started(self, media: MediaFormat, wall_time: float) -> None:
        """A connection delivers pictures; its first keyframe follows at ``wall_time``."""

    def packet(self, packet: EncodedPacket, audio: bool) -> None:
        """One video or audio packet, timestamps in the stream's time base."""

    def stream_ended(self) -> None:
        """The connection ended (lost, closed or stopped)."""


class FanOutSink:
    """A :class:`PacketSink` that hands every call on to several sinks, in order.

    One sink raising does not keep the packet from the others.
    """

    def __init__(self, *sinks: PacketSink | None) -> None:
        """Wrap the given sinks (``None`` entries are left out)."""
        self.sinks: tuple[PacketSink, ...] = tuple(s for s in sinks if s is not None)

    def _each(self, name: str, *args) -> None:
        for sink in self.sinks:
            try:
                getattr(sink, name)(*args)
            except Exception:
                _LOGGER.exception("Packet sink %r failed in %s", sink, name)

    def stream_started(self, media: MediaFormat, wall_time: float) -> None:
        """Pass on to every sink."""
        self._each("stream_started", media, wall_time)

    def packet(self, packet: EncodedPacket, audio: bool) -> None:
        """Pass on to every sink."""
        self._each("packet", packet, audio)

    def stream_ended(self) -> None:
        """Pass on to every sink."""
        self._each("stream_ended")


def combine_sinks(*sinks: PacketSink | None) -> PacketSink | None:
    """``None``, the only sink given, or a :class:`FanOutSink` of them all."""
    present = [s for s in sinks if s is not None]
    if not present:
        return None
    return present[0] if len(present) == 1 else FanOutSink(*present)
