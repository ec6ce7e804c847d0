"""From motion events to NVR events: the recorder's events, thumbnails and ``MotionUpdate``s.

The local detector's events and the camera's own reports are merged into
one event at a time (:mod:`.merge`); the reporter starts and ends it on the
recorder (``start_event("motion")`` starts a motion-mode recording from the
pre-roll), writes its JPEG (the peak picture) and tells ``on_event``.
Runs in the motion worker's thread; all times are wall times.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import av

from .events import EventSink, MotionUpdate, new_event_id, write_thumbnail
from .merge import MotionMerge
from .tracker import MotionEvent

_LOGGER = logging.getLogger(__name__)


class EventReporter:
    """Reports one channel's merged motion events."""

    def __init__(
        self,
        channel: str,
        label: str,
        recorder: EventSink | None,
        root: Path | None,
        on_event: Callable[[MotionUpdate], None] | None,
    ) -> None:
        """``recorder`` gets the events (None: only reported); ``root`` keeps the thumbnails (None: none)."""
        self.channel = channel
        self.label = label
        self._recorder = recorder
        self._root = root
        self._on_event = on_event
        self.merge = MotionMerge()
        self.event_id: str | None = None
        """The event going on."""
        self.peak_frame: av.VideoFrame | None = None
        """The picture the event's thumbnail is made of (the detector's peak picture)."""
        self._thumbnail: str | None = None

    def local(self, starting: bool, event: MotionEvent, frame: av.VideoFrame | None) -> None:
        """The detector's event (in wall time) started, on ``frame``, or ended."""
        if starting:
            if (started := self.merge.local_started(event)) is not None:
                self.peak_frame = frame
                self._started(started, frame)
        elif (ended := self.merge.local_ended(event)) is not None:
            self._ended(ended)

    def camera(self, active: bool, at: float, off_delay: float, picture: Callable[[], av.VideoFrame | None]) -> None:
        """The camera reported motion starting or ending; ``picture()`` is asked for a new event's thumbnail."""
        if (started := self.merge.camera(active, at, off_delay)) is not None:
            self.peak_frame = picture()
            self._started(started, self.peak_frame)

    def check(self, now: float) -> None:
        """End the event once the camera's hold ran out with the detector quiet."""
        if (ended := self.merge.due(now)) is not None:
            self._ended(ended)

    def finish(self, now: float) -> None:
        """End whatever goes on (detection turned off, the worker stopping)."""
        if (ended := self.merge.finish(now)) is not None:
            self._ended(ended)

    def _started(self, event: MotionEvent, frame: av.VideoFrame | None) -> None:
        if self._recorder is not None:
            event_id = self._recorder.start_event("motion", at=event.start)
        else:
            event_id = new_event_id(event.start)
        self.event_id = event_id
        self._thumbnail, jpeg = self._thumbnail_of(event_id, event.start, frame)
        self._emit(
            MotionUpdate(
                "motion_start", event_id, event.start, None, event.peak_score, event.peak_ts, self._thumbnail, jpeg
            )
        )

    def _ended(self, event: MotionEvent) -> None:
        event_id = self.event_id
        if event_id is None:
            return
        self.event_id = None
        thumbnail, jpeg = (self._thumbnail, None)
        if self.peak_frame is not None:
            thumbnail, jpeg = self._thumbnail_of(event_id, event.start, self.peak_frame)
        self.peak_frame = None
        if self._recorder is not None:
            self._recorder.end_event(event_id, at=event.end, score=round(event.peak_score, 3), thumbnail=thumbnail)
        self._emit(
            MotionUpdate(
                "motion_end", event_id, event.start, event.end, event.peak_score, event.peak_ts, thumbnail, jpeg
            )
        )

    def _emit(self, update: MotionUpdate) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(update)
        except Exception:
            _LOGGER.exception("Motion callback of %s failed", self.label)

    def _thumbnail_of(
        self, event_id: str, start: float, frame: av.VideoFrame | None
    ) -> tuple[str | None, bytes | None]:
        if frame is None:  # a camera's report with no picture to be had
            return None, None
        return write_thumbnail(self._root, self.channel, event_id, start, frame, self.label)
