"""The newest picture of a stream, kept decoded while stills are asked for.

A still decoded from the held GOP shows its keyframe (plus what a small
budget adds): up to a whole GOP behind the live picture. Decoding to the
newest packet on every call would cost up to a GOP of decoding each time.
So the first still after a quiet spell catches up from the keyframe to the
newest packet once, and from then on, for ``WARM_SECONDS`` after the last
still, every new packet of the stream is decoded as it arrives, on the
stills threads (never on the reader's). A still is then the newest picture,
at the cost of decoding the stream while someone is looking.

**Overload degrades, never blocks.** The stills threads also answer the
stills themselves, so the decoding may never hold them: it runs in slices
of ``SLICE`` seconds, round-robin over every warm stream of an executor
(:class:`_Drains`), and each slice hands its thread back (a still waiting
in the executor's queue goes before the next slice). A still never waits
for the decoder either: it takes the newest picture decoded so far, and a
first still's catch-up stops after ``CATCH_UP_BUDGET`` (the decoding goes
on in the slices). When decoding falls behind (a packet waited more than
``SHED_LAG``), the backlog is skipped up to its newest keyframe: on a
saturated host a stream is decoded from each keyframe as far as the CPU
allows, and the picture is older, never late. :class:`Picture` says when its
packet arrived, so the caller can tell how old it is.

A stream that the motion detector decodes anyway needs none of this: its
newest decoded picture is taken from there (see ``Picture`` sources in
:class:`..channel.Channel`).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from fractions import Fraction

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
SLICE = 0.03
"""Seconds of decoding before a drain job gives its stills thread back."""
SHED_LAG = 1.0
"""Seconds a packet may wait for the decoder before the backlog is skipped to its newest keyframe."""
CATCH_UP_BUDGET = 0.5
"""Seconds a first still spends decoding the held GOP; the rest is decoded after it is answered."""
LOCK_WAIT = 0.25
"""Seconds a still waits for the decoder (one packet's decoding) before it takes the picture it has."""


@dataclass(frozen=True, slots=True)
class Picture:
    """A decoded picture and when the packet it came from arrived (``time.time()``)."""

    frame: av.VideoFrame
    arrival: float


class _Drains:
    """Round-robin decoding slices of the warm streams of one executor.

    At most ``limit`` jobs are in the executor at once; each decodes one
    stream for a slice, puts it back at the end of the line, and submits
    the next slice as a new job, so stills queued meanwhile go first.
    """

    def __init__(self, submit: Callable[[Callable[[], None]], object], limit: int) -> None:
        self._submit = submit
        self._limit = max(1, limit)
        self._lock = threading.Lock()
        self._ready: deque[FreshPicture] = deque()
        self._jobs = 0

    def wake(self, picture: FreshPicture) -> None:
        """``picture`` has packets to decode (it is not in the line yet)."""
        with self._lock:
            self._ready.append(picture)
            if self._jobs >= self._limit:
                return
            self._jobs += 1
        self._spawn()

    def _spawn(self) -> None:
        try:
            self._submit(self._run)
        except RuntimeError:  # the executor was shut down: nothing is decoded any more
            with self._lock:
                self._jobs -= 1
                dropped, self._ready = list(self._ready), deque()
            for picture in dropped:
                picture.abandon()

    def _run(self) -> None:
        with self._lock:
            picture = self._ready.popleft() if self._ready else None
        more = False
        if picture is not None:
            try:
                more = picture.drain_slice()
            except Exception:
                _LOGGER.exception("Decoding the live picture of %s failed", picture.label)
                picture.abandon()
        with self._lock:
            if more:
                self._ready.append(picture)
            if not self._ready:
                self._jobs -= 1
                return
        self._spawn()


_DRAINS: weakref.WeakKeyDictionary[Executor, _Drains] = weakref.WeakKeyDictionary()
_DRAINS_LOCK = threading.Lock()


def _drains_of(executor: Executor) -> _Drains:
    with _DRAINS_LOCK:
        drains = _DRAINS.get(executor)
        if drains is None:
            drains = _DRAINS[executor] = _Drains(_weak_submit(executor), getattr(executor, "_max_workers", 1))
        return drains


def _weak_submit(executor: Executor) -> Callable[[Callable[[], None]], object]:
    """``executor.submit`` without a strong reference to the executor.

    The drains are the value of a weak key dictionary keyed by the executor:
    a bound ``executor.submit`` in them kept every executor (an entry's
    stills pool, made again at each reload) and its drains alive for good.
    """
    ref = weakref.ref(executor)

    def submit(job: Callable[[], None]) -> object:
        if (alive := ref()) is None:
            raise RuntimeError("the executor is gone")
        return alive.submit(job)

    return submit


class FreshPicture:
    """A packet sink that decodes its stream while stills are wanted (see the module)."""

    def __init__(
        self, label: str, submit: Callable[[Callable[[], None]], object], drains: _Drains | None = None
    ) -> None:
        """``submit`` runs a job on the stills threads (an executor's ``submit``)."""
        self.label = label
        self._drains = drains or _Drains(submit, 1)
        self._lock = threading.Lock()
        """Guards the queue, the flags and the warm deadline (reader thread against stills threads)."""
        self._decode_lock = threading.Lock()
        """One decoding at a time: a catch-up, or a drain slice's packet (popped with it held).

        Taken before ``_lock`` when both are held.
        """
        self._warm_until = 0.0
        self._pending: deque[tuple[EncodedPacket, float]] = deque()
        self._draining = False
        """In the drains' line or being decoded by one of its jobs."""
        self._codec: CodecParams | None = None
        self._time_base: Fraction | None = None
        self._decoder = None
        self._picture: Picture | None = None
        self._decoded: dict[int, EncodedPacket] = {}
        """The packets a catch-up decoded (by id, held so that no id is reused), so the drain skips them."""
        self._restart = False
        """A connection began or ended: the decoder and its picture are stale."""
        self._need_key = False
        """Packets were skipped: decoding resumes at the next keyframe."""
        self.shed = 0
        """Packets skipped because decoding fell behind (tests and logs)."""

    @classmethod
    def on(cls, executor: Executor, label: str) -> FreshPicture:
        """A fresh picture whose decoding runs on ``executor`` (in slices shared by its streams)."""
        return cls(label, executor.submit, _drains_of(executor))

    @property
    def warm(self) -> bool:
        """Whether the stream is being decoded as it arrives."""
        return time.monotonic() < self._warm_until

    @property
    def picture(self) -> Picture | None:
        """The newest picture decoded so far (never waits; None when stale or none)."""
        with self._lock:
            return None if self._restart else self._picture

    # -- PacketSink (reader thread) -------------------------------------------

    def stream_started(self, media: MediaFormat, wall_time: float) -> None:
        """A new connection: its pictures need a new decoder, from its first keyframe."""
        with self._lock:
            self._pending.clear()
            self._codec = CodecParams(media.video_codec, media.video_extradata, media.width, media.height)
            self._time_base = media.video_time_base
            self._restart = True

    def packet(self, packet: EncodedPacket, audio: bool) -> None:
        """Queue a video packet for decoding while warm (costs nothing otherwise)."""
        if audio or time.monotonic() >= self._warm_until:
            return
        with self._lock:
            if len(self._pending) >= PENDING_LIMIT:
                self.shed += len(self._pending)
                self._pending.clear()
                self._need_key = True
            self._pending.append((packet, time.time()))
            if self._draining:
                return
            self._draining = True
        self._drains.wake(self)

    def stream_ended(self) -> None:
        """The connection ended: its picture is no longer live."""
        with self._lock:
            self._pending.clear()
            self._restart = True

    # -- stills threads -------------------------------------------------------

    def newest(self, held: Callable[[], Gop | None]) -> Picture | None:
        """The newest picture of the stream; blocks at most about ``CATCH_UP_BUDGET + LOCK_WAIT``.

        Keeps the stream decoded for ``WARM_SECONDS`` more. While warm it
        is the newest picture decoded so far (behind the live one when the
        decoding lags). A first still catches up from the ``held()`` GOP's
        keyframe for up to ``CATCH_UP_BUDGET``. ``held`` is asked only once
        packets are queued, so none falls between the two.
        """
        with self._lock:
            now = time.monotonic()
            was_warm = now < self._warm_until
            self._warm_until = now + WARM_SECONDS
            picture = None if self._restart else self._picture
        if was_warm and picture is not None:
            return picture
        if not self._decode_lock.acquire(timeout=LOCK_WAIT):
            return self.picture
        try:
            self._check_restart()
            if was_warm and self._decoder is not None and self._picture is not None:
                return self._picture
            gop = held()
            if gop is None:
                return self._picture
            self._catch_up(gop)
            return self._picture
        finally:
            self._decode_lock.release()

    def _catch_up(self, gop: Gop) -> None:
        """Decode ``gop`` from its keyframe for up to the budget (with the decode lock held).

        What the budget leaves undecoded goes to the front of the queue, for
        the drain to go on with.
        """
        began = time.monotonic()
        now = time.time()
        newest_pts = gop.packets[-1].pts
        time_base = self._time_base
        decoder = _decoder(gop.codec)
        done = 0
        picture = None
        for packet in gop.packets:
            if picture is not None and time.monotonic() - began > CATCH_UP_BUDGET:
                break
            done += 1
            frame = _decode(decoder, packet)
            if frame is not None:
                picture = Picture(frame, _arrival_estimate(now, packet.pts, newest_pts, time_base))
        self._decoder, self._codec = decoder, gop.codec
        self._decoded = {id(p): p for p in gop.packets}
        if picture is not None:
            self._picture = picture
        rest = gop.packets[done:]
        if not rest:
            return
        left = {id(p) for p in rest}
        with self._lock:
            self._need_key = False
            queued = [item for item in self._pending if id(item[0]) not in left]
            self._pending = deque((p, _arrival_estimate(now, p.pts, newest_pts, time_base)) for p in rest)
            self._pending.extend(queued)
            for key in left:
                self._decoded.pop(key, None)
            start = not self._draining
            self._draining = True
        if start:
            self._drains.wake(self)

    def drain_slice(self) -> bool:
        """Decode queued packets for up to ``SLICE`` s; True if some are left (a drains job)."""
        deadline = time.monotonic() + SLICE
        while True:
            # The packet is popped with the decode lock held: a catch-up running meanwhile puts
            # what it left undecoded in front of the queue, and a packet popped before it ended
            # would be decoded after the catch-up's last one, skipping the ones in between.
            with self._decode_lock:
                with self._lock:
                    if not self._pending:
                        self._draining = False
                        cold = time.monotonic() >= self._warm_until
                        break
                    self._shed_backlog()
                    packet, arrival = self._pending.popleft()
                    skip = self._need_key and not packet.keyframe
                    if packet.keyframe:
                        self._need_key = False
                if not skip:
                    self._decode_one(packet, arrival)
            if time.monotonic() >= deadline:
                return True
        if cold:
            self._reset()  # nobody looks: free the decoder and its pictures
        return False

    def abandon(self) -> None:
        """Drop the queue (its decoding failed or its executor is gone)."""
        with self._lock:
            self._pending.clear()
            self._draining = False
            self._need_key = True

    def _shed_backlog(self) -> None:
        """Skip to the newest queued keyframe when the oldest packet waited too long (``_lock`` held)."""
        pending = self._pending
        if time.time() - pending[0][1] <= SHED_LAG:
            return
        for index in range(len(pending) - 1, 0, -1):
            if pending[index][0].keyframe:
                break
        else:
            return  # no keyframe to skip to: go on in order
        for _ in range(index):
            pending.popleft()
        self.shed += index
        _LOGGER.debug("Live picture of %s fell behind: %d packets skipped to a keyframe", self.label, index)

    def _decode_one(self, packet: EncodedPacket, arrival: float) -> None:
        """Decode one queued packet (with the decode lock held)."""
        self._check_restart()
        if id(packet) in self._decoded:
            return  # the catch-up had it already
        if packet.keyframe:
            self._decoded = {}
        if self._decoder is None:
            if not packet.keyframe or self._codec is None:
                return
            self._decoder = _decoder(self._codec)
        frame = _decode(self._decoder, packet)
        if frame is not None:
            self._picture = Picture(frame, arrival)

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


def _arrival_estimate(now: float, pts: int | None, newest_pts: int | None, time_base: Fraction | None) -> float:
    """When a packet of the held GOP arrived, from how far its timestamp trails the newest one's."""
    if pts is None or newest_pts is None or time_base is None:
        return now
    return now - max(0.0, float((newest_pts - pts) * time_base))


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
