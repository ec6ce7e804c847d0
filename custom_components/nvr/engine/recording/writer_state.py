"""The recorder's writer-thread side: packets and commands in, files out.

Everything here runs on the recorder's own thread (:mod:`.recorder` queues
the work), so none of it needs a lock. It decides, packet by packet, when a
file opens, rotates and closes, keeps the pre-roll (:mod:`.preroll`), and
sends the audio to the file its time belongs to.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from ..stream.gop import EncodedPacket
from ..stream.mediaformat import MediaFormat
from ..stream.timestamps import TimestampFixer
from .events import RunningEvents
from .files import SegmentFiles
from .index import RecordingIndex
from .preroll import PrerollBuffer
from .status import OBJECT_KINDS, EventKind, RecorderSettings, RecordingMode

_LOGGER = logging.getLogger(__name__)

STALL_GRACE = 1.5
"""Seconds past a post-roll after which the file closes even without new packets.

The recorder's batch interval (packets wait that long to be handled) and a second.
"""
ROTATE_TOLERANCE = 0.25
"""Seconds of timestamp jitter forgiven when a segment is due to end."""
ANCHOR_SETTLE = 1.0
"""Seconds of a new connection during which no file is opened.

Opening a stream reads ahead (probing), so the first packets arrive in a
burst, later than they were sent. Until packets arrive live, the mapping from
stream time to wall time is moved earlier to the earliest arrival seen; the
pre-roll buffer keeps the footage of that second.
"""


OBJECT_LAG = 10.0
"""Seconds the pre-roll buffer also keeps, in the objects mode while motion goes on: object detection's delay."""


class WriterState:
    """What the recorder's thread knows of the stream, its files and its events."""

    def __init__(
        self,
        channel: str,
        root: Path,
        index: RecordingIndex,
        settings: RecorderSettings,
        make_room: Callable[[], None] | None,
        label: str,
        publish: Callable[[], None],
    ) -> None:
        """``publish`` is called whenever what the recorder's status shows may have changed."""
        self.label = label
        self.settings = settings
        self.media: MediaFormat | None = None
        self.bitrate: int | None = None
        """Of the last file closed, in bit/s."""
        self._publish = publish
        self._anchor: tuple[float, int] | None = None
        """(wall time, dts) of one packet: maps stream time to wall time."""
        self._start_wall = 0.0
        self._settled_at = 0.0
        """Arrival time from which the anchor is trusted (see ANCHOR_SETTLE)."""
        self._fixer = TimestampFixer()
        self._preroll = PrerollBuffer()
        self.files = SegmentFiles(channel, root, index, make_room, label, publish)
        self.events = RunningEvents(channel, root, index, label)
        self._hold_until = 0.0
        """Motion (objects) mode writes until this wall time (last motion (object) event end + post-roll)."""
        self._audio_hold: list[EncodedPacket] = []
        """Audio for the open file newer than the last video written: it goes to a file by its time."""
        self._stopping = False

    def manual_stop(self, at: float) -> None:
        """End every manual recording going on."""
        for event_id in self.events.manual_ids():
            self.on_event_end(event_id, at, None)

    def _wall(self, dts: int) -> float:
        assert self._anchor is not None and self.media is not None
        wall0, dts0 = self._anchor
        return wall0 + (dts - dts0) * self.media.video_seconds_per_tick

    def on_start(self, media: MediaFormat, wall_time: float) -> None:
        """A connection delivers pictures: the previous one's file is closed."""
        self.close_segment(None)
        self.media = media
        self._anchor = None
        self._start_wall = wall_time
        self._fixer = TimestampFixer()
        self._preroll.clear()
        self.files.new_connection()
        _LOGGER.debug("Recorder of %s: stream %s", self.label, media.describe())

    def on_end(self) -> None:
        """The connection ended: its file closes with its last picture."""
        self.close_segment(None)
        self.media = None
        self._anchor = None
        self._preroll.clear()
        self._publish()

    def on_settings(self, settings: RecorderSettings) -> None:
        """New mode, segment length or pre/post-roll."""
        self.settings = settings
        self._publish()

    def _wants_to_write(self, now: float) -> bool:
        if self._stopping:
            return False
        mode = self.settings.mode
        if mode == RecordingMode.CONTINUOUS:
            return True
        if self.events.manual_at(now):
            return True
        if mode == RecordingMode.MOTION:
            return bool(self.events) or now < self._hold_until
        if mode == RecordingMode.OBJECTS:
            return self.events.earliest_start_of(OBJECT_KINDS) is not None or now < self._hold_until
        return False

    def _trigger_start(self) -> float | None:
        """When the oldest event that makes this mode record began (where its pre-roll reaches back from)."""
        if self.settings.mode == RecordingMode.OBJECTS:
            return self.events.earliest_start_of(OBJECT_KINDS | {EventKind.MANUAL})
        return self.events.earliest_start

    def on_packet(self, packet: EncodedPacket, audio: bool, arrival: float | None = None) -> None:
        """One packet of the stream; ``arrival`` is the wall time it reached the recorder."""
        media = self.media
        if media is None:
            return
        if audio:
            self._preroll.add(packet, True)
            if self.files.writer is not None:
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
        files = self.files
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
                self.close_segment(packet.dts)
            elif packet.keyframe and self._should_rotate(wall):
                # No status between the two: "recording" must not blink at every new file.
                self.close_segment(packet.dts, publish=False)
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
        files = self.files
        if files.writer is None and files.written_until is None and self.settings.mode == RecordingMode.CONTINUOUS:
            return  # a new connection's first file starts at its first keyframe
        pre_roll = self.settings.pre_roll
        horizon = now_wall - pre_roll
        earliest = self._trigger_start()
        if files.writer is None and earliest is not None:
            horizon = min(horizon, earliest - pre_roll)
        motion = self.events.earliest_start
        if files.writer is None and self.settings.mode == RecordingMode.OBJECTS and motion is not None:
            # A sighting is told a little after its picture: while something moves, keep what its pre-roll needs.
            horizon = min(horizon, max(motion - pre_roll, now_wall - pre_roll - OBJECT_LAG))
        self._preroll.trim(horizon)

    def _should_rotate(self, wall: float) -> bool:
        start = self.files.segment_start
        length = wall - start
        if length >= self.settings.segment_seconds - ROTATE_TOLERANCE:
            return True
        # Start a new file on the hour too, so hours map onto whole files.
        return length >= 1.0 and int(wall // 3600) != int(start // 3600)

    def _start_from_buffer(self) -> None:
        """Open a file at a buffered keyframe reaching back pre_roll seconds, and write the buffer."""
        now = self._preroll.newest.start
        target = now - self.settings.pre_roll
        trigger = self._trigger_start()
        trigger = now if trigger is None else trigger
        target = min(target, trigger - self.settings.pre_roll)
        written_until = self.files.written_until
        candidates = [g for g in self._preroll if written_until is None or g.start >= written_until - 1e-6]
        if not candidates:
            return
        chosen = candidates[0]
        if self.settings.mode != RecordingMode.CONTINUOUS:  # continuous: everything not yet written
            for gop in candidates:
                if gop.start <= target:
                    chosen = gop
        gops = [g for g in self._preroll if g.start >= chosen.start]
        self._audio_hold = []  # the buffer holds that audio too
        if not self._open_segment(chosen.dts, chosen.start):
            return
        files = self.files
        for gop in gops:
            for packet, audio in gop.items:
                if files.writer is None:
                    return
                if audio:
                    files.write(lambda w, p=packet: w.write_audio(p))
                else:
                    files.write(lambda w, p=packet: w.write_video(p))

    def _open_segment(self, dts: int, wall: float, first: EncodedPacket | None = None) -> bool:
        assert self.media is not None
        if not self.files.open(self.media, dts, wall, first):
            return False
        self._publish()
        return True

    def _audio_ticks(self, packet: EncodedPacket) -> int | None:
        media = self.media
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
                self.files.write(lambda w, p=packet: w.write_audio(p))
            else:
                keep.append(packet)
        self._audio_hold = keep

    def close_segment(self, end_dts: int | None, publish: bool = True) -> None:
        """Close the open file, if any; ``end_dts`` is the next file's first keyframe."""
        # Without a next keyframe the file ends with its last picture: audio that
        # came after that picture (it runs ahead on a busy machine) is not written.
        self._flush_audio(end_dts if end_dts is not None else self._video_end())
        if end_dts is None:
            self._audio_hold = []
        written = self.files.close(end_dts)
        if written is None:
            return
        if written.duration > 0:
            self.bitrate = int(written.bytes * 8 / written.duration)
        if publish:
            self._publish()

    def on_event_start(self, event_id: str, kind: EventKind, at: float, duration: float | None) -> None:
        """An event began at wall time ``at``: a file opens now from the pre-roll when one is wanted."""
        self.events.start(event_id, kind, at, duration)
        now = time.time()
        if (
            self.files.writer is None
            and self._preroll
            and self._settled(now)
            and self._wants_to_write(now)
            and self.files.may_write(now)
        ):
            # Start at once from the buffer rather than at the next keyframe,
            # which may be a whole GOP later (and past the buffer's pre-roll).
            self._start_from_buffer()
        self._publish()

    def on_event_end(self, event_id: str, at: float, score: float | None, thumbnail: str | None = None) -> None:
        """An event ended; motion mode goes on writing for the post-roll."""
        event = self.events.end(event_id, at, score, thumbnail)
        if event is None:
            return
        objects = self.settings.mode == RecordingMode.OBJECTS
        if (event.kind in OBJECT_KINDS) if objects else (event.kind == EventKind.MOTION):
            self._hold_until = max(self._hold_until, at + self.settings.post_roll)
        self._publish()

    def tick(self, now: float) -> None:
        """Work that depends on the clock: events that timed out, a stalled stream's file."""
        for event_id, until in self.events.due(now):
            self.on_event_end(event_id, until, None)
        # Packets end a post-roll themselves (see _on_video); this is for a
        # stream that stalls, and for changes that do not depend on time.
        if self.files.writer is not None and not self._wants_to_write(now - STALL_GRACE):
            self.close_segment(None)

    def shutdown(self) -> None:
        """The recorder stops: its file closes and its events end now."""
        self._stopping = True
        self.close_segment(None)
        now = time.time()
        for event_id in self.events.ids:
            self.on_event_end(event_id, now, None)
