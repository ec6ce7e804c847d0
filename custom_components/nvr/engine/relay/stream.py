"""One relayed stream: a packet sink of a reader that serves MPEG-TS to any number of viewers.

* **One timeline.** The relay keeps its own 90 kHz clock. Each connection of
  the camera is moved onto it where the last one left off, and while the
  camera is down "No video signal" pictures fill the gap at
  ``PLACEHOLDER_FPS``, every picture a keyframe, so a viewer's timestamps
  only ever go forward and never jump.
* **Instant start.** The relay holds the last ``HISTORY_SECONDS`` of the
  stream (whole GOPs, references to the packets the reader made anyway). A
  new viewer first gets them (or the last placeholder pictures) as fast as
  it reads them, then the live chunks: the first picture is there at once,
  and Home Assistant's HLS, which waits for a whole segment of about 6 s,
  has one at once too.
* **Slow viewers are dropped** once ``MAX_BACKLOG_BYTES`` or
  ``MAX_BACKLOG_SECONDS`` of chunks wait for them; the reader never waits.
* **No viewer, no cost**: without viewers nothing is muxed.
* **Audio** is AAC: the camera's own AAC is copied, G.711 and other audio
  is transcoded (see :mod:`.audio`). The track never stops: silence follows
  the placeholder pictures, and fills in where a camera sends no audio.

If the camera comes back with another codec, size or audio, every viewer is
disconnected, so that players reopen on the new stream.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from fractions import Fraction

import av.error

from ..stills.caption import current_caption
from ..stream.gop import EncodedPacket
from ..stream.mediaformat import MediaFormat
from ..stream.timestamps import TimestampFixer
from .audio import SILENCE_AFTER_TICKS, AudioTrack
from .muxer import TsMuxer
from .placeholder import PlaceholderVideo, VideoFormat, placeholder_video

_LOGGER = logging.getLogger(__name__)

MAX_BACKLOG_BYTES = 8 * 1024 * 1024
MAX_BACKLOG_SECONDS = 10.0
PLACEHOLDER_FPS = 2
PLACEHOLDER_STEP = 90000 // PLACEHOLDER_FPS
HISTORY_SECONDS = 8.0
"""Footage a new viewer starts with: more than one of HA's 6 s HLS segments, in whole GOPs."""
MAX_HISTORY_BYTES = 12 * 1024 * 1024
START_DTS = 90000


class _RecentGops:
    """The fewest newest whole GOPs (of packets or chunks) that reach back ``seconds``, within ``max_bytes``."""

    def __init__(self, seconds: float = HISTORY_SECONDS, max_bytes: int = MAX_HISTORY_BYTES) -> None:
        self.seconds = seconds
        self.max_bytes = max_bytes
        self._gops: deque[tuple[float, list]] = deque()
        self._bytes = 0

    def add(self, item, size: int, keyframe: bool, now: float) -> None:
        """Append an item; a keyframe starts a GOP (items before the first keyframe are dropped)."""
        if keyframe:
            self._gops.append((now, []))
        elif not self._gops:
            return
        self._gops[-1][1].append((item, size))
        self._bytes += size
        while len(self._gops) > 1 and (now - self._gops[1][0] >= self.seconds or self._bytes > self.max_bytes):
            self._bytes -= sum(size for _item, size in self._gops.popleft()[1])

    def items(self) -> list:
        """Everything held, oldest first."""
        return [item for _start, gop in self._gops for item, _size in gop]

    def clear(self) -> None:
        """Forget everything."""
        self._gops.clear()
        self._bytes = 0


class RelayClient:
    """One viewer's queue of chunks (filled by the reader, emptied by the viewer's thread)."""

    def __init__(self, peer: str) -> None:
        """A viewer connected from ``peer`` (a loopback address)."""
        self.peer = peer
        self.started = time.monotonic()
        self.sent = 0
        """Bytes handed to the socket."""
        self.closed: str | None = None
        """Why the viewer was disconnected (None while it is served)."""
        self._cond = threading.Condition()
        self._chunks: deque[tuple[bytes, float]] = deque()
        self._bytes = 0

    def put(self, chunk: bytes) -> bool:
        """Queue a chunk; False (and disconnected) when the viewer is too far behind."""
        now = time.monotonic()
        with self._cond:
            if self.closed:
                return False
            if self._bytes + len(chunk) > MAX_BACKLOG_BYTES or (
                self._chunks and now - self._chunks[0][1] > MAX_BACKLOG_SECONDS
            ):
                self._close("too slow")
                return False
            self._chunks.append((chunk, now))
            self._bytes += len(chunk)
            self._cond.notify()
        return True

    def get(self, timeout: float) -> bytes | None:
        """The next chunk, or None after ``timeout`` or once disconnected."""
        with self._cond:
            if not self._chunks and not self.closed:
                self._cond.wait(timeout)
            if not self._chunks:
                return None
            chunk, _ = self._chunks.popleft()
            self._bytes -= len(chunk)
            self.sent += len(chunk)
            return chunk

    def close(self, reason: str) -> None:
        """Disconnect the viewer (its thread ends the response)."""
        with self._cond:
            self._close(reason)

    def _close(self, reason: str) -> None:
        if not self.closed:
            self.closed = reason
            self._chunks.clear()
            self._bytes = 0
            self._cond.notify_all()


class RelayStream:
    """Serves one reader's stream to viewers (see the module)."""

    def __init__(self, label: str, initial: VideoFormat, name: Callable[[], str]) -> None:
        """``initial`` is the format to assume before any connection; ``name`` gives the channel's name."""
        self.label = label
        self._name = name
        self._lock = threading.Lock()
        self._clients: list[RelayClient] = []
        self._muxer: TsMuxer | None = None
        self._muxer_format: VideoFormat | None = None
        self._muxer_audio: AudioTrack | None = None
        self.format = initial
        """The stream's format: the current connection's, else the last known one."""
        self.audio: AudioTrack | None = None
        """The stream's audio: the current connection's, else the last known one."""
        self._media: MediaFormat | None = None
        self._live = False
        self._fixer = TimestampFixer()
        self._offset: int | None = None
        self._scale: Fraction | None = None
        self._audio_scale = 0.0
        self._last_dts = START_DTS - 1
        self._step = 90000 // 15
        self._history = _RecentGops()
        """The stream's newest packets (references), for a first viewer."""
        self._burst = _RecentGops()
        """The newest chunks muxed, for a viewer joining others."""
        self._burst_placeholder = False
        self._placeholder: PlaceholderVideo | None = None
        self._placeholder_turn = 0
        self._next_placeholder = 0.0
        self.served = False
        """Whether a relay serves it (set by the relay): unserved, it holds no packets."""

    # -- PacketSink (reader thread) -------------------------------------------

    def stream_started(self, media: MediaFormat, wall_time: float) -> None:
        """A connection delivers pictures: live chunks continue the relay's timeline."""
        video = VideoFormat(media.video_codec, media.width, media.height)
        audio = AudioTrack.of(media.audio)
        with self._lock:
            if self._muxer is not None and (video != self._muxer_format or audio != self._muxer_audio):
                _LOGGER.debug("Relay of %s: the stream is now %s; its viewers reconnect", self.label, media.describe())
                self._close_all("the stream changed")
            self.format = video
            self.audio = audio
            if media.audio is not None:
                self._audio_scale = float(media.audio.time_base) * 90000
            if self._muxer is not None and self._muxer.audio is not None:
                self._muxer.audio.new_connection(media.audio)
            self._media = media
            self._live = True
            self._fixer = TimestampFixer()
            self._offset = None
            self._history.clear()
            tb = media.video_time_base
            self._scale = None if tb == Fraction(1, 90000) else tb * 90000

    def packet(self, packet: EncodedPacket, audio: bool) -> None:
        """Hold a live packet; mux it for the viewers (none: nothing more; unserved: not even that)."""
        if not self.served:  # a plain flag, read without the lock: every packet of every channel passes here
            return
        with self._lock:
            if not self._live:
                return
            self._history.add((packet, audio), len(packet.data), packet.keyframe and not audio, time.monotonic())
            if self._muxer is not None:
                self._feed(packet, audio)

    def stream_ended(self) -> None:
        """The camera is gone: placeholder pictures follow on the same timeline."""
        with self._lock:
            self._live = False
            self._media = None
            self._history.clear()
            self._next_placeholder = 0.0

    # -- viewers (server threads) ---------------------------------------------

    def open_client(self, peer: str) -> RelayClient:
        """A new viewer: it gets the held GOP (or the last placeholder pictures) first, then live chunks."""
        client = RelayClient(peer)
        with self._lock:
            if self._muxer is None:
                self._start()
            for chunk in self._burst.items():
                client.put(chunk)
            self._clients.append(client)
        _LOGGER.debug("Relay of %s: a viewer joined (%d now)", self.label, len(self._clients))
        return client

    def close_client(self, client: RelayClient, reason: str = "left") -> None:
        """A viewer is gone; the last one stops the muxing."""
        client.close(reason)
        with self._lock:
            if client in self._clients:
                self._clients.remove(client)
            if not self._clients:
                self._stop_muxer()
        _LOGGER.debug("Relay of %s: a viewer %s after %d bytes", self.label, client.closed, client.sent)

    def close(self) -> None:
        """The stream is no longer relayed: disconnect every viewer, and hold nothing more."""
        with self._lock:
            self._close_all("the channel stopped")
            self._history.clear()

    def clients(self) -> list[dict]:
        """What diagnostics show of the viewers."""
        now = time.monotonic()
        with self._lock:
            return [{"peer": c.peer, "bytes": c.sent, "age": round(now - c.started, 1)} for c in self._clients]

    # -- the ticker (the server's thread) -------------------------------------

    def tick(self, now: float) -> None:
        """While the camera is down and viewers watch: the next placeholder picture when it is due."""
        if self._live or not self._clients or now < self._next_placeholder:
            return
        with self._lock:
            if self._live or self._muxer is None or not self._clients:
                return
            self._next_placeholder = now + 1 / PLACEHOLDER_FPS
            if self._ensure_placeholder():
                self._mux_placeholder()

    # -- with the lock held -----------------------------------------------------

    def _start(self) -> None:
        """Make the muxer for a first viewer, and the burst it starts with."""
        media = self._media
        try:
            if self._live and media is not None:
                self._muxer = TsMuxer(
                    media.video_template, self.format.width, self.format.height, self.audio, media.audio_template
                )
                self._muxer_format = self.format
                self._muxer_audio = self.audio
                if self._muxer.audio is not None:
                    self._muxer.audio.new_connection(media.audio)
                self._burst.clear()
                self._fixer = TimestampFixer()
                self._offset = None
                for packet, audio in self._history.items():
                    self._feed(packet, audio)
                return
            if not self._ensure_placeholder():
                return
            with self._placeholder.stream_template() as template:
                video = self._placeholder.format
                self._muxer = TsMuxer(template.streams.video[0], video.width, video.height, self.audio)
            self._muxer_format = self.format
            self._muxer_audio = self.audio
            self._burst.clear()
            for _ in range(int(HISTORY_SECONDS * PLACEHOLDER_FPS)):
                self._mux_placeholder()
            self._next_placeholder = time.monotonic() + 1 / PLACEHOLDER_FPS
        except (av.error.FFmpegError, ValueError, OSError) as err:
            _LOGGER.warning("Relay of %s cannot serve %s: %s", self.label, self.format.describe(), err)
            self._stop_muxer()

    def _ensure_placeholder(self) -> bool:
        video = self._muxer_format or self.format
        placeholder = self._placeholder
        if placeholder is None or placeholder.format.codec != video.codec or placeholder.caption != current_caption():
            try:
                self._placeholder = placeholder_video(video, self._name())
            except (av.error.FFmpegError, ValueError) as err:
                _LOGGER.debug("Relay of %s has no placeholder for %s: %s", self.label, video.describe(), err)
                return False
        return True

    def _ticks(self, value: int) -> int:
        return value if self._scale is None else round(value * self._scale)

    def _feed(self, packet: EncodedPacket, audio: bool) -> None:
        if not audio:
            for fixed in self._fixer.feed(packet):
                self._mux_live(fixed)
            return
        relay_audio = self._muxer.audio if self._muxer is not None else None
        if relay_audio is None or self._offset is None or packet.pts is None:
            return  # audio joins the timeline after the connection's first keyframe
        ticks = round(packet.pts * self._audio_scale) + self._offset
        for data, at in relay_audio.live(packet, ticks):
            self._emit_audio(data, at, placeholder=False)

    def _mux_live(self, packet: EncodedPacket) -> None:
        if self._offset is None:
            if not packet.keyframe:
                return  # a connection joins the timeline at a keyframe
            self._offset = self._last_dts + self._step - self._ticks(packet.dts)
        dts = self._ticks(packet.dts) + self._offset
        pts = self._ticks(packet.pts if packet.pts is not None else packet.dts) + self._offset
        if dts <= self._last_dts:
            return
        self._emit(packet.data, max(pts, dts), dts, packet.keyframe)
        self._fill_silence(dts - SILENCE_AFTER_TICKS, dts, placeholder=False)

    def _mux_placeholder(self) -> None:
        assert self._placeholder is not None
        picture = self._placeholder.pictures[self._placeholder_turn % len(self._placeholder.pictures)]
        self._placeholder_turn += 1
        dts = self._last_dts + PLACEHOLDER_STEP
        self._emit(picture, dts, dts, True, placeholder=True)
        self._fill_silence(dts + PLACEHOLDER_STEP, dts, placeholder=True)

    def _fill_silence(self, until: int, start: int, placeholder: bool) -> None:
        relay_audio = self._muxer.audio if self._muxer is not None else None
        if relay_audio is not None:
            for data, at in relay_audio.silence(until, start):
                self._emit_audio(data, at, placeholder)

    def _emit_audio(self, data: bytes, ticks: int, placeholder: bool) -> None:
        if self._muxer is None:
            return
        try:
            chunk = self._muxer.mux_audio(data, ticks)
        except (av.error.FFmpegError, ValueError) as err:
            _LOGGER.debug("Relay of %s could not mux audio: %s", self.label, err)
            return
        self._fan_out(chunk, False, ticks / 90000 if placeholder else time.monotonic(), placeholder)

    def _emit(self, data: bytes, pts: int, dts: int, keyframe: bool, placeholder: bool = False) -> None:
        assert self._muxer is not None
        try:
            chunk = self._muxer.mux(data, pts, dts, keyframe)
        except (av.error.FFmpegError, ValueError) as err:
            _LOGGER.debug("Relay of %s could not mux a packet: %s", self.label, err)
            return
        if not placeholder:
            self._step = max(1, min(dts - self._last_dts, 90000))
        self._last_dts = dts
        # Placeholder pictures count in media time: a burst of them is made faster than real time.
        self._fan_out(chunk, keyframe, dts / 90000 if placeholder else time.monotonic(), placeholder)

    def _fan_out(self, chunk: bytes, keyframe: bool, now: float, placeholder: bool) -> None:
        if placeholder != self._burst_placeholder:
            self._burst.clear()
            self._burst_placeholder = placeholder
        self._burst.add(chunk, len(chunk), keyframe, now)
        if not chunk:
            return  # the muxer holds the packet until the other track catches up
        dropped = False
        for client in list(self._clients):
            if not client.put(chunk):
                self._clients.remove(client)
                dropped = True
                _LOGGER.debug("Relay of %s dropped a viewer: %s", self.label, client.closed)
        if dropped and not self._clients:
            self._stop_muxer()

    def _close_all(self, reason: str) -> None:
        for client in self._clients:
            client.close(reason)
        self._clients.clear()
        self._stop_muxer()

    def _stop_muxer(self) -> None:
        if self._muxer is not None:
            self._muxer.close()
        self._muxer = None
        self._muxer_format = None
        self._muxer_audio = None
        self._burst.clear()
