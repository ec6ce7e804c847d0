"""One motion event from two sources: the local detector and the camera's own events.

Either source starts the event; it ends when both are quiet: the local
detector's event has ended (its ``off_delay`` included) and ``off_delay``
seconds have passed since the camera last reported the end of its motion.
All times are wall times (``time.time()``).
"""

from __future__ import annotations

from dataclasses import replace

from .tracker import MotionEvent

CAMERA_SCORE = 1.0
"""The score a camera's motion report counts for (1.0: just enough, as the detector's scale has it)."""


class MotionMerge:
    """Merges the local detector's events and the camera's reports into one event at a time."""

    def __init__(self) -> None:
        """Start quiet."""
        self.event: MotionEvent | None = None
        """The merged event going on (its ``end`` is set when it ends)."""
        self.local_on = False
        self.camera_on = False
        self._camera_until: float | None = None
        """When the camera's last motion stops holding the event (its end + off delay)."""

    def local_started(self, event: MotionEvent) -> MotionEvent | None:
        """The detector's event began; returns the merged event if this starts one."""
        self.local_on = True
        if self.event is None:
            self.event = replace(event)
            return self.event
        self._raise_peak(event)
        return None

    def local_ended(self, event: MotionEvent) -> MotionEvent | None:
        """The detector's event ended; returns the merged event if it ends now."""
        self.local_on = False
        if self.event is None:
            return None
        self._raise_peak(event)
        self.event.last_motion = max(self.event.last_motion, event.last_motion)
        end = event.end if event.end is not None else event.last_motion
        if self.camera_on or (self._camera_until is not None and self._camera_until > end):
            return None
        return self._finish(end)

    def camera(self, active: bool, at: float, off_delay: float) -> MotionEvent | None:
        """The camera reported motion starting (``active``) or ending; returns the merged event if one starts."""
        if active:
            self.camera_on = True
            self._camera_until = None
            if self.event is None:
                self.event = MotionEvent(at, CAMERA_SCORE, at, at)
                return self.event
            if self.event.peak_score < CAMERA_SCORE:
                self.event.peak_score, self.event.peak_ts = CAMERA_SCORE, at
            return None
        if self.camera_on:
            self.camera_on = False
            self._camera_until = at + off_delay
            if self.event is not None:
                self.event.last_motion = max(self.event.last_motion, at)
        return None

    def due(self, now: float) -> MotionEvent | None:
        """The merged event, ended, once the camera's hold ran out with the detector quiet."""
        until = self._camera_until
        if self.event is None or self.local_on or self.camera_on or until is None or now < until:
            return None
        return self._finish(until)

    def finish(self, now: float) -> MotionEvent | None:
        """End whatever goes on (detection turned off, shutdown): at its natural end, at most ``now``."""
        if self.event is None:
            return None
        if self.camera_on:
            natural = now  # the camera still sees motion
        elif self._camera_until is not None:
            natural = self._camera_until
        else:
            natural = self.event.last_motion
        return self._finish(min(now, max(natural, self.event.last_motion)))

    def _raise_peak(self, event: MotionEvent) -> None:
        assert self.event is not None
        if event.peak_score > self.event.peak_score:
            self.event.peak_score, self.event.peak_ts = event.peak_score, event.peak_ts

    def _finish(self, end: float) -> MotionEvent:
        assert self.event is not None
        event = self.event
        event.end = max(end, event.start)
        self.event = None
        self.local_on = self.camera_on = False
        self._camera_until = None
        return event
