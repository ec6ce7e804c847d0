"""From detections to object events: a person, a vehicle... is there, then gone.

An object event of a label starts at the first picture with that label at
or over the channel's minimum score, and ends ``hold`` seconds after the
last such picture (pictures are looked at only while motion goes on, at
most a few a second: one miss must not split an event). Each event keeps
its best score, with its box and picture (the event's snapshot).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .ssd import GROUPS, Detection

LABELS = tuple(GROUPS)
"""What can be detected: person, vehicle, bicycle, animal."""
HOLD = 5.0
"""Seconds without a sighting after which an object event ends."""


@dataclass(slots=True)
class ObjectEvent:
    """One label's event on one channel (wall times)."""

    label: str
    start: float
    last_seen: float
    score: float
    box: tuple[float, float, float, float]
    picture: np.ndarray
    """The RGB picture of the best sighting."""
    event_id: str = ""
    end: float | None = None


@dataclass(frozen=True, slots=True)
class ObjectTransition:
    """An object event starting, or ending."""

    kind: Literal["object_start", "object_end"]
    event: ObjectEvent


class ObjectPresence:
    """Tracks which labels are present on one channel."""

    def __init__(self, labels: tuple[str, ...] = LABELS, min_score: float = 0.5, hold: float = HOLD) -> None:
        """Follow ``labels`` (the others are ignored)."""
        self.labels = labels
        self.min_score = min_score
        self.hold = hold
        self.events: dict[str, ObjectEvent] = {}

    def seen(
        self, detections: list[Detection], picture: np.ndarray, at: float, now: float | None = None
    ) -> list[ObjectTransition]:
        """A picture taken at ``at`` was looked at (by ``now``); its detections are best first.

        A picture older than the hold starts nothing: its object is gone by now.
        """
        out = self.tick(at)
        if now is not None and now - at >= self.hold:
            return out
        for detection in detections:
            if detection.label not in self.labels or detection.score < self.min_score:
                continue
            event = self.events.get(detection.label)
            if event is None:
                event = ObjectEvent(detection.label, at, at, detection.score, detection.box, picture)
                self.events[detection.label] = event
                out.append(ObjectTransition("object_start", event))
            elif at >= event.last_seen:
                event.last_seen = at
                if detection.score > event.score:
                    event.score, event.box, event.picture = detection.score, detection.box, picture
        return out

    def tick(self, now: float) -> list[ObjectTransition]:
        """End the events not seen for ``hold`` seconds."""
        out = []
        for label, event in list(self.events.items()):
            if now - event.last_seen >= self.hold:
                out.append(self._end(label, event.last_seen + self.hold))
            elif now < event.last_seen - self.hold:  # the clock was set back: end it now
                out.append(self._end(label, now))
        return out

    def follow(self, labels: tuple[str, ...], min_score: float, now: float) -> list[ObjectTransition]:
        """Follow other labels from now on: the events of labels no longer followed end."""
        self.labels, self.min_score = labels, min_score
        return [self._end(label, now) for label in list(self.events) if label not in labels]

    def finish(self, now: float) -> list[ObjectTransition]:
        """End every event (detection turned off, the channel stopping)."""
        return [self._end(label, min(now, event.last_seen + self.hold)) for label, event in list(self.events.items())]

    def _end(self, label: str, at: float) -> ObjectTransition:
        event = self.events.pop(label)
        event.end = max(at, event.start)
        return ObjectTransition("object_end", event)
