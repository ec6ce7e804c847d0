"""Decode timestamps a muxer can use, from what an RTSP demuxer hands over."""

from __future__ import annotations

import itertools
from dataclasses import replace

from .gop import EncodedPacket

HOLD_LIMIT = 16
"""Packets without timestamps held at a stream's start while waiting for one that has them."""


class TimestampFixer:
    """Makes video decode timestamps usable for muxing.

    RTSP's first packets can lack a dts (with B-frames the demuxer only
    learns it a few packets in; the very first often has no pts either), and
    cameras sometimes repeat one. Decode timestamps must strictly increase
    and presentation ones may not precede them.
    """

    def __init__(self) -> None:
        """Start with nothing seen."""
        self.last_dts: int | None = None
        self.step = 0
        self._held: list[EncodedPacket] = []

    def feed(self, packet: EncodedPacket) -> list[EncodedPacket]:
        """Fix a packet in stream order; returns the packets ready to use (maybe none, maybe several).

        Packets without a dts at the start are held until one with a dts
        arrives; their timestamps are then worked out backwards from it, one
        frame duration apart, so the first file's timeline is not squeezed.
        """
        if self.last_dts is None and packet.dts is None and len(self._held) < HOLD_LIMIT:
            self._held.append(packet)
            return []
        if not self._held:
            return [self.fix(packet)]
        held, self._held = self._held, []
        if packet.dts is None:  # no dts in sight: give up guessing
            return [self.fix(p) for p in (*held, packet)]
        known = [p.pts for p in (*held, packet) if p.pts is not None]
        step = packet.duration or _smallest_step(known) or 1
        out: list[EncodedPacket] = []
        for i, early in enumerate(held):
            dts = packet.dts - (len(held) - i) * step
            pts = early.pts
            if pts is None:  # shown just before the earliest picture that follows it
                later = [p for p in known if p > dts]
                pts = max(dts, min(later) - step) if later else dts
            out.append(self.fix(replace(early, dts=dts, pts=pts)))
        out.append(self.fix(packet))
        return out

    def fix(self, packet: EncodedPacket) -> EncodedPacket:
        """Return the packet with a strictly increasing dts and pts >= dts."""
        dts = packet.dts
        if dts is None:
            dts = packet.pts if packet.pts is not None else (self.last_dts or 0) + max(self.step, 1)
            if self.last_dts is not None and packet.pts is not None:
                dts = min(dts, self.last_dts + max(self.step, 1))
        if self.last_dts is not None:
            if dts <= self.last_dts:
                dts = self.last_dts + 1
            else:
                self.step = dts - self.last_dts
        pts = packet.pts if packet.pts is not None and packet.pts >= dts else dts
        self.last_dts = dts
        if dts == packet.dts and pts == packet.pts:
            return packet
        return replace(packet, dts=dts, pts=pts)


def _smallest_step(stamps: list[int]) -> int:
    ordered = sorted(set(stamps))
    steps = [b - a for a, b in itertools.pairwise(ordered) if b > a]
    return min(steps) if steps else 0
