"""The recorder of one channel: modes, events, pre-roll, segments, disk faults.

The main stream's reader hands every packet over (:class:`.reader.PacketSink`);
a thread of the recorder's own does all the work, so a slow disk never stalls
the stream. Commands (mode, events, settings) go through the same queue, so
the recorder's state is only ever touched by that thread.

Writing is wanted when the mode is ``continuous``, while a manual event runs,
or, in ``motion`` mode, from an event's start (minus the pre-roll) to its end
plus the post-roll. The last few GOPs are held in memory for the pre-roll.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import queue
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

import av.error

from .gop import EncodedPacket
from .index import Event, RecordingIndex
from .layout import events_log_relpath, segment_relpath
from .mediaformat import MediaFormat
from .segment import SegmentWriter, WrittenSegment, file_size
from .timestamps import TimestampFixer

_LOGGER = logging.getLogger(__name__)

QUEUE_LIMIT = 3000
"""Packets waiting for the disk before new ones are dropped (a stuck disk)."""
RETRY_INTERVAL = 5.0
"""Seconds between attempts to resume after a disk fault."""
INDEX_UPDATE_INTERVAL = 10.0
"""How often the segment being written has its end and size updated in the index."""
MAX_PREROLL_BYTES = 32 * 1024 * 1024
BATCH_INTERVAL = 0.5
"""Seconds the recorder lets packets gather between batches.

Waking up for every packet costs far more CPU than handling it (caches are
cold by then): paced at 15 fps, the thread took 0.15 CPU-s per minute of
video at 0.1 s and 0.06 at 0.5 s. Packets wait in memory meanwhile, and
commands (events, mode) take effect at most this much later; the pre-roll
buffer covers that.
"""
RESUME_PROOF = 2.0
"""Seconds of footage written to a new file before a disk fault counts as over
(or the file closed whole): a full disk still takes a new file and a fragment
or so, which must not clear the fault only for it to come back."""
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


class RecordingMode(StrEnum):
    """When a channel records."""

    OFF = "off"
    CONTINUOUS = "continuous"
    MOTION = "motion"


class DiskFault(StrEnum):
    """Why recording is paused."""

    DISK_FULL = "disk_full"
    UNWRITABLE = "unwritable"
    WRITE_ERROR = "write_error"


class EventKind(StrEnum):
    """What started an event."""

    MOTION = "motion"
    MANUAL = "manual"


@dataclass(frozen=True, slots=True)
class RecorderSettings:
    """Per-channel recording settings."""

    mode: RecordingMode = RecordingMode.CONTINUOUS
    segment_seconds: float = 60.0
    pre_roll: float = 5.0
    post_roll: float = 10.0


@dataclass(frozen=True, slots=True)
class RecorderStatus:
    """What the recorder is doing, for entities and repairs."""

    mode: RecordingMode = RecordingMode.CONTINUOUS
    recording: bool = False
    fault: DiskFault | None = None
    fault_detail: str | None = None
    bitrate: int | None = None
    """Bits per second of footage written, over the last closed segment."""
    segment: str | None = None
    """Relative path of the file being written."""
    events: tuple[str, ...] = ()
    """Ids of the events going on."""
    manual: bool = False
    """A manual recording is going on."""


def _classify(err: BaseException) -> DiskFault:
    code = getattr(err, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return DiskFault.DISK_FULL
    if code in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR):
        return DiskFault.UNWRITABLE
    return DiskFault.WRITE_ERROR


@dataclass(slots=True)
class _Gop:
    """Buffered packets from one keyframe to the next (video and audio)."""

    start: float
    """Wall-clock time of the keyframe."""
    dts: int
    items: list[tuple[EncodedPacket, bool]] = field(default_factory=list)
    bytes: int = 0


@dataclass(slots=True)
class _ActiveEvent:
    event: Event
    until: float | None
    """Wall time at which it ends by itself (manual recordings with a duration)."""


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
        self._make_room = make_room
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
        self._gops: deque[_Gop] = deque()
        self._gop_bytes = 0
        """Bytes held in ``_gops``."""
        self._writer: SegmentWriter | None = None
        self._segment_id: int | None = None
        self._segment_start = 0.0
        self._next_index_update = 0.0
        self._written_until: float | None = None
        """Wall time up to which footage of this connection was written."""
        self._events: dict[str, _ActiveEvent] = {}
        self._hold_until = 0.0
        """Motion mode writes until this wall time (last event end + post-roll)."""
        self._fault: DiskFault | None = None
        self._resume_from: int | None = None
        """While a fault is set and a new file is open: its size once created."""
        self._fault_detail: str | None = None
        self._next_retry = 0.0
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
            for event_id, active in list(self._events.items()):
                if active.event.kind == EventKind.MANUAL:
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
        self._clear_gops()
        self._written_until = None
        _LOGGER.debug("Recorder of %s: stream %s", self.label, media.describe())

    def _on_end(self) -> None:
        self._close_segment(None)
        self._media = None
        self._anchor = None
        self._clear_gops()
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
        if any(a.event.kind == EventKind.MANUAL for a in self._events.values()):
            return True
        if mode == RecordingMode.MOTION:
            return bool(self._events) or now < self._hold_until
        return False

    def _on_packet(self, packet: EncodedPacket, audio: bool, arrival: float | None = None) -> None:
        media = self._media
        if media is None:
            return
        if audio:
            self._buffer(packet, True)
            if self._writer is not None:
                self._write(lambda w: w.write_audio(packet))
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
        if arrival is not None and arrival < wall and self._writer is None and self._written_until is None:
            self._move_anchor(arrival - wall)
            wall = arrival
        if packet.keyframe:
            self._gops.append(_Gop(wall, packet.dts))
            self._trim_preroll(wall)
        self._buffer(packet, False)
        now = time.time()
        if self._writer is not None:
            # Judged by the packet's own time: packets are handled in batches,
            # so the post-roll must not end by the clock of the batch.
            if not self._wants_to_write(wall):
                self._close_segment(packet.dts)
            elif packet.keyframe and self._should_rotate(wall):
                # No status between the two: "recording" must not blink at every new file.
                self._close_segment(packet.dts, publish=False)
                if self._fault is None:  # a failed close waits for the next retry (and was published)
                    self._open_segment(packet.dts, wall)
                return
            else:
                self._write(lambda w: w.write_video(packet))
                return
        if (
            self._writer is None
            and packet.keyframe
            and self._settled(now)
            and self._wants_to_write(now)
            and self._may_write(now)
        ):
            self._start_from_buffer()

    def _move_anchor(self, delta: float) -> None:
        """Shift the stream-to-wall mapping (and the buffered GOPs) by ``delta`` seconds."""
        assert self._anchor is not None
        self._anchor = (self._anchor[0] + delta, self._anchor[1])
        for gop in self._gops:
            gop.start += delta

    def _settled(self, now: float) -> bool:
        """Whether the connection's wall-time mapping can be trusted (see ANCHOR_SETTLE)."""
        return self._anchor is not None and now >= self._settled_at

    def _buffer(self, packet: EncodedPacket, audio: bool) -> None:
        if not self._gops:
            return
        gop = self._gops[-1]
        gop.items.append((packet, audio))
        gop.bytes += len(packet.data)
        self._gop_bytes += len(packet.data)
        while len(self._gops) > 1 and self._gop_bytes > MAX_PREROLL_BYTES:
            self._drop_oldest_gop()

    def _drop_oldest_gop(self) -> None:
        self._gop_bytes -= self._gops.popleft().bytes

    def _clear_gops(self) -> None:
        self._gops.clear()
        self._gop_bytes = 0

    def _trim_preroll(self, now_wall: float) -> None:
        """Keep the fewest whole GOPs that still reach back pre_roll seconds.

        While an event waits for its file to open, they reach back pre_roll
        seconds before the event's start.
        """
        if self._writer is None and self._written_until is None and self._settings.mode == RecordingMode.CONTINUOUS:
            return  # a new connection's first file starts at its first keyframe
        horizon = now_wall - self._settings.pre_roll
        if self._writer is None and self._events:
            horizon = min(horizon, min(a.event.start for a in self._events.values()) - self._settings.pre_roll)
        while len(self._gops) > 1 and self._gops[1].start <= horizon:
            self._drop_oldest_gop()

    def _should_rotate(self, wall: float) -> bool:
        length = wall - self._segment_start
        if length >= self._settings.segment_seconds - ROTATE_TOLERANCE:
            return True
        # Start a new file on the hour too, so hours map onto whole files.
        return length >= 1.0 and int(wall // 3600) != int(self._segment_start // 3600)

    def _start_from_buffer(self) -> None:
        """Open a file at a buffered keyframe reaching back pre_roll seconds, and write the buffer."""
        now = self._gops[-1].start
        target = now - self._settings.pre_roll
        trigger = min((a.event.start for a in self._events.values()), default=now)
        target = min(target, trigger - self._settings.pre_roll)
        candidates = [g for g in self._gops if self._written_until is None or g.start >= self._written_until - 1e-6]
        if not candidates:
            return
        chosen = candidates[0]
        if self._settings.mode != RecordingMode.CONTINUOUS:  # continuous: everything not yet written
            for gop in candidates:
                if gop.start <= target:
                    chosen = gop
        gops = [g for g in self._gops if g.start >= chosen.start]
        if not self._open_segment(chosen.dts, chosen.start, write_first=False):
            return
        for gop in gops:
            for packet, audio in gop.items:
                if self._writer is None:
                    return
                if audio:
                    self._write(lambda w, p=packet: w.write_audio(p))
                else:
                    self._write(lambda w, p=packet: w.write_video(p))

    def _may_write(self, now: float) -> bool:
        if self._fault is None:
            return True
        if now < self._next_retry:
            return False
        self._next_retry = now + RETRY_INTERVAL
        if self._make_room is not None:
            try:
                self._make_room()
            except Exception:
                _LOGGER.exception("Freeing space for %s failed", self.label)
        return True  # try; a new fault sets the next retry

    def _open_segment(self, dts: int, wall: float, write_first: bool = True) -> bool:
        assert self._media is not None
        relpath = segment_relpath(self.channel, wall)
        path = self.root / relpath
        if self._make_room is not None and self._fault is None:
            try:
                self._make_room()
            except Exception:
                _LOGGER.exception("Freeing space for %s failed", self.label)
        try:
            writer = SegmentWriter(path, self._media, dts)
        except (OSError, av.error.FFmpegError) as err:
            self._set_fault(err, path)
            return False
        self._writer = writer
        self._segment_start = wall
        self._next_index_update = time.time() + INDEX_UPDATE_INTERVAL
        try:
            self._segment_id = self.index.add_segment(self.channel, wall, relpath)
        except Exception as err:  # sqlite3.Error, disk full: the file still records
            _LOGGER.warning("Index of %s could not record %s: %s", self.label, relpath, err)
            self._segment_id = None
        # After a fault, creating a file proves little (a full disk still
        # takes new empty files): it is over once footage reaches the disk.
        self._resume_from = file_size(path) if self._fault is not None else None
        if write_first:
            first = self._gops[-1].items[0][0] if self._gops and self._gops[-1].dts == dts else None
            if first is not None:
                self._write(lambda w: w.write_video(first))
        self._publish()
        return True

    def _write(self, action: Callable[[SegmentWriter], None]) -> None:
        writer = self._writer
        if writer is None:
            return
        try:
            action(writer)
        except (OSError, av.error.FFmpegError) as err:
            written = writer.abandon()
            self._writer = None
            self._finish_index(written, complete=True)
            # What reached the file counts as written: a retry must not record it again.
            self._written_until = self._segment_start + written.duration
            self._set_fault(err, writer.path)
            return
        now = time.time()
        if (
            self._resume_from is not None
            and writer.duration >= RESUME_PROOF
            and file_size(writer.path) > self._resume_from
        ):
            self._clear_fault()
        if now >= self._next_index_update and self._segment_id is not None:
            self._next_index_update = now + INDEX_UPDATE_INTERVAL
            try:
                self.index.update_segment(
                    self._segment_id, self._segment_start + writer.duration, file_size(writer.path)
                )
            except Exception as err:
                _LOGGER.debug("Index update for %s failed: %s", self.label, err)

    def _close_segment(self, end_dts: int | None, publish: bool = True) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            written = writer.close(end_dts)
        except (OSError, av.error.FFmpegError) as err:
            written = writer.abandon()
            self._set_fault(err, writer.path)
        else:
            if self._resume_from is not None:  # the file reached the disk whole
                self._clear_fault()
        self._finish_index(written, complete=True)
        self._written_until = self._segment_start + written.duration
        if written.duration > 0:
            bitrate = int(written.bytes * 8 / written.duration)
            with self._status_lock:
                self._status = replace(self._status, bitrate=bitrate)
        if publish:
            self._publish()

    def _finish_index(self, written: WrittenSegment, complete: bool) -> None:
        if written.video_frames == 0 and written.duration <= 0:
            # Nothing playable reached the disk (it was full): no file, no index entry.
            with contextlib.suppress(OSError):
                written.path.unlink(missing_ok=True)
            if self._segment_id is not None:
                with contextlib.suppress(Exception):
                    self.index.delete_segments([self._segment_id])
            self._segment_id = None
            return
        if self._segment_id is None:
            return
        try:
            self.index.update_segment(
                self._segment_id, self._segment_start + written.duration, written.bytes, complete=complete
            )
        except Exception as err:
            _LOGGER.warning("Index of %s could not close %s: %s", self.label, written.path.name, err)
        self._segment_id = None

    def _clear_fault(self) -> None:
        _LOGGER.info("Recording of %s resumed", self.label)
        self._fault = None
        self._fault_detail = None
        self._resume_from = None
        self._publish()

    def _set_fault(self, err: BaseException, path: Path) -> None:
        fault = _classify(err)
        detail = f"{getattr(err, 'strerror', None) or err}"
        if self._fault != fault:
            _LOGGER.error("Recording of %s paused: %s (%s, %s)", self.label, fault.value, detail, path.parent)
        self._fault = fault
        self._resume_from = None
        self._fault_detail = detail
        self._next_retry = time.time() + RETRY_INTERVAL
        if fault == DiskFault.DISK_FULL and self._make_room is not None:
            try:
                self._make_room()
            except Exception:
                _LOGGER.exception("Freeing space for %s failed", self.label)
        self._publish()

    def _on_event_start(self, event_id: str, kind: EventKind, at: float, duration: float | None) -> None:
        event = Event(event_id, self.channel, kind.value, at, None)
        self._events[event_id] = _ActiveEvent(event, at + duration if duration else None)
        try:
            self.index.add_event(event)
        except Exception as err:
            _LOGGER.warning("Index of %s could not record an event: %s", self.label, err)
        now = time.time()
        if (
            self._writer is None
            and self._gops
            and self._settled(now)
            and self._wants_to_write(now)
            and self._may_write(now)
        ):
            # Start at once from the buffer rather than at the next keyframe,
            # which may be a whole GOP later (and past the buffer's pre-roll).
            self._start_from_buffer()
        self._publish()

    def _on_event_end(self, event_id: str, at: float, score: float | None, thumbnail: str | None = None) -> None:
        active = self._events.pop(event_id, None)
        if active is None:
            return
        if active.event.kind == EventKind.MOTION:
            self._hold_until = max(self._hold_until, at + self._settings.post_roll)
        event = replace(active.event, end=at, score=score, thumbnail=thumbnail)
        try:
            self.index.end_event(event_id, at, score)
            if thumbnail:
                self.index.set_event_thumbnail(event_id, thumbnail)
        except Exception as err:
            _LOGGER.warning("Index of %s could not end an event: %s", self.label, err)
        self._log_event(event)
        self._publish()

    def _log_event(self, event: Event) -> None:
        """Append a finished event to the day's events log (for index rebuilds)."""
        path = self.root / events_log_relpath(self.channel, event.start)
        line = json.dumps(
            {
                "id": event.id,
                "kind": event.kind,
                "start": event.start,
                "end": event.end,
                "score": event.score,
                "thumbnail": event.thumbnail,
            }
        )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        except OSError as err:
            _LOGGER.debug("Events log of %s not written: %s", self.label, err)

    def _tick(self, now: float) -> None:
        for event_id, active in list(self._events.items()):
            if active.until is not None and now >= active.until:
                self._on_event_end(event_id, active.until, None)
        # Packets end a post-roll themselves (see _on_video); this is for a
        # stream that stalls, and for changes that do not depend on time.
        if self._writer is not None and not self._wants_to_write(now - STALL_GRACE):
            self._close_segment(None)

    def _shutdown(self) -> None:
        self._stopping = True
        self._close_segment(None)
        now = time.time()
        for event_id in list(self._events):
            self._on_event_end(event_id, now, None)

    def _publish(self) -> None:
        with self._status_lock:
            self._status = replace(
                self._status,
                mode=self._settings.mode,
                recording=self._writer is not None,
                fault=self._fault,
                fault_detail=self._fault_detail,
                segment=self._writer.path.relative_to(self.root).as_posix() if self._writer is not None else None,
                events=tuple(self._events),
                manual=any(a.event.kind == EventKind.MANUAL for a in self._events.values()),
            )
            status = self._status
        if self._on_status is not None:
            try:
                self._on_status(status)
            except Exception:
                _LOGGER.exception("Status callback of recorder %s failed", self.label)
