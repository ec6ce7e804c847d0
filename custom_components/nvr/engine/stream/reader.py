"""One thread per stream: connect, read packets, keep the last GOP, reconnect.

The thread never decodes; it only demuxes, so an open channel costs little
CPU. Status changes are reported through a callback called from the thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import av.error

from .avopen import classify_error, decoded_size, fps_from_stamps, open_input, socket_timed, video_stream
from .gop import CodecParams, EncodedPacket, GopBuffer
from .interrupt import SocketWatch
from .mediaformat import MediaFormat
from .sinks import PacketSink
from .source import StreamSource, redact
from .sps import picture_size
from .status import FailureReason, StreamError, StreamInfo, StreamStatus
from .watchdog import WATCHDOG

_LOGGER = logging.getLogger(__name__)

OPEN_TIMEOUT = 8.0
OPEN_TURN = 2.0
"""Seconds at most an open waits for earlier opens to the same host to connect (see ``stream.interrupt``)."""
READ_TIMEOUT = 5.0
"""A feed that stalls this long counts as lost (a camera gone without BYE).

Over TCP, FFmpeg's socket timeout and the read watchdog (``stream.watchdog``)
enforce it, not PyAV's per-read timeout, which costs a GIL trip per socket
read; over UDP, PyAV's. When FFmpeg's timeout fires the RTSP demuxer may
first hand over a frame it still held, and only the next read (another
timeout later) fails: so the reader also checks the gap between video packets.
"""
BACKOFF_START = 0.5
BACKOFF_CAP = 1.0
"""A lost camera is tried again every second at most, so one that returns waits at most 1 s for the next
attempt (``bench/recovery.py``: it was 3 s, half the time lost after a return). An attempt at a camera
that is down costs a refused TCP connection, or one OPEN_TIMEOUT where the host does not answer."""
STOP_POLL = 0.1
"""Seconds between wake-ups of a thread asked to stop (see :meth:`StreamReader.stop`)."""
STATS_WINDOW = 3.0
STATUS_INTERVAL = 10.0
EARLY_AUDIO_LIMIT = 256
"""Audio packets kept from before a connection's first keyframe (about 5 s of G.711)."""
FPS_SETTLE = 1.0
"""Seconds after connecting when the frame rate measured from timestamps is first published."""
"""How often bitrate/fps are republished while connected."""

StatusCallback = Callable[[StreamStatus], None]


class StreamReader:
    """Reads one stream in its own thread until stopped."""

    def __init__(
        self,
        source: StreamSource,
        name: str,
        on_status: StatusCallback | None = None,
        label: str | None = None,
        sink: PacketSink | None = None,
        audio: bool | None = None,
    ) -> None:
        """Prepare the reader; call start() to begin.

        ``name`` names the thread; ``label`` (default: name) is what logs say.
        A ``sink`` gets every video packet, and the audio too when ``audio`` is set (the recorder).
        The audio is not demuxed otherwise.
        """
        self.sink = sink
        self.audio = sink is not None if audio is None else audio and sink is not None
        """Whether the sink gets the audio too (default: when there is a sink)."""
        self.source = source
        self.name = name
        self.label = label or name
        self._received = False
        self._last_frame_time: float | None = None
        """time.time() of the newest packet; a plain float, set per packet."""
        self.gop = GopBuffer()
        self._on_status = on_status
        self._status = StreamStatus()
        self._status_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._samples: deque[tuple[float, int, float | None]] = deque()
        self._waiting_since = 0.0
        """When the current blocking FFmpeg call (open or read) began."""
        self._sink_started = False
        self._watch: SocketWatch | None = None
        """The sockets of the current connection attempt, to wake FFmpeg on a stop."""
        self._last_read: float | None = None
        """While reading: when the demuxer last handed over a packet (or the read began); for the watchdog."""
        self._stalled = False
        """The watchdog woke this connection's read: its error counts as a timeout."""

    @property
    def status(self) -> StreamStatus:
        """The latest status."""
        with self._status_lock:
            status = self._status
        frame_time = self._last_frame_time  # kept apart: it changes with every packet
        return status if status.last_frame_time == frame_time else replace(status, last_frame_time=frame_time)

    @property
    def running(self) -> bool:
        """Whether the reader thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the reader thread."""
        if self._thread is not None:
            raise RuntimeError("reader already started")
        self._thread = threading.Thread(target=self._run, name=f"nvr-reader-{self.name}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to end, waking it if FFmpeg is blocked in an open or a read; blocking (/proc)."""
        self._stop.set()
        watch = self._watch
        if watch is not None:
            watch.interrupt()

    def stop(self, timeout: float = 2.0) -> bool:
        """Ask the thread to end and wait for it; True if it ended in time.

        While FFmpeg is still creating its connection there may be no socket
        to shut down yet, so the wake-up is repeated until the thread ends.
        """
        deadline = time.monotonic() + timeout
        self.request_stop()
        if self._thread is None:
            return True
        while True:
            self._thread.join(min(STOP_POLL, max(0.0, deadline - time.monotonic())))
            if not self._thread.is_alive() or time.monotonic() >= deadline:
                return not self._thread.is_alive()
            self.request_stop()

    def _publish(self, **changes) -> None:
        with self._status_lock:
            self._status = replace(self._status, last_frame_time=self._last_frame_time, **changes)
            status = self._status
        if self._on_status is not None:
            try:
                self._on_status(status)
            except Exception:
                _LOGGER.exception("Status callback of %s failed", self.label)

    def check_stall(self, now: float) -> None:
        """Wake a read that waited READ_TIMEOUT for a packet (the watchdog's thread, see ``stream.watchdog``)."""
        last = self._last_read
        watch = self._watch
        if last is None or watch is None or self._stalled or now - last < READ_TIMEOUT:
            return
        self._stalled = True
        if not watch.interrupt():
            _LOGGER.debug("Stream %s stalled; its sockets are unknown, FFmpeg's socket timeout applies", self.label)

    def _run(self) -> None:
        watched = socket_timed(self.source)
        if watched:
            WATCHDOG.add(self)
        try:
            self._run_loop()
        finally:
            if watched:
                WATCHDOG.remove(self)

    def _run_loop(self) -> None:
        backoff = BACKOFF_START
        first = True
        while not self._stop.is_set():
            if not first:
                self._publish(reconnects=self.status.reconnects + 1)
            first = False
            self._waiting_since = time.monotonic()
            self._received = False
            self._stalled = False
            try:
                self._read_once()
                if self._stop.is_set():
                    break  # a deliberate stop is not a lost feed
            except StreamError as err:
                self._disconnected(err.reason, err.detail)
            except (av.error.FFmpegError, OSError) as err:
                if self._stop.is_set():
                    break  # woken by a stop: not a failure of the camera
                waited = time.monotonic() - self._waiting_since
                limit = READ_TIMEOUT if self.status.connected else OPEN_TIMEOUT
                reason = FailureReason.TIMEOUT if self._stalled else classify_error(err, waited, limit)
                self._disconnected(reason, redact(str(err)))
            else:
                if self._stalled:  # the watchdog's wake-up ended the stream
                    self._disconnected(FailureReason.TIMEOUT, f"no packet for {READ_TIMEOUT:.0f} s")
                else:
                    self._disconnected(FailureReason.CANNOT_CONNECT, "the stream ended")
            if self._received:  # it worked for a while: retry quickly
                backoff = BACKOFF_START
            if self._stop.wait(backoff):
                break
            backoff = min(backoff * 2, BACKOFF_CAP)
        self.gop.reset(None)

    def _disconnected(self, reason: FailureReason, detail: str) -> None:
        self.gop.reset(None)
        status = self.status
        if status.connected or status.failure != reason or status.last_error != detail:
            if status.connected:
                _LOGGER.warning("Stream %s lost: %s (%s)", self.label, reason.value, detail)
            else:
                _LOGGER.debug("Stream %s not connected: %s (%s)", self.label, reason.value, detail)
            self._publish(connected=False, bitrate=None, measured_fps=None, failure=reason, last_error=detail)

    def _open(self, turn: float, socket_timeout: bool | None) -> tuple[SocketWatch, Any] | None:
        """Open the stream under a new socket watch (None: asked to stop first); raises as ``open_input``.

        ``socket_timeout`` None: FFmpeg's socket timeout (no GIL per read)
        only where the watchdog can wake this connection, that is where its
        sockets are told apart from other opens' to the same host. An open
        that overlapped another one (a turn to connect ran out) is made again
        with PyAV's read timeout: rare, since opens take turns to connect.
        """
        watch = SocketWatch(self.source.url, turn=turn, stop=self._stop)
        self._watch = watch
        if self._stop.is_set():  # asked to stop before the watch was in place
            self._watch = None
            watch.release()
            return None
        timed = not watch.overlapped if socket_timeout is None else socket_timeout
        try:
            container = open_input(
                self.source, OPEN_TIMEOUT, READ_TIMEOUT, video_only=not self.audio, socket_timeout=timed
            )
        except BaseException:
            self._watch = None
            watch.release()
            raise
        watch.claim()
        if timed and watch.overlapped and socket_timed(self.source):
            _LOGGER.debug("Stream %s: its sockets cannot be told apart; opening again with a read timeout", self.label)
            self._watch = None
            watch.release()
            container.close()
            return self._open(0.0, False)
        return watch, container

    def _read_once(self) -> None:
        """Connect and read until the stream fails or ends."""
        sink = self.sink
        opened = self._open(OPEN_TURN, None)
        if opened is None:
            return
        watch, container = opened
        self._sink_started = False
        try:
            stream, probed = video_stream(container)
            self._samples.clear()
            audio = container.streams.audio[0] if self.audio and container.streams.audio else None
            self._last_read = time.monotonic()
            self._pump(_Connection(container, stream, audio, probed))
        finally:
            self._last_read = None
            if self._sink_started and sink is not None:
                self._sink_call(sink.stream_ended)
            self._watch = None
            container.close()
            watch.release()

    def _sink_call(self, method: Callable, *args) -> None:
        try:
            method(*args)
        except Exception:
            _LOGGER.exception("Recorder of %s failed to take a packet", self.label)

    def _pump(self, conn: _Connection) -> None:
        next_stats = 0.0
        last_video = time.monotonic()
        stream, audio = conn.stream, conn.audio
        tick = float(stream.time_base) if stream.time_base else 0.0
        for packet in conn.container.demux(*((stream, audio) if audio is not None else (stream,))):
            if self._stop.is_set():
                break
            if not packet.size:
                continue  # demuxer flush packet
            now = self._last_read = time.monotonic()
            if self._received and now - last_video >= READ_TIMEOUT:
                raise StreamError(FailureReason.TIMEOUT, f"no video for {now - last_video:.0f} s")
            if audio is not None and packet.stream_index == audio.index:
                self._on_audio(conn, EncodedPacket.of(packet, keyframe=True))
                continue
            last_video = now
            encoded = EncodedPacket.of(packet)
            if not self._received:
                if not (packet.is_keyframe and conn.learn_size(encoded)):
                    continue  # connected means a picture of known size can be shown: from the first keyframe
                self.gop.reset(conn.codec_params())
            self.gop.add(encoded)
            if self.sink is not None:
                self._to_sink(conn, encoded)
            self._sample(now, packet.size, packet.pts * tick if packet.pts is not None and tick else None)
            if not self._received:
                self._connected(conn)
                next_stats = now + FPS_SETTLE
            elif now >= next_stats:
                next_stats = now + STATUS_INTERVAL
                self._publish_rates()

    def _on_audio(self, conn: _Connection, packet: EncodedPacket) -> None:
        if self._sink_started:
            self._sink_call(self.sink.packet, packet, True)
        else:
            conn.early_audio.append(packet)

    def _to_sink(self, conn: _Connection, packet: EncodedPacket) -> None:
        sink = self.sink
        if not self._sink_started:
            self._sink_started = True
            self._sink_call(sink.stream_started, conn.media_format(), time.time())
            for early in conn.early_audio:  # the sink drops what precedes the keyframe
                self._sink_call(sink.packet, early, True)
            conn.early_audio.clear()
        self._sink_call(sink.packet, packet, False)

    def _sample(self, now: float, size: int, pts_s: float | None) -> None:
        self._waiting_since = now
        self._samples.append((now, size, pts_s))
        while self._samples and now - self._samples[0][0] > STATS_WINDOW:
            self._samples.popleft()
        self._last_frame_time = time.time()

    def _connected(self, conn: _Connection) -> None:
        self._received = True
        info = conn.info()
        _LOGGER.info("Stream %s connected: %s", self.label, info.describe())
        self._publish(connected=True, info=info, failure=None, last_error=None)

    def _publish_rates(self) -> None:
        rates = self._rates()
        info = self.status.info
        # The frame rate is the one the timestamps show, never the probe's guess.
        if info is not None and rates.get("measured_fps") and info.fps != rates["measured_fps"]:
            rates["info"] = replace(info, fps=rates["measured_fps"])
        self._publish(**rates)

    def _rates(self) -> dict[str, float | int | None]:
        samples = list(self._samples)
        if len(samples) < 2:
            return {}
        span = samples[-1][0] - samples[0][0]
        fps = fps_from_stamps(s[2] for s in samples if s[2] is not None)
        bitrate = int(sum(s[1] for s in samples[1:]) * 8 / span) if span > 0 else None
        return {"bitrate": bitrate, "measured_fps": fps}


class _Connection:
    """One open input: its streams, and what was learnt of its video."""

    def __init__(self, container, stream, audio, probed: StreamInfo) -> None:
        self.container = container
        self.stream = stream
        self.audio = audio
        self.probed = probed
        extradata = stream.codec_context.extradata
        self.extradata = bytes(extradata) if extradata else None
        self.early_audio: deque[EncodedPacket] = deque(maxlen=EARLY_AUDIO_LIMIT)
        """Audio demuxed before the first keyframe: its time may still follow the keyframe's."""
        self.size: tuple[int, int] | None = (probed.width, probed.height) if probed.width and probed.height else None
        if self.size is None:
            self.size = picture_size(probed.codec, self.extradata)

    def learn_size(self, keyframe: EncodedPacket) -> bool:
        """Whether the picture size is known, from the probe, the SPS or this keyframe."""
        if self.size is None:
            self.size = picture_size(self.probed.codec, keyframe.data) or decoded_size(
                self.probed.codec, self.extradata, keyframe.data
            )
        return self.size is not None

    def info(self) -> StreamInfo:
        """What the stream carries; its frame rate is measured later, from timestamps."""
        assert self.size is not None
        return StreamInfo(self.probed.codec, self.size[0], self.size[1], None)

    def codec_params(self) -> CodecParams:
        """What a decoder of this stream needs."""
        assert self.size is not None
        return CodecParams(self.probed.codec, self.extradata, self.size[0], self.size[1])

    def media_format(self) -> MediaFormat:
        """The recorder's view of the stream (made once the size is known)."""
        return MediaFormat(self.stream, self.audio, self.size)
