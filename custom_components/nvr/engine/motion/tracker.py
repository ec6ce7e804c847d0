"""From analysed frames to events: the frame-rate limiter and the event tracker.

``FrameRateLimiter`` picks at most ``detect_fps`` frames a second;
``MotionTracker`` turns per-frame results into events (start at the first
motion frame, end ``off_delay`` seconds after the last one, with the peak score
and its time); ``MotionMonitor`` chains limiter, detector and tracker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from .detector import MAX_GAP, MotionDetector, MotionResult
from .settings import MotionSettings


class FrameRateLimiter:
    """Let through at most ``fps`` frames a second, by their timestamps.

    Frames are let through on a regular grid (so a 12 fps source analysed at
    5 fps still averages 5); a timestamp going back or a long pause restarts
    the grid.
    """

    _TOLERANCE = 0.002

    def __init__(self, fps: float) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.period = 1.0 / fps
        self._due: float | None = None
        self._last: float | None = None

    def reset(self) -> None:
        """Let the next frame through whatever its timestamp."""
        self._due = None
        self._last = None

    def should_analyse(self, ts: float) -> bool:
        """Whether the frame at ``ts`` seconds is to be analysed."""
        if self._last is not None and (ts < self._last - 1.0 or ts > self._last + MAX_GAP):
            self._due = None
        self._last = ts
        if self._due is not None and ts < self._due - self._TOLERANCE:
            return False
        due = ts + self.period if self._due is None else self._due + self.period
        self._due = due if due > ts else ts + self.period
        return True


@dataclass(slots=True)
class MotionEvent:
    """One motion event: from the first motion frame to ``off_delay`` after the last."""

    start: float
    peak_score: float
    peak_ts: float
    last_motion: float
    end: float | None = None
    """``last_motion + off_delay``, set when the event has ended."""


@dataclass(frozen=True, slots=True)
class MotionTransition:
    """An event starting or ending; ``event`` is a snapshot taken at that moment."""

    kind: Literal["motion_start", "motion_end"]
    ts: float
    """When it was noticed (the frame's or the tick's time)."""
    event: MotionEvent


class MotionTracker:
    """Per-frame motion into events.

    ``update(result)`` returns the transitions it caused (at most an end and a
    start) and also passes each to ``on_start`` / ``on_end`` when given.
    ``tick(now)`` ends an event whose ``off_delay`` has run out while no
    frames arrive (call it from a timer). An event ends once ``off_delay``
    seconds passed since its last motion frame and a frame without motion (or
    a tick) was seen since; its ``end`` is ``last_motion + off_delay``.
    """

    def __init__(
        self,
        off_delay: float,
        on_start: Callable[[MotionEvent], None] | None = None,
        on_end: Callable[[MotionEvent], None] | None = None,
    ) -> None:
        self.off_delay = off_delay
        self._on_start = on_start
        self._on_end = on_end
        self._event: MotionEvent | None = None
        self._quiet_seen = False

    @property
    def active(self) -> bool:
        """Whether an event is running."""
        return self._event is not None

    @property
    def event(self) -> MotionEvent | None:
        """A snapshot of the running event, if any."""
        return replace(self._event) if self._event is not None else None

    def _end(self, now: float) -> list[MotionTransition]:
        event = self._event
        assert event is not None
        event.end = event.last_motion + self.off_delay
        self._event = None
        transition = MotionTransition("motion_end", now, replace(event))
        if self._on_end is not None:
            self._on_end(transition.event)
        return [transition]

    def tick(self, now: float) -> list[MotionTransition]:
        """End the running event if ``off_delay`` has passed since its last motion."""
        if self._event is not None and now - self._event.last_motion >= self.off_delay:
            return self._end(now)
        return []

    def update(self, result: MotionResult) -> list[MotionTransition]:
        """Account for one analysed frame."""
        ts = result.ts
        event = self._event
        transitions: list[MotionTransition] = []
        if not result.motion:
            if event is not None:
                self._quiet_seen = True
                transitions = self.tick(ts)
            return transitions
        if event is not None and self._quiet_seen and ts - event.last_motion >= self.off_delay:
            transitions = self._end(ts)
            event = None
        if event is None:
            self._event = MotionEvent(ts, result.score, ts, ts)
            self._quiet_seen = False
            transition = MotionTransition("motion_start", ts, replace(self._event))
            transitions.append(transition)
            if self._on_start is not None:
                self._on_start(transition.event)
            return transitions
        event.last_motion = ts
        self._quiet_seen = False
        if result.score > event.peak_score:
            event.peak_score, event.peak_ts = result.score, ts
        return transitions


@dataclass
class MotionMonitor:
    """Limiter, detector and tracker for one channel, in one object."""

    settings: MotionSettings
    on_start: Callable[[MotionEvent], None] | None = None
    on_end: Callable[[MotionEvent], None] | None = None
    limiter: FrameRateLimiter = field(init=False)
    detector: MotionDetector = field(init=False)
    tracker: MotionTracker = field(init=False)

    def __post_init__(self) -> None:
        """Build the parts from the settings."""
        self.limiter = FrameRateLimiter(self.settings.detect_fps)
        self.detector = MotionDetector(self.settings)
        self.tracker = MotionTracker(self.settings.off_delay, self.on_start, self.on_end)

    def apply(self, settings: MotionSettings) -> None:
        """Switch to new settings without losing a running event."""
        self.settings = settings
        self.limiter = FrameRateLimiter(settings.detect_fps)
        self.detector.settings = settings
        self.tracker.off_delay = settings.off_delay

    def feed(self, y_plane: np.ndarray, ts: float) -> tuple[MotionResult | None, list[MotionTransition]]:
        """Analyse the frame if the limiter lets it through; ``None`` when skipped."""
        if not self.limiter.should_analyse(ts):
            return None, []
        result = self.detector.process(y_plane, ts)
        return result, self.tracker.update(result)
