"""The recorder of one channel: modes, events, pre-roll and file rotation.

The main stream's reader hands every packet over (:class:`..stream.sinks.PacketSink`);
a thread of the recorder's own does all the work, so a slow disk never stalls
the stream. Commands (mode, events, settings) go through the same queue, so
the recorder's state is only ever touched by that thread.

Writing is wanted when the mode is ``continuous``, while a manual event runs,
or, in ``motion`` mode, from an event's start (minus the pre-roll) to its end
plus the post-roll. The last few GOPs are held in memory for the pre-roll
(:mod:`.preroll`); files and disk faults are handled by :mod:`.files`.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ..stream.gop import EncodedPacket
from ..stream.mediaformat import MediaFormat
from ..stream.timestamps import TimestampFixer
from .events import RunningEvents
from .files import SegmentFiles
from .index import RecordingIndex
from .preroll import PrerollBuffer
from .status import EventKind, RecorderSettings, RecorderStatus, RecordingMode

_LOGGER = logging.getLogger(__name__)

QUEUE_LIMIT = 3000
"""Packets waiting for the disk before new ones are dropped (a stuck disk)."""
BATCH_INTERVAL = 0.5
"""Seconds the recorder lets packets gather between batches.

Waking up for every packet costs far more CPU than handling it (caches are
cold by then): paced at 15 fps, the thread took 0.15 CPU-s per minute of
video at 0.1 s and 0.06 at 0.5 s. Packets wait in memory meanwhile, and
commands (events, mode) take effect at most this much later; the pre-roll
buffer covers that.
"""
STALL_GRACE = BATCH_INTERVAL + 1.0
"""Seconds past a post-roll after which the file closes even without new packets."""
ROTATE_TOLERANCE = 0.25
"""Seconds of timestamp jitter forgiven when a segment is due to end."""
ANCHOR_SETTLE = 1.0
"""Seconds of a new connection during which no file is opened.

Opening a stream reads ahead (probing), so the first packets arrive in a
burst, later than they were sent. Until packets arrive live, the mapping from
stream time to wall time is moved earlier to the earliest arrival seen; the
pre-roll buffer keeps the footage of that second.
"""


class Recorder:
    """Records one channel's main stream under ``root``."""

    def __init__(
        self,
        channel: str,
        root: Path,
        index: RecordingIndex,
        settings: RecorderSettings | None = None,
        on_status: Callable[[RecorderStatus], None] | None = None,
        make_room: Callable[[], None] | None = None,
        label: str | None = None,
    ) -> None:
        """Prepare; call start() to run the thread.

        ``make_room`` is called before each new file (and after a disk-full
        error) to let retention free space; it must be thread-safe.
        """
        self.channel = channel
        self.root = root
        self.index = index
        self.label = label or channel
        self._settings = settings or RecorderSettings()
        self._on_status = on_status
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._dropped = 0
        self._thread: threading.Thread | None = None
        self._status = RecorderStatus(mode=self._settings.mode)
        self._status_lock = threading.Lock()
        # Writer-thread state below.
        self._media: MediaFormat | None = None
        self._anchor: tuple[float, int] | None = None
        """(wall time, dts) of one packet: maps stream time to wall time."""
        self._start_wall = 0.0
        self._settled_at = 0.0
        """Arrival time from which the anchor is trusted (see ANCHOR_SETTLE)."""
        self._fixer = TimestampFixer()
        self._preroll = PrerollBuffer()
        self._files = SegmentFiles(channel, root, index, make_room, self.label, self._publish)
        self._events = RunningEvents(channel, root, index, self.label)
        self._hold_until = 0.0
        """Motion mode writes until this wall time (last event end + post-roll)."""
        self._audio_hold: list[EncodedPacket] = []
        """Audio for the open file newer than the last video written: it goes to a file by its time."""
        self._stopping = False

    # -- public API (any thread) ----------------------------------------------

    @property
    def status(self) -> RecorderStatus:
        """The latest status."""
        with self._status_lock:
            return self._status

    @property
    def settings(self) -> RecorderSettings:
        """The settings in force (or about to be)."""
        return self._settings

    def start(self) -> None:
        """Start the recorder's thread."""
        if self._thread is not None:
            raise RuntimeError("recorder already started")
        self._thread = threading.Thread(target=self._run, name=f"nvr-recorder-{self.label}"[:64], daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Finish the file being written and end the thread; True if it ended in time."""
        self._queue.put(("stop",))
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def update_settings(self, settings: RecorderSettings) -> None:
        """Change mode, segment length or pre/post-roll."""
        self._settings = settings
        self._queue.put(("settings", settings))

    def set_mode(self, mode: RecordingMode) -> None:
        """Change the recording mode."""
        self.update_settings(replace(self._settings, mode=RecordingMode(mode)))

    def start_event(
        self, kind: EventKind | str = EventKind.MOTION, duration: float | None = None, at: float | None = None
    ) -> str:
        """Begin an event; returns its id. ``duration`` ends it by itself."""
        event_id = f"{int((at or time.time()) * 1000):x}{secrets.token_hex(4)}"
        self._queue.put(("event_start", event_id, EventKind(kind), at or time.time(), duration))
        return event_id

    def end_event(
        self, event_id: str, at: float | None = None, score: float | None = None, thumbnail: str | None = None
    ) -> None:
        """End an event started with start_event(); ``thumbnail`` is its JPEG's path relative to the root."""
        self._queue.put(("event_end", event_id, at or time.time(), score, thumbnail))

    def start_manual(self, duration: float | None = None) -> str:
        """Start a manual recording (an event of kind manual); returns its id."""
        return self.start_event(EventKind.MANUAL, duration)

    def stop_manual(self) -> None:
        """End every manual recording going on."""
        self._queue.put(("manual_stop", time.time()))

    def sync(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far was handled (for tests and shutdown)."""
        done = threading.Event()
        self._queue.put(("sync", done))
        return done.wait(timeout)

    # -- PacketSink (reader thread) -----------------------------------------

    def stream_started(self, media: MediaFormat, wall_time: float) -> None:
        """A connection delivers pictures."""
        self._queue.put(("start", media, wall_time))

    def packet(self, packet: EncodedPacket, audio: bool) -> None:
        """Queue a packet for the writer thread."""
        if self._queue.qsize() >= QUEUE_LIMIT:
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 500 == 0:
                _LOGGER.warning(
                    "Recorder of %s cannot keep up with the stream; %d packets dropped", self.label, self._dropped
                )
            return
        self._queue.put(("packet", packet, audio, time.time()))

    def stream_ended(self) -> None:
        """The connection ended."""
        self._queue.put(("end",))

    # -- writer thread ------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                batch = [self._queue.get(timeout=0.5)]
            except queue.Empty:
                batch = []
            while True:  # take everything queued at once: one wake-up per batch, not per packet
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for item in batch:
                if item[0] == "stop":
                    self._guarded(self._shutdown)
                    return
                self._guarded(self._handle, item)
            self._guarded(self._tick, time.time())
            if batch and batch[-1][0] == "packet":
                time.sleep(BATCH_INTERVAL)  # let packets gather; commands wait at most this long

    def _guarded(self, action: Callable, *args) -> None:
        try:
            action(*args)
        except Exception:
            _LOGGER.exception("Recorder of %s failed; closing its file", self.label)
            self._close_segment(None)

    def _handle(self, item: tuple) -> None:
        kind = item[0]
        if kind == "packet":
            self._on_packet(item[1], item[2], item[3])
        elif kind == "start":
            self._on_start(item[1], item[2])
        elif kind == "end":
            self._on_end()
        elif kind == "settings":
            self._on_settings(item[1])
        elif kind == "event_start":
            self._on_event_start(*item[1:])
        elif kind == "event_end":
            self._on_event_end(*item[1:])
        elif kind == "manual_stop":
            for event_id in self._events.manual_ids():
                self._on_event_end(event_id, item[1], None)
        elif kind == "sync":
            item[1].set()

    def _wall(self, dts: int) -> float:
        assert self._anchor is not None and self._media is not None
        wall0, dts0 = self._anchor
        return wall0 + (dts - dts0) * self._media.video_seconds_per_tick

    def _on_start(self, media: MediaFormat, wall_time: float) -> None:
        self._close_segment(None)
        self._media = media
        self._anchor = None
        self._start_wall = wall_time
        self._fixer = TimestampFixer()
        self._preroll.clear()
        self._files.new_connection()
        _LOGGER.debug("Recorder of %s: stream %s", self.label, media.describe())

    def _on_end(self) -> None:
        self._close_segment(None)
        self._media = None
        self._anchor = None
        self._preroll.clear()
        self._publish()

    def _on_settings(self, settings: RecorderSettings) -> None:
        self._settings = settings
        self._publish()

    def _wants_to_write(self, now: float) -> bool:
        if self._stopping:
            return False
        mode = self._settings.mode
        if mode == RecordingMode.CONTINUOUS:
            return True
        if self._events.manual_at(now):
            return True
        if mode == RecordingMode.MOTION:
            return bool(self._events) or now < self._hold_until
        return False

    def _on_packet(self, packet: EncodedPacket, audio: bool, arrival: float | None = None) -> None:
        media = self._media
        if media is None:
            return
        if audio:
            self._preroll.add(packet, True)
            if self._files.writer is not None:
                self._audio_hold.append(packet)
                last = self._fixer.last_dts
                self._flush_audio(None if last is None else last + 1)
            return
        for fixed in self._fixer.feed(packet):
            self._on_video(fixed, arrival)

    def _on_video(self, packet: EncodedPacket, arrival: float | None) -> None:
        if self._anchor is None:
            if not packet.keyframe:
                return
            self._anchor = (arrival if arrival is not None else self._start_wall, packet.dts)
            self._settled_at = self._anchor[0] + ANCHOR_SETTLE
        wall = self._wall(packet.dts)
        files = self._files
        if arrival is not None and arrival < wall and files.writer is None and files.written_until is None:
            self._move_anchor(arrival - wall)
            wall = arrival
        if packet.keyframe:
            self._preroll.start_gop(wall, packet.dts)
            self._trim_preroll(wall)
        self._preroll.add(packet, False)
        now = time.time()
        if files.writer is not None:
            # Judged by the packet's own time: packets are handled in batches,
            # so the post-roll must not end by the clock of the batch.
            if not self._wants_to_write(wall):
                self._close_segment(packet.dts)
            elif packet.keyframe and self._should_rotate(wall):
                # No status between the two: "recording" must not blink at every new file.
                self._close_segment(packet.dts, publish=False)
                if files.fault is None:  # a failed close waits for the next retry (and was published)
                    self._open_segment(packet.dts, wall, packet)
                    self._flush_audio(packet.dts + 1)
                return
            else:
                files.write(lambda w: w.write_video(packet))
                self._flush_audio(packet.dts + 1)
                return
        if (
            files.writer is None
            and packet.keyframe
            and self._settled(now)
            and self._wants_to_write(now)
            and files.may_write(now)
        ):
            self._start_from_buffer()

    def _move_anchor(self, delta: float) -> None:
        """Shift the stream-to-wall mapping (and the buffered GOPs) by ``delta`` seconds."""
        assert self._anchor is not None
        self._anchor = (self._anchor[0] + delta, self._anchor[1])
        self._preroll.shift(delta)

    def _settled(self, now: float) -> bool:
        """Whether the connection's wall-time mapping can be trusted (see ANCHOR_SETTLE)."""
        return self._anchor is not None and now >= self._settled_at

    def _trim_preroll(self, now_wall: float) -> None:
        """Keep the fewest whole GOPs that still reach back pre_roll seconds.

        While an event waits for its file to open, they reach back pre_roll
        seconds before the event's start.
        """
        files = self._files
        if files.writer is None and files.written_until is None and self._settings.mode == RecordingMode.CONTINUOUS:
            return  # a new connection's first file starts at its first keyframe
        horizon = now_wall - self._settings.pre_roll
        earliest = self._events.earliest_start
        if files.writer is None and earliest is not None:
            horizon = min(horizon, earliest - self._settings.pre_roll)
        self._preroll.trim(horizon)

    def _should_rotate(self, wall: float) -> bool:
        start = self._files.segment_start
        length = wall - start
        if length >= self._settings.segment_seconds - ROTATE_TOLERANCE:
            return True
        # Start a new file on the hour too, so hours map onto whole files.
        return length >= 1.0 and int(wall // 3600) != int(start // 3600)

    def _start_from_buffer(self) -> None:
        """Open a file at a buffered keyframe reaching back pre_roll seconds, and write the buffer."""
        now = self._preroll.newest.start
        target = now - self._settings.pre_roll
        trigger = self._events.earliest_start
        trigger = now if trigger is None else trigger
        target = min(target, trigger - self._settings.pre_roll)
        written_until = self._files.written_until
        candidates = [g for g in self._preroll if written_until is None or g.start >= written_until - 1e-6]
        if not candidates:
            return
        chosen = candidates[0]
        if self._settings.mode != RecordingMode.CONTINUOUS:  # continuous: everything not yet written
            for gop in candidates:
                if gop.start <= target:
                    chosen = gop
        gops = [g for g in self._preroll if g.start >= chosen.start]
        self._audio_hold = []  # the buffer holds that audio too
        if not self._open_segment(chosen.dts, chosen.start):
            return
        files = self._files
        for gop in gops:
            for packet, audio in gop.items:
                if files.writer is None:
                    return
                if audio:
                    files.write(lambda w, p=packet: w.write_audio(p))
                else:
                    files.write(lambda w, p=packet: w.write_video(p))

    def _open_segment(self, dts: int, wall: float, first: EncodedPacket | None = None) -> bool:
        assert self._media is not None
        if not self._files.open(self._media, dts, wall, first):
            return False
        self._publish()
        return True

    def _audio_ticks(self, packet: EncodedPacket) -> int | None:
        media = self._media
        if media is None or media.audio is None or packet.pts is None:
            return None
        return round(packet.pts * media.audio.time_base / media.video_time_base)

    def _video_end(self) -> int | None:
        """The video tick where the newest picture ends, or None before any picture."""
        last = self._fixer.last_dts
        return None if last is None else last + max(self._fixer.step, 1)

    def _flush_audio(self, limit: int | None) -> None:
        """Write held audio older than video tick ``limit`` (all when None) to the open file."""
        keep = []
        for packet in self._audio_hold:
            ticks = self._audio_ticks(packet)
            if limit is None or ticks is None or ticks < limit:
                self._files.write(lambda w, p=packet: w.write_audio(p))
            else:
                keep.append(packet)
        self._audio_hold = keep

    def _close_segment(self, end_dts: int | None, publish: bool = True) -> None:
        # Without a next keyframe the file ends with its last picture: audio that
        # came after that picture (it runs ahead on a busy machine) is not written.
        self._flush_audio(end_dts if end_dts is not None else self._video_end())
        if end_dts is None:
            self._audio_hold = []
        written = self._files.close(end_dts)
        if written is None:
            return
        if written.duration > 0:
            bitrate = int(written.bytes * 8 / written.duration)
            with self._status_lock:
                self._status = replace(self._status, bitrate=bitrate)
        if publish:
            self._publish()

    def _on_event_start(self, event_id: str, kind: EventKind, at: float, duration: float | None) -> None:
        self._events.start(event_id, kind, at, duration)
        now = time.time()
        if (
            self._files.writer is None
            and self._preroll
            and self._settled(now)
            and self._wants_to_write(now)
            and self._files.may_write(now)
        ):
            # Start at once from the buffer rather than at the next keyframe,
            # which may be a whole GOP later (and past the buffer's pre-roll).
            self._start_from_buffer()
        self._publish()

    def _on_event_end(self, event_id: str, at: float, score: float | None, thumbnail: str | None = None) -> None:
        event = self._events.end(event_id, at, score, thumbnail)
        if event is None:
            return
        if event.kind == EventKind.MOTION:
            self._hold_until = max(self._hold_until, at + self._settings.post_roll)
        self._publish()

    def _tick(self, now: float) -> None:
        for event_id, until in self._events.due(now):
            self._on_event_end(event_id, until, None)
        # Packets end a post-roll themselves (see _on_video); this is for a
        # stream that stalls, and for changes that do not depend on time.
        if self._files.writer is not None and not self._wants_to_write(now - STALL_GRACE):
            self._close_segment(None)

    def _shutdown(self) -> None:
        self._stopping = True
        self._close_segment(None)
        now = time.time()
        for event_id in self._events.ids:
            self._on_event_end(event_id, now, None)

    def _publish(self) -> None:
        with self._status_lock:
            self._status = replace(
                self._status,
                mode=self._settings.mode,
                recording=self._files.writer is not None,
                fault=self._files.fault,
                fault_detail=self._files.fault_detail,
                segment=self._files.relpath,
                events=self._events.ids,
                manual=self._events.manual,
            )
            status = self._status
        if self._on_status is not None:
            try:
                self._on_status(status)
            except Exception:
                _LOGGER.exception("Status callback of recorder %s failed", self.label)
