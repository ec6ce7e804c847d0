"""The newest whole GOPs of a stream, held in memory for the pre-roll."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..stream.gop import EncodedPacket

MAX_PREROLL_BYTES = 32 * 1024 * 1024
EARLY_AUDIO_LIMIT = 512


@dataclass(slots=True)
class BufferedGop:
    """Buffered packets from one keyframe to the next (video and audio)."""

    start: float
    """Wall-clock time of the keyframe."""
    dts: int
    items: list[tuple[EncodedPacket, bool]] = field(default_factory=list)
    """(packet, is audio) in arrival order."""
    bytes: int = 0


class PrerollBuffer:
    """Whole GOPs, oldest first, bounded in bytes (the newest GOP is always kept)."""

    def __init__(self, max_bytes: int = MAX_PREROLL_BYTES) -> None:
        """Start empty."""
        self.max_bytes = max_bytes
        self._gops: deque[BufferedGop] = deque()
        self._bytes = 0
        self._early_audio: deque[EncodedPacket] = deque(maxlen=EARLY_AUDIO_LIMIT)
        """Audio that arrived before the first keyframe was known (held back by the timestamp fixer)."""

    def __bool__(self) -> bool:
        """Whether a GOP is held."""
        return bool(self._gops)

    def __iter__(self) -> Iterator[BufferedGop]:
        """The GOPs held, oldest first."""
        return iter(self._gops)

    @property
    def newest(self) -> BufferedGop:
        """The GOP being filled (there must be one)."""
        return self._gops[-1]

    def start_gop(self, start: float, dts: int) -> None:
        """A keyframe at wall time ``start`` begins a new GOP."""
        gop = BufferedGop(start, dts)
        self._gops.append(gop)
        if len(self._gops) == 1 and self._early_audio:
            # The writer drops what precedes the keyframe (by pts); the rest belongs to this GOP.
            for packet in self._early_audio:
                gop.items.append((packet, True))
                gop.bytes += len(packet.data)
                self._bytes += len(packet.data)
            self._early_audio.clear()

    def add(self, packet: EncodedPacket, audio: bool) -> None:
        """Append a packet to the newest GOP (dropped before the first keyframe)."""
        if not self._gops:
            if audio:
                self._early_audio.append(packet)
            return
        gop = self._gops[-1]
        gop.items.append((packet, audio))
        gop.bytes += len(packet.data)
        self._bytes += len(packet.data)
        while len(self._gops) > 1 and self._bytes > self.max_bytes:
            self._drop_oldest()

    def trim(self, horizon: float) -> None:
        """Keep the fewest whole GOPs that still reach back to wall time ``horizon``."""
        while len(self._gops) > 1 and self._gops[1].start <= horizon:
            self._drop_oldest()

    def shift(self, delta: float) -> None:
        """Move every GOP's wall time by ``delta`` seconds."""
        for gop in self._gops:
            gop.start += delta

    def clear(self) -> None:
        """Forget everything."""
        self._gops.clear()
        self._early_audio.clear()
        self._bytes = 0

    def _drop_oldest(self) -> None:
        self._bytes -= self._gops.popleft().bytes
