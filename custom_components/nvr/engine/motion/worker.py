"""Motion detection of one channel: a packet sink with a decoding thread of its own.

The reader of the detection stream (the sub stream, or the main stream when
there is none) hands its packets over; the reader thread itself never decodes.
The worker's thread decodes every video packet (H.264/H.265 P-frames refer to
the frames before them, so none can be skipped), and only the frames the
``FrameRateLimiter`` lets through (``detect_fps``, 5 by default) have their
luma plane analysed: no colour conversion, no scaling by FFmpeg. In low-power
mode only keyframes are handed over and decoded (one picture per GOP,
typically every 1-2 s).

When decoding falls behind (an overloaded host), only keyframes are decoded
until a later try of every frame keeps up (:mod:`.shedding`). A backlog that
still overflows is dropped up to the next keyframe (dropping single packets
would leave the decoder with broken references).

Motion events become NVR events: ``Recorder.start_event("motion")`` at the
first motion frame (indexed in every recording mode; in motion mode it also
starts a recording from the pre-roll) and ``Recorder.end_event`` with the
peak score and a JPEG of the peak frame at
``<root>/<channel>/events/<YYYY-MM-DD>/<event id>.jpg``. ``on_event`` gets a
:class:`MotionUpdate` for each start and end (in the worker's thread).

Camera-side motion reports (``camera_event``) merge with the detector's
events (:mod:`.merge`, reported by :mod:`.reporter`): either source starts
the event, and it ends when both are quiet. With the camera alone, nothing
is decoded: a new event's thumbnail is decoded once from the held GOP
(``picture_source``, set by the channel).

The detector runs on the stream's own clock (steady even when packets come
in bursts), continued across reconnects. Event times are turned into wall
time by the earliest arrival seen for a timestamp (bursts arrive late, never
early), so they match the recordings.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from ..objects.channel import ChannelObjects
from ..search.grid import moved_words
from ..search.store import ChannelActivity
from ..stills.fresh import Picture
from ..stream.gop import EncodedPacket
from ..stream.mediaformat import MediaFormat
from .decoding import open_decoder
from .detector import MotionResult, luma_plane
from .events import EventSink, MotionUpdate
from .reporter import EventReporter
from .settings import MotionConfig
from .shedding import LoadShedder
from .tracker import MotionEvent, MotionMonitor, MotionTransition

_LOGGER = logging.getLogger(__name__)

PICTURE_AGE = 2.0
"""Seconds the picture decoded last may be old to be a camera-reported event's thumbnail."""
QUEUE_LIMIT = 90
"""Video packets waiting for the decoder before the backlog is dropped (6 s at 15 fps)."""
TICK = 0.25
"""Seconds without packets after which a running event is checked for its off delay."""
CLOCK_DRIFT = 1e-3
"""How fast (s/s) the stream-to-wall mapping may move later: camera clocks drift a little."""


class MotionWorker:
    """Decodes and analyses one channel's detection stream in its own thread."""

    def __init__(
        self,
        channel: str,
        config: MotionConfig | None = None,
        *,
        recorder: EventSink | None = None,
        root: Path | None = None,
        on_event: Callable[[MotionUpdate], None] | None = None,
        on_frame: Callable[[MotionResult, float], None] | None = None,
        label: str | None = None,
    ) -> None:
        """Prepare; call start() to run the thread.

        ``recorder`` gets the events (None: events are only reported).
        ``root`` is the storage folder for thumbnails (None: none are
        written). ``on_frame(result, stream_seconds)`` is called for every
        analysed frame (tests and benchmarks).
        """
        self.channel = channel
        self.label = label or channel
        self._config = config or MotionConfig()
        self._events = EventReporter(channel, self.label, recorder, root, on_event)
        self._on_frame = on_frame
        self._cond = threading.Condition()
        self._items: deque[tuple] = deque()
        self._pending = 0
        """Video packets in ``_items``."""
        self._need_key = True
        self._thread: threading.Thread | None = None
        self.dropped = 0
        """Video packets dropped because the decoder fell behind."""
        # Worker-thread state below.
        self._monitor = MotionMonitor(self._config.settings)
        self._media: MediaFormat | None = None
        self._decoder: Any = None
        self._decoder_low_power = False
        self._time_base = Fraction(1, 90000)
        self._conn_base: float | None = None
        """Detector clock minus stream time, for the current connection."""
        self._wall_minus_d = 0.0
        """Wall time minus detector clock (earliest arrival, allowed to drift later slowly)."""
        self._last_arrival = 0.0
        self.decoded = 0
        """Frames decoded (worker thread; for tests and benchmarks)."""
        self.latest_picture: Picture | None = None
        """The newest picture decoded, while every frame is decoded (stills take it from here)."""
        self.picture_source: Callable[[], av.VideoFrame | None] | None = None
        """Decodes a picture on demand (the channel's): a camera-reported event's thumbnail while nothing is decoded."""
        self.analysed = 0
        self._shed = LoadShedder(self.label)
        self.objects: ChannelObjects | None = None
        """The channel's object detection, offered the pictures analysed while motion goes on."""
        self.activity: ChannelActivity | None = None
        """The channel's part of the activity index (smart search): every analysed picture's moved cells."""

    # -- public API (any thread) ----------------------------------------------

    @property
    def config(self) -> MotionConfig:
        """The configuration in force (or about to be)."""
        return self._config

    @property
    def overloaded(self) -> bool:
        """Whether only keyframes are analysed because decoding every frame fell behind."""
        return self._shed.shedding

    @property
    def on_overload(self) -> Callable[[bool], None] | None:
        """Called (in the worker's thread) with ``overloaded`` whenever it changes."""
        return self._shed.on_change

    @on_overload.setter
    def on_overload(self, callback: Callable[[bool], None] | None) -> None:
        self._shed.on_change = callback

    @property
    def motion(self) -> bool:
        """Whether an event is going on."""
        return self._events.event_id is not None

    def start(self) -> None:
        """Start the worker's thread."""
        if self._thread is not None:
            raise RuntimeError("motion worker already started")
        self._thread = threading.Thread(target=self._run, name=f"nvr-motion-{self.label}"[:64], daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """End a running event and the thread; True if it ended in time.

        Packets still queued are dropped (a busy host may hold many): the stop
        waits only for the settings and camera reports queued before it.
        """
        with self._cond:
            self._drop_packets()
        self._put(("stop",))
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def apply(self, config: MotionConfig) -> None:
        """Change settings, enable or disable detection, switch low-power mode; live."""
        with self._cond:
            if config.analyses != self._config.analyses or config.low_power != self._config.low_power:
                self._need_key = True
            self._config = config
        self._put(("config", config))

    def camera_event(self, active: bool, at: float | None = None) -> None:
        """The camera reports motion starting or ending (ignored unless its reports count)."""
        self._put(("camera", active, time.time() if at is None else at))

    def sync(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far was handled (tests)."""
        done = threading.Event()
        self._put(("sync", done))
        return done.wait(timeout)

    # -- PacketSink (reader thread) -------------------------------------------

    def stream_started(self, media: MediaFormat, wall_time: float) -> None:
        """A connection delivers pictures: a new decoder is made for it."""
        with self._cond:
            self._need_key = True
        self._put(("start", media))

    def packet(self, packet: EncodedPacket, audio: bool) -> None:
        """Queue a video packet for decoding (audio and unneeded packets are ignored)."""
        if audio:
            return
        config = self._config
        if not config.analyses or ((config.low_power or self._shed.shedding) and not packet.keyframe):
            return
        with self._cond:
            if self._need_key:
                if not packet.keyframe:
                    return
                self._need_key = False
            if self._pending >= QUEUE_LIMIT:
                _LOGGER.debug("Motion detection of %s: %d queued packets dropped", self.label, self._pending)
                self.dropped += self._pending
                self._drop_packets()
                if not packet.keyframe:
                    self._need_key = True
                    return
            self._items.append(("packet", packet, time.time()))
            self._pending += 1
            self._cond.notify()

    def stream_ended(self) -> None:
        """The connection ended."""
        self._put(("end",))

    # -- worker thread --------------------------------------------------------

    def _drop_packets(self) -> None:
        """Forget the queued packets, keeping the rest in order (with ``_cond`` held)."""
        self._items = deque(item for item in self._items if item[0] != "packet")
        self._pending = 0

    def _put(self, item: tuple) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify()

    def _get(self) -> tuple | None:
        with self._cond:
            if not self._items:
                self._cond.wait(TICK)
            if not self._items:
                return None
            item = self._items.popleft()
            if item[0] == "packet":
                self._pending -= 1
            return item

    def _run(self) -> None:
        while True:
            item = self._get()
            try:
                self._events.check(time.time())
                if self.objects is not None:
                    self.objects.tick(time.time())
                if item is None:
                    self._transitions(self._monitor.tracker.tick(time.time() - self._wall_minus_d), None)
                    continue
                kind = item[0]
                if kind == "stop":
                    self._end_now()
                    return
                if kind == "packet":
                    self._on_packet(item[1], item[2])
                elif kind == "start":
                    self._media = item[1]
                    self._open_decoder()
                elif kind == "end":
                    self._decoder = None
                    self.latest_picture = None
                elif kind == "config":
                    self._on_config(item[1])
                elif kind == "camera":
                    self._on_camera(item[1], item[2])
                    self._events.check(time.time())  # an end with no off delay is due now
                elif kind == "sync":
                    item[1].set()
            except Exception:
                _LOGGER.exception("Motion detection of %s failed", self.label)

    def _open_decoder(self, keep_clock: bool = False) -> None:
        self._decoder = None
        if not keep_clock:
            self._conn_base = None
        if self._media is None:
            return
        self._decoder = open_decoder(self._media, self.label)
        self._decoder_low_power = self._config.low_power or self._shed.shedding
        self._time_base = self._media.video_time_base

    def _on_config(self, config: MotionConfig) -> None:
        monitor = self._monitor
        if config.settings != monitor.settings:
            monitor.apply(config.settings)
        if not config.analyses:
            self._transitions(monitor.tracker.tick(math.inf), None)
            self.latest_picture = None  # decoded no more: it would only get older
            monitor.detector.reset()
            monitor.limiter.reset()
        if not (config.enabled and config.camera) and self._events.merge.camera_on:
            self._on_camera(False, time.time(), config)
        if not config.enabled:
            self._events.finish(time.time())
        if config.low_power or not config.analyses:
            self._shed.reset()
        if self._decoder is not None and (config.low_power or self._shed.shedding) != self._decoder_low_power:
            self._open_decoder()  # a clean decoder for the other mode; the next packet queued is a keyframe

    def _on_packet(self, packet: EncodedPacket, arrival: float) -> None:
        config = self._config
        if self._decoder is None or not config.analyses:
            return
        if not config.low_power:
            self._shed_load(packet, arrival)
        decoder = self._decoder
        if decoder is None or (self._decoder_low_power and not packet.keyframe):
            return
        if packet.pts is not None:
            pts_s = float(packet.pts * self._time_base)
            if self._conn_base is None:  # continue the detector clock where wall time says
                self._conn_base = arrival - self._wall_minus_d - pts_s
            drift = CLOCK_DRIFT * max(0.0, arrival - self._last_arrival) if self._last_arrival else 0.0
            self._wall_minus_d = min(self._wall_minus_d + drift, arrival - (self._conn_base + pts_s))
            self._last_arrival = arrival
        av_packet = av.Packet(packet.data)
        av_packet.pts = packet.pts
        av_packet.dts = packet.dts
        try:
            frames = decoder.decode(av_packet)
            if self._decoder_low_power:
                # Keyframes only: drain the decoder (it may hold pictures back for
                # reordering) and make it ready for the next keyframe.
                frames = [*frames, *decoder.decode(None)]
                decoder.flush_buffers()
        except av.error.FFmpegError as err:
            _LOGGER.debug("Motion detection of %s: undecodable packet (%s)", self.label, err)
            return
        for frame in frames:
            self.decoded += 1
            if frame.pts is None and self._decoder_low_power:
                frame.pts = packet.pts
            self._on_picture(frame)
        # Keyframes alone (low power) are no live picture; the latency is one frame (no frame threads).
        self.latest_picture = Picture(frames[-1], arrival) if frames and not self._decoder_low_power else None

    def _shed_load(self, packet: EncodedPacket, arrival: float) -> None:
        """Fall back to keyframes when decoding lags, and try every frame again later."""
        now = time.monotonic()
        shed = self._shed
        if shed.shedding:
            if packet.keyframe and shed.due(now):
                with self._cond:  # frames after this keyframe are gone: every frame from the next keyframe
                    self._need_key = True
                    shed.retry(now)
                self._open_decoder(keep_clock=True)
            return
        if not shed.behind(time.time() - arrival, now):
            return
        with self._cond:  # the queued frames that are not keyframes go
            kept = deque(item for item in self._items if item[0] != "packet" or item[1].keyframe)
            skipped = self._pending - sum(1 for item in kept if item[0] == "packet")
            self.dropped += skipped
            self._items, self._pending = kept, self._pending - skipped
            self._need_key = True
        self._open_decoder(keep_clock=True)

    def _on_picture(self, frame: av.VideoFrame) -> None:
        if frame.pts is None or self._conn_base is None:
            return
        stream_ts = float(frame.pts * self._time_base)
        ts = self._conn_base + stream_ts
        monitor = self._monitor
        if not monitor.limiter.should_analyse(ts):
            return
        self.analysed += 1
        result = monitor.detector.process(luma_plane(frame), ts)
        transitions = monitor.tracker.update(result)
        self._transitions(transitions, frame)
        event = monitor.tracker.event
        if event is not None and event.peak_ts == ts:
            self._events.peak_frame = frame
        if event is not None and self.objects is not None:
            self.objects.offer(frame, monitor.detector.moving_box(), ts + self._wall_minus_d)
        if self.activity is not None:
            changed = monitor.detector.changed
            labels = self.objects.present_bits if self.objects is not None else 0
            self.activity.picture(ts + self._wall_minus_d, None if changed is None else moved_words(changed), labels)
        if self._on_frame is not None:
            self._on_frame(result, stream_ts)

    def _end_now(self) -> None:
        """End a running event at its natural end (last motion + off delay)."""
        self._transitions(self._monitor.tracker.tick(math.inf), None)
        self._events.finish(time.time())
        if self.objects is not None:
            self.objects.finish()

    def _on_camera(self, active: bool, at: float, config: MotionConfig | None = None) -> None:
        config = config or self._config
        if active and not (config.enabled and config.camera):
            return
        self._events.camera(active, at, config.settings.off_delay, self._picture_now)

    def _picture_now(self) -> av.VideoFrame | None:
        """The newest picture: the one decoded here, else one decoded on demand (a camera's report)."""
        if (picture := self.latest_picture) is not None and time.time() - picture.arrival < PICTURE_AGE:
            return picture.frame
        try:
            return self.picture_source() if self.picture_source is not None else None
        except Exception:  # PyAV errors: the event counts without a picture
            _LOGGER.debug("No picture for %s's camera event", self.label, exc_info=True)
            return None

    def _transitions(self, transitions: list[MotionTransition], frame: av.VideoFrame | None) -> None:
        for transition in transitions:
            self._events.local(transition.kind == "motion_start", self._to_wall(transition.event), frame)

    def _to_wall(self, event: MotionEvent) -> MotionEvent:
        shift = self._wall_minus_d
        return MotionEvent(
            event.start + shift,
            event.peak_score,
            event.peak_ts + shift,
            event.last_motion + shift,
            None if event.end is None else event.end + shift,
        )
