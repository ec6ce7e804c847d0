"""The newest picture of a stream, kept decoded while stills are asked for.

A still decoded from the held GOP shows its keyframe (plus what a small
budget adds): up to a whole GOP behind the live picture. Decoding to the
newest packet on every call would cost up to a GOP of decoding each time.
So the first still after a quiet spell catches up from the keyframe to the
newest packet once, and from then on, for ``WARM_SECONDS`` after the last
still, every new packet of the stream is decoded as it arrives, on the
stills threads (never on the reader's). A still is then the newest picture,
at the cost of decoding the stream while someone is looking.

A stream that the motion detector decodes anyway needs none of this: its
newest decoded picture is taken from there (see ``Picture`` sources in
:class:`..channel.Channel`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

import av
import av.error

from ..libav import open_decoder
from ..stream.gop import CodecParams, EncodedPacket, Gop
from ..stream.mediaformat import MediaFormat

_LOGGER = logging.getLogger(__name__)

WARM_SECONDS = 30.0
"""How long after the last still the stream stays decoded."""
PENDING_LIMIT = 300
"""Packets waiting for the decoder before it gives up and waits for a keyframe (a stuck pool)."""


@dataclass(frozen=True, slots=True)
class Picture:
    """A decoded picture and when the packet it came from arrived (``time.time()``)."""

    frame: av.VideoFrame
    arrival: float


class FreshPicture:
    """A packet sink that decodes its stream while stills are wanted (see the module)."""

    def __init__(self, label: str, submit: Callable[[Callable[[], None]], object]) -> None:
        """``submit`` runs a job on the stills threads (an executor's ``submit``)."""
        self.label = label
        self._submit = submit
        self._lock = threading.Lock()
        """Guards the queue and the warm deadline (reader thread against stills threads)."""
        self._decode_lock = threading.Lock()
        """One decoding at a time: a catch-up or a drain job."""
        self._warm_until = 0.0
        self._pending: deque[tuple[EncodedPacket, float]] = deque()
        self._draining = False
        self._codec: CodecParams | None = None
        self._decoder = None
        self._picture: Picture | None = None
        self._decoded: dict[int, EncodedPacket] = {}
        """The packets a catch-up decoded (by id, held so that no id is reused), so the drain skips them."""
        self._restart = False
        """A connection began or ended: the decoder and its picture are stale."""

    @classmethod
    def on(cls, executor: Executor, label: str) -> FreshPicture:
        """A fresh picture whose decoding runs on ``executor``."""
        return cls(label, executor.submit)

    @property
    def warm(self) -> bool:
        """Whether the stream is being decoded as it arrives."""
        return time.monotonic() < self._warm_until

    # -- PacketSink (reader thread) -------------------------------------------

    def stream_started(self, media: MediaFormat, wall_time: float) -> None:
        """A new connection: its pictures need a new decoder, from its first keyframe."""
        with self._lock:
            self._pending.clear()
            self._codec = CodecParams(media.video_codec, media.video_extradata, media.width, media.height)
            self._restart = True

    def packet(self, packet: EncodedPacket, audio: bool) -> None:
        """Queue a video packet for decoding while warm (costs nothing otherwise)."""
        if audio or time.monotonic() >= self._warm_until:
            return
        with self._lock:
            if len(self._pending) >= PENDING_LIMIT:
                self._pending.clear()
                self._decoder = None  # resumes at the next keyframe
            self._pending.append((packet, time.time()))
            if self._draining:
                return
            self._draining = True
        self._submit(self._drain)

    def stream_ended(self) -> None:
        """The connection ended: its picture is no longer live."""
        with self._lock:
            self._pending.clear()
            self._restart = True

    # -- stills threads -------------------------------------------------------

    def newest(self, held: Callable[[], Gop | None]) -> Picture | None:
        """The newest picture of the stream; blocking (a catch-up decodes the ``held()`` GOP).

        Keeps the stream decoded for ``WARM_SECONDS`` more. ``held`` is asked
        only once packets are queued, so none falls between the two.
        """
        with self._lock:
            was_warm = time.monotonic() < self._warm_until
            self._warm_until = time.monotonic() + WARM_SECONDS
        with self._decode_lock:
            self._check_restart()
            if was_warm and self._decoder is not None and self._picture is not None:
                return self._picture
            gop = held()
            if gop is None:
                return None
            self._catch_up(gop)
            return self._picture

    def _catch_up(self, gop: Gop) -> None:
        """Decode ``gop`` from its keyframe to its newest packet (with the decode lock held)."""
        arrived = time.time()
        decoder = _decoder(gop.codec)
        picture = None
        for packet in gop.packets:
            frame = _decode(decoder, packet)
            if frame is not None:
                picture = Picture(frame, arrived)
        self._decoder, self._codec = decoder, gop.codec
        self._decoded = {id(p): p for p in gop.packets}
        if picture is not None:
            self._picture = picture

    def _drain(self) -> None:
        """Decode the queued packets (a job on the stills threads)."""
        while True:
            with self._lock:
                if not self._pending:
                    self._draining = False
                    cold = time.monotonic() >= self._warm_until
                    break
                batch = list(self._pending)
                self._pending.clear()
            try:
                with self._decode_lock:
                    self._decode_batch(batch)
            except Exception:
                _LOGGER.exception("Decoding the live picture of %s failed", self.label)
        if cold:
            self._reset()  # nobody looks: free the decoder and its pictures

    def _decode_batch(self, batch: list[tuple[EncodedPacket, float]]) -> None:
        self._check_restart()
        for packet, arrival in batch:
            if id(packet) in self._decoded:
                continue  # the catch-up had it already
            if self._decoder is None:
                if not packet.keyframe or self._codec is None:
                    continue
                self._decoder = _decoder(self._codec)
            frame = _decode(self._decoder, packet)
            if frame is not None:
                self._picture = Picture(frame, arrival)
        self._decoded = {}

    def _check_restart(self) -> None:
        """Forget a decoder of an earlier connection (with the decode lock held)."""
        with self._lock:
            restart, self._restart = self._restart, False
        if restart:
            self._decoder = None
            self._picture = None
            self._decoded = {}

    def _reset(self) -> None:
        with self._decode_lock:
            self._decoder = None
            self._picture = None
            self._decoded = {}


def _decoder(codec: CodecParams):
    return open_decoder(codec.name, codec.extradata)


def _decode(ctx, packet: EncodedPacket) -> av.VideoFrame | None:
    av_packet = av.Packet(packet.data)
    av_packet.pts = packet.pts
    av_packet.dts = packet.dts
    try:
        frames = ctx.decode(av_packet)
    except av.error.FFmpegError:
        return None  # a damaged packet: the picture before it stays
    return frames[-1] if frames else None
