"""The file a recorder writes, its index entry, and the faults that pause it.

Used only from the recorder's thread. A write error closes the file, keeping
what reached the disk, and sets a :class:`.status.RecordingFault`; new files
are then tried after ``RETRY_INTERVAL`` seconds, doubling up to
``RETRY_CAP``, for as long as the fault lasts (and at once on a new
connection when the stream itself was refused). A fault counts as over only
once ``RESUME_PROOF`` seconds of footage reached a new file (or it closed
whole): a full disk still takes a new empty file and a fragment or so.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

import av.error

from ..stream.gop import EncodedPacket
from ..stream.mediaformat import MediaFormat
from .index import RecordingIndex
from .layout import segment_relpath
from .segment import SegmentWriter, WrittenSegment, file_size
from .status import RecordingFault, classify_fault

_LOGGER = logging.getLogger(__name__)

RETRY_INTERVAL = 5.0
"""Seconds before the first attempt to resume after a fault."""
RETRY_CAP = 60.0
"""Longest wait between attempts while a fault lasts."""
INDEX_UPDATE_INTERVAL = 10.0
"""How often the segment being written has its end and size updated in the index."""
RESUME_PROOF = 2.0
"""Seconds of footage written to a new file before a disk fault counts as over
(or the file closed whole): a full disk still takes a new file and a fragment
or so, which must not clear the fault only for it to come back."""


class SegmentFiles:
    """Opens, writes and closes one channel's recording files, and tracks disk faults."""

    def __init__(
        self,
        channel: str,
        root: Path,
        index: RecordingIndex,
        make_room: Callable[[], None] | None,
        label: str,
        on_change: Callable[[], None],
    ) -> None:
        """``make_room`` frees space (retention); ``on_change`` is called when a fault starts or ends."""
        self.channel = channel
        self.root = root
        self.index = index
        self.label = label
        self._make_room_cb = make_room
        self._on_change = on_change
        self.writer: SegmentWriter | None = None
        self.segment_start = 0.0
        """Wall time of the open file's first keyframe."""
        self.written_until: float | None = None
        """Wall time up to which footage of this connection was written."""
        self.fault: RecordingFault | None = None
        self.fault_detail: str | None = None
        self._segment_id: int | None = None
        self._next_index_update = 0.0
        self._resume_from: int | None = None
        """While a fault is set and a new file is open: its size once created."""
        self._next_retry = 0.0
        self._retry_delay = RETRY_INTERVAL

    @property
    def relpath(self) -> str | None:
        """The open file's path relative to the root."""
        return self.writer.path.relative_to(self.root).as_posix() if self.writer is not None else None

    def make_room(self) -> None:
        """Let retention free space (errors are logged, never raised)."""
        if self._make_room_cb is None:
            return
        try:
            self._make_room_cb()
        except Exception:
            _LOGGER.exception("Freeing space for %s failed", self.label)

    def new_connection(self) -> None:
        """A new connection may carry other stream parameters: a refused stream is tried again at once."""
        self.written_until = None
        if self.fault == RecordingFault.STREAM_REJECTED:
            self._next_retry = 0.0

    def may_write(self, now: float) -> bool:
        """Whether a new file may be tried now (always, unless a fault waits for its retry)."""
        if self.fault is None:
            return True
        if now < self._next_retry:
            return False
        if self.fault.disk:
            self.make_room()
        return True  # try; a new fault sets the next retry

    def open(self, media: MediaFormat, dts: int, wall: float, first: EncodedPacket | None = None) -> bool:
        """Create a file whose first keyframe has ``dts`` at wall time ``wall``; False on a fault.

        ``first`` (that keyframe) is written at once when given.
        """
        relpath = segment_relpath(self.channel, wall)
        path = self.root / relpath
        if self.fault is None:
            self.make_room()
        try:
            writer = SegmentWriter(path, media, dts)
        except (OSError, av.error.FFmpegError) as err:
            self._set_fault(err, path)
            return False
        self.writer = writer
        self.segment_start = wall
        self._next_index_update = time.time() + INDEX_UPDATE_INTERVAL
        try:
            self._segment_id = self.index.add_segment(self.channel, wall, relpath)
        except Exception as err:  # sqlite3.Error, disk full: the file still records
            _LOGGER.warning("Index of %s could not record %s: %s", self.label, relpath, err)
            self._segment_id = None
        # After a fault, creating a file proves little (a full disk still
        # takes new empty files): it is over once footage reaches the disk.
        self._resume_from = file_size(path) if self.fault is not None else None
        if first is not None:
            self.write(lambda w: w.write_video(first))
        return True

    def write(self, action: Callable[[SegmentWriter], None]) -> None:
        """Run a write on the open file; a failure closes it and sets a fault."""
        writer = self.writer
        if writer is None:
            return
        try:
            action(writer)
        except (OSError, av.error.FFmpegError) as err:
            written = writer.abandon()
            self.writer = None
            self._finish_index(written)
            # What reached the file counts as written: a retry must not record it again.
            self.written_until = self.segment_start + written.duration
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
                    self._segment_id, self.segment_start + writer.duration, file_size(writer.path)
                )
            except Exception as err:
                _LOGGER.debug("Index update for %s failed: %s", self.label, err)

    def close(self, end_dts: int | None) -> WrittenSegment | None:
        """Finish the open file (``end_dts``: the next file's first keyframe); what it holds, or None."""
        writer, self.writer = self.writer, None
        if writer is None:
            return None
        try:
            written = writer.close(end_dts)
        except (OSError, av.error.FFmpegError) as err:
            written = writer.abandon()
            self._set_fault(err, writer.path)
        else:
            if self._resume_from is not None:  # the file reached the disk whole
                self._clear_fault()
        self._finish_index(written)
        self.written_until = self.segment_start + written.duration
        return written

    def _finish_index(self, written: WrittenSegment) -> None:
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
                self._segment_id, self.segment_start + written.duration, written.bytes, complete=True
            )
        except Exception as err:
            _LOGGER.warning("Index of %s could not close %s: %s", self.label, written.path.name, err)
        self._segment_id = None

    def _clear_fault(self) -> None:
        _LOGGER.info("Recording of %s resumed", self.label)
        self.fault = None
        self.fault_detail = None
        self._resume_from = None
        self._retry_delay = RETRY_INTERVAL
        self._on_change()

    def _set_fault(self, err: BaseException, path: Path) -> None:
        fault = classify_fault(err)
        detail = f"{getattr(err, 'strerror', None) or err}"
        if self.fault is None:
            self._retry_delay = RETRY_INTERVAL
        if self.fault != fault:
            where = path.parent if fault.disk else "the camera's stream"
            _LOGGER.error("Recording of %s paused: %s (%s, %s)", self.label, fault.value, detail, where)
        self.fault = fault
        self._resume_from = None
        self.fault_detail = detail
        self._next_retry = time.time() + self._retry_delay
        _LOGGER.debug("Recording of %s retries in %.0f s", self.label, self._retry_delay)
        self._retry_delay = min(self._retry_delay * 2, RETRY_CAP)
        if fault == RecordingFault.DISK_FULL:
            self.make_room()
        self._on_change()
